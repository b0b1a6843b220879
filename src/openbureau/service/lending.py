"""A lender's lookup: find the file (by identity through the linker, or by id), score,
decide against the lender's cut-off, and give adverse-action reasons for a decline.

Before anything is searched, a lookup is counted against the lender's quota (refused ones
too), and must state a permissible purpose and, by identity, give the minimum identity
(``identity.lookup.MINIMUM_IDENTITY``); each refusal is in the audit log. The search and the
file reads run on the lookup pool (``service/limits.py``): threads of their own, a few of one
lender's at a time, so a lender's flood of lookups waits on itself, not on other requests. The
search itself takes milliseconds (``identity/lookup.py``); a snapshot's lookup index is loaded
on the pool as the snapshot opens (:func:`prepare_search`).
"""

from __future__ import annotations

import gc
import logging
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool

from openbureau.engine import DuckDBEngine
from openbureau.errors import UserError
from openbureau.service import disputes, views
from openbureau.service.auth import Principal
from openbureau.service.context import LENDER_PURPOSES, ServiceContext
from openbureau.service.errors import ApiError
from openbureau.service.notices import key_factors
from openbureau.service.schemas import IdentityIn, LookupIn
from openbureau.service.serving import Published
from openbureau.service.store import Lookup

if TYPE_CHECKING:  # (the lookup loads Splink: at the first lookup)
    from openbureau.identity.lookup import IdentityQuery

ACTION = "lookup"
log = logging.getLogger(__name__)


def identity_query(identity: IdentityIn) -> IdentityQuery:
    from openbureau.identity.lookup import IdentityQuery

    return IdentityQuery(**identity.model_dump())


def find_by_identity(
    ctx: ServiceContext, pub: Published, identity: IdentityIn
) -> tuple[str, str | None, float | None]:
    """(match status, person id, match probability) for an identity, through the linker.
    Blocks: run it on the lookup pool."""
    from openbureau.identity import lookup as identity_lookup

    model = ctx.config.linkage_model
    if not model.exists():
        raise ApiError(
            503,
            "no_linkage_model",
            "identity search needs the linkage model: run `openbureau link`",
        )
    # (the copy's own connection: the lookup index it loads and keeps is the copy's, and each
    # search runs on a connection of its own, so searches run side by side)
    result = identity_lookup.find_person(
        DuckDBEngine.wrap(pub.connection, str(pub.path)),
        model,
        identity_query(identity),
        national_id_key=ctx.config.national_id_key,
        country=ctx.config.country,
    )
    best = result.best
    if result.status != "found" or best is None:
        return result.status, None, best.match_probability if best else None
    return "found", best.person_id, best.match_probability


def prepare_search(ctx: ServiceContext, pub: Published) -> None:
    """Load the copy's lookup index and file summaries and prepare a search (seconds at a
    million records), so that the first lookup on a snapshot does not wait for them. Runs on
    the lookup pool when a snapshot opens; a failure is left for the first lookup to report."""
    model = ctx.config.linkage_model
    if not model.exists():
        return
    from openbureau.identity import lookup as identity_lookup

    try:
        identity_lookup.prepare(DuckDBEngine.wrap(pub.connection, str(pub.path)), model)
        views.file_summary(pub, "")  # (the copy's file summaries, computed once)
    except Exception as exc:  # (whatever it is, the first lookup meets it again and reports it)
        log.warning("preparing lookups on %s failed: %s", pub.snapshot_id, exc)
    # (what was loaded lives as long as the snapshot: out of the collector's full passes, as
    # what the snapshot loads when it opens, serving.ServingStore._open)
    gc.collect()
    gc.freeze()


def decide(row: dict[str, Any] | None, cutoff: int) -> tuple[str, list[dict[str, str]], str]:
    """(decision, adverse-action reasons, message) for a score row."""
    if row is None:
        return "no_file", [], "No file found for this identity."
    if row["score"] is None:
        text = row["unscorable_text"] or "Insufficient credit history"
        return (
            "refer",
            [{"code": row["unscorable_reason"], "statement": text}],
            f"No score: {text}. Decide on other information.",
        )
    if row["score"] >= cutoff:
        return "approve", [], f"Score {row['score']} is at or above the cut-off {cutoff}."
    # (the notice's key factors: up to four, and inquiries where they are one)
    reasons = [{"code": f["code"], "statement": f["statement"]} for f in key_factors(row)]
    return (
        "decline",
        reasons,
        f"Score {row['score']} is below the cut-off {cutoff}. Principal reasons are "
        "listed for the adverse-action notice.",
    )


