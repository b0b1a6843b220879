"""The JSON API, ``/api/v1``: one router per audience.

Every read of a person's data is written to the audit log (who, whose, purpose, what), and so is
every refusal.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import not_, select
from starlette.concurrency import run_in_threadpool

from openbureau.scoring.whatif import Scenario
from openbureau.service import audit, bindings, disputes, logins, notices, views
from openbureau.service.audit_check import LogCheck, record_check, verify_log
from openbureau.service.auth import Principal
from openbureau.service.context import AUDITOR_PURPOSES, PURPOSES, ServiceContext
from openbureau.service.deps import (
    AdminUser,
    AuditorUser,
    Csrf,
    Ctx,
    LenderUser,
    PersonUser,
    Snapshot,
    User,
)
from openbureau.service.errors import ApiError
from openbureau.service.lending import lookup
from openbureau.service.log_proofs import consistency, with_proofs
from openbureau.service.log_reads import ASKED, LOG_READS, read_audit_log
from openbureau.service.schemas import (
    AccessLogOut,
    AccountIn,
    AccountOut,
    ApiKeyApprovedOut,
    ApiKeyOut,
    AttestationIn,
    AttestationOut,
    AuditEntryOut,
    ConsistencyOut,
    ErrorBody,
    HistoryPoint,
    LogCheckOut,
    LoginOut,
    LookupIn,
    LookupOut,
    Me,
    ModelOut,
    PersonFile,
    Score,
    VerifyIn,
    VerifyOut,
    WaitingOut,
)
from openbureau.service.serving import Published
from openbureau.service.sharing import share_score, verify_token
from openbureau.service.store import Account, ApiKey, AuditEntry
from openbureau.service.whatif_view import result_json, simulate

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 422, 503)
}
# a body that cannot be read at all (not UTF-8, a broken form): FastAPI's 400
ERRORS[400] = {"model": ErrorBody, "description": "the request body could not be parsed"}
TOO_MANY: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorBody,
        "description": "over the limit: wait the seconds Retry-After says",
        "headers": {
            "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
        },
    }
}

router = APIRouter(prefix="/api/v1", responses=ERRORS)


ELSEWHERE = "a read of another person's file, which then held records of yours"
#: What a person's access log lists apart (``show``): refusals, and all the rest.
SHOW_OUTCOMES = {
    "reads": AuditEntry.outcome != "denied",
    "refusals": AuditEntry.outcome == "denied",
}


def access_log(
    ctx: ServiceContext,
    pub: Published | None,
    person_id: str,
    limit: int,
    viewer: Principal | None = None,
    *,
    before: int | None = None,
    show: str = "all",
) -> tuple[list[dict[str, Any]], int | None]:
    """Who read the person's file, newest first: lender, auditor and admin reads and refusals,
    changes to the logins bound to the file, reads through any login to the file but the one
    ``viewer`` uses (without a viewer: no person's reads), also those logged under the retired
    IDs merged into it, and those of another file while it held the person's records (a mixed
    file since taken apart: shown without that file's ID or what was asked for).

    A page of ``limit`` entries before position ``before`` (None: the newest); ``show``:
    ``all``, ``reads`` (all but refusals: reads and changes to logins) or ``refusals``. Returns
    the entries and the ``before`` of the next page (None: no older entry), so that every entry
    can be reached, however many come after it.
    """
    own = views.merged_into(pub, person_id)
    hidden = (
        logins.own_reads(viewer, own) if viewer is not None else AuditEntry.actor_role == "person"
    )
    where = [not_(hidden)]
    if before is not None:
        where.append(AuditEntry.leaf_index < before)
    if show in SHOW_OUTCOMES:
        where.append(SHOW_OUTCOMES[show])
    entries = audit.query(
        ctx.store,
        subject=own,
        limit=limit + 1,
        periods=views.held_elsewhere(pub, person_id),
        not_roles=("anonymous",),
        where=where,
    )
    older = entries[limit - 1]["leaf_index"] if len(entries) > limit else None
    return shown_to_person(entries[:limit], own), older


def shown_to_person(entries: list[dict[str, Any]], own: list[str]) -> list[dict[str, Any]]:
    """The entries of a person's access log as the person sees them (``own``: their file's
    IDs): a read of another file that then held their records without that file's ID, what
    was asked for, or the entry's number and hash; an ID since given back to another person
    not named; a refused caller's own words for a purpose left out."""
    for e in entries:
        if e["subject"] not in own:
            # (the entry's hash covers the other file's ID, and its number leads to the hash
            # of the entry before: neither is shown)
            e.update(subject=None, detail=ELSEWHERE, seq=None, hash=None)
        elif e["detail"].startswith(ASKED) and e["detail"][len(ASKED) :].split(";")[0] not in own:
            # (an ID merged into this file then, since given back: another person's now)
            e["detail"] = f"{ASKED}another person's ID"
        if e["purpose"] not in PURPOSES and e["purpose"] != "consumer_request":
            e["purpose"] = None  # (a refused caller's own words: the auditors see them)
    return entries


