"""Everything that touches Splink: the model, training, scoring pairs, clustering.

Splink runs on the warehouse's own DuckDB connection, but with a scratch in-memory catalog in
use, so its working tables never land in the warehouse. Callers pass and receive plain table
names in that scratch catalog.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.blocking_rule_library import CustomRule
from splink.clustering import cluster_pairwise_predictions_at_threshold
from splink.internals.comparison_creator import ComparisonCreator
from splink.internals.comparison_level_creator import ComparisonLevelCreator
from splink.internals.comparison_level_library import DateMetricType
from splink.internals.database_api import DatabaseAPI
from splink.internals.dialects import SplinkDialect
from splink.internals.exceptions import SplinkException  # not re-exported publicly

from openbureau.engine import Engine
from openbureau.engine.sql import ident
from openbureau.errors import UserError
from openbureau.identity import _dialect
from openbureau.identity._address import words as address_words
from openbureau.identity._address import words_macro
from openbureau.identity._dialect import DUCKDB, to_dialect
from openbureau.identity._dialect import rule_sql as _rule_sql
from openbureau.identity._standardise_one import COLUMNS as LOOKUP_COLUMNS

SCRATCH = "link_scratch"
MODEL_VERSION_KEY = "openbureau_model_version"
# Whether birth dates that no slip explains may split a cluster (see _cluster.DOB_CONFLICT):
# only when pairs of records that share a national ID almost never show such birth dates.
DOB_DECISIVE_KEY = "openbureau_birth_dates_decisive"
# A rule that two records cannot be one person is applied only where the records show it
# would part at most this share of one person's pairs of records (see _training: counted on
# pairs that are one person by other evidence, not by EM's m values, which households sway:
# twins sharing a birth date and postcode pass for one person in an EM block).
DECISIVE_MAX_SPLIT = 0.005
# Whether national IDs that differ, together with given names that differ, may split a
# cluster: only when the model found one person's records share a token almost always (a
# feed whose IDs are often mistyped would otherwise split people).
NID_DECISIVE_KEY = "openbureau_national_ids_decisive"
# How a model that no workspace trained was made (the default model: bench/default_model.py).
MADE_BY_KEY = "openbureau_made_by"

# Columns Splink compares and blocks on; identity_records provides them (see link.INPUT_COLUMNS).
# Declared once, beside the lookup's standardisation of one query (which must not load Splink).
COLUMNS = list(LOOKUP_COLUMNS)

# Splink narrates training at length (levels EM could not see, untrained u values); the model
# file records what was estimated, so only its errors reach the user.
logging.getLogger("splink").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Rule:
    """A blocking rule: pairs whose ``l`` side equals the ``r`` side on every key, and that
    meet ``where`` (SQL on ``l`` and ``r``). A key is a pair of expressions, ``{s}`` standing
    for the record: ``("{s}.first_name", "{s}.last_name")`` is l.first_name = r.last_name."""

    keys: tuple[tuple[str, str], ...]
    where: str = ""

    @property
    def sql(self) -> str:
        on = [f"{a.format(s='l')} = {b.format(s='r')}" for a, b in self.keys]
        return " AND ".join([*on, *([self.where] if self.where else [])])

    @property
    def key_columns(self) -> set[str]:
        """The columns its keys read: a record missing one meets no other under this rule."""
        return {c for a, b in self.keys for c in re.findall(r'\{s\}\."?(\w+)', a + b)}


def same(*exprs: str, where: str = "") -> Rule:
    """Records equal on each column (``dob``) or expression (``left({s}.first_name, 1)``)."""
    return Rule(
        tuple((e, e) if "{s}" in e else (f'{{s}}."{e}"', f'{{s}}."{e}"') for e in exprs), where
    )


# Birth dates that one person's records could show: either missing, or two of year, month and
# day the same (which every single typo leaves, see _birth_date).
BIRTH_DATES_COMPATIBLE = """(l.dob IS NULL OR r.dob IS NULL OR year(l.dob) = year(r.dob)
    OR (month(l.dob) = month(r.dob) AND day(l.dob) = day(r.dob)))"""
FIRST_INITIAL, LAST_INITIAL = "left({s}.first_name, 1)", "left({s}.last_name, 1)"
POSTCODE_AREA = "left({s}.postcode, 3)"
# Street names that begin alike (a typo further on, or no street on one side).
STREETS_ALIKE = "(l.street IS NULL OR r.street IS NULL OR left(l.street, 3) = left(r.street, 3))"

# Candidate pairs: records agreeing on one of these. Several independent field sets, so a
# record with two fields wrong (a typo in the surname and no birth date, a move and a new
# phone) is still found by another. Each rule is as narrow as the true pairs it alone finds
# allow: a birth date is shared by thousands of people in a large population, but rarely
# together with an initial or a postcode area; two records with one name and birth dates no
# typo explains are two people. (On a 1,000,000-record synthetic population these rules give
# half the candidate pairs of the plain keys, dob alone, first + last name, last name + town,
# first name + street, and miss 400 of 2.95 million true pairs more; docs/benchmarks.md.)
# First name + postcode alone made 13% of the candidate pairs at 1,000,000 records for no
# gain in F1; the matches only it finds (FEBRL4: surname and birth date both mistyped) have
# street names that begin alike, and with that condition it makes a hundredth as many.
RULES: list[Rule] = [
    same("national_id_token"),
    same("dob", FIRST_INITIAL),
    same("dob", LAST_INITIAL),
    same("dob", POSTCODE_AREA),
    same("last_name", "postcode"),
    same("first_name", "last_name", where=BIRTH_DATES_COMPATIBLE),
    same("address_line1", "postcode"),
    same("house_number", "postcode"),
    same("last_name", "city", FIRST_INITIAL),
    same("first_name", "postcode", where=STREETS_ALIKE),
    same("first_name", "street", "city"),
    same("phone"),
    same("email"),
    # given name and surname each other's
    Rule((("{s}.first_name", "{s}.last_name"), ("{s}.last_name", "{s}.first_name"))),
]
BLOCKING_RULES: list[str] = [rule.sql for rule in RULES]
# Rules of models trained before they were narrowed or dropped: such a model still blocks with
# them, and an incremental run needs to know their keys (see link._batch_rules).
RETIRED_RULES: list[Rule] = [same("first_name", "postcode")]


class _Level(cll.CustomLevel):
    """A custom level written in DuckDB's SQL, translated for other engines (_dialect)."""

    def create_sql(self, sql_dialect: SplinkDialect) -> str:
        return to_dialect(self.sql_condition, sql_dialect.sql_dialect_str)


