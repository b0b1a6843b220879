"""Looking a person up from a typed identity, on the linked synthetic population."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from openbureau.engine import DuckDBEngine, Engine
from openbureau.errors import UserError
from openbureau.identity import _lookup_search, lookup
from openbureau.identity.evaluate import _truth_labels
from openbureau.identity.lookup import (
    MARGIN_BITS,
    Candidate,
    IdentityQuery,
    NotEnoughToIdentify,
    _decide,
    _national_id_token,
)
from openbureau.ingest._validate import hmac_key_bound, national_id_token_sql
from openbureau.ingest._values import field_sql
from openbureau.ingest.spec import DataCategory, FieldSpec, SourceSpec
from openbureau.workspace import Workspace

# (the population is a US bureau's: its country, as the service passes it from bureau.toml)
find_person = functools.partial(lookup.find_person, country="US")
STREET_TYPES = {
    "CT": "Court",
    "ST": "Street",
    "AVE": "Avenue",
    "DR": "Drive",
    "LN": "Lane",
    "RD": "Road",
    "PL": "Place",
    "BLVD": "Boulevard",
    "CIR": "Circle",
}
VARIANTS = (
    "as typed",
    "given name and surname swapped",
    "surname mistyped",
    "no birth date",
    "address written out, ZIP+4, town",
)


@pytest.fixture(scope="module")
def population(linked_population: tuple[Path, Path]) -> Iterator[tuple[Workspace, Engine, Path]]:
    """The linked population's warehouse, read-only, with its truth in ``_truth``."""
    ws_root, pop = linked_population
    ws = Workspace.open(ws_root)
    with ws.engine(read_only=True) as engine:
        _truth_labels(engine, pop / "truth")
        yield ws, engine, pop


@pytest.fixture(scope="module")
def model(population: tuple[Workspace, Engine, Path]) -> Path:
    return population[0].root / "models" / "linkage-model.json"


def clean_persons(engine: Engine) -> dict[int, str]:
    """True persons whose records are all in one person, holding nobody else's: their file."""
    return dict(
        engine.query("""
        WITH j AS (SELECT t.label, p.person_id FROM _truth t
                   JOIN person_index p USING (identity_id))
        SELECT label, min(person_id) FROM j GROUP BY label
        HAVING count(DISTINCT person_id) = 1 AND min(person_id) NOT IN (
            SELECT person_id FROM j GROUP BY person_id HAVING count(DISTINCT label) > 1)""")
    )