async def lookup(
    ctx: ServiceContext, pub: Published, who: Principal, body: LookupIn
) -> dict[str, Any]:
    """A lender's lookup, refused (and logged) over the quota, without a permissible purpose
    or short of the minimum identity.

    Raises:
        ApiError: 429 ``quota_exceeded`` (with Retry-After), 422 ``purpose_required``, 422
            ``not_enough_to_identify``; 503 without a linkage model.
        UserError: an identity the search cannot use (a malformed national ID), logged too.
    """
    from openbureau.identity.lookup import NotEnoughToIdentify

    wait, quota = await run_in_threadpool(ctx.lookup_quota.take, who.account_id)
    if wait:
        await _refused(ctx, who, body, f"over the lookup quota of {quota} a minute")
        raise ApiError(
            429,
            "quota_exceeded",
            f"lookup quota reached ({quota} a minute): try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    if body.purpose not in LENDER_PURPOSES:
        await _refused(ctx, who, body, "no permissible purpose stated")
        raise ApiError(
            422,
            "purpose_required",
            f"purpose: state one of {', '.join(LENDER_PURPOSES)}",
            "purpose",
        )
    try:
        if body.identity is not None and (missing := identity_query(body.identity).missing()):
            raise NotEnoughToIdentify(missing)
        match, pid, probability, row, summary = await ctx.lookups.run(
            who.account_id, _search, ctx, pub, body
        )
    except NotEnoughToIdentify as exc:
        await _refused(ctx, who, body, str(exc))
        raise ApiError(422, NotEnoughToIdentify.code, str(exc), "identity") from None
    except UserError as exc:
        await _refused(ctx, who, body, str(exc))
        raise
    decision, adverse, message = decide(row, body.cutoff)
    if match == "ambiguous":
        message = (
            "More than one file matches this identity closely; add a national ID, a "
            "phone or an email to tell them apart."
        )
    entry = await run_in_threadpool(_record, ctx, who, body, pid, pub, row, decision)
    statement = (
        await run_in_threadpool(ctx.statements.current_fresh, views.merged_into(pub, pid))
        if row and pid
        else None
    )
    await ctx.audit_async(
        who,
        ACTION,
        subject=pid,
        purpose=body.purpose,
        outcome="allowed" if pid else "not_found",
        detail=f"lookup {entry.id}: {match}, decision {decision}, cut-off {body.cutoff}",
    )
    return {
        "lookup_id": entry.id,
        "match": match,
        "match_probability": probability,
        "person_id": pid,
        "purpose": body.purpose,
        "snapshot_id": pub.snapshot_id if row else None,
        "as_of": pub.as_of if row else None,
        "score": row["score"] if row else None,
        "band": row["band"] if row else None,
        "cutoff": body.cutoff,
        "decision": decision,
        "adverse_action": adverse,
        "reasons": row["reasons"] if row else [],
        "file_summary": summary,
        "statement": statement,
        "disputes": row.get("disputes", []) if row else [],
        "message": message,
    }


def _search(
    ctx: ServiceContext, pub: Published, body: LookupIn
) -> tuple[str, str | None, float | None, dict[str, Any] | None, dict[str, Any] | None]:
    """(match, person id, match probability, score row, file summary): all the lookup reads,
    on a lookup thread."""
    probability: float | None = None
    if body.identity is not None:
        match, pid, probability = find_by_identity(ctx, pub, body.identity)
    else:
        pid = views.resolve_person(pub, body.person_id or "")
        match = "found" if pid else "not_found"
    row = views.current_score(pub, pid, ctx.consent(pub, pid)) if pid else None
    if row is not None and pid:
        # (a lender is told which records the person disputes, FCRA s.623(a)(3))
        disputes.mark_disputed(row, ctx.disputes.disputed(views.merged_into(pub, pid)))
    return (
        match,
        pid,
        probability,
        row,
        views.file_summary(pub, pid, ctx.alternative_erased(pub, pid)) if pid else None,
    )


async def _refused(ctx: ServiceContext, who: Principal, body: LookupIn, why: str) -> None:
    """A refused lookup in the audit log: by person ID with that ID as its subject (so the
    person sees it), by identity without one (nobody was searched for); the purpose as sent."""
    asked = (body.person_id or "").strip().upper() or None
    await ctx.audit_async(
        who, ACTION, subject=asked, purpose=body.purpose, outcome="denied", detail=why
    )


def _record(
    ctx: ServiceContext,
    who: Principal,
    body: LookupIn,
    pid: str | None,
    pub: Published,
    row: dict[str, Any] | None,
    decision: str,
) -> Lookup:
    entry = Lookup(
        account_id=who.account_id,
        person_id=pid,
        purpose=body.purpose,
        snapshot_id=pub.snapshot_id,
        score=row["score"] if row else None,
        cutoff=body.cutoff,
        decision=decision,
    )
    with ctx.store() as session:
        session.add(entry)
        session.commit()
    return entry
