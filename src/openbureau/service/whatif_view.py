"""The person's what-if simulator, on the real scorecard and their features as scored."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from openbureau.errors import UserError
from openbureau.scoring.whatif import (
    BringCurrent,
    PayDown,
    PayOverdueBills,
    RemoveInquiry,
    Scenario,
    WhatIfResult,
    what_if,
)
from openbureau.service import views
from openbureau.service.auth import Principal
from openbureau.service.context import ServiceContext
from openbureau.service.errors import ApiError
from openbureau.service.serving import Published

# Said in the notes when the person's score was rescored after a dispute by a version that
# did not keep the features it used.
RESCORE_WITHOUT_FEATURES = (
    "Your score was recomputed after a dispute, but the figures it used were not kept: this "
    "what-if starts from the figures of the snapshot of {as_of}, so its score before may "
    "differ from your score."
)
CONSENTED = (
    "Your utility, telecom and rent payments count (you consented): each score is the better "
    "of the score on credit data only and the score with them, as your score is."
)


def scored_features(
    ctx: ServiceContext, pub: Published, person_id: str
) -> tuple[dict[str, Any] | None, list[str]]:
    """The features the person's served score was computed on (a dispute's rescore, else the
    snapshot's), and notes on them (a rescore that did not keep its own)."""
    rescored, used = ctx.disputes.rescored_features(pub.snapshot_id, person_id)
    if used is not None:
        return dict(used), []
    notes = [RESCORE_WITHOUT_FEATURES.format(as_of=pub.as_of)] if rescored else []
    return views.features(pub, person_id), notes


def simulate(
    ctx: ServiceContext, pub: Published, who: Principal, scenarios: list[Scenario]
) -> WhatIfResult:
    """The what-if on the person's score as served: on the features it was computed on, with
    the scorecard with alternative data too when the person consents (the better served)."""
    pid = views.own_id(pub, who.person_id)
    row, notes = scored_features(ctx, pub, pid)
    ctx.audit(
        who,
        "what-if",
        subject=pid,
        purpose="consumer_request",
        detail=", ".join(s.kind for s in scenarios),
    )
    if row is None:
        raise ApiError(404, "no_file", f"person {pid} is not in snapshot {pub.snapshot_id}")
    if not scenarios:
        raise UserError("scenarios: choose at least one change to try")
    alt = pub.alt_card if ctx.consent(pub, pid) else None
    result = what_if(pub.card, row, scenarios, alt=alt)
    if alt is not None:
        notes.append(CONSENTED)
    return replace(result, notes=(*notes, *result.notes))


def result_json(result: WhatIfResult) -> dict[str, Any]:
    def state(s: Any) -> dict[str, Any]:
        return {
            "score": s.score,
            "band": s.band,
            "unscorable_reason": s.unscorable_reason,
            "served_from": s.served_from,
            "reasons": [vars(r) for r in s.reasons],
        }

    return {
        "before": state(result.before),
        "after": state(result.after),
        "score_change": result.score_change,
        "reason_changes": [vars(c) for c in result.reason_changes],
        "features_changed": [vars(c) for c in result.features_changed],
        "notes": list(result.notes),
    }


def run_what_if(
    ctx: ServiceContext,
    pub: Published,
    who: Principal,
    *,
    utilisation: str,
    bring_current: bool,
    remove_inquiries: str,
    pay_overdue_bills: bool = False,
) -> dict[str, Any]:
    """The page's form: each field a scenario when filled in."""
    scenarios: list[Scenario] = []
    try:
        if utilisation.strip():
            scenarios.append(PayDown(target_percent=float(utilisation)))
        if bring_current:
            scenarios.append(BringCurrent())
        if pay_overdue_bills:
            scenarios.append(PayOverdueBills())
        if remove_inquiries.strip() and int(remove_inquiries) > 0:
            scenarios.append(RemoveInquiry(count=int(remove_inquiries)))
    except ValueError as exc:
        first = str(exc).splitlines()
        raise UserError(
            "what-if: utilisation must be a percent from 0 to 100 and inquiries a "
            f"whole number ({first[-1].strip() if first else exc})"
        ) from None
    result = simulate(ctx, pub, who, scenarios)
    before, after = result.before, result.after
    changes = []
    for c in result.reason_changes:
        if c.change == "disappeared":
            changes.append(f"No longer a reason: {c.statement}")
        elif c.change == "appeared":
            changes.append(f"New reason: {c.statement}")
        else:
            changes.append(f"Moved from reason {c.rank_before} to {c.rank_after}: {c.statement}")
    return {
        "before_score": before.score,
        "after_score": after.score,
        "after_band": after.band,
        "delta": result.score_change or 0,
        "changes": changes,
        "notes": list(result.notes),
    }