def own_score(ctx: ServiceContext, pub: Published, who: User, action: str) -> dict[str, Any]:
    """The person's own current score row (audited)."""
    pid = views.own_id(pub, who.person_id)
    row = views.current_score(pub, pid, ctx.consent(pub, pid))
    ctx.audit(
        who,
        action,
        subject=pid,
        purpose="consumer_request",
        outcome="allowed" if row else "not_found",
    )
    if row is None:
        raise ApiError(404, "no_file", f"person {pid} is not in snapshot {pub.snapshot_id}")
    row["statement"] = ctx.statements.current_fresh(views.merged_into(pub, pid))
    return disputes.mark_disputed(row, ctx.disputes.disputed(views.merged_into(pub, pid)))


@router.get("/health", tags=["service"])
def health(ctx: Ctx) -> dict[str, Any]:
    pub = ctx.published()
    return {
        "status": "ok",
        "snapshot_id": pub.snapshot_id if pub else None,
        "as_of": pub.as_of.isoformat() if pub else None,
    }


@router.get("/me", response_model=Me, tags=["person"])
def me(who: User) -> Me:
    return Me(
        username=who.username, role=who.role, person_id=who.person_id, organisation=who.organisation
    )


@router.get("/me/score", response_model=Score, tags=["person"])
def my_score(who: PersonUser, ctx: Ctx, pub: Snapshot) -> dict[str, Any]:
    return own_score(ctx, pub, who, "read score")


@router.get("/me/history", response_model=list[HistoryPoint], tags=["person"])
def my_history(who: PersonUser, ctx: Ctx, pub: Snapshot) -> list[dict[str, Any]]:
    pid = views.own_id(pub, who.person_id)
    ctx.audit(who, "read score history", subject=pid, purpose="consumer_request")
    return views.history(pub, pid, ctx.consent(pub, pid), ctx.erased_until(pub, pid))


@router.get("/me/file", response_model=PersonFile, tags=["person"])
def my_file(who: PersonUser, ctx: Ctx, pub: Snapshot) -> dict[str, Any]:
    pid = views.own_id(pub, who.person_id)
    ctx.audit(who, "read file", subject=pid, purpose="consumer_request")
    return {
        "person_id": pid,
        "as_of": pub.as_of,
        "furnishers": views.file_items(pub, pid, ctx.alternative_erased(pub, pid)),
        "identity": views.identity_on_file(pub, pid),
        "statement": ctx.statements.current_fresh(views.merged_into(pub, pid)),
        "notices": notices.of_person(ctx, views.merged_into(pub, pid)),
    }


@router.get("/me/access", response_model=AccessLogOut, tags=["person"])
def who_looked(
    who: PersonUser,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[
        int | None,
        Query(ge=0, description="entries older than this position (the `older` of a page)"),
    ] = None,
    show: Annotated[
        Literal["all", "reads", "refusals"],
        Query(description="reads (all but refusals: reads and changes to logins), or refusals"),
    ] = "all",
) -> dict[str, Any]:
    """Who read my file: every lender, auditor and admin access, and refusals; with the audit
    log's signed head and a proof that each entry is in it (docs/service.md says how to check
    them). A page at a time, newest first: ``older`` gives the next."""
    pub = ctx.published()
    pid = views.own_id(pub, who.person_id)
    entries, older = access_log(ctx, pub, pid, limit, who, before=before, show=show)
    rows = with_proofs(ctx.store, ctx.heads, entries)
    ctx.audit(who, "read access log", subject=pid, purpose="consumer_request")
    return {**rows, "older": older}


