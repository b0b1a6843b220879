"""Find the person whose file it is from an identity a lender types in, through the linker.

A lookup needs a minimum identity (``MINIMUM_IDENTITY``): a first name (more than an initial)
and a last name, a birth date, and an address (a line and a postcode) or a national ID. Less
than that is refused with :class:`NotEnoughToIdentify` before anything is searched, and so is
an identity that standardising leaves short of it (a postcode that is no postcode): a surname
with a birth date finds a person often enough that sweeping birth dates for a common surname
would find people the caller could not otherwise name.

The address or national ID must also tie the search to the person (``_tie_sql``): a person is
found only if one of their records matching the query agrees with it on the national ID (the
same token) or on the address (the same standardised postcode, and street lines at a level of
the model's address comparison that reads the line, above the lowest such level). A real name
and birth date with a made-up address ("x", 90210) or national ID (00000) answers not_found.

The lender's identity is standardised by the identity stage's own SQL, compared with the
identity records that share a blocking key with it using the saved linkage model (the same
comparisons, weights and term frequencies as ``openbureau link``), and the scores are gathered
per person: a person's score is that of their best-matching record.

Decision rule, with ``threshold`` the link threshold (0.9):

- **found**: one person at or above the threshold, and any other person there at least
  ``MARGIN_BITS`` (10) bits of match weight weaker, that is 1,024 times less likely to be the
  one (a rare name alone can pass the threshold; a name with birth date and address outweighs
  it by far);
- **ambiguous**: two or more persons at or above it, the best not that clearly ahead (twins,
  Jr and Sr, a split file): the lender must give more (a birth date, a national ID, a name
  suffix);
- **not_found**: nobody at or above it, or (held to the minimum identity) the best person
  there not tied to the query: nothing is said of them, not even that they are one of several.

As in ``openbureau link``, a record sharing the query's national-ID token matches with
certainty (probability 1). A person holding a record that cannot be one person with the query
(Jr against Sr; birth dates far apart or national IDs and given names both different, when the
model found those decisive) is not a match, as link would not put the query in that person's file.

Reads only the tables ``identity_records`` and ``person_index``, by name, so they may be views
over an attached read-only copy; everything it writes goes to a private in-memory catalog,
detached afterwards. A clear national ID is turned into its keyed token in Python, before the
engine sees anything: neither it nor the key is in any SQL text, log or table.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from splink import DuckDBAPI, Linker

from openbureau.engine import DuckDBEngine, Engine
from openbureau.errors import UserError
from openbureau.identity import _names, _phone, _splink, standardise
from openbureau.identity._address import words_macro
from openbureau.identity.link import INPUT_COLUMNS, conflict_sql

Status = Literal["found", "ambiguous", "not_found"]
MINIMUM_IDENTITY = (
    "a first name (more than an initial), a last name, a birth date, and an address (line and "
    "postcode) or a national ID"
)
QUERY_ID = "query"
LETTER = r"[^\W\d_]"  # a letter of any alphabet
# Of two persons at or above the threshold, the stronger is the one when its match weight is
# this much higher: odds of 1,024 to 1 between them.
MARGIN_BITS = 10.0
# The identity records openbureau link compares (see link.link): usable ones, as Splink input.
POPULATION = f"(SELECT {INPUT_COLUMNS} FROM {{wh}}.identity_records WHERE usable)"


class NotEnoughToIdentify(UserError):
    """An identity short of the minimum a lookup needs; ``missing`` names the parts."""

    code = "not_enough_to_identify"

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = tuple(missing)
        super().__init__(
            f"not enough to identify a person: {_listed(self.missing)} missing; "
            f"a lookup needs {MINIMUM_IDENTITY}"
        )


def _listed(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _missing(values: dict[str, Any]) -> list[str]:
    """The parts of the minimum identity that ``values`` lack (blank counts as missing)."""

    def given(name: str) -> bool:
        value = values.get(name)
        return value is not None and (not isinstance(value, str) or bool(value.strip()))

    missing = []
    # A first name has two letters together or more (a nickname does: standardising turns it
    # into the given name); an initial narrows a sweep of birth dates for a surname by a 26th.
    first = str(values.get("first_name") or "")
    if not re.search(LETTER, first):
        missing.append("the first name")
    elif not re.search(LETTER * 2, first):
        missing.append("a full first name (not an initial)")
    missing += [
        label
        for name, label in (("last_name", "the last name"), ("dob", "the birth date"))
        if not given(name)
    ]
    if not (given("national_id") or (given("address_line1") and given("postcode"))):
        missing.append("an address (line and postcode) or a national ID")
    return missing


@dataclass(frozen=True)
class IdentityQuery:
    """An identity as a lender types it. A lookup needs at least ``MINIMUM_IDENTITY``; the
    other fields (town, phone, email, name suffix) help tell people apart."""

    first_name: str | None = None
    last_name: str | None = None
    dob: date | None = None
    address_line1: str | None = None
    postcode: str | None = None
    city: str | None = None
    phone: str | None = None
    email: str | None = None
    national_id: str | None = field(default=None, repr=False)  # clear; never stored
    name_suffix: str | None = None  # JR, SR, II..IV

    def missing(self) -> list[str]:
        """What this identity lacks of ``MINIMUM_IDENTITY`` (empty when it has it all)."""
        return _missing(
            {
                name: getattr(self, name)
                for name in (
                    "first_name",
                    "last_name",
                    "dob",
                    "address_line1",
                    "postcode",
                    "national_id",
                )
            }
        )


@dataclass(frozen=True)
class Candidate:
    person_id: str
    match_probability: float  # of the person's best-matching identity record
    match_weight: float  # its match weight (bits)
    matched_records: int  # the person's records at or above the threshold
    # one of those records agrees with the query on its address or national ID (the tie, see
    # the module docstring); always true for a query not held to the minimum identity
    tied: bool


@dataclass(frozen=True)
class LookupResult:
    """``best`` is set only when ``status`` is found. ``candidates`` are the best-scoring
    persons, best first, near misses included: for operators, not for the lender."""

    status: Status
    best: Candidate | None
    candidates: list[Candidate]


def find_person(
    engine: Engine,
    model_path: Path,
    query: IdentityQuery,
    *,
    national_id_key: bytes | None,
    country: str,
    threshold: float = 0.9,
    max_candidates: int = 5,
    minimum: bool = True,
) -> LookupResult:
    """Find the person whose file it is, with the linkage model ``openbureau link`` uses.

    Args:
        engine: the warehouse, or an engine whose ``identity_records`` and ``person_index``
            are views over a published copy (DuckDB only).
        model_path: the saved linkage model (``models/linkage-model.json``).
        query: the identity typed in.
        national_id_key: the workspace's national-ID key (needed only with a national ID).
        country: the bureau's country (``bureau.toml``), as for
            ``build_identity_records``: the phone and postcode conventions.
        threshold: the match probability a person must reach (the link threshold).
        max_candidates: how many persons to list in ``candidates``.
        minimum: hold the query to ``MINIMUM_IDENTITY``, and the person found to agree with
            its address or national ID. Without it, the linker's own rule for a usable record
            applies (a national ID, or a name with one more identifier), and the linker's
            answer stands: for measuring the linker on partial identities, never for a caller
            outside the bureau.

    Returns:
        found, ambiguous or not_found (rule in the module docstring) and the best candidates.

    Raises:
        NotEnoughToIdentify: short of the minimum identity (as typed, or once standardised).
        UserError: too little to identify anyone, a malformed national ID, or no model yet.
    """
    if minimum and (missing := query.missing()):
        raise NotEnoughToIdentify(missing)
    if not isinstance(engine, DuckDBEngine):
        raise UserError(f"looking a person up needs the duckdb engine, not {engine.name}")
    if not model_path.exists():
        raise UserError(f"{model_path}: no linkage model yet; run `openbureau link` first")
    model = _splink.load_model(model_path)
    token = _national_id_token(query.national_id, national_id_key)
    with _scratch(engine) as (wh, s):
        _standardise_query(engine, s, query, token, country, minimum)
        engine.execute(f"""CREATE TABLE {s}.candidates AS SELECT r.* FROM
            {POPULATION.format(wh=wh)} r, {s}.query_record l WHERE {_blocking(model.settings)}""")
        if not engine.scalar(f"SELECT count(*) FROM {s}.candidates"):
            return LookupResult("not_found", None, [])
        scored, line_agrees = _score(engine, wh, s, model.settings)
        conflict = conflict_sql(model)
        rows = engine.query(
            f"""
            WITH pairs AS (
              SELECT p.person_id, CASE WHEN c.national_id_token = x.national_id_token THEN 1.0
                  ELSE s.match_probability END AS match_probability, s.match_weight,
                  {_tie_sql(line_agrees) if minimum else "TRUE"} AS tied
              FROM {scored} s JOIN {s}.candidates c ON c.unique_id = s.unique_id_r
              JOIN {wh}.person_index p ON p.identity_id = c.unique_id, {s}.query_record x),
            ruled_out AS (
              SELECT DISTINCT p.person_id FROM {wh}.person_index p
              JOIN {POPULATION.format(wh=wh)} y ON y.unique_id = p.identity_id, {s}.query_record x
              WHERE p.person_id IN (SELECT person_id FROM pairs) AND ({conflict}))
            SELECT person_id, max(match_probability) AS p, max(match_weight) AS w,
                   count(*) FILTER (match_probability >= ?) AS n,
                   coalesce(bool_or(tied) FILTER (match_probability >= ?), FALSE) AS tied
            FROM pairs WHERE person_id NOT IN (SELECT person_id FROM ruled_out)
            GROUP BY person_id ORDER BY p DESC, w DESC, person_id""",
            [threshold, threshold],
        )
    persons = [Candidate(str(pid), float(p), float(w), int(k), bool(t)) for pid, p, w, k, t in rows]
    status = _decide(persons, threshold)
    return LookupResult(status, persons[0] if status == "found" else None, persons[:max_candidates])


def _decide(persons: list[Candidate], threshold: float) -> Status:
    """found, ambiguous or not_found (see the module docstring); ``persons`` best first."""
    above = [c for c in persons if c.match_probability >= threshold]
    if not above or not above[0].tied:
        return "not_found"
    best = above[0]
    if all(best.match_weight - other.match_weight >= MARGIN_BITS for other in above[1:]):
        return "found"
    return "ambiguous"


def _national_id_token(national_id: str | None, key: bytes | None) -> str | None:
    """The token ingest stores for a national ID (``ingest._validate``: letters and digits
    only, upper case, 5 to 20 of them; HMAC-SHA256 with the workspace key, 32 hex digits).
    Computed here rather than in the engine, so neither the value nor the key enters any SQL
    text, log or table."""
    if national_id is None or not national_id.strip():
        return None
    if key is None:
        raise UserError(
            "a national ID was given but no national-ID key: pass the workspace's key to match it"
        )
    normalised = re.sub("[^0-9A-Za-z]", "", national_id).upper()
    if not re.fullmatch("[0-9A-Z]{5,20}", normalised):
        raise UserError("the national ID is not 5-20 letters or digits")
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()[:32]


@cache
def _nicknames() -> dict[str, Sequence[str | None]]:
    return _names.nickname_table()


def _standardise_query(
    engine: Engine, s: str, query: IdentityQuery, token: str | None, country: str, minimum: bool
) -> None:
    """``{s}.query_record``: the query as a Splink input record, standardised by the identity
    stage's SQL. Raises NotEnoughToIdentify when, standardised, it falls short of the minimum
    (with ``minimum``), UserError when it is too little to identify anyone."""
    values: dict[str, Any] = {
        "first_name": query.first_name,
        "last_name": query.last_name,
        "name_suffix": query.name_suffix,
        "dob": query.dob,
        "address_line1": query.address_line1,
        "city": query.city,
        "postcode": query.postcode,
        "phone": query.phone,
        "email": query.email,
        "national_id_token": token,
    }
    raw = pa.table(
        {
            "feed": pa.array(["lookup"]),
            **{
                name: pa.array([values.get(name)], pa.date32() if kind == "DATE" else pa.string())
                for name, kind in standardise.RAW_FIELDS.items()
            },
        }
    )
    # the key of the parsed-phone table is the phone trimmed of spaces (see _phone.raw_phone)
    phones = [p for p in [(query.phone or "").strip(" ")] if p]
    with (
        engine.registered("_lookup_raw", raw),
        engine.registered("_lookup_phones", _phone.phone_table(phones, country)),
        engine.registered("_lookup_nicknames", _nicknames()),
    ):
        engine.execute(f"""
            CREATE TABLE {s}.query_record AS
            WITH _id_distinct AS (SELECT *, NULL AS rows FROM _lookup_raw),
                 _id_phones AS (SELECT * FROM _lookup_phones),
                 _id_nicknames AS (SELECT * FROM _lookup_nicknames)
            SELECT {INPUT_COLUMNS}, usable
            FROM (SELECT * REPLACE ('{QUERY_ID}' AS identity_id)
                  FROM ({standardise._standardise(country)}))""")
    usable, named, *kept = engine.query(f"""
        SELECT usable, first_name IS NOT NULL OR last_name IS NOT NULL, first_name, last_name,
               dob, address_line1, postcode, national_id_token FROM {s}.query_record""")[0]
    if minimum and (
        missing := _missing(
            dict(
                zip(
                    ("first_name", "last_name", "dob", "address_line1", "postcode", "national_id"),
                    kept,
                    strict=True,
                )
            )
        )
    ):
        raise NotEnoughToIdentify(missing)
    if not usable:
        raise UserError(
            "too little to identify a person: give a birth date, an address, a phone or an "
            "email besides the name, or a national ID"
            if named
            else "too little to identify a person: give a name (with a birth date, an address, a "
            "phone or an email), or a national ID"
        )


def _blocking(settings: dict[str, Any]) -> str:
    """SQL: record ``r`` and the query ``l`` form a candidate pair under the model's rules."""
    return " OR ".join(f"({rule})" for rule in _splink.blocking_rules(settings)) or "TRUE"


