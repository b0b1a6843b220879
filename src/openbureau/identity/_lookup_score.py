"""A saved linkage model as SQL over pairs of records: each comparison's level, the match
weight and the match probability, as Splink's ``predict`` computes them.

Splink scores a pair in log space: each comparison contributes the match weight of the level
the pair reaches, log2(m/u) (0 for a level that says nothing, ``-1``); a level adjusted for term
frequency adds ``weight * (log2(u of the exact level) - log2(the value's frequency))``, the
frequency being the larger of the two records' (or the floor the level sets); the prior adds
log2 of the odds that two records match; and the probability is 2^w / (1 + 2^w). The levels,
their m and u (Splink's defaults where the file has none) and the prior are read from Splink's
own parse of the model (``SettingsCreator.get_settings``); the SQL is written here, once per
model, with every constant as Splink writes it (``cast(x as float8)`` of Python's repr, summed
in Splink's order), so the figures are Splink's to the last bit.
``tests/identity/test_lookup_agreement.py`` holds them to ``score_pairs``.

Pairs are rows with ``<column>_l`` and ``<column>_r`` for the query and a candidate, and
``tf_<column>_l`` and ``tf_<column>_r`` for the term-frequency columns.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from typing import Any

from openbureau.errors import UserError


@dataclass(frozen=True)
class LineAgreement:
    """The level of the model's address comparison at which two street lines agree: the
    highest of the levels that read the line (``LINE_COLUMNS``); in the shipped model, the
    same line, or lines 90% alike by Jaro-Winkler with the same postcode.

    The lower ones are too easily met by a lender who knows only the postcode: lines 80% alike
    or the same house number ("12 X"), and one line's words all in the other's with the same
    house number ("12 ST" for 12 ELM ST) tied 120 of 120 persons on the test population."""

    gamma_column: str  # the comparison's level column, gamma_<comparison>
    level: int  # that level's comparison vector value


# The columns of a street line; a level of the address comparison that reads none of them
# (the same postcode, the same town) says nothing of the line.
LINE_COLUMNS = frozenset({"address_line1", "house_number", "street"})


@dataclass(frozen=True)
class CompiledModel:
    """SQL for one model. ``gammas``: select-list items, ``CASE ... END AS gamma_<c>``, on
    a pair; ``match_weight``: an expression on those and the pair's term frequencies;
    ``match_probability``: an expression on a column ``match_weight``."""

    gammas: str
    match_weight: str
    match_probability: str
    tf_columns: tuple[str, ...]
    line: LineAgreement | None


def _f(x: float) -> str:
    """A constant as Splink writes it into its SQL."""
    return f"cast({x} as float8)"


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


def _comparison_sql(comparison: Any, saved: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    """(the gamma CASE, the weight terms in Splink's order, term-frequency columns)."""
    gamma = comparison._gamma_column_name  # (Splink's name: gamma_<output column>)
    levels = comparison.comparison_levels
    whens = [
        f"{lv.sql_condition} {lv.comparison_vector_value}"
        if lv.sql_condition.strip().upper() == "ELSE"
        else f"WHEN {lv.sql_condition} THEN {lv.comparison_vector_value}"
        for lv in levels
    ]
    weights = " ".join(
        f"WHEN {gamma} = {lv.comparison_vector_value} THEN "
        + _f(
            0.0
            if lv.is_null_level
            else math.log2(max(lv.m_probability, 1e-300) / max(lv.u_probability, 1e-300))
        )
        for lv in levels
    )
    terms = [f"CASE {weights} END"]
    tf_columns: list[str] = []
    tf_cases = []
    for lv, lv_saved in zip(levels, saved["comparison_levels"], strict=True):
        col = lv_saved.get("tf_adjustment_column")
        weight = float(lv_saved.get("tf_adjustment_weight", 1.0))
        at = f"WHEN {gamma} = {lv.comparison_vector_value} THEN"
        if (
            col is None
            or lv.comparison_vector_value == -1
            or weight == 0
            or (lv.sql_condition.strip().upper() == "ELSE")
        ):
            tf_cases.append(f"{at} {_f(0)}")
            continue
        tf_columns.append(col)
        tf_l, tf_r = f'"tf_{col}_l"', f'"tf_{col}_r"'
        either = f"coalesce({tf_l}, {tf_r})"
        floor = _f(float(lv_saved.get("tf_minimum_u_value", 0.0)))
        tf_cases.append(
            f"{at} CASE WHEN {either} IS NOT NULL THEN {_f(weight)} * ("
            f"{_f(math.log2(_exact_u(levels, col)))} - log2(greatest({either}, "
            f"coalesce({tf_r}, {tf_l}), {floor}))) ELSE {_f(0)} END"
        )
    if any(lv_saved.get("tf_adjustment_column") for lv_saved in saved["comparison_levels"]):
        terms.append(f"CASE {' '.join(tf_cases)} END")
    return f"CASE {' '.join(whens)} END AS {gamma}", terms, tf_columns


def _line_agreement(comparisons: list[Any]) -> LineAgreement | None:
    """Where the comparisons say two street lines agree (see :class:`LineAgreement`)."""
    for comparison in comparisons:
        reading = [
            level.comparison_vector_value
            for level in comparison.comparison_levels
            if not level.is_null_level
            and LINE_COLUMNS & {c.input_name for c in level._input_columns_used_by_sql_condition}
        ]
        if reading:
            return LineAgreement(comparison._gamma_column_name, max(reading))
    return None


def _compile(settings: dict[str, Any]) -> CompiledModel:
    from splink import SettingsCreator  # (loads Splink: only when a model is compiled)

    parsed = SettingsCreator.from_path_or_dict(json.loads(json.dumps(settings)))
    core = parsed.get_settings("duckdb").core_model_settings
    prior = core.probability_two_random_records_match
    gammas, terms, tf_columns = [], [], []
    for comparison, saved in zip(core.comparisons, settings["comparisons"], strict=True):
        gamma, weight_terms, columns = _comparison_sql(comparison, saved)
        gammas.append(gamma)
        terms += weight_terms
        tf_columns += columns
    prior_weight = math.log2(prior / (1 - prior)) if prior != 1 else math.inf
    weight = f"{_f(prior_weight)} + " + " + ".join(terms)
    probability = """CASE WHEN match_weight >= 0
        THEN 1.0 / (1.0 + POWER(cast(2 as float8), -(match_weight)))
        ELSE POWER(cast(2 as float8), (match_weight))
             / (1.0 + POWER(cast(2 as float8), (match_weight))) END"""
    return CompiledModel(
        ",\n".join(gammas),
        weight,
        probability,
        tuple(dict.fromkeys(tf_columns)),
        _line_agreement(core.comparisons),
    )


# Compiled per model and process: parsing a model through Splink takes a good part of a
# second, and Splink is not driven from two threads at once.
_COMPILED: dict[str, CompiledModel] = {}
_LOCK = threading.Lock()


def compiled(settings: dict[str, Any]) -> CompiledModel:
    """The model's SQL (see the module docstring), compiled once per model and process."""
    key = json.dumps(settings, sort_keys=True)
    with _LOCK:
        if (found := _COMPILED.get(key)) is None:
            if len(_COMPILED) >= 8:  # a long-running service outliving many retrainings
                _COMPILED.clear()
            found = _COMPILED[key] = _compile(settings)
    return found
