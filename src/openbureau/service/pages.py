"""Server-rendered pages (Jinja2) for persons, lenders, auditors and admins.

The pages call the same functions as the API, so a page and its API answer cannot disagree;
reads are audited the same way. Forms carry the session's CSRF token.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from openbureau.errors import UserError
from openbureau.service import audit, audit_tree, views
from openbureau.service.api import access_log, audited_file, own_score, report_path, run_check
from openbureau.service.audit_check import last_check
from openbureau.service.audit_heads import latest_head
from openbureau.service.auth import check_password, create_account, end_session, start_session
from openbureau.service.charts import history_svg
from openbureau.service.context import AUDITOR_PURPOSES, LENDER_PURPOSES, ServiceContext
from openbureau.service.deps import (
    SESSION_COOKIE,
    AdminUser,
    AuditorUser,
    Csrf,
    Ctx,
    LenderUser,
    MaybeUser,
    PersonUser,
    Snapshot,
    User,
)
from openbureau.service.errors import ApiError
from openbureau.service.lending import lookup
from openbureau.service.log_proofs import with_proofs
from openbureau.service.schemas import AccessLogOut, IdentityIn, LookupIn
from openbureau.service.sharing import share_score, verify_token
from openbureau.service.store import Account
from openbureau.service.whatif_view import run_what_if

router = APIRouter(include_in_schema=False)
HOME = {"person": "/me", "lender": "/lender", "auditor": "/auditor", "admin": "/admin"}


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    templates = request.app.state.templates
    response: HTMLResponse = templates.TemplateResponse(request, template, context,
                                                        status_code=status)
    return response


@router.get("/")
def index(request: Request, who: MaybeUser) -> Response:
    if who is not None:
        return RedirectResponse(HOME[who.role], status_code=303)
    return render(request, "landing.html", me=None)


@router.get("/login")
def login_form(request: Request, next: str = "") -> Response:
    return render(request, "login.html", me=None, next=next, error=None)


def _safe_next(target: str, fallback: str) -> str:
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or parts.netloc:
        return fallback  # never redirect off-site after login
    return target


@router.post("/login")
def login(request: Request, ctx: Ctx, username: Annotated[str, Form(max_length=64)],
          password: Annotated[str, Form(max_length=200)],
          next: Annotated[str, Form(max_length=200)] = "") -> Response:
    address = request.client.host if request.client else "unknown"
    wait = ctx.logins.retry_after(username, address)
    if wait:
        ctx.audit(None, "login", outcome="denied",
                  detail=f"username {username!r} from {address}: too many failed logins")
        refused = render(request, "login.html", status=429, me=None, next=next,
                         error=f"Too many failed logins. Try again in {math.ceil(wait / 60)} "
                               "minutes.")
        refused.headers["Retry-After"] = str(wait)
        return refused
    with ctx.store() as session:
        account = check_password(session, username, password)
        if account is None:
            ctx.logins.failed(username, address)
            ctx.audit(None, "login", outcome="denied", detail=f"username {username!r}")
            return render(request, "login.html", status=401, me=None, next=next,
                          error="Wrong username or password.")
        ctx.logins.succeeded(username)
        token, _csrf = start_session(session, account, ctx.config.session_minutes)
        role = account.role
        session.commit()
    response = RedirectResponse(_safe_next(next, HOME[role]), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax",
                        secure=ctx.config.secure_cookies,
                        max_age=ctx.config.session_minutes * 60)
    return response


@router.post("/logout", dependencies=[Csrf])
def logout(request: Request, ctx: Ctx) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with ctx.store() as session:
            end_session(session, token)
            session.commit()
        ctx.credentials.forget("session", token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# -- person ----------------------------------------------------------------------------------
def _person_context(ctx: ServiceContext, pub: Any, who: Any) -> dict[str, Any]:
    row = own_score(ctx, pub, who, "read score page")
    pid = row["person_id"]
    points = views.history(pub, pid)
    proved = with_proofs(ctx.store, ctx.heads, access_log(ctx, pub, pid, 50))
    return {"me": who, "row": row, "name": views.person_name(pub, pid),
            "reasons": views.reason_records(pub, pid, row["reasons"]),
            "history": points, "chart": history_svg(points), "looked": proved["entries"],
            "log_head": proved["signed_head"], "log_warning": proved["warning"],
            "log_proofs": AccessLogOut.model_validate(proved).model_dump_json(),
            "as_of": pub.as_of, "attestation_days": ctx.config.attestation_days}


@router.get("/me")
def person_home(request: Request, who: PersonUser, ctx: Ctx, pub: Snapshot) -> Response:
    return render(request, "person.html", **_person_context(ctx, pub, who))


@router.get("/me/file")
def person_file(request: Request, who: PersonUser, ctx: Ctx, pub: Snapshot) -> Response:
    pid = views.own_id(pub, who.person_id)
    ctx.audit(who, "read file page", subject=pid, purpose="consumer_request")
    return render(request, "file.html", me=who, furnishers=views.file_items(pub, pid),
                  identity=views.identity_on_file(pub, pid), as_of=pub.as_of,
                  name=views.person_name(pub, pid))


@router.post("/me/what-if", dependencies=[Csrf])
def person_what_if(request: Request, who: PersonUser, ctx: Ctx, pub: Snapshot,
                   utilisation: Annotated[str, Form(max_length=10)] = "",
                   bring_current: Annotated[str, Form(max_length=10)] = "",
                   pay_overdue_bills: Annotated[str, Form(max_length=10)] = "",
                   remove_inquiries: Annotated[str, Form(max_length=10)] = "") -> Response:
    context = _person_context(ctx, pub, who)
    try:
        context["whatif"] = run_what_if(ctx, pub, who, utilisation=utilisation,
                                        bring_current=bool(bring_current),
                                        pay_overdue_bills=bool(pay_overdue_bills),
                                        remove_inquiries=remove_inquiries)
        context["whatif_error"] = None
    except UserError as exc:
        context["whatif"], context["whatif_error"] = None, str(exc)
    return render(request, "person.html", **context)


@router.post("/me/share", dependencies=[Csrf])
def person_share(request: Request, who: PersonUser, ctx: Ctx, pub: Snapshot,
                 days: Annotated[int, Form(ge=1, le=90)] = 30,
                 audience: Annotated[str, Form(max_length=128)] = "") -> Response:
    context = _person_context(ctx, pub, who)
    context["shared"] = share_score(ctx, pub, who, context["row"], days, audience or None,
                                    str(request.base_url))
    return render(request, "person.html", **context)


# -- lender ----------------------------------------------------------------------------------
@router.get("/lender")
def lender_home(request: Request, who: LenderUser) -> Response:
    return render(request, "lender.html", me=who, purposes=LENDER_PURPOSES, result=None,
                  form={}, error=None)


@router.post("/lender", dependencies=[Csrf])
async def lender_lookup(request: Request, who: LenderUser, ctx: Ctx, pub: Snapshot) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    identity = {k: form.get(k) or None for k in IdentityIn.model_fields}
    try:
        body = LookupIn(purpose=form.get("purpose", ""),
                        cutoff=int(form.get("cutoff") or 620),
                        identity=IdentityIn(**identity))  # type: ignore[arg-type]
        # (the identity search blocks: off the event loop, where the score lookups run)
        result = await run_in_threadpool(lookup, ctx, pub, who, body)
        error = None
    except (ValidationError, ValueError, UserError) as exc:
        result, error = None, _first_error(exc)
    return render(request, "lender.html", status=200 if error is None else 422, me=who,
                  purposes=LENDER_PURPOSES, result=result, form=form, error=error)


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"] if x != "identity")
        return f"{where}: {err['msg'].removeprefix('Value error, ')}" if where else err["msg"]
    return str(exc)


# -- auditor ---------------------------------------------------------------------------------
@router.get("/auditor")
def auditor_home(request: Request, who: AuditorUser, ctx: Ctx, actor: str = "",
                 subject: str = "", action: str = "", outcome: str = "", since: str = "",
                 until: str = "") -> Response:
    try:
        start = dt.datetime.fromisoformat(since) if since else None
        end = dt.datetime.fromisoformat(until) if until else None
    except ValueError:
        raise ApiError(422, "invalid_input", "since/until: use YYYY-MM-DD", "since") from None
    filters = {"actor": actor, "subject": subject, "action": action, "outcome": outcome,
               "since": since, "until": until}
    ctx.audit(who, "read audit log page", detail=" ".join(f"{k}={v}" for k, v in
                                                          filters.items() if v))
    entries = audit.query(ctx.store, actor=actor or None, subject=subject or None,
                          action=action or None, outcome=outcome or None, since=start,
                          until=end, limit=200)
    return _auditor_page(request, ctx, who, entries, filters)


def _auditor_page(request: Request, ctx: ServiceContext, who: Any,
                  entries: list[dict[str, Any]], filters: dict[str, str]) -> Response:
    """The auditor's page. The log's integrity shown is that of the last full check (when,
    by whom): checking reads every entry, so it runs when asked (``POST /auditor/verify``),
    not on every view."""
    pub = ctx.published()
    with ctx.store() as session:
        head, size = latest_head(session), audit_tree.tree_size(session)
    return render(request, "auditor.html", me=who, entries=entries, filters=filters,
                  purposes=AUDITOR_PURPOSES, check=last_check(ctx.store), head=head,
                  tree_size=size, pub=pub,
                  has_report=bool(pub and report_path(ctx, pub.card.version)))


@router.post("/auditor/verify", dependencies=[Csrf])
def auditor_verify(request: Request, who: AuditorUser, ctx: Ctx) -> Response:
    """Check the whole log now (as `openbureau audit verify`), then show the page."""
    ctx.audit(who, "verify audit log")
    run_check(ctx, who.username)
    entries = audit.query(ctx.store, limit=200)
    return _auditor_page(request, ctx, who, entries, dict.fromkeys(
        ("actor", "subject", "action", "outcome", "since", "until"), ""))


@router.get("/auditor/file")
def auditor_file(request: Request, who: User, ctx: Ctx, pub: Snapshot,
                 person_id: Annotated[str, Query(max_length=32)] = "",
                 purpose: Annotated[str, Query(max_length=32)] = "") -> Response:
    """A person's file for an auditor who states a purpose (see api.person_file)."""
    found = audited_file(ctx, pub, who, person_id, purpose or None, "read file page")
    pid = found["person_id"]
    return render(request, "file.html", me=who, furnishers=found["furnishers"],
                  identity=found["identity"], as_of=pub.as_of,
                  name=views.person_name(pub, pid), auditor={
                      "person_id": pid, "purpose": AUDITOR_PURPOSES[purpose]})


