"""A lender's lookup: find the file (by identity through the linker, or by id), score,
decide against the lender's cut-off, and give adverse-action reasons for a decline."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy.orm import Session

from openbureau.engine import DuckDBEngine
from openbureau.service import views
from openbureau.service.auth import Principal
from openbureau.service.context import ServiceContext
from openbureau.service.errors import ApiError
from openbureau.service.schemas import IdentityIn, LookupIn
from openbureau.service.serving import Published
from openbureau.service.store import Lookup

# One identity search at a time: find_person keeps Splink's compiled scoring SQL per process,
# and that cache has not been shown to be safe under concurrent use.
_search_lock = threading.Lock()


def find_by_identity(ctx: ServiceContext, pub: Published,
                     identity: IdentityIn) -> tuple[str, str | None, float | None]:
    """(match status, person id, match probability) for an identity, through the linker."""
    from openbureau.identity.lookup import IdentityQuery, find_person

    model = ctx.config.linkage_model
    if not model.exists():
        raise ApiError(503, "no_linkage_model", "identity search needs the linkage model: run "
                                                "`openbureau link`")
    query = IdentityQuery(**identity.model_dump())
    with _search_lock:
        cur = pub.cursor()
        try:
            result = find_person(DuckDBEngine.wrap(cur, str(pub.path)), model, query,
                                 national_id_key=ctx.config.national_id_key,
                                 country=ctx.config.country)
        finally:
            cur.close()
    best = result.best
    if result.status != "found" or best is None:
        return result.status, None, best.match_probability if best else None
    return "found", best.person_id, best.match_probability


def decide(row: dict[str, Any] | None, cutoff: int) -> tuple[str, list[dict[str, str]], str]:
    """(decision, adverse-action reasons, message) for a score row."""
    if row is None:
        return "no_file", [], "No file found for this identity."
    if row["score"] is None:
        text = row["unscorable_text"] or "Insufficient credit history"
        return ("refer", [{"code": row["unscorable_reason"], "statement": text}],
                f"No score: {text}. Decide on other information.")
    if row["score"] >= cutoff:
        return "approve", [], f"Score {row['score']} is at or above the cut-off {cutoff}."
    reasons = [{"code": r["code"], "statement": r["statement"]} for r in row["reasons"]][:4]
    return ("decline", reasons,
            f"Score {row['score']} is below the cut-off {cutoff}. Principal reasons are "
            "listed for the adverse-action notice.")


def lookup(ctx: ServiceContext, pub: Published, who: Principal, body: LookupIn
           ) -> dict[str, Any]:
    probability: float | None = None
    if body.identity is not None:
        match, pid, probability = find_by_identity(ctx, pub, body.identity)
    else:
        pid = views.resolve_person(pub, body.person_id or "")
        match = "found" if pid else "not_found"
    row = views.current_score(pub, pid) if pid else None
    decision, adverse, message = decide(row, body.cutoff)
    if match == "ambiguous":
        message = ("More than one file matches this identity closely; add a birth date, "
                   "address or national ID to tell them apart.")
    with ctx.store() as session:
        entry = _record(session, who, body, pid, pub, row, decision)
    ctx.audit(who, "lookup", subject=pid, purpose=body.purpose,
              outcome="allowed" if pid else "not_found",
              detail=f"lookup {entry.id}: {match}, decision {decision}, cut-off {body.cutoff}")
    return {
        "lookup_id": entry.id, "match": match, "match_probability": probability,
        "person_id": pid, "purpose": body.purpose,
        "snapshot_id": pub.snapshot_id if row else None, "as_of": pub.as_of if row else None,
        "score": row["score"] if row else None, "band": row["band"] if row else None,
        "cutoff": body.cutoff, "decision": decision, "adverse_action": adverse,
        "reasons": row["reasons"] if row else [],
        "file_summary": views.file_summary(pub, pid) if pid else None, "message": message,
    }


def _record(session: Session, who: Principal, body: LookupIn, pid: str | None,
            pub: Published, row: dict[str, Any] | None, decision: str) -> Lookup:
    entry = Lookup(account_id=who.account_id, person_id=pid, purpose=body.purpose,
                   snapshot_id=pub.snapshot_id, score=row["score"] if row else None,
                   cutoff=body.cutoff, decision=decision)
    session.add(entry)
    session.commit()
    return entry