def _score(
    engine: DuckDBEngine, wh: str, s: str, settings: dict[str, Any]
) -> tuple[str, LineAgreement | None]:
    """Score the query against every candidate; return the scratch table of scored pairs
    (with each comparison's level, ``gamma_<comparison>``) and where the model's levels say
    two street lines agree (None if it compares none).

    Term frequencies are those of all usable records, as when linking; only the values the
    query and its candidates hold are computed."""
    population = POPULATION.format(wh=wh)
    tf_columns = _splink.tf_columns(settings)
    for col in tf_columns:
        values = f"SELECT {col} FROM {s}.query_record UNION SELECT {col} FROM {s}.candidates"
        engine.execute(
            f"CREATE TABLE {s}.tf_{col} AS {_splink.tf_table_sql(col, population, values)}"
        )
    sql, line_agrees = _scoring_sql(engine, settings, tf_columns)
    engine.execute(f"CREATE TABLE {s}.scored AS {sql}")
    return f"{s}.scored", line_agrees


@dataclass(frozen=True)
class LineAgreement:
    """The level of the model's address comparison at which two street lines agree: the
    highest of the levels that read the line (``LINE_COLUMNS``); in the shipped model, the
    same line, or lines 90% alike by Jaro-Winkler with the same postcode.

    The lower ones are too easily met by a lender who knows only the postcode: lines 80% alike
    or the same house number ("12 X"), and one line's words all in the other's with the same
    house number ("12 ST" for 12 ELM ST) tied 120 of 120 persons on the test population."""

    gamma_column: str  # Splink's column of the comparison's level, gamma_<comparison>
    level: int  # that level's comparison vector value