def own_identities(engine: Engine, n: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """``n`` clean persons (drawn with ``seed``), each with one of their own identity records
    that has a name, birth date and address: (their person ID, the record's fields)."""
    clean = clean_persons(engine)
    rows = engine.query("""
        SELECT t.label, min([r.first_name, r.last_name, r.name_suffix, r.dob::VARCHAR,
               r.address_line1, r.house_number, r.street, r.unit, r.city, r.postcode])
        FROM identity_records r JOIN _truth t USING (identity_id)
        WHERE r.first_name IS NOT NULL AND r.last_name IS NOT NULL AND r.dob IS NOT NULL
          AND r.address_line1 IS NOT NULL AND r.street IS NOT NULL AND r.postcode IS NOT NULL
        GROUP BY t.label ORDER BY t.label""")
    rows = random.Random(seed).sample([r for r in rows if r[0] in clean], n)
    names = (
        "first_name",
        "last_name",
        "name_suffix",
        "dob",
        "address_line1",
        "house_number",
        "street",
        "unit",
        "city",
        "postcode",
    )
    return [(clean[label], dict(zip(names, values, strict=True))) for label, values in rows]


def typo(name: str) -> str:
    i = len(name) // 2
    return name[:i] + ("E" if name[i] == "A" else "A") + name[i + 1 :]


def as_lender_types_it(record: dict[str, Any], variant: str) -> IdentityQuery:
    words = record["street"].split()
    words[-1] = STREET_TYPES.get(words[-1], words[-1])
    line = f"{record['house_number']} {' '.join(w.title() for w in words)}" + (
        f" # {record['unit']}" if record["unit"] else ""
    )
    query = {
        "first_name": record["first_name"].title(),
        "last_name": record["last_name"].title(),
        "name_suffix": record["name_suffix"],
        "dob": date.fromisoformat(record["dob"]),
        "address_line1": record["address_line1"],
        "postcode": record["postcode"],
    }
    changes: dict[str, dict[str, Any]] = {
        "as typed": {},
        "given name and surname swapped": {
            "first_name": record["last_name"],
            "last_name": record["first_name"],
        },
        "surname mistyped": {"last_name": typo(record["last_name"])},
        "no birth date": {"dob": None},
        "address written out, ZIP+4, town": {
            "address_line1": line,
            "postcode": record["postcode"] + "-0001",
            "city": record["city"].lower(),
        },
    }
    return IdentityQuery(**{**query, **changes[variant]})


def test_fifty_persons_are_found_from_their_own_identities_with_typos(population, model) -> None:
    _, engine, _ = population
    outcomes: Counter[tuple[str, str]] = Counter()
    for i, (person_id, record) in enumerate(own_identities(engine, 50, seed=1)):
        variant = VARIANTS[i % len(VARIANTS)]
        # (the linker measured on an identity without a birth date too: below the minimum a
        # lookup needs, so held to the linker's own rule only)
        result = find_person(
            engine,
            model,
            as_lender_types_it(record, variant),
            national_id_key=None,
            minimum=variant != "no birth date",
        )
        if result.status == "found":
            assert result.best is not None and result.candidates[0] == result.best
            outcome = "right" if result.best.person_id == person_id else "wrong"
        else:
            assert result.best is None
            outcome = result.status
        outcomes[(variant, outcome)] += 1
    print(sorted(outcomes.items()))
    right = sum(n for (_, outcome), n in outcomes.items() if outcome == "right")
    assert right >= 48, outcomes  # 96%; on this population all 50 are found
    assert not any(outcome == "wrong" for _, outcome in outcomes)


def test_a_made_up_identity_is_not_found(population, model) -> None:
    _, engine, _ = population
    query = IdentityQuery(
        first_name="Zebediah",
        last_name="Quackenbush",
        dob=date(1931, 2, 3),
        address_line1="1 Nowhere Lane",
        postcode="00501",
    )
    assert find_person(engine, model, query, national_id_key=None).status == "not_found"


def test_a_real_name_with_another_birth_date_and_address_is_not_found(population, model) -> None:
    _, engine, _ = population
    for _, record in own_identities(engine, 10, seed=2):
        query = IdentityQuery(
            first_name=record["first_name"],
            last_name=record["last_name"],
            dob=date(1930, 1, 1),
            address_line1="1 Made Up Road",
            postcode="00501",
        )
        result = find_person(engine, model, query, national_id_key=None)
        assert result.status == "not_found", (query, result)


@pytest.mark.parametrize(
    ("query", "missing"),
    [
        (IdentityQuery(last_name="Smith"), "besides the name"),
        (IdentityQuery(first_name="Ann", last_name="Lee", postcode="10001"), "besides the name"),
        (IdentityQuery(first_name="Ann", email="not an email"), "besides the name"),
        (
            IdentityQuery(dob=date(1980, 1, 2), address_line1="1 Main St", postcode="10001"),
            "give a name",
        ),
        (IdentityQuery(), "give a name"),
    ],
)
def test_too_little_for_the_linker_is_a_user_error(population, model, query, missing) -> None:
    _, engine, _ = population
    with pytest.raises(UserError, match=missing) as exc:
        find_person(engine, model, query, national_id_key=None, minimum=False)
    assert "\n" not in str(exc.value)


FULL = {
    "first_name": "Ann",
    "last_name": "Lee",
    "dob": date(1980, 1, 2),
    "address_line1": "1 Main St",
    "postcode": "10001",
}


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        (
            {"last_name": "Smith", "dob": date(1980, 1, 2)},
            ("the first name", "an address (line and postcode) or a national ID"),
        ),
        ({**FULL, "address_line1": None}, ("an address (line and postcode) or a national ID",)),
        ({**FULL, "postcode": "  "}, ("an address (line and postcode) or a national ID",)),
        (
            {**FULL, "city": "Springfield", "postcode": None},
            ("an address (line and postcode) or a national ID",),
        ),
        (
            {**FULL, "dob": None, "phone": "+1 212 555 0100", "email": "ann@example.com"},
            ("the birth date",),
        ),
        ({**FULL, "first_name": None, "national_id": "123-45-6789"}, ("the first name",)),
        (
            {},
            (
                "the first name",
                "the last name",
                "the birth date",
                "an address (line and postcode) or a national ID",
            ),
        ),
        # an initial is not a first name (it let a birth-date sweep through)
        ({**FULL, "first_name": "J"}, ("a full first name (not an initial)",)),
        ({**FULL, "first_name": " j. "}, ("a full first name (not an initial)",)),
        (
            {"first_name": "J", "last_name": "Lee", "dob": date(1980, 1, 2)},
            (
                "a full first name (not an initial)",
                "an address (line and postcode) or a national ID",
            ),
        ),
        # ... and once standardised: a name of punctuation, a postcode that is none
        ({**FULL, "first_name": "."}, ("the first name",)),
        ({**FULL, "first_name": "J.-"}, ("a full first name (not an initial)",)),
        ({**FULL, "postcode": "?!"}, ("an address (line and postcode) or a national ID",)),
    ],
)
def test_a_lookup_short_of_the_minimum_identity_is_refused(
    population, model, given, missing
) -> None:
    _, engine, _ = population
    with pytest.raises(NotEnoughToIdentify) as exc:
        find_person(engine, model, IdentityQuery(**given), national_id_key=b"k" * 32)
    assert exc.value.missing == missing
    assert "not enough to identify a person" in str(exc.value) and "\n" not in str(exc.value)