def _address() -> ComparisonCreator:
    """Street line, postcode and town as one comparison: they are not independent evidence,
    and counting each would let a shared household address outweigh a different first name."""
    same_line = cll.ExactMatchLevel("address_line1")
    same_zip = cll.ExactMatchLevel("postcode")
    left, right = (address_words(f'"address_line1_{side}"') for side in "lr")
    return cl.CustomComparison(
        output_column_name="address",
        comparison_levels=[
            cll.And(cll.NullLevel("address_line1"), cll.NullLevel("postcode")),
            cll.Or(same_line, cll.And(cll.JaroWinklerLevel("address_line1", 0.9), same_zip)),
            # (as CASE: words are split and compared only where the house numbers agree)
            _Level(
                'CASE WHEN "house_number_l" = "house_number_r" AND ("postcode_l" = "postcode_r" '
                'OR "city_l" = "city_r") THEN "street_l" IS NOT NULL AND "street_r" IS NOT NULL '
                f"AND (list_has_all({left}, {right}) OR list_has_all({right}, {left})) "
                "ELSE FALSE END",
                label_for_charts="same house number, one line's words all in the other's, "
                "same postcode or town",
            ),
            cll.Or(
                cll.JaroWinklerLevel("address_line1", 0.8),
                cll.And(cll.ExactMatchLevel("house_number"), same_zip),
            ),
            same_zip,
            cll.ExactMatchLevel("city"),
            cll.ElseLevel(),
        ],
    ).configure(m_probabilities=[0.65, 0.02, 0.03, 0.03, 0.02, 0.25])


def _jw(a: str, b: str) -> str:
    """SQL: Jaro-Winkler similarity of column ``a`` of the left record and ``b`` of the right."""
    return f'jaro_winkler_similarity("{a}_l", "{b}_r")'


# A name written in the other name field (given name as surname, or surname as given name)
# while the names in place differ. Such pairs are judged on their names by the name_order
# comparison alone: the first- and last-name comparisons say nothing of them (a swapped pair's
# names differing in place is no evidence against it). Written as CASE so that the
# similarities are computed only for the few pairs with a name in the other field.
_ONE_IN_OTHER = '"first_name_l" = "last_name_r" OR "last_name_l" = "first_name_r"'
_IN_PLACE_DIFFER = (
    f"{_jw('first_name', 'first_name')} < 0.88 AND {_jw('last_name', 'last_name')} < 0.88"
)
CROSSED = f"CASE WHEN {_ONE_IN_OTHER} THEN {_IN_PLACE_DIFFER} ELSE FALSE END"
# ... both names: swapped, one exactly, the other at least much like it (a swap and a typo).
SWAPPED = (
    f"CASE WHEN {_ONE_IN_OTHER} THEN "
    f'("first_name_l" = "last_name_r" AND {_jw("last_name", "first_name")} >= 0.9 OR '
    f'"last_name_l" = "first_name_r" AND {_jw("first_name", "last_name")} >= 0.9) AND '
    f"{_IN_PLACE_DIFFER} ELSE FALSE END"
)


def _name(col: str, *first: ComparisonLevelCreator) -> ComparisonCreator:
    """Splink's name comparison (exact with term frequencies, Jaro-Winkler 0.92, 0.88, 0.7),
    saying nothing when names are crossed between fields (``name_order`` weighs those);
    ``first``: levels before the exact one."""
    return cl.CustomComparison(
        output_column_name=col,
        comparison_levels=[
            cll.NullLevel(col),
            *first,
            cll.ExactMatchLevel(col).configure(tf_adjustment_column=col),
            _Level(CROSSED).configure(
                is_null_level=True, label_for_charts="names crossed (weighed in name_order)"
            ),
            cll.JaroWinklerLevel(col, 0.92),
            cll.JaroWinklerLevel(col, 0.88),
            cll.JaroWinklerLevel(col, 0.7),
            cll.ElseLevel(),
        ],
    )


def _name_order() -> ComparisonCreator:
    """Given name and surname written in each other's field, wholly or in part.

    The m priors say such records are rare: they stand where EM sees no swap among the
    matching pairs of its blocks (a feed that never swaps names), so that a chance crossing
    (JAMES THOMAS, THOMAS JAMES) counts for little there."""
    names = ("first_name", "last_name")
    return cl.CustomComparison(
        output_column_name="name_order",
        comparison_levels=[
            cll.Or(*(cll.NullLevel(c) for c in names)),
            _Level(SWAPPED, label_for_charts="given name and surname swapped"),
            _Level(CROSSED, label_for_charts="one name in the other field, the other different"),
            cll.ElseLevel().configure(label_for_charts="names in place"),
        ],
    ).configure(m_probabilities=[1e-5, 1e-5, 1 - 2e-5])


