"""Plausible values: the bounds each field type (and some canonical targets) must stay within.

A value that parses but lies outside its bounds is quarantined as ``implausible_value``
(``implausible_date`` for dates), a text longer than its field's maximum length as
``field_too_long``. A spec can tighten the bounds of a field (``min``, ``max``) and set its own
maximum length (``max_length``); it cannot widen a bound declared here. docs/ingest.md lists
these bounds from here (``python -m openbureau.ingest.docgen``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openbureau.ingest.spec import FieldSpec

DEFAULT_MAX_LENGTH = 1_000
MAX_LENGTH_LIMIT = 1_000_000  # the most a spec may allow a field


@dataclass(frozen=True)
class NumberBounds:
    """Inclusive bounds of an amount or an integer."""

    low: Decimal
    high: Decimal

    def sql(self, expr: str) -> str:
        return f"{expr} BETWEEN {self.low:f} AND {self.high:f}"

    def words(self) -> str:
        return f"{_num(self.low)} to {_num(self.high)}"


@dataclass(frozen=True)
class DateBounds:
    """Inclusive bounds of a date: from ``low`` to ``days_ahead`` days after the load date,
    or to ``high`` when a spec sets an earlier one."""

    low: dt.date
    days_ahead: int
    high: dt.date | None = None

    def sql(self, expr: str) -> str:
        latest = f"current_date + {self.days_ahead}"
        if self.high is not None:
            latest = f"least(DATE '{self.high.isoformat()}', {latest})"
        return f"{expr} BETWEEN DATE '{self.low.isoformat()}' AND {latest}"

    def words(self) -> str:
        ahead = (
            "the day of loading"
            if self.days_ahead == 0
            else f"{self.days_ahead} days after the day of loading"
        )
        return f"{self.low.isoformat()} to {ahead}"


Bounds = NumberBounds | DateBounds

BILLION = Decimal(1_000_000_000)
EARLIEST = dt.date(1900, 1, 1)

TYPE_BOUNDS: dict[str, Bounds] = {
    "amount": NumberBounds(-BILLION, BILLION),
    "integer": NumberBounds(-BILLION, BILLION),
    "date": DateBounds(EARLIEST, 366),
    "month": DateBounds(EARLIEST, 366),
}

# Canonical targets whose bounds are tighter than their type's, and why.
TARGET_BOUNDS: dict[str, tuple[Bounds, str]] = {
    "credit_limit": (NumberBounds(Decimal(0), BILLION), "a limit is never negative"),
    "original_amount": (NumberBounds(Decimal(0), BILLION), "a loan is never negative"),
    "amount_past_due": (NumberBounds(Decimal(0), BILLION), "nothing is owed in advance"),
    "charge_off_amount": (NumberBounds(Decimal(0), BILLION), "a loss is never negative"),
    "amount_due": (NumberBounds(Decimal(0), BILLION), "a bill is never negative"),
    "amount_paid": (NumberBounds(Decimal(0), BILLION), "refunds are not payments"),
    "amount": (NumberBounds(Decimal(0), BILLION), "a judgment or lien is never negative"),
    "days_past_due": (NumberBounds(Decimal(0), Decimal(36_500)), "a count of days"),
    "days_late": (NumberBounds(Decimal(0), Decimal(36_500)), "a count of days"),
    "dob": (DateBounds(EARLIEST, 0), "nobody is born in the future"),
    "last_payment_date": (DateBounds(EARLIEST, 0), "a payment is made by the time it is reported"),
    "first_delinquency_date": (
        DateBounds(EARLIEST, 0),
        "a delinquency has begun by the time it is reported",
    ),
}


def declared_bounds(target: str, field_type: str) -> Bounds | None:
    """The bounds openbureau declares for a target of a type (before a spec tightens them)."""
    if target in TARGET_BOUNDS and field_type in ("amount", "integer", "date", "month"):
        bounds, _ = TARGET_BOUNDS[target]
        if isinstance(bounds, NumberBounds) == (field_type in ("amount", "integer")):
            return bounds
    return TYPE_BOUNDS.get(field_type)


def tightened(
    declared: Bounds, low: Decimal | dt.date | None, high: Decimal | dt.date | None
) -> Bounds:
    """``declared`` with a spec's ``min`` and ``max``; raises ValueError if they widen it."""
    if isinstance(declared, NumberBounds):
        lo = _number(low, "min") if low is not None else declared.low
        hi = _number(high, "max") if high is not None else declared.high
        if lo < declared.low or hi > declared.high:
            raise ValueError(f"min and max can only tighten the bounds ({declared.words()})")
        if lo > hi:
            raise ValueError(f"min {_num(lo)} is above max {_num(hi)}")
        return NumberBounds(lo, hi)
    lo_d = _date(low, "min") if low is not None else declared.low
    hi_d = _date(high, "max") if high is not None else None
    if lo_d < declared.low:
        raise ValueError(f"min can only tighten the bounds ({declared.words()})")
    if hi_d is not None and lo_d > hi_d:
        raise ValueError(f"min {lo_d} is after max {hi_d}")
    return replace(declared, low=lo_d, high=hi_d)


def field_bounds(f: FieldSpec) -> Bounds | None:
    """The bounds a field's parsed values must lie within (None: the type has none)."""
    declared = declared_bounds(f.target, f.type)
    if declared is None:
        return None
    return tightened(declared, f.min, f.max)


def _number(v: Decimal | dt.date, key: str) -> Decimal:
    if isinstance(v, dt.date):
        raise ValueError(f"{key} of a number field must be a number, not a date")
    return v


def _date(v: Decimal | dt.date, key: str) -> dt.date:
    if not isinstance(v, dt.date):
        raise ValueError(f"{key} of a date field must be a date (YYYY-MM-DD), not a number")
    return v


def _num(v: Decimal) -> str:
    return f"{v:,}"