def _named(record: dict[str, Any]) -> dict[str, Any]:
    """A record's first and last name and birth date, as a lender types them."""
    return {
        "first_name": record["first_name"].title(),
        "last_name": record["last_name"].title(),
        "dob": date.fromisoformat(record["dob"]),
    }


def test_a_real_name_and_birth_date_with_a_made_up_address_or_national_id_is_not_found(
    population, model
) -> None:
    """The attack the minimum identity checked for presence only let through: a person's own
    name and birth date, with an address or national ID of no one's (a line "x", the
    person's postcode with the line of a house number only, national ID "00000"). The linker
    finds the person on the name and birth date; the lookup names nobody, for none of their
    records agrees on what the lender gave to tie the search to them."""
    ws, engine, _ = population
    key = ws.national_id_key()
    for person_id, record in own_identities(engine, 10, seed=5):
        named, postcode = _named(record), record["postcode"]
        made_up: list[dict[str, Any]] = [
            {"address_line1": "x", "postcode": "90210"},
            {"address_line1": "x", "postcode": postcode},
            {"address_line1": "1 Nowhere Road", "postcode": postcode},
            # the house number and the postcode, with a made-up street or the street's type
            # only ("12 ST" for 12 ELM ST): levels of the model's address comparison too low
            {"address_line1": f"{record['house_number']} X", "postcode": postcode},
            {
                "address_line1": f"{record['house_number']} {record['street'].split()[-1]}",
                "postcode": postcode,
            },
            {"national_id": "00000"},
            {"national_id": "000-12-0000", "address_line1": "x", "postcode": "90210"},
        ]
        for tie in made_up:
            result = find_person(engine, model, IdentityQuery(**named, **tie), national_id_key=key)
            assert (result.status, result.best) == ("not_found", None), (tie, result)
            # (what the linker alone would have answered: this person, far ahead)
            best = result.candidates[0]
            assert best.person_id == person_id and best.match_probability >= 0.9, (tie, result)
            assert not best.tied
        real = find_person(
            engine,
            model,
            IdentityQuery(**named, address_line1=record["address_line1"], postcode=postcode),
            national_id_key=key,
        )
        assert real.status == "found" and real.best is not None and real.best.tied
        assert real.best.person_id == person_id


