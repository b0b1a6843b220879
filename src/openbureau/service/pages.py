"""Server-rendered pages (Jinja2) for persons, lenders, auditors and admins.

The pages call the same functions as the API, so a page and its API answer cannot disagree;
reads are audited the same way. Forms carry the session's CSRF token.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select, update
from starlette.concurrency import run_in_threadpool

from openbureau.errors import UserError
from openbureau.service import audit_tree, bindings, logins, notices, views
from openbureau.service.api import (
    access_log,
    audited_file,
    file_of,
    own_score,
    report_path,
    run_check,
    same_file,
    verify_limited,
)
from openbureau.service.api_consent import consent_state
from openbureau.service.api_rights import statement_state
from openbureau.service.audit_check import last_check
from openbureau.service.audit_heads import latest_head
from openbureau.service.auth import end_session, password_login, start_session
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
from openbureau.service.disputes.rules import RECORD_REASONS
from openbureau.service.disputes_api import my_disputes_read
from openbureau.service.errors import ApiError
from openbureau.service.lending import lookup
from openbureau.service.log_proofs import with_proofs
from openbureau.service.log_reads import LOG_READS, read_audit_log
from openbureau.service.login_guard import LOGIN_COOKIE, login_token, login_token_ok
from openbureau.service.schemas import DEFAULT_CUTOFF, AccessLogOut, IdentityIn, LookupIn
from openbureau.service.sharing import share_score, verify_token
from openbureau.service.store import Account, utcnow
from openbureau.service.whatif_view import run_what_if

router = APIRouter(include_in_schema=False)
HOME = {
    "person": "/me",
    "lender": "/lender",
    "auditor": "/auditor",
    "admin": "/admin",
    "furnisher": "/furnisher",
}


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    templates = request.app.state.templates
    response: HTMLResponse = templates.TemplateResponse(
        request, template, context, status_code=status
    )
    return response


@router.get("/")
def index(request: Request, who: MaybeUser) -> Response:
    if who is not None:
        return RedirectResponse(HOME[who.role], status_code=303)
    return render(request, "landing.html", me=None)


@router.get("/login")
def login_form(request: Request, ctx: Ctx, next: str = "") -> Response:
    return _login_page(request, ctx, next=next[:200], error=None)


def _login_page(
    request: Request, ctx: ServiceContext, status: int = 200, **context: Any
) -> Response:
    """The login form, with its token and the cookie the token must match."""
    token = login_token(request.cookies.get(LOGIN_COOKIE))
    response = render(request, "login.html", status=status, me=None, login_token=token, **context)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        path="/login",
        secure=ctx.config.secure_cookies,
        max_age=12 * 3600,
    )
    return response


def _safe_next(target: str, fallback: str) -> str:
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or parts.netloc:
        return fallback  # never redirect off-site after login
    return target


@router.post("/login")
async def login(
    request: Request,
    ctx: Ctx,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A password login. The store and the hash are worked on the thread pool, one after the
    other, and the audit log is awaited with no thread or store connection held: a burst of
    logins takes turns for the store's connections instead of holding one while it waits for
    another."""
    # (first: a post from another site counts as no attempt at all)
    if not login_token_ok(request.cookies.get(LOGIN_COOKIE), csrf_token):
        return _login_page(
            request,
            ctx,
            status=403,
            next=next,
            error="The login form expired or did not come from this site. Please log in again.",
        )
    address = request.client.host if request.client else "unknown"
    attempt = await run_in_threadpool(ctx.logins.attempt, username, address)
    if attempt.wait:
        await ctx.audit_async(
            None,
            "login",
            outcome="denied",
            detail=f"username {username!r} from {address}: too many failed logins",
        )
        refused = _login_page(
            request,
            ctx,
            status=429,
            next=next,
            error=f"Too many failed logins. Try again in {math.ceil(attempt.wait / 60)} minutes.",
        )
        refused.headers["Retry-After"] = str(attempt.wait)
        return refused
    account = await run_in_threadpool(password_login, ctx.store, username, password)
    if account is None:
        await ctx.audit_async(None, "login", outcome="denied", detail=f"username {username!r}")
        return _login_page(request, ctx, status=401, next=next, error="Wrong username or password.")
    await run_in_threadpool(ctx.logins.succeeded, username, attempt)
    if account.pending:
        # (with the person as subject: a login to their file that is not theirs yet shows)
        await ctx.audit_writer.record_async(
            actor=account.username,
            actor_role=account.role,
            action="login",
            subject=account.person_id,
            outcome="denied",
            detail=f"with the right password, but {bindings.WAITS}",
        )
        return _login_page(
            request,
            ctx,
            status=403,
            next=next,
            error="This account waits for another admin's approval.",
        )
    token = await run_in_threadpool(_start_session, ctx, account)
    response = RedirectResponse(_safe_next(next, HOME[account.role]), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=ctx.config.secure_cookies,
        max_age=ctx.config.session_minutes * 60,
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


def _start_session(ctx: ServiceContext, account: Account) -> str:
    """A new session for ``account`` (its cookie token), and its last login noted."""
    with ctx.store() as session:
        token, _csrf = start_session(session, account, ctx.config.session_minutes)
        session.execute(
            update(Account).where(Account.id == account.id).values(last_login_at=utcnow())
        )
        session.commit()
    return token


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
SHOWN_ON_ME = {"reads": 50, "refusals": 20}  # the newest of each; older ones a page each


def _person_context(ctx: ServiceContext, pub: Any, who: Any) -> dict[str, Any]:
    row = own_score(ctx, pub, who, "read score page")
    pid = row["person_id"]
    points = views.history(pub, pid, ctx.consent(pub, pid), ctx.erased_until(pub, pid))
    # reads apart from refusals: no number of refusals pushes a read off the page
    pages = {k: access_log(ctx, pub, pid, n, who, show=k) for k, n in SHOWN_ON_ME.items()}
    proved = with_proofs(ctx.store, ctx.heads, [e for rows, _ in pages.values() for e in rows])
    split = len(pages["reads"][0])
    bound = logins.logins_to_file(ctx.store, views.merged_into(pub, pid), who)
    return {
        "me": who,
        "row": row,
        "name": views.person_name(pub, pid),
        "logins": bound,
        "reasons": views.reason_records(pub, pid, row["reasons"]),
        "history": points,
        "chart": history_svg(points),
        "looked": proved["entries"][:split],
        "refused": proved["entries"][split:],
        "older": {k: older for k, (_, older) in pages.items()},
        "log_head": proved["signed_head"],
        "log_warning": proved["warning"],
        "log_proofs": AccessLogOut.model_validate(proved).model_dump_json(),
        "as_of": pub.as_of,
        "attestation_days": ctx.config.attestation_days,
        "statement": statement_state(ctx, who),
        "statement_error": None,
        "consent": consent_state(ctx, who),
        "notices": notices.of_person(ctx, views.merged_into(pub, pid)),
        "disputes": my_disputes_read(ctx, who),
        "dispute_error": None,
    }


@router.get("/me")
def person_home(request: Request, who: PersonUser, ctx: Ctx, pub: Snapshot) -> Response:
    return render(request, "person.html", **_person_context(ctx, pub, who))


@router.get("/me/access")
def person_access(
    request: Request,
    who: PersonUser,
    ctx: Ctx,
    pub: Snapshot,
    show: Annotated[str, Query(pattern="^(all|reads|refusals)$")] = "reads",
    before: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    """Who looked at my file, a page at a time (older ones through the "older" link), with
    the signed head and proofs, as ``GET /api/v1/me/access`` gives them."""
    pid = views.own_id(pub, who.person_id)
    entries, older = access_log(ctx, pub, pid, 100, who, before=before, show=show)
    proved = with_proofs(ctx.store, ctx.heads, entries)
    ctx.audit(who, "read access log page", subject=pid, purpose="consumer_request")
    return render(
        request,
        "access.html",
        me=who,
        show=show,
        before=before,
        looked=proved["entries"],
        older=older,
        log_head=proved["signed_head"],
        log_warning=proved["warning"],
        log_proofs=AccessLogOut.model_validate({**proved, "older": older}).model_dump_json(),
    )


@router.get("/me/file")
def person_file(request: Request, who: PersonUser, ctx: Ctx, pub: Snapshot) -> Response:
    pid = views.own_id(pub, who.person_id)
    ctx.audit(who, "read file page", subject=pid, purpose="consumer_request")
    return render(
        request,
        "file.html",
        me=who,
        furnishers=views.file_items(pub, pid, ctx.alternative_erased(pub, pid)),
        identity=views.identity_on_file(pub, pid),
        statement=ctx.statements.current_fresh(views.merged_into(pub, pid)),
        notices=notices.of_person(ctx, views.merged_into(pub, pid)),
        as_of=pub.as_of,
        name=views.person_name(pub, pid),
        disputed=ctx.disputes.fresh().disputed(views.merged_into(pub, pid)),
        reasons=RECORD_REASONS,
    )


@router.post("/me/what-if", dependencies=[Csrf])
def person_what_if(
    request: Request,
    who: PersonUser,
    ctx: Ctx,
    pub: Snapshot,
    utilisation: Annotated[str, Form(max_length=10)] = "",
    bring_current: Annotated[str, Form(max_length=10)] = "",
    pay_overdue_bills: Annotated[str, Form(max_length=10)] = "",
    remove_inquiries: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    context = _person_context(ctx, pub, who)
    try:
        context["whatif"] = run_what_if(
            ctx,
            pub,
            who,
            utilisation=utilisation,
            bring_current=bool(bring_current),
            pay_overdue_bills=bool(pay_overdue_bills),
            remove_inquiries=remove_inquiries,
        )
        context["whatif_error"] = None
    except UserError as exc:
        context["whatif"], context["whatif_error"] = None, str(exc)
    return render(request, "person.html", **context)


@router.post("/me/share", dependencies=[Csrf])
def person_share(
    request: Request,
    who: PersonUser,
    ctx: Ctx,
    pub: Snapshot,
    days: Annotated[int, Form(ge=1, le=90)] = 30,
    audience: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    context = _person_context(ctx, pub, who)
    context["shared"] = share_score(
        ctx, pub, who, context["row"], days, audience or None, str(request.base_url)
    )
    return render(request, "person.html", **context)


# -- lender ----------------------------------------------------------------------------------
@router.get("/lender")
def lender_home(request: Request, who: LenderUser) -> Response:
    return render(
        request, "lender.html", me=who, purposes=LENDER_PURPOSES, result=None, form={}, error=None
    )


@router.post("/lender", dependencies=[Csrf])
async def lender_lookup(request: Request, who: LenderUser, ctx: Ctx, pub: Snapshot) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    identity = {k: form.get(k) or None for k in IdentityIn.model_fields}
    status, code, headers = 200, None, {}
    try:
        body = LookupIn(
            purpose=form.get("purpose") or None,
            cutoff=int(form.get("cutoff") or DEFAULT_CUTOFF),
            identity=IdentityIn(**identity),  # type: ignore[arg-type]
        )
        # (as the API's: refusals logged, the search on the lookup pool)
        result, error = await lookup(ctx, pub, who, body), None
    except ApiError as exc:
        if exc.status not in (422, 429):
            raise
        result, error, status, code = None, exc.message, exc.status, exc.code
        headers = exc.headers or {}
    except (ValidationError, ValueError, UserError) as exc:
        result, error, status, code = None, _first_error(exc), 422, "invalid_input"
    page = render(
        request,
        "lender.html",
        status=status,
        me=who,
        purposes=LENDER_PURPOSES,
        result=result,
        form=form,
        error=error,
        error_code=code,
    )
    page.headers.update(headers)
    return page


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"] if x != "identity")
        return f"{where}: {err['msg'].removeprefix('Value error, ')}" if where else err["msg"]
    return str(exc)


# -- auditor ---------------------------------------------------------------------------------
@router.get("/auditor")
def auditor_home(
    request: Request,
    who: AuditorUser,
    ctx: Ctx,
    actor: Annotated[str, Query(max_length=64)] = "",
    subject: Annotated[str, Query(max_length=32)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    outcome: Annotated[str, Query(max_length=16)] = "",
    since: Annotated[str, Query(max_length=32)] = "",
    until: Annotated[str, Query(max_length=32)] = "",
    log_reads: Annotated[str, Query(max_length=8)] = "",
) -> Response:
    try:
        start = dt.datetime.fromisoformat(since) if since else None
        end = dt.datetime.fromisoformat(until) if until else None
    except ValueError:
        raise ApiError(422, "invalid_input", "since/until: use YYYY-MM-DD", "since") from None
    filters = {
        "actor": actor,
        "subject": subject,
        "action": action,
        "outcome": outcome,
        "since": since,
        "until": until,
        "log_reads": log_reads,
    }
    entries = read_audit_log(
        ctx,
        who,
        "read audit log page",
        actor=actor or None,
        subject=subject or None,
        of_action=action or None,
        outcome=outcome or None,
        since=start,
        until=end,
        limit=200,
        log_reads=bool(log_reads),
    )
    return _auditor_page(request, ctx, who, entries, filters)


def _auditor_page(
    request: Request,
    ctx: ServiceContext,
    who: Any,
    entries: list[dict[str, Any]],
    filters: dict[str, str],
) -> Response:
    """The auditor's page. The log's integrity shown is that of the last full check (when,
    by whom): checking reads every entry, so it runs when asked (``POST /auditor/verify``),
    not on every view."""
    pub = ctx.published()
    with ctx.store() as session:
        head, size = latest_head(session), audit_tree.tree_size(session)
    return render(
        request,
        "auditor.html",
        me=who,
        entries=entries,
        filters=filters,
        log_reads=LOG_READS,
        purposes=AUDITOR_PURPOSES,
        check=last_check(ctx.store),
        head=head,
        tree_size=size,
        pub=pub,
        has_report=bool(pub and report_path(ctx, pub.card.version)),
    )


@router.post("/auditor/verify", dependencies=[Csrf])
def auditor_verify(request: Request, who: AuditorUser, ctx: Ctx) -> Response:
    """Check the whole log now (as `openbureau audit verify`), then show the page."""
    ctx.audit(who, "verify audit log")
    run_check(ctx, who.username)
    entries = read_audit_log(ctx, who, "read audit log page", limit=200, log_reads=False)
    return _auditor_page(
        request,
        ctx,
        who,
        entries,
        dict.fromkeys(("actor", "subject", "action", "outcome", "since", "until", "log_reads"), ""),
    )


@router.get("/auditor/file")
def auditor_file(
    request: Request,
    who: User,
    ctx: Ctx,
    pub: Snapshot,
    person_id: Annotated[str, Query(max_length=32)] = "",
    purpose: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """A person's file for an auditor who states a purpose (see api.person_file)."""
    found = audited_file(ctx, pub, who, person_id, purpose or None, "read file page")
    pid = found["person_id"]
    return render(
        request,
        "file.html",
        me=who,
        furnishers=found["furnishers"],
        identity=found["identity"],
        statement=found["statement"],
        notices=found["notices"],
        as_of=pub.as_of,
        name=views.person_name(pub, pid),
        auditor={"person_id": pid, "purpose": AUDITOR_PURPOSES[purpose], "purpose_key": purpose},
    )


@router.get("/auditor/report")
def auditor_report(who: AuditorUser, ctx: Ctx, pub: Snapshot) -> Response:
    path = report_path(ctx, pub.card.version)
    if path is None:
        raise ApiError(404, "not_found", "no model report for the current scorecard")
    ctx.audit(who, "read model report", detail=path.name)
    return FileResponse(path, media_type="text/html")


# -- admin ---------------------------------------------------------------------------------
def _admin_page(
    request: Request, ctx: ServiceContext, who: Any, status: int = 200, **context: Any
) -> Response:
    with ctx.store() as session:
        accounts = list(session.execute(select(Account).order_by(Account.id)).scalars())
    return render(
        request,
        "admin.html",
        status=status,
        me=who,
        accounts=accounts,
        waiting=logins.waiting(ctx.store),
        **{"error": None, "created": None, "done": None, **context},
    )


@router.get("/admin")
def admin_home(request: Request, who: AdminUser, ctx: Ctx) -> Response:
    return _admin_page(request, ctx, who)


@router.post("/admin/accounts", dependencies=[Csrf])
def admin_create(
    request: Request,
    who: AdminUser,
    ctx: Ctx,
    username: Annotated[str, Form(max_length=64)],
    role: Annotated[str, Form(max_length=16)],
    password: Annotated[str, Form(max_length=200)],
    person_id: Annotated[str, Form(max_length=32)] = "",
    organisation: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    try:
        added = bindings.add_account(
            ctx.store,
            ctx.audit_writer.record,
            bindings.admin(who),
            username=username,
            role=role,
            password=password,
            person_id=person_id or None,
            organisation=organisation or None,
            same_file=same_file(ctx.published(), person_id),
        )
    except UserError as exc:
        status = exc.status if isinstance(exc, bindings.BindingError) else 422
        return _admin_page(request, ctx, who, status=status, error=str(exc))
    return _admin_page(request, ctx, who, created=added.account)


@router.post("/admin/accounts/{username}/{change}", dependencies=[Csrf])
def admin_change(
    request: Request,
    who: AdminUser,
    ctx: Ctx,
    username: Annotated[str, Path(max_length=64)],
    change: Annotated[str, Path(pattern="^(approve|enable|disable)$")],
) -> Response:
    """Approve a waiting account, or enable or disable one (audited as through the API)."""
    log, by = ctx.audit_writer.record, bindings.admin(who)
    try:
        if change == "approve":
            account = bindings.approve_account(ctx.store, log, by, username)
        else:
            account = bindings.set_disabled(
                ctx.store, log, by, username, change == "disable", file_of(ctx)
            )
            ctx.credentials.clear()
    except bindings.BindingError as exc:
        return _admin_page(request, ctx, who, status=exc.status, error=str(exc))
    waits = "; it waits for another admin's approval" if account.pending else ""
    return _admin_page(request, ctx, who, done=f"Account {username}: {change}d{waits}.")


@router.post("/admin/accounts/{username}/keys/{prefix}/approve", dependencies=[Csrf])
def admin_approve_key(
    request: Request,
    who: AdminUser,
    ctx: Ctx,
    username: Annotated[str, Path(max_length=64)],
    prefix: Annotated[str, Path(max_length=16)],
) -> Response:
    try:
        bindings.approve_key(
            ctx.store, ctx.audit_writer.record, bindings.admin(who), username, prefix
        )
    except bindings.BindingError as exc:
        return _admin_page(request, ctx, who, status=exc.status, error=str(exc))
    return _admin_page(request, ctx, who, done=f"Key {prefix} of {username}: approved.")


# -- public ----------------------------------------------------------------------------------
@router.get("/verify")
def verify_form(request: Request, who: MaybeUser) -> Response:
    return render(request, "verify.html", me=who, result=None, token="")


@router.post("/verify")
def verify_page(
    request: Request, who: MaybeUser, ctx: Ctx, token: Annotated[str, Form(max_length=8192)]
) -> Response:
    """(Limited per client address as the API's is: a 429 page with Retry-After.)"""
    result = verify_token(ctx, token, verify_limited(ctx, request))
    return render(request, "verify.html", me=who, result=result, token=token)
