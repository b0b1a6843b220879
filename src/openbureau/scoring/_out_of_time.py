"""Out-of-time validation: train at D, validate on the persons of D + horizon.

A scorecard trained as of D has its outcomes to D + horizon; the outcomes after D + horizon do
not exist yet, so it cannot be validated out of time when it is trained. Two checks instead:

- a **shadow** scorecard, fitted with exactly the same settings and candidate factors as of
  D - horizon (features then, outcomes D - horizon .. D), gives its in-time AUC on its own
  held-out persons (the same hash rule) and its out-of-time AUC on every person scorable as of
  D with an outcome D .. D + horizon (none of them was in its training data in time): how much
  a scorecard built this way loses over one horizon;
- where the ledger does hold the outcomes after D + horizon (a later run), **this** scorecard
  is validated at D + horizon directly, the same way.

Too little data at the earlier date (too few persons, no defaults) makes a check say so
plainly; it never fails the training.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace

import pandas as pd

from openbureau.errors import UserError
from openbureau.scoring import _report_svg as svg
from openbureau.scoring._compile import NumpyScorer
from openbureau.scoring._report import roc_auc
from openbureau.scoring.scorecard import Scorecard

AUC_TOLERANCE = 0.02  # the out-of-time AUC should be within this of the in-time one
MIN_PERSONS = 50  # the fewest training or held-out persons any scorecard is fitted on


@dataclass(frozen=True)
class OotCheck:
    """A scorecard trained at one date, its AUC in time and on the population one horizon
    later; a figure is None when it could not be measured, and ``note`` says why."""

    scorecard: str
    trained_as_of: dt.date
    validated_as_of: dt.date
    auc_in_time: float | None = None
    persons_in_time: int = 0
    auc_out_of_time: float | None = None
    persons_out_of_time: int = 0
    note: str = ""

    @property
    def difference(self) -> float | None:
        """Out-of-time AUC minus in-time AUC."""
        if self.auc_in_time is None or self.auc_out_of_time is None:
            return None
        return self.auc_out_of_time - self.auc_in_time

    @property
    def within_tolerance(self) -> bool | None:
        d = self.difference
        return None if d is None else abs(d) <= AUC_TOLERANCE


def _too_little(rows: pd.DataFrame, label: str) -> str:
    bads = int(rows["bad"].sum())
    if len(rows) < MIN_PERSONS or bads in (0, len(rows)):
        return (
            f"{len(rows):,} {label} persons, {bads:,} of them defaulting (needs "
            f"{MIN_PERSONS} or more, with goods and defaults both)"
        )
    return ""


def _auc(scorer: NumpyScorer, rows: pd.DataFrame) -> tuple[float | None, str]:
    outcomes = rows["bad"].to_numpy()
    if not len(rows) or outcomes.min() == outcomes.max():
        return None, f"{len(rows):,} persons with {int(outcomes.sum()):,} defaults: no AUC"
    return roc_auc(scorer.score(rows), outcomes), ""


def shadow_check(
    earlier: pd.DataFrame,
    current: pd.DataFrame,
    fit: Callable[[pd.DataFrame, dt.date], Scorecard],
    *,
    trained_as_of: dt.date,
    validated_as_of: dt.date,
) -> OotCheck:
    """Fit the shadow scorecard on ``earlier`` (its training persons as of ``trained_as_of``,
    with ``bad`` and ``holdout``) and validate it on ``current`` (every person with an outcome
    as of ``validated_as_of``)."""
    check = OotCheck("shadow", trained_as_of, validated_as_of)
    fit_part, held = earlier[~earlier["holdout"]], earlier[earlier["holdout"]]
    short = _too_little(fit_part, "training") or _too_little(held, "held-out")
    if short:
        return replace(check, note=f"too little data as of {trained_as_of}: {short}")
    try:
        card = fit(fit_part, trained_as_of)
    except UserError as exc:  # e.g. no factor separates goods from bads yet
        return replace(check, note=f"no shadow scorecard as of {trained_as_of}: {exc}")
    scorer = NumpyScorer(card)
    in_time, _ = _auc(scorer, held)
    out, note = _auc(scorer, current)
    return replace(
        check,
        auc_in_time=in_time,
        persons_in_time=len(held),
        auc_out_of_time=out,
        persons_out_of_time=len(current),
        note=note,
    )


def direct_check(
    card: Scorecard,
    held: pd.DataFrame,
    later: pd.DataFrame | None,
    *,
    trained_as_of: dt.date,
    validated_as_of: dt.date,
    unobserved: str,
) -> OotCheck:
    """This scorecard: in time on its held-out persons, out of time on ``later`` (every person
    with an outcome as of ``validated_as_of``; None: not observed yet, ``unobserved`` says)."""
    scorer = NumpyScorer(card)
    in_time, _ = _auc(scorer, held)
    check = OotCheck("this scorecard", trained_as_of, validated_as_of, in_time, len(held))
    if later is None:
        return replace(check, note=unobserved)
    out, note = _auc(scorer, later)
    return replace(check, auc_out_of_time=out, persons_out_of_time=len(later), note=note)


def summary(checks: list[OotCheck]) -> str:
    """One line: each check's in-time vs out-of-time AUC, or why it has none."""
    parts = []
    for c in checks:
        if c.difference is None:
            parts.append(f"{c.scorecard} as of {c.trained_as_of}: {c.note or 'not measured'}")
        else:
            verdict = "within" if c.within_tolerance else "beyond"
            parts.append(
                f"{c.scorecard} as of {c.trained_as_of}: AUC {c.auc_in_time:.3f} in time, "
                f"{c.auc_out_of_time:.3f} as of {c.validated_as_of} ({c.difference:+.3f}, "
                f"{verdict} {AUC_TOLERANCE})"
            )
    return "; ".join(parts)