def test_a_nickname_and_the_address_written_out_still_find_the_person(population, model) -> None:
    """What a lender really types still ties: a nickname (two letters are a first name), the
    address written out with ZIP+4, with the town or without."""
    _, engine, _ = population
    shortest: dict[str, str] = {}
    table = lookup._nicknames()
    for nickname, canonical in zip(table["nickname"], table["canonical"], strict=True):
        if canonical and len(nickname or "") < len(shortest.get(canonical, "?" * 99)):
            shortest[canonical] = str(nickname)
    # (the two-letter ones first: AL, ED, EM...)
    nicknamed = sorted(
        (
            (person_id, record)
            for person_id, record in own_identities(engine, 1000, seed=6)
            if record["first_name"] in shortest
        ),
        key=lambda found: (len(shortest[found[1]["first_name"]]), found[0]),
    )[:10]
    assert len(nicknamed) == 10 and any(len(shortest[r["first_name"]]) == 2 for _, r in nicknamed)
    for person_id, record in nicknamed:
        written = as_lender_types_it(record, "address written out, ZIP+4, town")
        for query in (
            replace(written, first_name=shortest[record["first_name"]].title()),
            replace(written, first_name=shortest[record["first_name"]].lower(), city=None),
        ):
            result = find_person(engine, model, query, national_id_key=None)
            assert result.status == "found" and result.best is not None, (query, result)
            assert result.best.person_id == person_id


def test_the_surname_and_birth_date_sweep_finds_no_one(population, model) -> None:
    """The attack: a common surname and a range of birth dates, nothing else. The linker
    alone would find people that way; a lookup refuses every one before searching."""
    _, engine, _ = population
    surname, dob, person_id = engine.query("""
        WITH c AS (SELECT last_name, dob, min(p.person_id) AS person_id,
                          count(DISTINCT p.person_id) AS persons
                   FROM identity_records r JOIN person_index p USING (identity_id)
                   WHERE last_name IS NOT NULL AND dob IS NOT NULL AND usable GROUP BY ALL)
        SELECT last_name, dob, person_id FROM c WHERE persons = 1
          AND last_name IN (SELECT last_name FROM identity_records GROUP BY ALL
                            ORDER BY count(*) DESC LIMIT 20)
        ORDER BY last_name, dob LIMIT 1""")[0]
    swept = IdentityQuery(last_name=surname.title(), dob=dob)
    below = find_person(engine, model, swept, national_id_key=None, minimum=False)
    assert below.best is not None and below.best.person_id == person_id  # the attack works
    for day in range(-3, 4):
        query = IdentityQuery(last_name=surname.title(), dob=dob + timedelta(days=day))
        with pytest.raises(NotEnoughToIdentify):
            find_person(engine, model, query, national_id_key=None)


@contextmanager
def statements_logged(*connections: Any) -> Iterator[list[str]]:
    """Every statement run on the databases of ``connections`` in the block, as DuckDB's query
    log has it (the list is filled as the block ends)."""
    logged: list[str] = []
    for con in connections:
        con.execute("CALL truncate_duckdb_logs()").fetchall()
        con.execute("CALL enable_logging('QueryLog')").fetchall()
    try:
        yield logged
    finally:
        for con in connections:
            rows = con.execute("SELECT message FROM duckdb_logs WHERE type = 'QueryLog'")
            logged += [str(m) for (m,) in rows.fetchall()]
            con.execute("CALL disable_logging()").fetchall()
            con.execute("CALL truncate_duckdb_logs()").fetchall()


