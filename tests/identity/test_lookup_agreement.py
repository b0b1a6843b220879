"""The fast lookup against what it replaces, on the linked 3,000-person population.

- Splink's own scoring: for each query, the candidates a plain scan of the usable records
  finds under the model's blocking rules, scored by Splink's ``score_pairs`` with the saved
  model and term frequencies over those records, the query standardised by the identity stage's
  SQL: every person the lookup lists has exactly Splink's probability and weight, and the
  persons are the same (the lookup's are what the linker's conflict rule leaves).
- The batch linker: a record typed back in is found in the file ``openbureau link`` put it in.
- Input no lender should send: empty fields, a national ID alone, an unknown person, values
  made to break SQL, very long values, control characters.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from splink import DuckDBAPI

from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.identity import _lookup_index, _splink, lookup
from openbureau.identity._address import words_macro
from openbureau.identity._cluster import conflict_sql
from openbureau.identity._lookup_index import LookupIndex
from openbureau.identity._standardise_one import COLUMNS
from openbureau.identity.evaluate import _truth_labels
from openbureau.identity.link import INPUT_COLUMNS
from openbureau.identity.lookup import IdentityQuery, NotEnoughToIdentify
from openbureau.workspace import Workspace
from tests.identity.test_lookup import VARIANTS, as_lender_types_it, own_identities
from tests.identity.test_standardise_one import sql_standardised


def find(engine: Engine, model: Path, query: IdentityQuery, **kw: Any) -> lookup.LookupResult:
    return lookup.find_person(engine, model, query, country="US", max_candidates=10_000, **kw)


@pytest.fixture(scope="module")
def population(linked_population: tuple[Path, Path]) -> Iterator[tuple[Workspace, Engine, Path]]:
    ws = Workspace.open(linked_population[0])
    with ws.engine(read_only=True) as engine:
        _truth_labels(engine, linked_population[1] / "truth")
        yield ws, engine, linked_population[1]


@pytest.fixture(scope="module")
def model(population: tuple[Workspace, Engine, Path]) -> Path:
    return population[0].root / "models" / "linkage-model.json"


class SplinkScoring:
    """The lookup as it was before it was fast, written plainly: Splink scores the query
    against the candidates a scan finds (``lookup`` before the index)."""

    def __init__(self, engine: Engine, model: Path) -> None:
        self.model = _splink.load_model(model)
        self.con = duckdb.connect()
        self.con.execute(words_macro()).fetchall()
        records = engine.arrow(
            f"SELECT {INPUT_COLUMNS} FROM identity_records WHERE usable ORDER BY identity_id"
        )
        self.con.register("_records", records)
        self.con.execute("CREATE TABLE population AS SELECT * FROM _records").fetchall()
        self.person = dict(engine.query("SELECT identity_id, person_id FROM person_index"))
        assert set(records.column("unique_id").to_pylist()) <= set(self.person)
        self.db = DuckDBAPI(connection=self.con)
        self.linker = _splink.linker_for(self.db, "population", self.model.settings)
        self.blocking = " OR ".join(f"({r})" for r in _splink.blocking_rules(self.model.settings))

    def persons(self, record: dict[str, Any]) -> dict[str, tuple[float, float]]:
        """Person -> (probability, weight) of their best record, persons ruled out left out."""
        query = pa.table(
            {
                "unique_id": ["query"],
                **{
                    c: pa.array([record[c]], pa.date32() if c == "dob" else pa.string())
                    for c in COLUMNS
                },
            }
        )
        self.con.register("_query", query)
        candidates = self.con.sql(
            f"SELECT r.* FROM population r, _query l WHERE {self.blocking}"
        ).to_arrow_table()
        if not len(candidates):
            return {}
        tokens = dict(
            zip(
                candidates.column("unique_id").to_pylist(),
                candidates.column("national_id_token").to_pylist(),
                strict=True,
            )
        )
        scored = self.linker.inference.score_pairs(
            self.db.register(query), self.db.register(candidates)
        ).as_record_list()
        best: dict[str, tuple[float, float]] = {}
        for pair in scored:
            uid = pair["unique_id_r"]
            certain = (
                record["national_id_token"] is not None
                and tokens[uid] == record["national_id_token"]
            )
            p = 1.0 if certain else float(pair["match_probability"])
            w = float(pair["match_weight"])
            pid = self.person[uid]
            old = best.get(pid, (-1.0, -np.inf))
            best[pid] = (max(old[0], p), max(old[1], w))
        ruled_out = {
            self.person[uid]
            for (uid,) in self.con.execute(
                f"SELECT y.unique_id FROM population y, _query x WHERE {conflict_sql(self.model)}"
            ).fetchall()
        }
        return {pid: pw for pid, pw in best.items() if pid not in ruled_out}


@pytest.fixture(scope="module")
def splink_scoring(population: tuple[Workspace, Engine, Path], model: Path) -> SplinkScoring:
    return SplinkScoring(population[1], model)


def _raw(query: IdentityQuery, token: str | None) -> dict[str, Any]:
    return {
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


def test_scores_and_persons_are_splink_s(population, model, splink_scoring) -> None:
    ws, engine, pop = population
    key = ws.national_id_key()
    queries: list[tuple[IdentityQuery, bool]] = []
    for i, (_, record) in enumerate(own_identities(engine, 60, seed=21)):
        variant = VARIANTS[i % len(VARIANTS)]
        queries.append((as_lender_types_it(record, variant), variant != "no birth date"))
    # a household: surname and address only; a common name with an address of no one's
    # (several persons each, near misses among them)
    for _, record in own_identities(engine, 10, seed=22):
        household = as_lender_types_it(record, "as typed")
        queries.append((replace(household, first_name=None, dob=None), False))
    for first, last in engine.query("""
            SELECT first_name, last_name FROM identity_records WHERE usable
            GROUP BY ALL HAVING count(DISTINCT dob) > 2 ORDER BY count(*) DESC, 1, 2 LIMIT 10"""):
        common = IdentityQuery(first_name=first, last_name=last, address_line1="1 X St")
        queries.append((replace(common, postcode="00501"), False))
    # a national ID: alone, and mistyped with a surname
    tokens = {
        t
        for (t,) in engine.query(
            "SELECT DISTINCT national_id_token FROM identity_records "
            "WHERE national_id_token IS NOT NULL"
        )
    }
    ssns = [
        s
        for (s,) in engine.query(
            f"SELECT ssn FROM read_parquet('{pop}/truth/persons.parquet') "
            "WHERE ssn IS NOT NULL ORDER BY md5(ssn)"
        )
        if lookup._national_id_token(s, key) in tokens
    ][:4]
    assert len(ssns) == 4
    for ssn in ssns:
        queries.append((IdentityQuery(national_id=ssn), False))
        queries.append((IdentityQuery(national_id=ssn[:-1] + "0", last_name="Smith"), False))
    raws = [_raw(q, lookup._national_id_token(q.national_id, key)) for q, _ in queries]
    standardised = sql_standardised(engine, raws, "US")
    checked: Counter[str] = Counter()
    for (query, minimum), record in zip(queries, standardised, strict=True):
        fast = find(engine, model, query, national_id_key=key, minimum=minimum)
        want = splink_scoring.persons(record)
        got = {c.person_id: (c.match_probability, c.match_weight) for c in fast.candidates}
        assert got == want, query
        checked[fast.status] += 1
        checked["persons"] += len(got)
        checked["certain"] += any(p == 1.0 for p, _ in got.values())
    assert checked["found"] >= 50 and checked["certain"] >= 4, checked
    assert checked["persons"] >= len(queries) + 10, checked  # (some list several persons)


def test_a_record_typed_back_is_found_in_the_file_link_put_it_in(population, model) -> None:
    """1,000 identity records drawn at random, each typed in as it stands (no national ID: a
    lookup is given one in clear): the person the batch linker gave the record, every time it
    is told apart (at most 1% ambiguous: twins, Jr and Sr, duplicates the linker split), and
    never another."""
    _, engine, _ = population
    rows = engine.query("""
        SELECT r.first_name, r.last_name, r.name_suffix, r.dob, r.address_line1, r.city,
               r.postcode, r.phone, r.email, p.person_id
        FROM identity_records r JOIN person_index p USING (identity_id)
        WHERE r.usable AND (r.first_name IS NOT NULL OR r.last_name IS NOT NULL)
        ORDER BY md5(r.identity_id) LIMIT 1000""")
    outcomes: Counter[str] = Counter()
    for *fields, person_id in rows:
        query = IdentityQuery(
            **dict(
                zip(
                    (
                        "first_name",
                        "last_name",
                        "name_suffix",
                        "dob",
                        "address_line1",
                        "city",
                        "postcode",
                        "phone",
                        "email",
                    ),
                    fields,
                    strict=True,
                )
            )
        )
        try:
            result = find(engine, model, query, national_id_key=None, minimum=False)
        except UserError:  # (a record usable by its national ID alone, which is not typed)
            outcomes["unusable without its national ID"] += 1
            continue
        if result.status == "found":
            assert result.best is not None
            outcomes["same" if result.best.person_id == person_id else "other"] += 1
        else:
            outcomes[result.status] += 1
    print(sorted(outcomes.items()))
    typed = 1000 - outcomes["unusable without its national ID"]
    assert outcomes["other"] == 0 and outcomes["not_found"] == 0, outcomes
    assert outcomes["same"] >= 0.99 * typed, outcomes


@pytest.mark.parametrize(
    "given",
    [
        {},
        {"first_name": "", "last_name": "", "address_line1": "", "postcode": ""},
        {"first_name": "   ", "last_name": "\t", "dob": date(1980, 1, 2), "postcode": "  "},
        {"first_name": "...", "last_name": "--", "dob": date(1980, 1, 2), "national_id": " "},
    ],
)
def test_empty_fields_are_refused(population, model, given) -> None:
    _, engine, _ = population
    with pytest.raises(NotEnoughToIdentify):
        find(engine, model, IdentityQuery(**given), national_id_key=b"k" * 32)
    with pytest.raises(UserError, match="too little to identify"):
        find(engine, model, IdentityQuery(**given), national_id_key=b"k" * 32, minimum=False)


HOSTILE = [
    "Robert'); DROP TABLE identity_records; --",
    "x' OR '1'='1",
    "$1",
    "'::VARCHAR, NULL::VARCHAR) --",
    "\\x00\\",
    "Ann\x00Lee",
    "Ann\u202eeeL",
    "🙂🙂",
    "\u210c\U0001d51e\U0001d52b\U0001d530",  # (Fraktur)
    "A" * 20_000,
    "\n".join(["Ann"] * 50),
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_find_no_one_and_break_nothing(population, model, value, caplog) -> None:
    _, engine, _ = population
    before = engine.scalar("SELECT count(*) FROM identity_records")
    for field in ("first_name", "last_name", "address_line1", "city", "postcode", "email"):
        given = {
            "first_name": "Zebediah",
            "last_name": "Quackenbush",
            "dob": date(1931, 2, 3),
            "address_line1": "1 Nowhere Lane",
            "postcode": "00501",
            field: value,
        }
        with caplog.at_level(logging.WARNING):
            try:
                result = find(engine, model, IdentityQuery(**given), national_id_key=None)
            except NotEnoughToIdentify:
                continue
        assert result.status == "not_found" and result.best is None, (field, result)
    assert engine.scalar("SELECT count(*) FROM identity_records") == before


@pytest.mark.parametrize("dob", [date(1, 1, 1), date(9999, 12, 31), date(1900, 2, 28)])
def test_birth_dates_far_out_find_no_one(population, model, dob) -> None:
    _, engine, _ = population
    query = IdentityQuery(
        first_name="Zebediah",
        last_name="Quackenbush",
        dob=dob,
        address_line1="1 X St",
        postcode="00501",
    )
    assert find(engine, model, query, national_id_key=None).status == "not_found"


def test_the_published_index_is_the_one_a_lookup_computes(population, model, tmp_path) -> None:
    """What publishing writes (``build_sql``) loads into the same index as the lookup computes
    from the identity tables, and answers the same."""
    _, engine, _ = population
    settings = _splink.load_model(model).settings
    tf = tuple(_splink.tf_columns(settings))
    copy = tmp_path / "published.duckdb"
    engine.execute(f"ATTACH '{copy}' AS pub (READ_WRITE)")
    try:
        for sql in _lookup_index.build_sql("pub", tf):
            engine.execute(sql)
    finally:
        engine.execute("DETACH pub")
    served = duckdb.connect()
    served.execute(f"ATTACH '{copy}' AS srv (READ_ONLY)").fetchall()
    for table in _lookup_index.TABLES:
        served.execute(f"CREATE VIEW main.{table} AS SELECT * FROM srv.{table}").fetchall()
    published = LookupIndex.load(served.cursor(), tf)
    computed = LookupIndex.load(engine.connection.cursor(), tf)
    assert published.records.equals(computed.records)
    assert np.array_equal(published._keys, computed._keys)
    assert np.array_equal(published._key_rows, computed._key_rows)
    assert len(published._keys) > 10 * len(published.records) > 100_000
    # (and the query's keys, computed from a record's own values as a lookup computes them, in
    # Python, are those of the index's SQL, and find that record)
    with lookup._pool(model).search() as search:
        for row in random.Random(3).sample(range(len(computed.records)), 300):
            values = computed.take(np.asarray([row]), COLUMNS)
            record = {c: v[0] for c, v in values.items()}
            record["dob"] = date.fromisoformat(record["dob"]) if record["dob"] else None
            keys = search.keys(record)
            assert len(keys) >= 3 and sorted(keys) == sorted(search.sql_keys(record))
            assert row in computed.hits(keys)