# Day and month exchanged (12/03 written for 03/12, as US and European dates are confused):
# a level of its own, so that the levels below it (within a month, a year) hold only dates a
# single slip does not explain, which one person's records seldom show (see _cluster).
DAY_MONTH_SWAPPED = (
    'year("dob_l") = year("dob_r") AND month("dob_l") = day("dob_r") '
    'AND day("dob_l") = month("dob_r")'
)


def _birth_date() -> ComparisonCreator:
    """Splink's birth-date comparison (exact; one typo; within a month, a year, ten years),
    with a typo that swaps two adjacent digits (1914-10-12 for 1914-01-12) counted as one, as
    the conflict rule does, and day and month exchanged as a level of its own."""

    def within(threshold: int, metric: DateMetricType) -> ComparisonLevelCreator:
        return cll.AbsoluteDateDifferenceLevel(
            "dob", input_is_string=False, threshold=threshold, metric=metric
        )

    return cl.CustomComparison(
        output_column_name="dob",
        comparison_levels=[
            cll.NullLevel("dob"),
            cll.ExactMatchLevel("dob").configure(label_for_charts="same birth date"),
            # one typo leaves two of year, month and day as they were (as CASE: that is checked
            # first, and the edit distance computed only where it holds)
            _Level(
                'CASE WHEN (year("dob_l") = year("dob_r"))::INT + (month("dob_l") = month("dob_r"))'
                '::INT + (day("dob_l") = day("dob_r"))::INT >= 2 THEN damerau_levenshtein('
                'CAST("dob_l" AS VARCHAR), CAST("dob_r" AS VARCHAR)) <= 1 ELSE FALSE END',
                label_for_charts="one typo (a digit changed or two swapped)",
            ),
            _Level(DAY_MONTH_SWAPPED, label_for_charts="day and month swapped"),
            within(1, "month"),
            within(1, "year"),
            within(10, "year"),
            cll.ElseLevel(),
        ],
    )


def _email() -> ComparisonCreator:
    """The same email address, or not. Splink's email comparison also rewards alike addresses
    and the same user name at another domain, but user names are made of names
    (michaeleaton@yahoo.com, michael.eaton@gmail.com): two people of one name agree there as
    much as one person does, so that would count the name twice."""
    return cl.CustomComparison(
        output_column_name="email",
        comparison_levels=[
            cll.NullLevel("email"),
            cll.ExactMatchLevel("email").configure(tf_adjustment_column="email"),
            cll.ElseLevel(),
        ],
    ).configure(m_probabilities=[0.8, 0.2])


# A surname or phone both records give at the one street line both give: a household's as
# often as one person's, so evidence only beside what the shared line already said (see
# _household_levels); elsewhere, a surname or number one person keeps through a move.
SAME_LINE = '"address_line1_l" = "address_line1_r"'
AT_SAME_LINE = {
    "last_name": "same surname at the same street line",
    "phone": "same phone at the same street line",
}


def _at_same_line(col: str) -> ComparisonLevelCreator:
    return _Level(  # (DuckDB's SQL: translated for Spark, as every custom level)
        f'"{col}_l" = "{col}_r" AND coalesce({SAME_LINE}, FALSE)',
        label_for_charts=AT_SAME_LINE[col],
    )


def _phone() -> ComparisonCreator:
    """The same phone number, weighed apart where the street line is the same too: Fellegi-
    Sunter counts comparisons as independent, and a household's members agree on line and
    phone at once (a phone shared at a shared line counted in full added 14 bits to a
    surname and address, outweighing a different given name and birth date)."""
    return cl.CustomComparison(
        output_column_name="phone",
        comparison_levels=[
            cll.NullLevel("phone"),
            _at_same_line("phone"),
            cll.ExactMatchLevel("phone").configure(
                label_for_charts="same phone, another street line or none"
            ),
            cll.ElseLevel(),
        ],
    )


