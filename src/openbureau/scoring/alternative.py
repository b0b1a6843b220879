"""Alternative data and consent, as scoring sees them.

Alternative data are the rows of feeds whose spec says ``ledger.alternative: true`` (utility,
telecom and rent bills: the ledger's ``payment`` events). They count in a person's score only
with the person's consent, and then only when they help:

- the **core** scorecard uses no alternative data (no factor of the ``alternative_data`` group,
  none reading a payment or an alternative feed) and scores only files with a credit account;
- the **alternative** scorecard may use everything;
- a snapshot holds both scores per person (``scores.score`` is the core score,
  ``scores.alt_score`` the score with alternative data); the service serves the core score to a
  person without consent, and the better of the two to a person with it (:func:`served`).
  ``alt_reasons`` are looked up only where the alternative score is above the core one (the
  only rows it can be served from): elsewhere they are NULL.

So opting in never lowers a score, withdrawing returns the core score at once, and a person
without alternative data loses nothing for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.ledger.erasure import alternative_feeds
from openbureau.scoring.scorecard import Factor, Scorecard

ALTERNATIVE_GROUP = "alternative_data"
# The active scorecard with alternative data, beside the core one (models/scorecard.yaml).
ALT_SCORECARD = "scorecard-alternative.yaml"
# Ledger events whose rows are alternative data (a spec's ledger.alternative must agree).
ALTERNATIVE_EVENTS = frozenset({"payment"})
# The columns of a ``scores`` row that come from the alternative scorecard, and the core
# column each stands in for when served.
ALT_COLUMNS = {
    "alt_score": "score",
    "alt_band": "band",
    "alt_unscorable_reason": "unscorable_reason",
    "alt_unscorable_text": "unscorable_text",
    "alt_reasons": "reasons",
    "alt_scorecard_version": "scorecard_version",
}


def reads_alternative(group: str, fields: Iterable[str], feeds: Iterable[str] = ()) -> bool:
    """Whether a factor uses alternative data: its group, or a field of a payment event or of
    an alternative feed (``event.column`` / ``feed.target``)."""
    alt = ALTERNATIVE_EVENTS | set(feeds)
    return group == ALTERNATIVE_GROUP or any(f.split(".", 1)[0] in alt for f in fields)


def factor_is_alternative(f: Factor, feeds: Iterable[str] = ()) -> bool:
    refs = [r.field for r in f.fields]
    if f.custom is not None:
        refs.append(f.custom.field_ref)
    return reads_alternative(f.group, refs, feeds)


def uses_alternative_data(card: Scorecard, feeds: Iterable[str] = ()) -> list[str]:
    """The names of ``card``'s factors that use alternative data."""
    feeds = list(feeds)
    return [f.name for f in card.factors if factor_is_alternative(f, feeds)]


def check_pair(core: Scorecard, alt: Scorecard | None, engine: Engine | None = None) -> None:
    """A core scorecard uses no alternative data, nor lets it make a file scorable.

    Raises:
        UserError: naming the factors (or the criterion) at fault and what to do.
    """
    feeds = alternative_feeds(engine) if engine is not None else frozenset()
    found = uses_alternative_data(core, feeds)
    if found:
        raise UserError(
            f"scorecard {core.name} {core.version} uses alternative data ({', '.join(found)}), "
            "which counts only with the person's consent: score with a core scorecard "
            "without them and give this one as the alternative scorecard (`openbureau train` "
            "writes both)"
        )
    if core.minimum_criteria.alt_months is not None:
        raise UserError(
            f"scorecard {core.name} {core.version}: minimum_criteria.alt_months makes a file "
            "scorable by alternative data, which counts only with the person's consent: a "
            "core scorecard says alt_months: null"
        )
    if alt is not None and alt.scaling != core.scaling:
        raise UserError(
            f"scorecards {core.name} {core.version} and {alt.name} {alt.version} have "
            "different scaling: the better of two scores is only meaningful on one scale"
        )


def served(row: Mapping[str, Any], consent: bool) -> dict[str, Any]:
    """The score a person is served from their ``scores`` row: without consent the core score;
    with it the better of the core and the alternative score (a scored file beats an
    unscorable one; a tie keeps the core score and its reasons), with the reasons of the one
    served. ``served_from`` says which (``core`` or ``alternative``)."""
    out = {k: v for k, v in row.items() if k not in ALT_COLUMNS}
    out["served_from"] = "core"
    if consent and better(row.get("alt_score"), row.get("score")):
        for alt, col in ALT_COLUMNS.items():
            out[col] = row[alt]
        out["served_from"] = "alternative"
    return out


def better(alt_score: int | None, core_score: int | None) -> bool:
    """Whether the alternative score is served instead of the core one (with consent)."""
    if alt_score is None:
        return False
    return core_score is None or alt_score > core_score


def served_sql(consent: str, prefix: str = "") -> str:
    """SQL of whether a ``scores`` row (columns prefixed ``prefix``) is served from its
    alternative score, for a consent given by the SQL boolean ``consent`` (as :func:`better`)."""
    p = prefix
    return (
        f"({consent} AND {p}alt_score IS NOT NULL "
        f"AND ({p}score IS NULL OR {p}alt_score > {p}score))"
    )