@router.get("/me/logins", response_model=list[LoginOut], tags=["person"])
def my_logins(who: PersonUser, ctx: Ctx) -> list[dict[str, Any]]:
    """Every account bound to my file and its API keys: who made each and when, who approved
    it, whether it works, when it was last used, and which one I am using."""
    pub = ctx.published()
    pid = views.own_id(pub, who.person_id)
    rows = logins.logins_to_file(ctx.store, views.merged_into(pub, pid), who)
    ctx.audit(who, "read logins", subject=pid, purpose="consumer_request")
    return rows


@router.get("/log/consistency", response_model=ConsistencyOut, tags=["person"])
def log_consistency(
    who: User,
    ctx: Ctx,
    first: Annotated[int, Query(ge=0)],
    second: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    """Proof that the audit log of ``first`` entries (a signed head you kept) is the start of
    the log of ``second`` (default: the latest signed head, returned with it)."""
    return consistency(ctx.store, first, second)


@router.post(
    "/me/attestations",
    response_model=AttestationOut,
    status_code=201,
    tags=["person"],
    dependencies=[Csrf],
)
def share(
    body: AttestationIn, who: PersonUser, ctx: Ctx, pub: Snapshot, request: Request
) -> dict[str, Any]:
    """A signed, expiring statement of my score to give a landlord or lender."""
    row = own_score(ctx, pub, who, "share score")
    return share_score(ctx, pub, who, row, body.days, body.audience, str(request.base_url))


class WhatIfIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenarios: list[Scenario] = Field(min_length=1, max_length=10)


@router.post("/me/what-if", tags=["person"], dependencies=[Csrf])
def my_what_if(body: WhatIfIn, who: PersonUser, ctx: Ctx, pub: Snapshot) -> dict[str, Any]:
    """My score and reasons if I paid cards down, brought accounts current, removed inquiries
    or paid bills on time for more months; computed with the real scorecard."""
    return result_json(simulate(ctx, pub, who, body.scenarios))


@router.get("/persons/{person_id}/score", response_model=Score, tags=["lender"])
async def person_score(
    person_id: Annotated[str, Path(max_length=32)],
    who: User,
    ctx: Ctx,
    pub: Snapshot,
    purpose: Annotated[
        str | None,
        Query(
            max_length=32,
            description="required of lenders (a lender's "
            "purpose) and of auditors and admins (an auditor's): "
            f"{', '.join(PURPOSES)}; a person reading their own score leaves "
            "it out. Without one the read is refused (422 purpose_required) "
            "and logged.",
        ),
    ] = None,
) -> dict[str, Any]:
    """A person's current score. Persons may read only their own; lenders and auditors must
    state a permissible purpose. (The hot path: all in memory, on the event loop.)"""
    action = "read score"
    if who.role == "person":
        if views.own_id(pub, person_id) != views.own_id(pub, who.person_id):
            await ctx.audit_async(
                who,
                action,
                subject=person_id,
                outcome="denied",
                detail="a person may read only their own file",
            )
            raise ApiError(403, "forbidden", "you may read only your own file")
        purpose = "consumer_request"
    else:
        allowed = (
            AUDITOR_PURPOSES
            if who.role in ("auditor", "admin")
            else {k: v for k, v in PURPOSES.items() if k not in AUDITOR_PURPOSES}
        )
        if purpose not in allowed:
            await ctx.audit_async(
                who,
                action,
                subject=person_id,
                purpose=purpose,
                outcome="denied",
                detail="no permissible purpose stated",
            )
            raise ApiError(
                422, "purpose_required", f"purpose: state one of {', '.join(allowed)}", "purpose"
            )
    row = views.current_score(pub, person_id, ctx.consent(pub, views.own_id(pub, person_id)))
    # (a retired ID's reads are the survivor's: its access log shows them)
    subject = row["person_id"] if row else person_id
    await ctx.audit_async(
        who,
        action,
        subject=subject,
        purpose=purpose,
        outcome="allowed" if row else "not_found",
        detail=f"{ASKED}{person_id}" if subject != person_id else "",
    )
    if row is None:
        raise ApiError(404, "no_file", f"no file for person {person_id}")
    if ctx.statements.stale():
        await run_in_threadpool(ctx.statements.refresh)
    row["statement"] = ctx.statements.current(views.merged_into(pub, subject))
    return disputes.mark_disputed(row, ctx.disputes.disputed(views.merged_into(pub, subject)))


def _required_purpose(purposes: dict[str, str]) -> dict[str, Any]:
    """The spec's ``purpose`` query parameter, required and from ``purposes``: the handler
    itself takes any (or none), so that it can log the refusal."""
    return {
        "parameters": [
            {
                "name": "purpose",
                "in": "query",
                "required": True,
                "description": "the permissible purpose; without one from this list the read is "
                "refused (422 purpose_required) and logged",
                "schema": {"type": "string", "enum": list(purposes), "title": "Purpose"},
            }
        ]
    }


@router.get(
    "/persons/{person_id}/file",
    response_model=PersonFile,
    tags=["auditor"],
    openapi_extra=_required_purpose(AUDITOR_PURPOSES),
)
def person_file(
    person_id: Annotated[str, Path(max_length=32)],
    who: User,
    ctx: Ctx,
    pub: Snapshot,
    purpose: Annotated[str | None, Query(max_length=32, include_in_schema=False)] = None,
) -> dict[str, Any]:
    """A person's whole file for an auditor with a purpose (investigating a dispute, an
    examination, a court order): the items by furnisher, and the identities linked into it
    with its ID history, other files' IDs included (what `openbureau link --force-split`
    needs)."""
    return audited_file(ctx, pub, who, person_id, purpose, "read file")


def audited_file(
    ctx: ServiceContext, pub: Published, who: User, person_id: str, purpose: str | None, action: str
) -> dict[str, Any]:
    """An auditor's read of a person's file, with its purpose, audited (as is a refusal: with
    the person as its subject, so that the person sees it too)."""
    asked = person_id.strip().upper()
    if who.role not in ("auditor", "admin"):
        ctx.audit(
            who,
            action,
            subject=asked or None,
            purpose=purpose,
            outcome="denied",
            detail=f"role {who.role} may not use this",
        )
        raise ApiError(403, "forbidden", "this needs the auditor or admin role")
    if not asked:
        raise ApiError(422, "invalid_input", "person_id: give a person ID", "person_id")
    if purpose not in AUDITOR_PURPOSES:
        ctx.audit(
            who,
            action,
            subject=asked,
            purpose=purpose,
            outcome="denied",
            detail="no permissible purpose stated",
        )
        raise ApiError(
            422,
            "purpose_required",
            f"purpose: state one of {', '.join(AUDITOR_PURPOSES)}",
            "purpose",
        )
    pid = views.resolve_person(pub, asked)
    ctx.audit(
        who,
        action,
        subject=pid or asked,
        purpose=purpose,
        outcome="allowed" if pid else "not_found",
        detail=f"{ASKED}{asked}" if pid and pid != asked else "",
    )
    if pid is None:
        raise ApiError(404, "no_file", f"no file for person {asked}")
    return {
        "person_id": pid,
        "as_of": pub.as_of,
        "furnishers": views.file_items(pub, pid, ctx.alternative_erased(pub, pid)),
        "identity": views.identity_on_file(pub, pid, redact=False),
        "statement": ctx.statements.current_fresh(views.merged_into(pub, pid)),
        "notices": notices.of_person(ctx, views.merged_into(pub, pid)),
    }


@router.post(
    "/lookups", response_model=LookupOut, tags=["lender"], dependencies=[Csrf], responses=TOO_MANY
)
async def lender_lookup(body: LookupIn, who: LenderUser, ctx: Ctx, pub: Snapshot) -> dict[str, Any]:
    """Find a file by identity (through the linker) or id, and decide against a cut-off.

    Needs a permissible purpose, and by identity at least a first and last name, a birth
    date, and an address (line and postcode) or a national ID (else 422
    `not_enough_to_identify`). Counted against the lender's lookups a minute (else 429
    `quota_exceeded`, with Retry-After). Every refusal is in the audit log."""
    return await lookup(ctx, pub, who, body)


def client_address(request: Request) -> str:
    """The caller's address (a proxy's X-Forwarded-For only with ``proxy_headers``)."""
    return request.client.host if request.client else "unknown"


def verify_limited(ctx: ServiceContext, request: Request) -> str:
    """The caller's address, once its verification is within the limits (a refusal is
    logged the first time a minute for its address, see limits.AddressLimit)."""
    address = client_address(request)
    wait, log = ctx.verifications.check(address)
    if wait:
        if log:
            ctx.audit(
                None,
                "verify attestation",
                outcome="denied",
                detail=f"from {address}: over the limit of verifications a minute; "
                "further refusals this minute are not logged",
            )
        raise ApiError(
            429,
            "rate_limited",
            f"too many verifications: try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    return address


@router.post("/verify", response_model=VerifyOut, tags=["public"], responses=TOO_MANY)
def verify(body: VerifyIn, ctx: Ctx, request: Request) -> dict[str, Any]:
    """Check a shared score against the bureau's public key. No login needed; limited per
    client address (429 `rate_limited`, with Retry-After)."""
    return verify_token(ctx, body.token, verify_limited(ctx, request))


@router.get("/audit", response_model=list[AuditEntryOut], tags=["auditor"])
def audit_log(
    who: AuditorUser,
    ctx: Ctx,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    subject: Annotated[str | None, Query(max_length=32)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Annotated[str | None, Query(pattern="^(allowed|denied|not_found)$")] = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    log_reads: Annotated[
        bool, Query(description=f"with the log's own reads ({', '.join(LOG_READS)})")
    ] = True,
) -> list[dict[str, Any]]:
    """The audit log, newest first. A read of a person's entries is a read of their file: it
    is logged with each person it shows as its subject, and so is in their access log
    (``subject``: the person's file, under any of its IDs)."""
    return read_audit_log(
        ctx,
        who,
        "read audit log",
        actor=actor,
        subject=subject,
        of_action=action,
        outcome=outcome,
        since=_naive(since),
        until=_naive(until),
        limit=limit,
        offset=offset,
        log_reads=log_reads,
    )


def _naive(t: dt.datetime | None) -> dt.datetime | None:
    if t is None or t.tzinfo is None:
        return t
    return t.astimezone(dt.UTC).replace(tzinfo=None)


@router.get("/audit/verify", response_model=LogCheckOut, tags=["auditor"])
def audit_verify(who: AuditorUser, ctx: Ctx) -> dict[str, Any]:
    """Check the whole audit log now: every entry, its tree, and every signed head (as
    `openbureau audit verify` does); the result is what the auditor page shows next."""
    ctx.audit(who, "verify audit log")
    return check_json(run_check(ctx, who.username))


def run_check(ctx: ServiceContext, actor: str) -> LogCheck:
    check = verify_log(ctx.store, ctx.config.workspace)
    record_check(ctx.store, check, actor)
    return check


def check_json(check: LogCheck) -> dict[str, Any]:
    latest = check.heads[-1].as_json() if check.heads else None
    return {
        "ok": check.ok,
        "entries": check.entries,
        "tree_size": check.tree_size,
        "signed_heads": len(check.heads),
        "latest_head": latest,
        "problems": check.problems,
        "notes": check.notes,
        "acknowledged": check.acknowledged,
        "checked_at": check.checked_at,
    }


@router.get("/model", response_model=ModelOut, tags=["auditor"])
def model(who: AuditorUser, ctx: Ctx, pub: Snapshot) -> dict[str, Any]:
    """The scorecard behind the current snapshot."""
    ctx.audit(who, "read model")
    card = pub.card
    return {
        "snapshot_id": pub.snapshot_id,
        "as_of": pub.as_of,
        "scorecard_name": card.name,
        "scorecard_version": card.version,
        "factors": [
            {
                "name": f.name,
                "code": f.code,
                "statement": f.statement,
                "max_points": f.max_points,
                "bins": len(f.bins),
            }
            for f in card.factors
        ],
        "report_url": "/auditor/report" if report_path(ctx, card.version) else None,
    }


def report_path(ctx: ServiceContext, version: str) -> Any:
    reports = sorted((ctx.config.workspace / "reports").glob(f"model-*{version}*.html"))
    return reports[-1] if reports else None


@router.get("/accounts", response_model=list[AccountOut], tags=["admin"])
def accounts(who: AdminUser, ctx: Ctx) -> list[Account]:
    with ctx.store() as session:
        return list(session.execute(select(Account).order_by(Account.id)).scalars())


def same_file(pub: Published | None, person_id: str | None) -> list[str]:
    """The IDs that stand for the file an account for ``person_id`` would see."""
    if not person_id:
        return []
    return views.merged_into(pub, views.own_id(pub, person_id.strip().upper()))


def file_of(ctx: ServiceContext) -> bindings.FileIds:
    """:func:`same_file` in the snapshot the service serves now."""
    return lambda person_id: same_file(ctx.published(), person_id)


def _refused(exc: bindings.BindingError) -> ApiError:
    return ApiError(exc.status, exc.code, str(exc))


@router.post(
    "/accounts", response_model=AccountOut, status_code=201, tags=["admin"], dependencies=[Csrf]
)
def add_account(body: AccountIn, who: AdminUser, ctx: Ctx) -> Account:
    """Add an account. A further account bound to a person's file, or a further admin,
    waits (``pending``) until another admin approves it."""
    try:
        return bindings.add_account(
            ctx.store,
            ctx.audit_writer.record,
            bindings.admin(who),
            username=body.username,
            role=body.role,
            password=body.password,
            display_name=body.display_name,
            person_id=body.person_id,
            organisation=body.organisation,
            same_file=same_file(ctx.published(), body.person_id),
        ).account
    except bindings.BindingError as exc:  # (a login to the file made meanwhile: 409)
        raise _refused(exc) from None


@router.get("/accounts/waiting", response_model=WaitingOut, tags=["admin"])
def waiting(who: AdminUser, ctx: Ctx) -> dict[str, Any]:
    """Accounts and API keys waiting for an admin's approval."""
    return logins.waiting(ctx.store)


@router.post(
    "/accounts/{username}/approve", response_model=AccountOut, tags=["admin"], dependencies=[Csrf]
)
def approve_account(
    username: Annotated[str, Path(max_length=64)], who: AdminUser, ctx: Ctx
) -> Account:
    """Approve a waiting account: an admin other than the one who created it (or enabled it
    again)."""
    try:
        return bindings.approve_account(
            ctx.store, ctx.audit_writer.record, bindings.admin(who), username
        )
    except bindings.BindingError as exc:
        raise _refused(exc) from None


@router.post(
    "/accounts/{username}/disable", response_model=AccountOut, tags=["admin"], dependencies=[Csrf]
)
def disable_account(
    username: Annotated[str, Path(max_length=64)], who: AdminUser, ctx: Ctx
) -> Account:
    """Disable an account: its sessions and API keys stop working at once."""
    try:
        account = bindings.set_disabled(
            ctx.store, ctx.audit_writer.record, bindings.admin(who), username, True, file_of(ctx)
        )
    except bindings.BindingError as exc:
        raise _refused(exc) from None
    ctx.credentials.clear()
    return account


@router.post(
    "/accounts/{username}/enable", response_model=AccountOut, tags=["admin"], dependencies=[Csrf]
)
def enable_account(
    username: Annotated[str, Path(max_length=64)], who: AdminUser, ctx: Ctx
) -> Account:
    """Enable a disabled account again. A person's account waits for another admin's
    approval when another account is bound to its file."""
    try:
        return bindings.set_disabled(
            ctx.store, ctx.audit_writer.record, bindings.admin(who), username, False, file_of(ctx)
        )
    except bindings.BindingError as exc:
        raise _refused(exc) from None


@router.post(
    "/accounts/{username}/keys",
    response_model=ApiKeyOut,
    status_code=201,
    tags=["admin"],
    dependencies=[Csrf],
)
def add_key(
    username: Annotated[str, Path(max_length=64)], who: AdminUser, ctx: Ctx
) -> dict[str, Any]:
    """An API key, shown once. A key for a person's account waits until another admin
    approves it when the account has a login already or another account is bound to its
    file; so does a key issued to an admin's account by another admin."""
    try:
        row, key = bindings.add_key(
            ctx.store, ctx.audit_writer.record, bindings.admin(who), username, file_of(ctx)
        )
    except bindings.BindingError as exc:
        raise _refused(exc) from None
    return {"key": key, "prefix": row.prefix, "pending": row.pending}


@router.post(
    "/accounts/{username}/keys/{prefix}/approve",
    response_model=ApiKeyApprovedOut,
    tags=["admin"],
    dependencies=[Csrf],
)
def approve_key(
    username: Annotated[str, Path(max_length=64)],
    prefix: Annotated[str, Path(max_length=16)],
    who: AdminUser,
    ctx: Ctx,
) -> ApiKey:
    """Approve a waiting API key: an admin other than the one who issued it."""
    try:
        return bindings.approve_key(
            ctx.store, ctx.audit_writer.record, bindings.admin(who), username, prefix
        )
    except bindings.BindingError as exc:
        raise _refused(exc) from None