def test_a_national_id_alone_finds_the_person_and_is_never_kept(population, model, caplog):
    ws, engine, pop = population
    key = ws.national_id_key()
    clean = clean_persons(engine)
    ssns = engine.query(f"""SELECT person_id, ssn FROM read_parquet('{pop}/truth/persons.parquet')
                            WHERE ssn IS NOT NULL ORDER BY person_id""")
    tokens = {
        r[0]
        for r in engine.query(
            "SELECT DISTINCT national_id_token FROM identity_records "
            "WHERE national_id_token IS NOT NULL"
        )
    }
    # the token computed here by RFC 2104, independently of ingest's SQL
    label, ssn = next(
        (label, ssn)
        for label, ssn in ssns
        if label in clean and hmac.new(key, ssn.encode(), hashlib.sha256).hexdigest()[:32] in tokens
    )
    typed = f"{ssn[:3]}-{ssn[3:5]}-{ssn[5:]}"
    # (a fresh engine: its lookup index is loaded in the block, so that is logged too)
    spy = DuckDBEngine(ws.warehouse_path, read_only=True)
    with spy, caplog.at_level(logging.DEBUG):
        query = IdentityQuery(national_id=typed)
        # the two databases a lookup uses: the engine's, and the searches' own
        with statements_logged(spy.connection, _lookup_search._database()) as logged:
            result = find_person(spy, model, query, national_id_key=key, minimum=False)
        assert result.status == "found" and result.best is not None
        assert result.best.person_id == clean[label]
        assert result.best.match_probability == 1.0
        # the log holds the lookup (the index read, the search run), not the clear national ID
        assert any("lookup_records" in m or "identity_records" in m for m in logged)
        assert any(m.startswith("EXECUTE score") for m in logged)
        assert not any(ssn in m or typed in m for m in logged)
        for catalog, schema, table in spy.query(
            "SELECT database_name, schema_name, table_name FROM duckdb_tables()"
        ):
            hits = spy.scalar(
                f'SELECT count(*) FROM "{catalog}"."{schema}"."{table}" t '
                "WHERE contains(CAST(t AS VARCHAR), ?) "
                "OR contains(CAST(t AS VARCHAR), ?)",
                [ssn, typed],
            )
            assert hits == 0, table
    assert ssn not in caplog.text and typed not in caplog.text and typed not in repr(query)


def test_a_real_national_id_ties_the_lookup_and_a_real_address_with_a_wrong_one(
    population, model
) -> None:
    """Either field of the minimum identity ties: the person's national ID with their name
    and birth date finds them, whatever address comes with it; so does their address with a
    national ID of no one's."""
    ws, engine, pop = population
    key = ws.national_id_key()
    clean = clean_persons(engine)
    rows = engine.query(
        f"""
        SELECT t.label, min(p.ssn), min([r.first_name, r.last_name, r.dob::VARCHAR,
               r.address_line1, r.postcode])
        FROM identity_records r JOIN _truth t USING (identity_id)
        JOIN read_parquet('{pop}/truth/persons.parquet') p ON p.person_id = t.label
        WHERE p.ssn IS NOT NULL AND r.first_name IS NOT NULL AND r.last_name IS NOT NULL
          AND r.dob IS NOT NULL AND r.address_line1 IS NOT NULL AND r.postcode IS NOT NULL
          AND list_contains(?::BIGINT[], t.label)
        GROUP BY t.label ORDER BY t.label""",
        [list(clean)],
    )
    tokens = {
        r[0]
        for r in engine.query(
            "SELECT DISTINCT national_id_token FROM identity_records "
            "WHERE national_id_token IS NOT NULL"
        )
    }
    rows = [r for r in rows if lookup._national_id_token(r[1], key) in tokens][:5]
    assert len(rows) == 5
    for label, ssn, (first, last, dob, line, postcode) in rows:
        named = _named({"first_name": first, "last_name": last, "dob": dob})
        typed = f"{ssn[:3]}-{ssn[3:5]}-{ssn[5:]}"
        for tie in (
            {"national_id": typed},
            {"national_id": typed, "address_line1": "x", "postcode": "90210"},
            {"national_id": "000-12-0000", "address_line1": line, "postcode": postcode},
        ):
            result = find_person(engine, model, IdentityQuery(**named, **tie), national_id_key=key)
            assert result.status == "found" and result.best is not None, (tie, result)
            assert result.best.person_id == clean[label] and result.best.tied


