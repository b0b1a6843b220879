"""A saved linkage model compiled for lookups: each comparison's level as SQL over a pair of
records, and the match weight and probability of the levels reached, as Splink's ``predict``
computes them.

Splink scores a pair in log space: each comparison contributes the match weight of the level
the pair reaches, log2(m/u) (0 for a level that says nothing, ``-1``); a level adjusted for term
frequency adds ``weight * (log2(u of the exact level) - log2(the value's frequency))``, the
frequency being the larger of the two records' (or the floor the level sets); the prior adds
log2 of the odds that two records match; and the probability is 2^w / (1 + 2^w). The levels,
their m and u (Splink's defaults where the file has none) and the prior are read from Splink's
own parse of the model (``SettingsCreator.get_settings``), once per model.

Which level a pair reaches is the model's SQL (the conditions as saved, run by DuckDB); what
follows is arithmetic on constants, done here in Python in Splink's order of terms, each
constant the double DuckDB reads from the text Splink writes (``cast(x as float8)`` of
Python's repr), with the same libm ``log2`` and ``pow``: the figures are Splink's to the last
bit (``tests/identity/test_lookup_agreement.py`` holds them to ``score_pairs``). Doing it in
Python rather than in the search's SQL takes 2 ms off each lookup (DuckDB sets every
expression of a statement up anew at each execution).

Pairs are rows with ``<column>_l`` and ``<column>_r`` for the query and a candidate.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from openbureau.errors import UserError


@dataclass(frozen=True)
class LineAgreement:
    """The level of the model's address comparison at which two street lines agree: the
    highest of the levels that read the line (``LINE_COLUMNS``); in the shipped model, the
    same line, or lines 90% alike by Jaro-Winkler with the same postcode.

    The lower ones are too easily met by a lender who knows only the postcode: lines 80% alike
    or the same house number ("12 X"), and one line's words all in the other's with the same
    house number ("12 ST" for 12 ELM ST) tied 120 of 120 persons on the test population."""

    comparison: int  # the address comparison's place among the model's comparisons
    level: int  # that level's comparison vector value


# The columns of a street line; a level of the address comparison that reads none of them
# (the same postcode, the same town) says nothing of the line.
LINE_COLUMNS = frozenset({"address_line1", "house_number", "street"})
ADDRESS_COLUMNS = LINE_COLUMNS | {"postcode", "city"}


@dataclass(frozen=True)
class TfLevel:
    """A level adjusted for the frequency of ``column``'s value."""

    column: str
    weight: float
    log2_u: float  # log2 of the u of the exact-match level on the column
    floor: float  # the frequency used when it is lower (tf_minimum_u_value)


@dataclass(frozen=True)
class Comparison:
    """One comparison: the weight of each level value (the first level of a value, as Splink's
    CASE takes it), and its term-frequency adjustment (None: none at that value); ``tf``
    is None when no level of the comparison is adjusted (Splink adds no term then)."""

    weights: dict[int, float]
    tf: dict[int, TfLevel | None] | None


@dataclass(frozen=True)
class CompiledModel:
    """``gammas``: select-list items on a pair, ``CASE ... END AS gamma_<c>``, one per
    comparison in order; then the Python side of :func:`match_weight`."""

    gammas: str
    comparisons: tuple[Comparison, ...]
    prior: float  # log2 of the prior odds
    tf_columns: tuple[str, ...]
    line: LineAgreement | None

    def match_weight(
        self, gammas: Sequence[int], tf_l: dict[str, float | None], tf_r: dict[str, float | None]
    ) -> float:
        """The pair's match weight from its levels and its records' term frequencies."""
        total = self.prior
        for comparison, gamma in zip(self.comparisons, gammas, strict=True):
            total = total + comparison.weights[gamma]
            if comparison.tf is not None:
                total = total + _tf_adjustment(comparison.tf.get(gamma), tf_l, tf_r)
        return total


def _tf_adjustment(
    level: TfLevel | None, tf_l: dict[str, float | None], tf_r: dict[str, float | None]
) -> float:
    if level is None:
        return 0.0
    left, right = tf_l.get(level.column), tf_r.get(level.column)
    either = left if left is not None else right
    if either is None:
        return 0.0
    other = right if right is not None else left
    assert other is not None
    return level.weight * (level.log2_u - math.log2(max(either, other, level.floor)))


def match_probability(weight: float) -> float:
    """Splink's probability of a match weight (the branch it takes for either sign)."""
    if weight >= 0:
        return 1.0 / (1.0 + math.pow(2.0, -weight))
    return math.pow(2.0, weight) / (1.0 + math.pow(2.0, weight))