# The columns of a street line; a level of the address comparison that reads none of them
# (the same postcode, the same town) says nothing of the line.
LINE_COLUMNS = frozenset({"address_line1", "house_number", "street"})


def _line_agreement(linker: Linker) -> LineAgreement | None:
    """Where the linker's comparisons say two street lines agree (see :class:`LineAgreement`);
    None when no comparison reads the line."""
    for comparison in linker._settings_obj.comparisons:  # (Splink's parsed comparisons)
        reading = [
            level.comparison_vector_value
            for level in comparison.comparison_levels
            if not level.is_null_level
            and LINE_COLUMNS & {c.input_name for c in level._input_columns_used_by_sql_condition}
        ]
        if reading:
            return LineAgreement(comparison._gamma_column_name, max(reading))
    return None


def _tie_sql(line: LineAgreement | None) -> str:
    """SQL on a scored pair (``s``), its candidate record (``c``) and the query (``x``):
    whether the record agrees with the query on what makes the minimum identity, the national
    ID or the address (the same standardised postcode, and the street lines agreeing)."""
    address = (
        f"c.postcode = x.postcode AND s.{line.gamma_column} = {line.level}" if line else "FALSE"
    )
    return (
        f"(coalesce(c.national_id_token = x.national_id_token, FALSE) "
        f"OR coalesce({address}, FALSE))"
    )