@pytest.mark.parametrize("typed", ["123-45-6789", " 123 45 6789 ", "ab12345", "X1234567890"])
def test_the_national_id_token_is_ingest_s(typed: str) -> None:
    key = bytes(range(40))
    field = FieldSpec(column="SSN", target="national_id", category=DataCategory.identity)
    spec = SourceSpec(name="bank", furnisher="Bank", feed="accounts", format="csv", fields=[field])
    token_sql = field_sql(spec, field, national_id_token_sql).parsed
    assert key.hex() not in token_sql
    with DuckDBEngine() as engine, hmac_key_bound(engine, key):
        ingested = engine.scalar(
            f"SELECT {token_sql} FROM (SELECT nullif(trim(?), '') AS \"s_national_id\")", [typed]
        )
    assert ingested and _national_id_token(typed, key) == ingested


def test_national_id_needs_the_key_and_a_plausible_value(population, model) -> None:
    ws, engine, _ = population
    named = {k: v for k, v in FULL.items() if k in ("first_name", "last_name", "dob")}
    with pytest.raises(UserError, match="no national-ID key"):
        find_person(
            engine, model, IdentityQuery(**named, national_id="123-45-6789"), national_id_key=None
        )
    with pytest.raises(UserError, match="5-20 letters or digits"):
        find_person(
            engine,
            model,
            IdentityQuery(**named, national_id="12-3"),
            national_id_key=ws.national_id_key(),
        )
    unknown = find_person(
        engine,
        model,
        IdentityQuery(**named, national_id="000-12-0000"),
        national_id_key=ws.national_id_key(),
    )
    assert unknown.status == "not_found"


def test_jr_and_sr_at_one_address_need_a_suffix_or_birth_date(population, model) -> None:
    _, engine, pop = population
    clean = clean_persons(engine)
    jr, sr, first, last, line, postcode, jr_dob = engine.query(
        f"""
        WITH persons AS (SELECT * FROM read_parquet('{pop}/truth/persons.parquet')),
        rec AS (SELECT t.label, r.* FROM identity_records r JOIN _truth t USING (identity_id))
        SELECT j.person_id, s.person_id, rj.first_name, rj.last_name, rj.address_line1,
               rj.postcode, rj.dob
        FROM persons j JOIN persons s ON s.person_id = j.jr_sr_of AND j.name_suffix = 'Jr'
        JOIN rec rj ON rj.label = j.person_id AND rj.name_suffix = 'JR' AND rj.dob IS NOT NULL
        JOIN rec rs ON rs.label = s.person_id AND rs.name_suffix = 'SR'
         AND rs.address_line1 = rj.address_line1 AND rs.postcode = rj.postcode
         AND rs.first_name = rj.first_name AND rs.last_name = rj.last_name
        WHERE list_contains(?::BIGINT[], j.person_id) AND list_contains(?::BIGINT[], s.person_id)
        ORDER BY j.person_id LIMIT 1""",
        [list(clean), list(clean)],
    )[0]
    home = {"first_name": first, "last_name": last, "address_line1": line, "postcode": postcode}
    # (without a birth date: below a lookup's minimum, the linker's own rule only)
    both = find_person(engine, model, IdentityQuery(**home), national_id_key=None, minimum=False)
    assert both.status == "ambiguous" and both.best is None
    assert {c.person_id for c in both.candidates[:2]} == {clean[jr], clean[sr]}
    for given in ({"name_suffix": "Jr"}, {"dob": jr_dob}):
        one = find_person(
            engine, model, IdentityQuery(**home, **given), national_id_key=None, minimum=False
        )
        assert one.status == "found" and one.best is not None
        assert one.best.person_id == clean[jr]


