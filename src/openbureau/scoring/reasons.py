"""Reason codes: which factors a score gives as its reasons, one rule for every reader.

The snapshot ranks every person's reasons in SQL (:func:`reasons_sql`), the what-if ranks one
feature row's in Python (:func:`rank_reasons`), and a lender's adverse-action notice lists the
snapshot's as ranked (``service.notices.key_factors``). Both rankings read the rule below and
the same numbers, so they agree by construction (tests compare them on every person):

- a factor's *points lost* are its best bin's points minus those of the person's bin, worked
  out here once per bin, exactly, to ``LOST_SCALE`` decimals (:func:`points_lost_by_bin`),
  and handed to the SQL as typed literals: no side depends on how an engine types a number;
- a loss of ``MIN_POINTS_LOST`` or less is no reason (rounding noise);
- one statement is listed once (two factors can share "no data" wording), and inquiry factors
  count as one reason however many the scorecard has;
- ranked by points lost, most first, ties by code: the first ``MAX_REASONS`` are the reasons,
  and an inquiry reason is added after them when it cost points and none is among them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from openbureau.engine.sql import literal
from openbureau.errors import UserError
from openbureau.scoring._compile import NumpyScorer, factor_points_sql
from openbureau.scoring.factors import INQUIRY_FACTORS
from openbureau.scoring.scorecard import Factor, Scorecard

MAX_REASONS = 4
MIN_POINTS_LOST = Decimal("0.005")
LOST_SCALE = 6
# The SQL type of points lost: exact, on 64-bit integers (a loss must stay under 10**12).
LOST_SQL_TYPE = f"DECIMAL(18, {LOST_SCALE})"
_QUANTUM = Decimal(1).scaleb(-LOST_SCALE)
_LOST_LIMIT = Decimal(10) ** (18 - LOST_SCALE)


@dataclass(frozen=True)
class Reason:
    """One reason of a score: its rank, the factor's code and name, the statement shown, the
    points lost (to two decimals) and the feature's value (None: no data)."""

    rank: int
    code: str
    factor: str
    statement: str
    points_lost: float
    value: float | None


def points_lost_by_bin(factor: Factor) -> tuple[Decimal, ...]:
    """Points lost in each of ``factor.bins`` against its best bin, exact to ``LOST_SCALE``
    decimals.

    Raises:
        UserError: a loss of 10**12 points or more (the scorecard's points are not points).
    """
    with localcontext() as ctx:
        ctx.prec = 60  # (exact for any two finite floats' shortest decimal forms we accept)
        points = [Decimal(repr(float(b.points))) for b in factor.bins]
        best = max(points)
        lost = tuple((best - p).quantize(_QUANTUM, ROUND_HALF_UP) for p in points)
    if max(lost) >= _LOST_LIMIT:
        raise UserError(
            f"factor {factor.name}: its bins' points differ by {max(lost):.0f}; reasons rank "
            f"losses under {_LOST_LIMIT:.0f} points"
        )
    return lost


def _lost_sql(factor: Factor, column: str) -> str:
    literals = [f"CAST('{v:f}' AS {LOST_SQL_TYPE})" for v in points_lost_by_bin(factor)]
    return factor_points_sql(factor, column, points=literals)


def reasons_sql(card: Scorecard, scored: str) -> str:
    """SELECT of every scored person's reasons (person_id, factor, code, statement,
    points_lost, value, rank) from ``scored``: the features' columns, ``person_id`` and
    ``score`` (NULL: unscorable, no reasons)."""
    lost = " UNION ALL ".join(
        f"SELECT person_id, {literal(f.name)} AS factor, {literal(f.code)} AS code, "
        f"{_lost_sql(f, f.name)} AS points_lost, CAST({f.name} AS DOUBLE) AS value, "
        f"{'true' if f.name in INQUIRY_FACTORS else 'false'} AS is_inquiry, "
        f"CASE WHEN {f.name} IS NULL THEN {literal(f.missing_statement or f.statement)} "
        f"ELSE {literal(f.statement)} END AS statement "
        f"FROM {scored} WHERE score IS NOT NULL"
        for f in card.factors
    )
    return f"""WITH lost AS ({lost}),
        distinct_lost AS (
            SELECT * FROM lost WHERE points_lost > {MIN_POINTS_LOST}
            QUALIFY row_number() OVER (
                PARTITION BY person_id, CASE WHEN is_inquiry THEN '' ELSE statement END
                ORDER BY points_lost DESC, code) = 1),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY person_id
                                         ORDER BY points_lost DESC, code) AS rn
            FROM distinct_lost),
        top AS (SELECT * FROM ranked WHERE rn <= {MAX_REASONS}),
        fifth AS (
            SELECT r.* FROM ranked r WHERE r.is_inquiry AND r.rn > {MAX_REASONS}
              AND NOT EXISTS (SELECT 1 FROM top t WHERE t.person_id = r.person_id
                              AND t.is_inquiry)
            QUALIFY row_number() OVER (PARTITION BY r.person_id ORDER BY r.rn) = 1)
        SELECT person_id, factor, code, statement, points_lost, value,
            row_number() OVER (PARTITION BY person_id ORDER BY rn) AS rank
        FROM (SELECT * FROM top UNION ALL SELECT * FROM fifth)"""


def rank_reasons(card: Scorecard, features: Mapping[str, Any]) -> list[Reason]:
    """The reasons of one scored person's feature row, by the rule of :func:`reasons_sql`."""
    rows = []
    for f in card.factors:
        value = features[f.name]
        lost = points_lost_by_bin(f)[int(NumpyScorer.factor_bins(f, [value])[0])]
        if not lost > MIN_POINTS_LOST:
            continue
        statement = (f.missing_statement or f.statement) if value is None else f.statement
        rows.append((lost, f, statement, None if value is None else float(value)))
    rows.sort(key=lambda r: (-r[0], r[1].code))
    seen: set[str] = set()
    ranked = []
    for row in rows:
        key = "" if row[1].name in INQUIRY_FACTORS else row[2]
        if key not in seen:
            seen.add(key)
            ranked.append(row)
    chosen = ranked[:MAX_REASONS]
    if not any(r[1].name in INQUIRY_FACTORS for r in chosen):
        chosen += [r for r in ranked[MAX_REASONS:] if r[1].name in INQUIRY_FACTORS][:1]
    return [
        Reason(rank, f.code, f.name, statement, _round2(lost), value)
        for rank, (lost, f, statement, value) in enumerate(chosen, start=1)
    ]


def _round2(v: Decimal) -> float:
    # (as the SQL's round() of a DECIMAL: half away from zero)
    return float(v.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