# Splink's SQL scoring query_record against candidates, per model, and the model's
# LineAgreement: generating it (settings parsed, every comparison rendered through sqlglot)
# costs several times more than running it. Lookups run side by side on several threads; only
# generating it is one at a time (once per model and process), so that Splink is not driven
# from two threads at once.
_SCORING_SQL: dict[str, tuple[str, LineAgreement | None]] = {}
_SCORING_SQL_LOCK = threading.Lock()


def _scoring_sql(
    engine: DuckDBEngine, settings: dict[str, Any], tf_columns: list[str]
) -> tuple[str, LineAgreement | None]:
    """The SELECT Splink's ``score_pairs`` runs for the scratch tables ``query_record`` and
    ``candidates`` (and ``tf_<column>``), which it names without a catalog, keeping each
    comparison's level; and the model's :class:`LineAgreement`."""
    key = json.dumps(settings, sort_keys=True)
    if (cached := _SCORING_SQL.get(key)) is not None:
        return cached
    with _SCORING_SQL_LOCK:
        if (cached := _SCORING_SQL.get(key)) is not None:
            return cached
        db_api = DuckDBAPI(connection=engine.connection)
        linker = Linker(
            db_api.register("candidates"),
            {**settings, "retain_intermediate_calculation_columns": True},
            log_level=logging.ERROR,
            validate_settings=False,
        )
        for col in tf_columns:
            linker.table_management.register_term_frequency_lookup(
                db_api.register(f"tf_{col}"), col
            )
        scored = linker.inference.score_pairs(
            db_api.register("query_record"), db_api.register("candidates")
        )
        if len(_SCORING_SQL) >= 8:  # a long-running service outliving many retrainings
            _SCORING_SQL.clear()
        cached = _SCORING_SQL[key] = (str(scored.sql_used_to_create), _line_agreement(linker))
    return cached


@contextmanager
def _scratch(engine: DuckDBEngine) -> Iterator[tuple[str, str]]:
    """Like ``_splink.scratch``, but a catalog of its own per call (attached catalogs are
    shared by every connection to one database, and a service runs lookups side by side),
    writable even when the warehouse is opened read-only. Yields the warehouse's and its
    own catalog names; it is in use, for Splink's SQL names its tables without a catalog."""
    warehouse = engine.catalog
    name = f"lookup_{uuid.uuid4().hex[:12]}"
    engine.execute(f"ATTACH ':memory:' AS {name} (READ_WRITE)")  # also on a read-only engine
    engine.execute(f"USE {name}")
    try:
        engine.execute(words_macro())  # the address comparison calls it
        yield warehouse, name
    finally:
        engine.execute(f"USE {warehouse}")
        engine.execute(f"DETACH {name}")