def settings() -> SettingsCreator:
    """The linkage model's structure: comparisons and the rules that find candidate pairs.

    m-probabilities given here are priors for levels that EM may see too rarely to estimate
    (a birth date decades apart, Jr against Sr, phones and emails, which only one feed has):
    EM replaces them wherever the training pairs inform them.
    """
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        probability_two_random_records_match=1e-5,
        comparisons=[
            _name("first_name"),
            _name("last_name", _at_same_line("last_name")),
            _name_order(),
            cl.ExactMatch("name_suffix").configure(m_probabilities=[0.99, 0.01]),
            _birth_date().configure(m_probabilities=[0.95, 0.02, 0.01, 0.005, 0.01, 0.004, 0.001]),
            cl.ExactMatch("national_id_token").configure(m_probabilities=[0.98, 0.02]),
            _address(),
            _phone().configure(m_probabilities=[0.4, 0.4, 0.2]),
            _email(),
        ],
        blocking_rules_to_generate_predictions=[
            CustomRule(rule, sql_dialect=DUCKDB) for rule in BLOCKING_RULES
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def tf_columns(model: dict[str, Any]) -> list[str]:
    """The columns a model adjusts for term frequency."""
    return sorted(
        {
            lv["tf_adjustment_column"]
            for c in model["comparisons"]
            for lv in c["comparison_levels"]
            if lv.get("tf_adjustment_column")
        }
    )


def with_blocking_rules(model: dict[str, Any], rules: list[Rule]) -> dict[str, Any]:
    """The model with only these blocking rules (each of them one of its own)."""
    kept = {rule.sql for rule in rules}
    return {
        **model,
        "blocking_rules_to_generate_predictions": [
            r for r in model["blocking_rules_to_generate_predictions"] if _rule_sql(r) in kept
        ],
    }


def tf_on_exact_match_only(model: dict[str, Any]) -> bool:
    """Whether the model adjusts for term frequency only where the two values are the same.
    Splink then needs a pair's frequency from one side only (it takes either side's), so the
    values of one record of every pair are enough."""
    return all(
        lv["sql_condition"].replace(" ", "") == f'"{col}_l"="{col}_r"'
        for c in model["comparisons"]
        for lv in c["comparison_levels"]
        if (col := lv.get("tf_adjustment_column"))
    )


def tf_table_sql(col: str, population: str, values: str) -> str:
    """SQL: the term frequencies over ``population`` of the values of ``col`` that the SQL
    ``values`` lists (a single-column SELECT), named as Splink's lookups are."""
    return f"""SELECT {col}, count(*)::DOUBLE / (SELECT count({col}) FROM {population})
                   AS tf_{col}
               FROM {population} WHERE {col} IN ({values}) GROUP BY {col}"""


def levels(comparison: str) -> list[tuple[int, str, str]]:
    """A comparison's levels in order: (level value, SQL condition on ``x_l``/``x_r``, label);
    the value is -1 for levels that say nothing."""
    settings_obj = settings().get_settings("duckdb")
    found = next(c for c in settings_obj.comparisons if c.output_column_name == comparison)
    return [
        (lv.comparison_vector_value, lv.sql_condition, lv.label_for_charts)
        for lv in found.comparison_levels
    ]


@contextmanager
def scratch(engine: Engine) -> Iterator[tuple[DuckDBAPI, str]]:
    """Use an in-memory catalog for Splink's tables; yield Splink's API and the warehouse's
    catalog name, quoted (the warehouse file's stem: ``bureau-2026`` is no bare name)."""
    # (Splink's tables go to an attached in-memory catalog, its checkpoints held off with a
    # session variable: DuckDB's ways; another engine brings its own scratch)
    engine.require("identity linking", "splink_backend", "attach", "session_variables")
    warehouse = ident(engine.catalog)
    # DuckDB checkpoints an attached in-memory catalog too, at the first commit after what was
    # written to it passes the threshold: about 0.5 s each time in an incremental link at
    # 1,000,000 records, for tables dropped a moment later. None while it is attached, until
    # resume_checkpoints.
    engine.execute(
        "SET VARIABLE openbureau_checkpoint_threshold = current_setting('checkpoint_threshold')"
    )
    try:
        engine.execute("SET checkpoint_threshold = '1TB'")
        engine.execute(f"ATTACH ':memory:' AS {SCRATCH} (READ_WRITE)")  # also when read-only
        engine.execute(f"USE {SCRATCH}")
        engine.execute(words_macro())  # the address comparison calls it
        yield engine.splink_api(), warehouse
    finally:
        resume_checkpoints(engine)
        engine.execute(f"USE {warehouse}")
        engine.execute(f"DETACH DATABASE IF EXISTS {SCRATCH}")


def resume_checkpoints(engine: Engine) -> None:
    """Checkpoints as before the scratch block again: for the warehouse writes at its end."""
    threshold = engine.scalar(
        "SELECT coalesce(getvariable('openbureau_checkpoint_threshold'), "
        "current_setting('checkpoint_threshold'))"
    )
    engine.execute("RESET checkpoint_threshold")
    if engine.scalar("SELECT current_setting('checkpoint_threshold')") != threshold:
        # (a value set before: as DuckDB shows it, to 0.1 of its unit)
        engine.execute(f"SET checkpoint_threshold = '{threshold}'")


# The prior (how many pairs match) is estimated from the pairs that agree exactly on these
# fields (and on a national-ID token), divided by the share of matching pairs that do (the
# rule's recall). That share is first taken as INITIAL_RECALL, then, once EM has estimated
# how often one person's records agree on each field, from the model (see _rule_recall).
DETERMINISTIC_FIELDS = ("first_name", "last_name", "dob")
INITIAL_RECALL = 0.7
MIN_RECALL = 0.05
# Comparisons whose first level is exact agreement on these columns: its u is counted over all
# pairs (see _training._agreement) rather than sampled, since taking the matching pairs out of
# it (see _u_without_matches) leaves a small difference of two close numbers, which sampling
# noise would swamp. (Name levels need not be counted: term frequencies replace their u.)
COUNTED_LEVELS: dict[str, tuple[str, ...]] = {
    "dob": ("dob",),
    "national_id_token": ("national_id_token",),
    # (the address's first level is the same line, or nearly with the same postcode: the
    # same line is most of it; members of one household share it, which sampling sees too
    # rarely to measure)
    "address": ("address_line1",),
}


@dataclass
class Trained:
    """A model as :func:`train` estimated it, and which of its steps the data allowed."""

    model: dict[str, Any]
    prior_counted: bool  # the prior from pairs agreeing on a deterministic rule
    u_sampled: bool  # u by random sampling
    em_blocks: list[str]  # the EM blocks that had pairs to learn from


def train(
    db_api: DatabaseAPI[Any],
    input_table: str,
    *,
    seed: int,
    max_pairs: float,
    national_id_pairs: bool,
    deterministic_pairs: bool,
    completeness: dict[str, float],
    agreement: dict[str, float],
    birth_dates_split: float | None = None,
    national_ids_split: float | None = None,
    at_same_line: dict[str, float] | None = None,
) -> Trained:
    """Estimate the model without labels: u by random sampling, m by EM on several blocks,
    the prior from pairs agreeing on every field of a deterministic rule. Returns the model
    as saved (Splink's settings and our metadata).

    ``national_id_pairs`` says whether any two records share a national-ID token, and
    ``deterministic_pairs`` whether any agree on a deterministic rule; without them the steps
    that need them are left out (Splink would take the prior for 0 and fail).
    ``completeness`` is the share of records with each field of the deterministic rules;
    ``agreement``, for the comparisons of
    COUNTED_LEVELS, the share of all pairs (both records having the field) that agree on its
    columns; ``birth_dates_split``, of the pairs sharing a national-ID token that both have a
    birth date, the share whose birth dates contradict each other (None: no such pairs);
    ``national_ids_split``, the share of one person's pairs the national-ID rule would part;
    ``at_same_line``, for the columns of AT_SAME_LINE: of the pairs of records of two people
    (given names unlike) at one street line that both give the column, the share agreeing on
    it (see _household_levels).
    A step the data is too small for is skipped and the priors in ``settings`` stand."""
    session = _Session(db_api, input_table)
    by_token = [block_on("national_id_token")] if national_id_pairs else []

    counted = deterministic_pairs and session.attempt(
        lambda linker: linker.training.estimate_probability_two_random_records_match(
            [*by_token, block_on(*DETERMINISTIC_FIELDS)], recall=INITIAL_RECALL
        )
    )
    sampled = session.attempt(
        lambda linker: linker.training.estimate_u_using_random_sampling(
            max_pairs=max_pairs, seed=seed
        )
    )
    # EM blocks chosen so that households (same surname and address, sometimes the same birth
    # date: twins, Jr/Sr) do not pass for matches: pairs sharing a national-ID token, pairs
    # sharing full name and birth date, pairs sharing birth date and postcode, and pairs
    # sharing full name and postcode, which estimates how often one person's birth date is
    # wrong where there are no national IDs (a Jr/Sr pair passing it costs little next to that).
    # EM iterates on the counts of each agreement pattern rather than on every pair (Splink's
    # estimate_without_term_frequencies: term frequencies touch only the names' exact levels,
    # and rescoring a million pairs per iteration took a third of the training time).
    learned: list[str] = []

    def em(*columns: str) -> bool:
        if session.attempt(
            lambda linker: linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*columns),
                fix_probability_two_random_records_match=True,
                estimate_without_term_frequencies=True,
            )
        ):
            learned.append(" and ".join(columns))
            return True
        return False

    if national_id_pairs:
        em("national_id_token")
    for rule in (
        ("first_name", "last_name", "dob"),
        ("dob", "postcode"),
        ("first_name", "last_name", "postcode"),
    ):
        em(*rule)
    model = session.model()
    for name, share in agreement.items():
        counted_level = _top_level(model, name)
        if counted_level is not None and share:
            counted_level["u_probability"] = share
    model = _household_levels(model, at_same_line or {})
    recall = _rule_recall(model, completeness, national_id_pairs)
    if counted and recall >= MIN_RECALL:  # the same count of pairs, divided by this recall
        model["probability_two_random_records_match"] *= INITIAL_RECALL / recall
    model = _floor(_swap_no_stronger(_u_without_matches(model, 1.0 / max_pairs)))
    model[DOB_DECISIVE_KEY] = birth_dates_split is not None and (
        birth_dates_split <= DECISIVE_MAX_SPLIT
    )
    model[NID_DECISIVE_KEY] = national_ids_split is not None and (
        national_ids_split <= DECISIVE_MAX_SPLIT
    )
    return Trained(model, counted, sampled, learned)