def _as_read(values: list[float]) -> list[float]:
    """Each constant as DuckDB reads the text Splink writes for it (``cast(repr as float8)``:
    a decimal of 17 digits is rounded twice on the way, so not always Python's double)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return values
    con = duckdb.connect()
    try:
        row = con.execute(
            "SELECT [" + ", ".join(f"cast({v} as float8)" for v in finite) + "]"
        ).fetchall()
    finally:
        con.close()
    read = iter(row[0][0])
    return [float(next(read)) if math.isfinite(v) else v for v in values]


def _exact_u(levels: list[Any], column: str) -> float:
    """u of the level that is the exact match on ``column`` (the base of a term-frequency
    adjustment, as Splink finds it)."""
    want = f'"{column}_l"="{column}_r"'
    for level in levels:
        if not level.is_null_level and level.sql_condition.replace(" ", "") == want:
            return float(level.u_probability)
    raise UserError(
        f"the linkage model adjusts {column} for term frequency without an exact-match level "
        "for it; a lookup cannot score it"
    )


def _is_else(level: Any) -> bool:
    return bool(level.sql_condition.strip().upper() == "ELSE")


def _comparison(comparison: Any, saved: dict[str, Any]) -> tuple[str, Comparison, list[float]]:
    """(the gamma CASE, the comparison's tables, the constants they hold, in order)."""
    gamma = comparison._gamma_column_name  # (Splink's name: gamma_<output column>)
    levels = comparison.comparison_levels
    if not any(_is_else(lv) for lv in levels):
        raise UserError(
            f"comparison {comparison.output_column_name} of the linkage model has no ELSE "
            "level; a lookup cannot score it"
        )
    whens = [
        f"{lv.sql_condition} {lv.comparison_vector_value}"
        if _is_else(lv)
        else f"WHEN {lv.sql_condition} THEN {lv.comparison_vector_value}"
        for lv in levels
    ]
    weights: dict[int, float] = {}
    tf: dict[int, TfLevel | None] = {}
    for lv, lv_saved in zip(levels, saved["comparison_levels"], strict=True):
        value = lv.comparison_vector_value
        weights.setdefault(
            value,
            0.0
            if lv.is_null_level
            else math.log2(max(lv.m_probability, 1e-300) / max(lv.u_probability, 1e-300)),
        )
        col = lv_saved.get("tf_adjustment_column")
        weight = float(lv_saved.get("tf_adjustment_weight", 1.0))
        if col is None or value == -1 or weight == 0 or _is_else(lv):
            tf.setdefault(value, None)
        else:
            log2_u = math.log2(_exact_u(levels, col))
            floor = float(lv_saved.get("tf_minimum_u_value", 0.0))
            tf.setdefault(value, TfLevel(col, weight, log2_u, floor))
    adjusted = any(lv.get("tf_adjustment_column") for lv in saved["comparison_levels"])
    constants = [*weights.values()] + [
        x for t in tf.values() if t is not None for x in (t.weight, t.log2_u, t.floor)
    ]
    return (
        f"CASE {' '.join(whens)} END AS {gamma}",
        Comparison(weights, tf if adjusted else None),
        constants,
    )


def _with_constants(comparison: Comparison, read: dict[float, float]) -> Comparison:
    """The comparison with each constant replaced by DuckDB's reading of it."""
    tf = comparison.tf
    return Comparison(
        {v: read[w] for v, w in comparison.weights.items()},
        None
        if tf is None
        else {
            v: None
            if t is None
            else TfLevel(t.column, read[t.weight], read[t.log2_u], read[t.floor])
            for v, t in tf.items()
        },
    )


def _line_agreement(comparisons: list[Any]) -> LineAgreement | None:
    """Where the comparisons say two street lines agree (see :class:`LineAgreement`). Levels
    that read other columns beside the address's (a surname at the same line) are not the
    address comparison's."""
    for i, comparison in enumerate(comparisons):
        reading = [
            level.comparison_vector_value
            for level in comparison.comparison_levels
            if not level.is_null_level
            and (used := {c.input_name for c in level._input_columns_used_by_sql_condition})
            & LINE_COLUMNS
            and used <= ADDRESS_COLUMNS
        ]
        if reading:
            return LineAgreement(i, max(reading))
    return None


def _compile(settings: dict[str, Any]) -> CompiledModel:
    from splink import SettingsCreator  # (loads Splink: only when a model is compiled)

    parsed = SettingsCreator.from_path_or_dict(json.loads(json.dumps(settings)))
    core = parsed.get_settings("duckdb").core_model_settings
    prior = core.probability_two_random_records_match
    gammas, comparisons, constants = [], [], []
    for comparison, saved in zip(core.comparisons, settings["comparisons"], strict=True):
        gamma, tables, values = _comparison(comparison, saved)
        gammas.append(gamma)
        comparisons.append(tables)
        constants += values
    prior_weight = math.log2(prior / (1 - prior)) if prior != 1 else math.inf
    constants.append(prior_weight)
    read = dict(zip(constants, _as_read(constants), strict=True))
    tf_columns = [
        t.column for c in comparisons if c.tf is not None for t in c.tf.values() if t is not None
    ]
    return CompiledModel(
        ",\n".join(gammas),
        tuple(_with_constants(c, read) for c in comparisons),
        read[prior_weight],
        tuple(dict.fromkeys(tf_columns)),
        _line_agreement(core.comparisons),
    )


# Compiled per model and process: parsing a model through Splink takes a good part of a
# second, and Splink is not driven from two threads at once.
_COMPILED: dict[str, CompiledModel] = {}
_LOCK = threading.Lock()


def compiled(settings: dict[str, Any]) -> CompiledModel:
    """The model compiled (see the module docstring), once per model and process."""
    key = json.dumps(settings, sort_keys=True)
    with _LOCK:
        if (found := _COMPILED.get(key)) is None:
            if len(_COMPILED) >= 8:  # a long-running service outliving many retrainings
                _COMPILED.clear()
            found = _COMPILED[key] = _compile(settings)
    return found
