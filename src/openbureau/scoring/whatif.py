"""What-if: one person's score and reasons, and how chosen actions would change them.

Everything works on ONE feature row (feature name -> value, as in the features table written by
``ledger.features.compute_features``), in Python, without an engine: the person's page and the
API call it per request. The points come from ``NumpyScorer`` (test-checked equal to the SQL
scorer); the reasons from ``reasons.rank_reasons``, the rule the snapshot ranks them by (a test
compares both on every scored person of a snapshot).

A scenario is a pydantic model (``Scenario``, discriminated on ``kind``) that rewrites the row
the way the action would change the ledger; features the action cannot change stay as they are.
Scenarios compose in order. What each one changes (see ``docs/scoring.md``, "What-if"):

``pay_down``            every open card paid down in proportion to its balance so that revolving
                        utilisation is the target: revolving_utilisation, max_card_utilisation,
                        available_revolving_credit, total_balance, utilisation_trend_12m (only
                        this month's reports change: a twelfth of the change)
``bring_current``       accounts_past_due to 0; the late payments already reported stay on file
``pay_overdue_bills``   alt_past_due_days to 0: every utility, telecom or rent bill unpaid past
                        its due date paid; the days they were late stay on file
``remove_inquiry``      the N most recent inquiries: inquiries_6m/12m/24m, records
``add_on_time_months``  N more months with every utility, telecom or rent bill paid on time:
                        alt_months, alt_months_history, records, and the 12/24-month payment
                        features when the new months are all the window holds
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from openbureau.errors import UserError
from openbureau.scoring._compile import NumpyScorer
from openbureau.scoring.alternative import better
from openbureau.scoring.reasons import Reason, rank_reasons
from openbureau.scoring.scorecard import Scorecard

__all__ = [
    "AddOnTimeMonths",
    "BringCurrent",
    "FeatureChange",
    "PayDown",
    "PayOverdueBills",
    "Reason",
    "ReasonChange",
    "RemoveInquiry",
    "Scenario",
    "ScoreState",
    "WhatIfNotApplicable",
    "WhatIfResult",
    "parse_scenarios",
    "points_and_score",
    "reasons_for",
    "score_state",
    "served_state",
    "unscorable_reason",
    "what_if",
]

FeatureRow = Mapping[str, Any]
ELIGIBILITY_FACTS = ("records", "tradelines", "alt_months")


class WhatIfNotApplicable(UserError):
    """The scenario has nothing to act on for this person (no card, nothing past due...)."""


# -- points, score and reasons of one row ------------------------------------------------------


def _check_row(card: Scorecard, row: FeatureRow) -> None:
    absent = [n for n in (*ELIGIBILITY_FACTS, *(f.name for f in card.factors)) if n not in row]
    if absent:
        raise UserError(f"the feature row has no {absent[0]!r} (the scorecard needs it)")


def unscorable_reason(card: Scorecard, features: FeatureRow) -> str | None:
    """``no_file``, ``insufficient_history`` or None: the rule of ``score._scored_sql``."""
    crit = card.minimum_criteria
    if features["records"] == 0:
        return "no_file"
    if not crit.eligible(features["tradelines"], features["alt_months"]):
        return "insufficient_history"
    return None


def points_and_score(
    card: Scorecard,
    features: FeatureRow,
) -> tuple[dict[str, float], int | None, str | None, str | None]:
    """Points per factor, and the score and band, or the reason the file cannot be scored.

    Returns:
        (points by factor name, score or None, band or None, unscorable reason or None)

    Raises:
        UserError: the row lacks a factor of the scorecard or an eligibility fact.
    """
    _check_row(card, features)
    scorer = NumpyScorer(card)
    data = {f.name: [features[f.name]] for f in card.factors}
    points = {f.name: float(p) for f, p in zip(card.factors, scorer.points(data)[0], strict=True)}
    why = unscorable_reason(card, features)
    if why is not None:
        return points, None, None, why
    score = int(scorer.score(data)[0])
    return points, score, card.band_for(score), None


def reasons_for(card: Scorecard, features: FeatureRow) -> list[Reason]:
    """The person's reason codes, by the snapshot's rule (``reasons``): up to four factors
    by points lost against the factor's best bin, ties by code, an inquiry reason added fifth.
    An unscorable file has no reasons.
    """
    _, score, _, _ = points_and_score(card, features)
    return [] if score is None else rank_reasons(card, features)


# -- scenarios ----------------------------------------------------------------------------------


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _value(row: FeatureRow, name: str) -> float | None:
    v: Any = row.get(name)
    return None if _missing(v) else float(v)


def _count(row: FeatureRow, name: str) -> float:
    return _value(row, name) or 0.0


class _Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    changes: ClassVar[tuple[str, ...]]  # every feature the scenario may change

    def apply(self, features: FeatureRow) -> tuple[dict[str, Any], list[str]]:
        """The row after the action, and notes on what it does not change."""
        raise NotImplementedError


class PayDown(_Scenario):
    """Pay the open cards down, each in proportion to its balance, to a target utilisation.

    Give the target as a share (``target_utilisation: 0.3``) or a percent (``target_percent``).
    """

    kind: Literal["pay_down"] = "pay_down"
    target_utilisation: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    target_percent: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    changes: ClassVar[tuple[str, ...]] = (
        "revolving_utilisation",
        "max_card_utilisation",
        "available_revolving_credit",
        "total_balance",
        "utilisation_trend_12m",
    )

    @model_validator(mode="after")
    def _one_target(self) -> PayDown:
        if (self.target_utilisation is None) == (self.target_percent is None):
            raise ValueError(
                "give exactly one of target_utilisation (0..1) or target_percent (0..100)"
            )
        return self

    @property
    def target(self) -> float:
        if self.target_utilisation is not None:
            return self.target_utilisation
        return float(self.target_percent or 0.0) / 100

    def apply(self, features: FeatureRow) -> tuple[dict[str, Any], list[str]]:
        row = dict(features)
        u, t = _value(row, "revolving_utilisation"), self.target
        if u is None:
            raise WhatIfNotApplicable(
                "no open revolving account with a balance and a limit on file: nothing to pay down"
            )
        if u <= t:
            raise WhatIfNotApplicable(
                f"revolving utilisation is already {u:.0%}, at or below the {t:.0%} target"
            )
        notes = [
            f"Each open card is paid down in proportion to its balance, to {t:.0%} "
            "utilisation overall."
        ]
        row["revolving_utilisation"] = t
        if (m := _value(row, "max_card_utilisation")) is not None:
            row["max_card_utilisation"] = m * t / u
        if (trend := _value(row, "utilisation_trend_12m")) is not None:
            # Only this month's reports change; the 11 months before stay on file.
            row["utilisation_trend_12m"] = max(0.0, trend + (t - u) / 12)
            notes.append(
                "The 12-month utilisation average moves by a twelfth of the change: "
                "only this month's reports change, earlier months stay on file."
            )
        available = _value(row, "available_revolving_credit")
        if available is None or abs(1 - u) < 1e-9:
            notes.append(
                "The balances equal the limits, so the amount paid (and with it the "
                "available credit and total balance) cannot be derived from the "
                "features; they are left as they are."
            )
            return row, notes
        paid = available / (1 - u) * (u - t)  # limits = available / (1 - utilisation)
        # Amounts are in cents; rounding keeps float noise (529.9999999) off the bin edges.
        row["available_revolving_credit"] = round(available + paid, 2)
        if (total := _value(row, "total_balance")) is not None:
            row["total_balance"] = round(total - paid, 2)
        notes.append(f"That is {paid:,.2f} paid in total.")
        return row, notes


class BringCurrent(_Scenario):
    """Bring every account that is past due in its latest report back to current."""

    kind: Literal["bring_current"] = "bring_current"
    changes: ClassVar[tuple[str, ...]] = ("accounts_past_due",)

    def apply(self, features: FeatureRow) -> tuple[dict[str, Any], list[str]]:
        if _count(features, "accounts_past_due") <= 0:
            raise WhatIfNotApplicable("no account is past due: nothing to bring current")
        row = dict(features)
        row["accounts_past_due"] = 0.0
        return row, [
            "The late payments already reported stay on file: the worst status in the last "
            "12 months, the months since the last late payment, and the late accounts, months "
            "and share of the last 24 months do not change.",
            "The amounts paid to catch up are not in the features, so balances and utilisation "
            "are left as they are.",
        ]


class PayOverdueBills(_Scenario):
    """Pay every utility, telecom or rent bill that is unpaid past its due date."""

    kind: Literal["pay_overdue_bills"] = "pay_overdue_bills"
    changes: ClassVar[tuple[str, ...]] = ("alt_past_due_days",)

    def apply(self, features: FeatureRow) -> tuple[dict[str, Any], list[str]]:
        if _count(features, "alt_past_due_days") <= 0:
            raise WhatIfNotApplicable(
                "no utility, telecom or rent bill is unpaid past its due date: nothing to pay"
            )
        row = dict(features)
        row["alt_past_due_days"] = 0.0
        return row, [
            "The bills are paid today, late: the days they were late count as before in the "
            "late payments and on-time share of the last 12 and 24 months."
        ]


class RemoveInquiry(_Scenario):
    """Remove the N most recent credit inquiries (e.g. ones disputed as not made by you)."""

    kind: Literal["remove_inquiry"] = "remove_inquiry"
    count: int = Field(default=1, ge=1, le=1000)
    changes: ClassVar[tuple[str, ...]] = (
        "inquiries_6m",
        "inquiries_12m",
        "inquiries_24m",
        "records",
    )

    def apply(self, features: FeatureRow) -> tuple[dict[str, Any], list[str]]:
        have = int(_count(features, "inquiries_24m"))
        if have == 0:
            raise WhatIfNotApplicable("no credit inquiry in the last 24 months: nothing to remove")
        if self.count > have:
            noun = "inquiry" if have == 1 else "inquiries"
            raise WhatIfNotApplicable(
                f"only {have} credit {noun} in the last 24 months: cannot remove {self.count}"
            )
        row = dict(features)
        # The most recent ones count in every window, so they leave the 6-month window first.
        for name in ("inquiries_6m", "inquiries_12m", "inquiries_24m"):
            row[name] = max(0.0, _count(row, name) - self.count)
        row["records"] = _count(features, "records") - self.count
        return row, [f"The {self.count} most recent inquiries are removed."]


_ALT_12M = {
    "alt_on_time_share_12m": 1.0,
    "alt_late_payments_12m": 0.0,
    "alt_max_days_late_12m": 0.0,
}
_ALT_24M = {"alt_late_payments_24m": 0.0, "alt_late_share_24m": 0.0}


class AddOnTimeMonths(_Scenario):
    """N more months in which every utility, telecom or rent bill is paid on time.

    Only the payment history moves on: account ages, months since a late payment and inquiry
    windows are left as they are, so the effect of the payments is seen alone.
    """

    kind: Literal["add_on_time_months"] = "add_on_time_months"
    months: int = Field(ge=1, le=120)
    changes: ClassVar[tuple[str, ...]] = (
        "alt_months",
        "alt_months_history",
        "records",
        *_ALT_12M,
        *_ALT_24M,
    )

    def apply(self, features: FeatureRow) -> tuple[dict[str, Any], list[str]]:
        row = dict(features)
        n = self.months
        months = int(_count(features, "alt_months")) + n  # new months: distinct from the past
        row["alt_months"] = months
        row["alt_months_history"] = float(months)
        row["records"] = _count(features, "records") + n
        notes = [
            f"{n} more months with every utility, telecom or rent bill paid on time; "
            "account ages, months since a late payment and inquiry windows are left as "
            "they are."
        ]
        # A window's figures are known only when the new months are all it holds: they fill
        # it, or it held no bill before. Otherwise which older bills leave it is unknown.
        for window, values, share in (
            (12, _ALT_12M, "alt_on_time_share_12m"),
            (24, _ALT_24M, "alt_late_share_24m"),
        ):
            if n >= window or _missing(features.get(share)):
                row.update(values)
            else:
                notes.append(
                    f"The {window}-month payment figures are left as they are (which "
                    "older bills would leave the window is not in the features); the "
                    "new on-time months could only improve them."
                )
        return row, notes


Scenario = Annotated[
    PayDown | BringCurrent | PayOverdueBills | RemoveInquiry | AddOnTimeMonths,
    Field(discriminator="kind"),
]
_SCENARIOS: TypeAdapter[list[Scenario]] = TypeAdapter(list[Scenario])


def parse_scenarios(data: Any) -> list[Scenario]:
    """Validate scenarios given as plain data (a list of mappings with a ``kind``).

    Raises:
        UserError: one line naming the scenario and field, e.g.
            ``scenarios.0.pay_down.target_percent: Input should be less than or equal to 100``.
    """
    try:
        return _SCENARIOS.validate_python(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in ("scenarios", *err["loc"]))
        raise UserError(f"{where}: {err['msg'].removeprefix('Value error, ')}") from exc


# -- the what-if --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreState:
    score: int | None
    band: str | None
    unscorable_reason: str | None
    reasons: tuple[Reason, ...]
    points: dict[str, float]
    served_from: Literal["core", "alternative"] = "core"  # (the scorecard it comes from)


@dataclass(frozen=True)
class FeatureChange:
    name: str
    before: Any
    after: Any


@dataclass(frozen=True)
class ReasonChange:
    """A reason that ``disappeared``, ``appeared`` or ``moved`` rank."""

    change: Literal["disappeared", "appeared", "moved"]
    code: str
    factor: str
    statement: str
    rank_before: int | None
    rank_after: int | None


@dataclass(frozen=True)
class WhatIfResult:
    before: ScoreState
    after: ScoreState
    reason_changes: tuple[ReasonChange, ...]
    features_changed: tuple[FeatureChange, ...]
    notes: tuple[str, ...]

    @property
    def score_change(self) -> int | None:
        if self.before.score is None or self.after.score is None:
            return None
        return self.after.score - self.before.score


def score_state(card: Scorecard, features: FeatureRow) -> ScoreState:
    """Score, band (or unscorable reason), reasons and points of one feature row."""
    points, score, band, why = points_and_score(card, features)
    reasons = () if score is None else tuple(rank_reasons(card, features))
    return ScoreState(score, band, why, reasons, points)


def served_state(card: Scorecard, alt: Scorecard | None, features: FeatureRow) -> ScoreState:
    """:func:`score_state` of the score served: the core scorecard's, or with ``alt`` (the
    scorecard with alternative data, for a person who consents) the better of the two by the
    rule a snapshot's row is served by (``alternative.better``: a tie keeps the core one)."""
    core = score_state(card, features)
    if alt is None:
        return core
    other = score_state(alt, features)
    return replace(other, served_from="alternative") if better(other.score, core.score) else core