def unestimated(model: dict[str, Any], held: set[str]) -> list[str]:
    """The comparisons a trained model cannot weigh: those of :func:`settings` it lacks, and
    those with no m prior (the names) that read a column of ``held`` (columns the records
    have) and whose m values training left unestimated. Under such a model agreement there
    counts for nothing: two records of one name are no likelier one person than two of
    different names."""
    have = {c["output_column_name"]: c for c in model.get("comparisons", [])}
    missing = []
    for comparison in settings().get_settings("duckdb").comparisons:
        name = comparison.output_column_name
        if name not in have:
            missing.append(name)
            continue
        levels = [lv.as_dict() for lv in comparison.comparison_levels if not lv.is_null_level]
        columns = {c.input_name for c in comparison._input_columns_used_by_case_statement}
        trained = [lv for lv in have[name]["comparison_levels"] if not lv.get("is_null_level")]
        if (
            all(lv.get("m_probability") is None for lv in levels)
            and columns & held
            and not any(isinstance(lv.get("m_probability"), float) for lv in trained)
        ):
            missing.append(name)
    return missing


def _top_level(model: dict[str, Any], comparison: str) -> dict[str, Any] | None:
    """A comparison's first level after its null ones: exact agreement, or for name_order a
    whole swap."""
    household = set(AT_SAME_LINE.values())
    for c in model["comparisons"]:
        if c["output_column_name"] == comparison:
            return next(
                (
                    lv
                    for lv in c["comparison_levels"]
                    if not lv.get("is_null_level") and lv.get("label_for_charts") not in household
                ),
                None,
            )
    return None


def _swap_no_stronger(model: dict[str, Any]) -> dict[str, Any]:
    """A given name and surname swapped count for no more than the two agreeing in place
    (whose weights term frequencies then lower for common names; a swap has none)."""
    levels = [_top_level(model, name) for name in ("name_order", "first_name", "last_name")]
    estimated = [
        lv
        for lv in levels
        if lv
        and isinstance(lv.get("m_probability"), float)
        and isinstance(lv.get("u_probability"), float)
        and lv["u_probability"] > 0
    ]
    if len(estimated) == len(levels):
        swapped, first, last = estimated
        in_place = math.prod(lv["m_probability"] / lv["u_probability"] for lv in (first, last))
        swapped["u_probability"] = max(
            swapped["u_probability"], swapped["m_probability"] / in_place
        )
    return model