@router.get("/auditor/report")
def auditor_report(who: AuditorUser, ctx: Ctx, pub: Snapshot) -> Response:
    path = report_path(ctx, pub.card.version)
    if path is None:
        raise ApiError(404, "not_found", "no model report for the current scorecard")
    ctx.audit(who, "read model report", detail=path.name)
    return FileResponse(path, media_type="text/html")


# -- admin -----------------------------------------------------------------------------------
@router.get("/admin")
def admin_home(request: Request, who: AdminUser, ctx: Ctx) -> Response:
    with ctx.store() as session:
        accounts = list(session.execute(select(Account).order_by(Account.id)).scalars())
    return render(request, "admin.html", me=who, accounts=accounts, error=None, created=None)


@router.post("/admin/accounts", dependencies=[Csrf])
def admin_create(request: Request, who: AdminUser, ctx: Ctx,
                 username: Annotated[str, Form(max_length=64)],
                 role: Annotated[str, Form(max_length=16)],
                 password: Annotated[str, Form(max_length=200)],
                 person_id: Annotated[str, Form(max_length=32)] = "",
                 organisation: Annotated[str, Form(max_length=128)] = "") -> Response:
    error, created = None, None
    with ctx.store() as session:
        try:
            create_account(session, username=username, role=role, password=password,
                           person_id=person_id or None, organisation=organisation or None)
            session.commit()
            created = username
        except UserError as exc:
            session.rollback()
            error = str(exc)
        accounts = list(session.execute(select(Account).order_by(Account.id)).scalars())
    if created:
        ctx.audit(who, "create account", detail=f"{username} ({role})")
    return render(request, "admin.html", status=200 if error is None else 422, me=who,
                  accounts=accounts, error=error, created=created)


# -- public ----------------------------------------------------------------------------------
@router.get("/verify")
def verify_form(request: Request, who: MaybeUser) -> Response:
    return render(request, "verify.html", me=who, result=None, token="")


@router.post("/verify")
def verify_page(request: Request, who: MaybeUser, ctx: Ctx,
                token: Annotated[str, Form(max_length=8192)]) -> Response:
    return render(request, "verify.html", me=who, result=verify_token(ctx, token), token=token)