def _reason_changes(
    before: tuple[Reason, ...],
    after: tuple[Reason, ...],
) -> tuple[ReasonChange, ...]:
    # A reason is its factor and its wording: "no data" turning into a value is a new reason.
    old = {(r.code, r.statement): r for r in before}
    new = {(r.code, r.statement): r for r in after}
    out = [
        ReasonChange("disappeared", r.code, r.factor, r.statement, r.rank, None)
        for k, r in old.items()
        if k not in new
    ]
    out += [
        ReasonChange("moved", r.code, r.factor, r.statement, old[k].rank, r.rank)
        for k, r in new.items()
        if k in old and old[k].rank != r.rank
    ]
    out += [
        ReasonChange("appeared", r.code, r.factor, r.statement, None, r.rank)
        for k, r in new.items()
        if k not in old
    ]
    return tuple(out)


def what_if(
    card: Scorecard,
    features: FeatureRow,
    scenarios: list[Scenario],
    alt: Scorecard | None = None,
) -> WhatIfResult:
    """Apply the scenarios in order to one person's features; compare score and reasons.
    ``alt``: the scorecard with alternative data, for a person who consents: before and after
    are then each the score served (:func:`served_state`).

    Raises:
        WhatIfNotApplicable: a scenario has nothing to act on (checked on the row as the
            scenarios before it left it).
        UserError: the row lacks a feature the scorecard needs.
    """
    row: dict[str, Any] = dict(features)
    notes: list[str] = []
    for scenario in scenarios:
        row, more = scenario.apply(row)
        notes += [n for n in more if n not in notes]
    before, after = served_state(card, alt, features), served_state(card, alt, row)
    changed = tuple(
        FeatureChange(k, features.get(k), v)
        for k, v in row.items()
        if not _same(features.get(k), v)
    )
    return WhatIfResult(
        before, after, _reason_changes(before.reasons, after.reasons), changed, tuple(notes)
    )


def _same(a: Any, b: Any) -> bool:
    return (_missing(a) and _missing(b)) or a == b