def _household_levels(model: dict[str, Any], shares: dict[str, float]) -> dict[str, Any]:
    """Weigh a surname or phone shared at a shared street line by what it adds to the line:
    the level's m against the line's (how often one person's records at one line agree on it)
    over the share of two people's that do (``shares``), its u set so that log2(m / u) says
    that; random pairs, where two people at one line are too rare to see, would count it in
    full again. The exact level after it weighs agreement elsewhere (another line, or none
    given) as agreement anywhere: its m and u are the two levels' together. Without a share
    (too few households to count) the level weighs as the exact one."""
    line_m = (_top_level(model, "address") or {}).get("m_probability")
    for c in model["comparisons"]:
        name = c["output_column_name"]
        level = next(
            (
                lv
                for lv in c["comparison_levels"]
                if lv.get("label_for_charts") == AT_SAME_LINE.get(name)
            ),
            None,
        )
        exact = _top_level(model, name)
        if level is None or exact is None:
            continue
        m = level.get("m_probability")
        if not isinstance(m, float):
            continue
        for key in ("m_probability", "u_probability"):  # (a level EM or sampling never saw: 0)
            together = (exact.get(key) or 0.0) + (level.get(key) or 0.0)
            exact[key] = min(together, 1.0) if together else None
        share = shares.get(name)
        if share and isinstance(line_m, float) and line_m > 0:
            level["u_probability"] = max(level.get("u_probability") or 0.0, line_m * share)
        else:
            level["m_probability"], level["u_probability"] = (
                exact["m_probability"],
                exact.get("u_probability"),
            )
    return model


def _u_without_matches(model: dict[str, Any], resolution: float) -> dict[str, Any]:
    """Take the matching pairs out of the u values.

    Random sampling estimates u over all pairs, matching ones included; where one person has
    several records (a share ``p`` of all pairs match, agreeing as m says) they explain much
    of the agreement on strong levels (an exact birth date or address), whose u then comes out
    too high and their weight too low. Without them: u = (u sampled - p m) / (1 - p). Where
    matches explain all of it within the sample's error (two standard errors of a share
    estimated from 1 / ``resolution`` pairs), one pair in the sample (``resolution``)."""
    p = float(model.get("probability_two_random_records_match") or 0.0)
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            m, u = level.get("m_probability"), level.get("u_probability")
            if (
                level.get("is_null_level")
                or level.get("fix_u_probability")
                or not isinstance(m, float)
                or not isinstance(u, float)
                or not u
            ):
                continue
            rest = u - p * m
            explained = rest <= 2 * math.sqrt(u * resolution)
            level["u_probability"] = min(u, resolution) if explained else rest / (1 - p)
    return model


def _rule_recall(
    model: dict[str, Any], completeness: dict[str, float], national_id_pairs: bool
) -> float:
    """The share of matching pairs that the deterministic rules find, by the model: both
    records have the field (completeness squared) and agree on it exactly (the exact level's
    m), field by field; a national-ID rule finds its own share besides."""

    def agree(fields: tuple[str, ...]) -> float:
        share = 1.0
        for name in fields:
            share *= completeness.get(name, 0.0) ** 2 * _exact_m(model, name)
        return share

    missed = 1.0 - agree(DETERMINISTIC_FIELDS)
    if national_id_pairs:
        missed *= 1.0 - agree(("national_id_token",))
    return 1.0 - missed


class _Session:
    """The linker that training estimates with, each of its steps tried on its own: a step
    the data is too small for is skipped and leaves the model as it was before the step.

    (Splink's EM takes the comparisons of the columns it blocks on out of the linker's model,
    and sets the prior to its block's, before it looks for pairs; a block with none raises
    there, and the linker would keep comparing only the other columns. Before this was undone,
    a workspace with no birth dates lost the name, birth-date and address comparisons and
    took a prior of 0.5: a model under which no pair of records was one person.)"""

    def __init__(self, db_api: DatabaseAPI[Any], input_table: str) -> None:
        self._input = db_api.register(input_table)
        self._linker = Linker(self._input, settings(), log_level=logging.ERROR)

    def model(self) -> dict[str, Any]:
        """The model as estimated so far, as saved."""
        return dict(self._linker.misc.save_model_to_json(out_path=None))

    def attempt(self, step: Callable[[Linker], object]) -> bool:
        """Run ``step`` on the linker; False, and the model as it was, if it failed."""
        before = self.model()
        # (Splink raises SplinkException where a step finds no pairs, and ValueError or
        # ZeroDivisionError where degenerate data makes a probability 0 or 1; the caller sees
        # which steps ran, and refuses a model the data could not train: _training)
        try:
            step(self._linker)
        except (SplinkException, ValueError, ZeroDivisionError) as exc:
            logging.getLogger(__name__).info(
                "linkage training step skipped: %s",
                str(exc).splitlines()[0] if str(exc) else repr(exc),
            )
            self._linker = Linker(self._input, before, log_level=logging.ERROR)
            return False
        return True


PROBABILITY_FLOOR = 1e-6


def _floor(model: dict[str, Any]) -> dict[str, Any]:
    """A level never seen in training gets a tiny probability rather than zero, whose log
    weight would be infinite (this happens on small workspaces)."""
    p = model.get("probability_two_random_records_match") or PROBABILITY_FLOOR
    model["probability_two_random_records_match"] = min(max(p, PROBABILITY_FLOOR), 0.5)
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            for key in ("m_probability", "u_probability"):
                if key in level and not level[key]:
                    level[key] = PROBABILITY_FLOOR
    return model


@dataclass(frozen=True)
class LinkageModel:
    """A trained model as saved in the workspace: Splink's settings plus our metadata."""

    settings: dict[str, Any]
    version: int
    birth_dates_decisive: bool
    national_ids_decisive: bool = False
    # how a model not trained on the workspace was made (the default model's recipe)
    made_by: dict[str, Any] | None = None