def _catalog_objects(engine: Engine) -> list[tuple[Any, ...]]:
    return sorted(
        engine.query(
            "SELECT database_name, schema_name, table_name FROM duckdb_tables() UNION ALL "
            "SELECT database_name, schema_name, view_name FROM duckdb_views() WHERE NOT internal "
            "UNION ALL SELECT database_name, '', '' FROM duckdb_databases()"
        )
    )


def test_a_lookup_leaves_the_warehouse_as_it_was(population, model) -> None:
    _, engine, _ = population
    person_id, record = own_identities(engine, 1, seed=3)[0]
    before = _catalog_objects(engine)
    catalog = engine.scalar("SELECT current_database()")
    result = find_person(
        engine, model, as_lender_types_it(record, "as typed"), national_id_key=None
    )
    assert result.best is not None and result.best.person_id == person_id
    assert _catalog_objects(engine) == before
    assert engine.scalar("SELECT current_database()") == catalog


def test_a_read_only_published_copy_behind_views_works(population, model, tmp_path) -> None:
    _, engine, _ = population
    copy = tmp_path / "published.duckdb"
    engine.execute(f"ATTACH '{copy}' AS pub (READ_WRITE)")
    try:
        for table in ("identity_records", "person_index", "person_ids"):
            engine.execute(f"CREATE TABLE pub.{table} AS SELECT * FROM {table}")
    finally:
        engine.execute("DETACH pub")
    identities = own_identities(engine, 5, seed=4)
    # as the service opens it: an in-memory database, the copy attached read-only, views
    with DuckDBEngine(":memory:") as served:
        served.execute(f"ATTACH '{copy}' AS srv (READ_ONLY)")
        for table in ("identity_records", "person_index", "person_ids"):
            served.execute(f"CREATE VIEW main.{table} AS SELECT * FROM srv.{table}")
        before = _catalog_objects(served)
        for person_id, record in identities:
            query = as_lender_types_it(record, "surname mistyped")
            here = find_person(served, model, query, national_id_key=None)
            assert here.best is not None and here.best.person_id == person_id
            assert here == find_person(engine, model, query, national_id_key=None)
        assert _catalog_objects(served) == before


def test_no_model_yet_is_a_user_error(population, tmp_path) -> None:
    _, engine, _ = population
    with pytest.raises(UserError, match="openbureau link"):
        find_person(
            engine,
            tmp_path / "linkage-model.json",
            IdentityQuery(**FULL),
            national_id_key=b"k" * 32,
        )


def _candidate(person_id: str, probability: float, weight: float, tied: bool = True) -> Candidate:
    return Candidate(person_id, probability, weight, 1, tied)


@pytest.mark.parametrize(
    ("persons", "status"),
    [
        ([], "not_found"),
        ([_candidate("A", 0.89, 3.0)], "not_found"),
        ([_candidate("A", 0.95, 4.0), _candidate("B", 0.5, 0.0)], "found"),
        ([_candidate("A", 1.0, 30.0), _candidate("B", 0.99, 30.0 - MARGIN_BITS)], "found"),
        ([_candidate("A", 1.0, 30.0), _candidate("B", 0.99, 25.0)], "ambiguous"),
        # a shared national ID is certain, but a stronger other match still makes it ambiguous
        ([_candidate("A", 1.0, -5.0), _candidate("B", 0.999, 20.0)], "ambiguous"),
        # the best must agree on the address or national ID given, or nobody is named...
        ([_candidate("A", 1.0, 30.0, tied=False)], "not_found"),
        ([_candidate("A", 1.0, 30.0, tied=False), _candidate("B", 0.5, 0.0)], "not_found"),
        # ... nor said to be one of several
        ([_candidate("A", 1.0, 30.0, tied=False), _candidate("B", 0.99, 25.0)], "not_found"),
        ([_candidate("A", 1.0, 30.0), _candidate("B", 0.99, 25.0, tied=False)], "ambiguous"),
    ],
)
def test_the_decision_rule(persons: list[Candidate], status: str) -> None:
    assert _decide(persons, 0.9) == status