def render(checks: list[OotCheck], horizon_months: int) -> str:
    """The out-of-time validation section."""
    h = horizon_months
    rows = [
        [
            c.scorecard,
            c.trained_as_of.isoformat(),
            svg.num(c.auc_in_time, ".4f"),
            f"{c.persons_in_time:,}" if c.auc_in_time is not None else "\u2013",
            c.validated_as_of.isoformat(),
            svg.num(c.auc_out_of_time, ".4f"),
            f"{c.persons_out_of_time:,}" if c.auc_out_of_time is not None else "\u2013",
            svg.num(c.difference, "+.4f"),
            {True: "yes", False: "no", None: "\u2013"}[c.within_tolerance],
        ]
        for c in checks
    ]
    table = svg.table(
        [
            "Scorecard",
            "Trained as of",
            "AUC in time (held out)",
            "Persons",
            "Validated as of",
            "AUC out of time",
            "Persons",
            "Difference",
            f"Within {AUC_TOLERANCE}",
        ],
        rows,
        text=(0, 1, 4, 8),
    )
    notes = "".join(
        f"<li>{svg.esc(c.scorecard)} as of {c.trained_as_of}: {svg.esc(c.note)}</li>"
        for c in checks
        if c.note
    )
    return (
        "<section><h2>Out-of-time validation</h2><p>The procedure: train at D, validate on "
        f"the persons of D + {h} months with their outcome in the {h} months after that. A "
        f"scorecard trained as of D has outcomes only to D + {h} months, so a <b>shadow</b> "
        f"scorecard is fitted with exactly this one's settings and candidate factors as of "
        f"D \u2212 {h} months (features then, outcomes to D). Its in-time AUC is on its own "
        "held-out persons (the same hash rule); its out-of-time AUC is on every person "
        f"scorable as of D with the outcome after D (none was in its training data in time). "
        f"Where the ledger already holds the outcomes after D + {h} months, this scorecard "
        f"is validated there directly. An out-of-time AUC within {AUC_TOLERANCE} of the "
        "in-time one says the scorecard's ranking holds over time.</p>"
        f"{table}{f'<ul>{notes}</ul>' if notes else ''}</section>"
    )