def _exact_m(model: dict[str, Any], name: str) -> float:
    """m of a comparison's first level after the null one (its exact match; with agreement at
    the same street line before it, see _household_levels, agreement anywhere)."""
    exact = _top_level(model, name)
    return float(exact.get("m_probability") or 0.0) if exact else 0.0


def save_model(model: dict[str, Any], path: Path, version: int) -> None:
    """Write a model (its settings, in whichever engine's SQL, and our metadata) to ``path``,
    its SQL in DuckDB's dialect (:func:`canonical`), which every engine translates."""
    model = {**canonical(model), MODEL_VERSION_KEY: version}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(model, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def load_model(path: Path) -> LinkageModel:
    """The model saved at ``path``, checked by building a linker with it and scoring (no
    pairs) as a link run would.

    Raises:
        UserError: one line naming the file, when it is no model a link run can use.
    """
    try:
        model = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read the linkage model: {exc}") from None
    if not isinstance(model, dict) or not isinstance(model.get("comparisons"), list):
        raise UserError(f"{path}: not a linkage model (no comparisons)")
    version = model.get(MODEL_VERSION_KEY, 0)
    if not isinstance(version, int) or version < 0:
        raise UserError(f"{path}: not a linkage model: {MODEL_VERSION_KEY} is {version!r}")
    try:  # (a model in another engine's SQL, saved by hand: as openbureau saves it)
        model = canonical(model)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None
    loaded = as_model(model, version)
    problem = _unusable(json.dumps(loaded.settings, sort_keys=True))
    if problem:
        raise UserError(f"{path}: not a linkage model openbureau can use: {problem}")
    return loaded


# What a link run hands Splink: link.INPUT_COLUMNS, with their types.
INPUT_SCHEMA = "unique_id VARCHAR, " + ", ".join(
    f"{c} {'DATE' if c == 'dob' else 'VARCHAR'}" for c in COLUMNS
)


@lru_cache(maxsize=16)
def _unusable(settings_json: str) -> str | None:
    """Why Splink settings cannot link (None if they can): a linker is built with them on an
    empty input of our columns and scores it, in a DuckDB of its own. Cached by the settings,
    so a lookup pays for it once a model."""
    model = json.loads(settings_json)
    if "link_type" not in model:
        return "it has no link_type"
    for key, want in (("link_type", "dedupe_only"), ("unique_id_column_name", "unique_id")):
        if model.get(key, want) != want:
            return f'its {key} is {model[key]!r}, not "{want}"'
    if not model["comparisons"]:
        return "it has no comparisons"
    con = duckdb.connect()
    try:
        con.execute(words_macro())
        con.execute(f"CREATE TABLE link_input ({INPUT_SCHEMA})")
        linker = linker_for(DuckDBAPI(connection=con), "link_input", model)
        linker.inference.predict(threshold_match_probability=0.5)
        tf_on_exact_match_only(model)  # (what an incremental run reads of it)
        blocking_rules(model)
    except Exception as exc:  # (whatever the file holds: each says what it found wrong)
        while exc.__cause__ is not None and isinstance(exc.__cause__, Exception):
            exc = exc.__cause__  # (Splink wraps DuckDB's error in the SQL it ran)
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    finally:
        con.close()
    return None


def made_by_in_words(made_by: dict[str, Any] | None) -> str:
    """How a model no workspace trained was made, in a few words ("" for a trained one)."""
    if not made_by:
        return ""
    return str(made_by.get("summary") or "not trained on a workspace")


def as_model(saved: dict[str, Any], version: int) -> LinkageModel:
    """A model as saved (Splink's settings and our metadata) as a LinkageModel."""
    model = {
        k: v
        for k, v in saved.items()
        if k not in (MODEL_VERSION_KEY, DOB_DECISIVE_KEY, NID_DECISIVE_KEY, MADE_BY_KEY)
    }
    made_by = saved.get(MADE_BY_KEY)
    return LinkageModel(
        model,
        version,
        bool(saved.get(DOB_DECISIVE_KEY, False)),
        bool(saved.get(NID_DECISIVE_KEY, False)),
        made_by if isinstance(made_by, dict) else None,
    )


def as_saved(model: LinkageModel) -> dict[str, Any]:
    """A LinkageModel as it is saved (without its version: save_model adds it)."""
    return {
        **model.settings,
        DOB_DECISIVE_KEY: model.birth_dates_decisive,
        NID_DECISIVE_KEY: model.national_ids_decisive,
        **({MADE_BY_KEY: model.made_by} if model.made_by else {}),
    }


def dialect_of(model: dict[str, Any]) -> str:
    """The SQL dialect a model's settings are written in (Splink records it; DuckDB's if not)."""
    return _dialect.dialect_of(model)


def for_dialect(model: dict[str, Any], dialect: str) -> dict[str, Any]:
    """A saved model's settings with their SQL in ``dialect``, every estimate as it was."""
    return _dialect.translated(canonical(model), dialect)


def canonical(model: dict[str, Any]) -> dict[str, Any]:
    """A model as saved: its SQL in DuckDB's dialect (see ``_dialect.in_duckdb_sql``: a model
    trained on another engine has the structure of :func:`settings`).

    Raises:
        UserError: a model in another engine's SQL whose comparisons or rules are not the
            declared ones.
    """
    return _dialect.in_duckdb_sql(model, settings().create_settings_dict)


def linker_for(
    db_api: DatabaseAPI[Any],
    input_table: str,
    model: dict[str, Any],
    tf_for: tuple[str, ...] = (),
) -> Linker:
    """A linker for ``input_table`` with term-frequency tables over all its records; with
    ``tf_for`` (tables of input records), only for the values those records hold.

    ``model`` is a saved model's settings (DuckDB's SQL), applied on ``db_api``'s engine."""
    model = for_dialect(model, db_api.sql_dialect.sql_dialect_str)
    # (Splink's validation of a saved model only logs, below the level shown: 0.1 s)
    linker = Linker(
        db_api.register(input_table), model, log_level=logging.ERROR, validate_settings=False
    )
    for col in tf_columns(model):
        if not tf_for:
            linker.table_management.compute_tf_table(col)
            continue
        assert isinstance(db_api, DuckDBAPI)  # (an incremental run: DuckDB's only, so far)
        values = " UNION ".join(f"SELECT {col} FROM {t}" for t in tf_for)
        db_api.duckdb_con.execute(
            f"CREATE OR REPLACE TABLE tf_values_{col} AS {tf_table_sql(col, input_table, values)}"
        )
        linker.table_management.register_term_frequency_lookup(
            db_api.register(f"tf_values_{col}"), col
        )
    return linker


def blocking_rules(model: dict[str, Any]) -> list[str]:
    """The SQL conditions (on records ``l`` and ``r``) of a saved model's blocking rules; none
    if a rule is of a kind that is not one condition (Splink's exploding rules)."""
    rules = model.get("blocking_rules_to_generate_predictions") or []
    if any(isinstance(r, dict) and r.get("arrays_to_explode") for r in rules):
        return []
    return [_rule_sql(r) for r in rules]


def predict_all(linker: Linker, threshold: float) -> str:
    """Score all candidate pairs; return the scratch table of edges above ``threshold``."""
    pred = linker.inference.predict(threshold_match_probability=threshold)
    return str(pred.physical_name)


def predict_new(
    db_api: DuckDBAPI, linker: Linker, new_table: str, old_table: str, threshold: float
) -> str:
    """Score new records against existing ones and among themselves; return a subquery
    selecting the pairs, each once (a pair of new records as ``predict_within`` has it, the
    smaller id on the left).

    One call to Splink, the new records against the existing and the new ones together; a
    pair of new records then comes both ways round, and each new record with itself, and the
    SQL keeps the one and leaves out the other. A second call for the pairs among the new
    records cost about 0.2 s more at 1,000,000 records (Splink's Python, and a blocking pass
    of its own)."""
    both = f"{old_table}_and_new"
    db_api.duckdb_con.execute(
        f"CREATE OR REPLACE VIEW {both} AS SELECT * FROM {old_table} "
        f"UNION ALL SELECT * FROM {new_table}"
    )
    between = linker.inference.predict_between(
        db_api.register(new_table),
        db_api.register(both),
        threshold_match_probability=threshold,
        warning_mode="never",
    )
    is_new = f"(SELECT unique_id FROM {new_table})"
    return (
        f"(SELECT * FROM {between.physical_name} WHERE unique_id_l < unique_id_r "
        f"OR unique_id_l NOT IN {is_new} OR unique_id_r NOT IN {is_new})"
    )


def cluster(db_api: DatabaseAPI[Any], nodes: str, edges: str, threshold: float) -> str:
    """Connected components over ``edges`` (unique_id_l, unique_id_r, match_probability)."""
    result = cluster_pairwise_predictions_at_threshold(
        nodes,
        edges,
        db_api,
        node_id_column_name="unique_id",
        threshold_match_probability=threshold,
    )
    return str(result.physical_name)


def waterfall(
    db_api: DuckDBAPI, input_table: str, model: dict[str, Any], left_table: str, right_table: str
) -> list[dict[str, Any]]:
    """Per comparison: each side's values, the level reached and its match weight (bits).

    ``left_table`` and ``right_table`` hold one input record each."""
    model = {
        **model,
        "retain_intermediate_calculation_columns": True,
        "retain_matching_columns": True,
    }
    linker = linker_for(db_api, input_table, model)
    scored = linker.inference.score_pair(
        db_api.register(left_table), db_api.register(right_table)
    ).as_record_list()[0]
    comparisons = linker._settings_obj.comparisons
    # what the comparisons do not explain is the prior: log2 of the odds two records match
    prior = float(scored["match_weight"]) - sum(
        float(scored.get(f"mw_{c.output_column_name}") or 0.0)
        + float(scored.get(f"mw_tf_adj_{c.output_column_name}") or 0.0)
        for c in comparisons
    )
    steps: list[dict[str, Any]] = [
        {"comparison": "prior", "level": "", "left": "", "right": "", "match_weight": prior}
    ]
    for comparison in comparisons:
        name = comparison.output_column_name
        gamma = scored.get(f"gamma_{name}")
        levels = [lv for lv in comparison.comparison_levels if lv.comparison_vector_value == gamma]
        if len(levels) > 1 and None not in (scored.get(f"{name}_l"), scored.get(f"{name}_r")):
            # several levels say nothing (the field missing; names crossed): not the first
            levels = [lv for lv in levels if "IS NULL" not in lv.sql_condition]
        labels = [lv.label_for_charts for lv in levels]
        columns = [c.input_name for c in comparison._input_columns_used_by_case_statement]
        steps.append(
            {
                "comparison": name,
                "left": ", ".join(str(scored.get(f"{c}_l")) for c in columns),
                "right": ", ".join(str(scored.get(f"{c}_r")) for c in columns),
                "level": " or ".join(labels),
                "match_weight": float(scored.get(f"mw_{name}") or 0.0)
                + float(scored.get(f"mw_tf_adj_{name}") or 0.0),
            }
        )
    steps.append(
        {
            "comparison": "total",
            "level": "",
            "left": "",
            "right": "",
            "match_weight": float(scored["match_weight"]),
            "match_probability": float(scored["match_probability"]),
        }
    )
    return steps
