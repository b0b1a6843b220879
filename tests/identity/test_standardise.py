"""Identity standardisation: hand-made feeds for each rule, and a synthetic population for the
whole (every row mapped once, identity records pure against the truth, incremental batches)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openbureau.engine import Engine
from openbureau.identity.standardise import EMPTIED, build_identity_records, describe_emptied
from openbureau.ingest.load import ingest_file
from openbureau.ingest.spec import load_spec
from openbureau.synth import SynthConfig, SynthResult, generate
from openbureau.workspace import Workspace

PEOPLE_SPEC = """\
name: people
furnisher: Testco
feed: people
format: csv
record_key: [id]
fields:
  - {column: ID, target: id, category: reference, required: true}
  - {column: FIRST, target: first_name, category: identity}
  - {column: MIDDLE, target: middle_name, category: identity}
  - {column: LAST, target: last_name, category: identity}
  - {column: SUFFIX, target: name_suffix, category: identity}
  - {column: FULL, target: full_name, category: identity}
  - {column: DOB, target: dob, type: date, category: identity, formats: ["%Y-%m-%d"]}
  - {column: LINE1, target: address_line1, category: identity}
  - {column: LINE2, target: address_line2, category: identity}
  - {column: CITY, target: city, category: identity}
  - {column: STATE, target: region, category: identity}
  - {column: ZIP, target: postcode, category: identity}
  - {column: ADDRESS, target: address_full, category: identity}
  - {column: PHONE, target: phone, category: identity}
  - {column: EMAIL, target: email, category: identity}
  - {column: SSN, target: national_id, category: identity}
"""
HEADER = "ID,FIRST,MIDDLE,LAST,SUFFIX,FULL,DOB,LINE1,LINE2,CITY,STATE,ZIP,ADDRESS,PHONE,EMAIL,SSN\n"


@pytest.fixture
def people(ws: Workspace, write_file: Callable[..., Path]) -> Callable[..., dict[str, dict]]:
    """Load CSV rows (dicts by column) as one batch; return the identity record of each ID."""
    spec_path = write_file("people.yaml", PEOPLE_SPEC)
    columns = HEADER.strip().split(",")
    calls = []

    def load(*rows: dict[str, str], country: str = "US") -> dict[str, dict[str, Any]]:
        calls.append(1)
        lines = [",".join(_csv(r.get(c, "")) for c in columns) for r in rows]
        path = write_file(f"people{len(calls)}.csv", HEADER + "\n".join(lines) + "\n")
        with ws.engine() as engine:
            ingest_file(engine, load_spec(spec_path), path, key=ws.national_id_key())
            emptied.append(build_identity_records(engine, country=country).emptied)
            return _records_by_id(engine)

    emptied: list[dict[str, int]] = []
    load.emptied = emptied  # type: ignore[attr-defined]  # (what each call emptied)

    return load


def _csv(value: str) -> str:
    return f'"{value}"' if "," in value else value


def _records_by_id(engine: Engine) -> dict[str, dict[str, Any]]:
    table = engine.arrow(
        "SELECT s.id, r.* FROM src_people s JOIN identity_record_map m USING (record_id) "
        "JOIN identity_records r USING (identity_id)"
    )
    return {row.pop("id"): row for row in table.to_pylist()}


def test_full_names_in_both_orders(people) -> None:
    got = people(
        {"ID": "1", "FULL": "SMITH, JOHN A"},
        {"ID": "2", "FULL": "John A. Smith Jr."},
        {"ID": "3", "FULL": "José Peña"},
        {"ID": "4", "FULL": "Rebecca K Grant"},
        {"ID": "5", "FULL": "ZIELINSKI, ARJUN P SR"},
        {"ID": "6", "FULL": "MARTINEZ-GUZMAN, KAREN BARBARA"},
        {"ID": "7", "FULL": "Maria de la Cruz"},
        {"ID": "8", "FULL": "o'brien ,  pat"},
    )
    name = ("first_name", "middle_name", "last_name", "name_suffix")
    assert [tuple(got[i][k] for k in name) for i in "12345678"] == [
        ("JOHN", "A", "SMITH", None),
        ("JOHN", "A", "SMITH", "JR"),
        ("JOSE", None, "PENA", None),
        ("REBECCA", "K", "GRANT", None),
        ("ARJUN", "P", "ZIELINSKI", "SR"),
        ("KAREN", "BARBARA", "MARTINEZ-GUZMAN", None),
        ("MARIA", None, "DE LA CRUZ", None),
        ("PAT", None, "OBRIEN", None),
    ]


def test_name_fields_nicknames_and_suffixes(people) -> None:
    got = people(
        {"ID": "1", "FIRST": "Bob", "LAST": "Jones"},
        {"ID": "2", "FIRST": "liz", "LAST": "Olsen - Johnson"},
        {"ID": "3", "FIRST": "Peggy", "LAST": "Hill Sr.", "SUFFIX": ""},
        {"ID": "4", "FIRST": "Robert", "LAST": "Jones", "SUFFIX": "Jr."},
        {"ID": "5", "FIRST": "  ", "LAST": "Doe", "MIDDLE": "q."},
    )
    assert got["1"]["first_name"] == "BOB" and got["1"]["first_name_std"] == "ROBERT"
    assert (got["2"]["first_name_std"], got["2"]["last_name"]) == ("ELIZABETH", "OLSEN-JOHNSON")
    assert (got["3"]["first_name_std"], got["3"]["last_name"], got["3"]["name_suffix"]) == (
        "MARGARET",
        "HILL",
        "SR",
    )
    assert (got["4"]["first_name_std"], got["4"]["name_suffix"]) == ("ROBERT", "JR")
    assert got["5"]["first_name"] is None and got["5"]["middle_name"] == "Q"


def test_addresses(people) -> None:
    got = people(
        {"ID": "1", "ADDRESS": "168 Liberty Dr Apt 43, Los Angeles, CA 90033"},
        {
            "ID": "2",
            "LINE1": "1124 Liberty Drive",
            "CITY": "St. Louis",
            "STATE": "mo",
            "ZIP": "63126-1234",
        },
        {
            "ID": "3",
            "LINE1": "7 North Main Street",
            "LINE2": "Suite 200",
            "CITY": "Worcester",
            "STATE": "Massachusetts",
            "ZIP": "1608",
        },
        {"ID": "4", "LINE1": "55 Oak Avenue #12B", "CITY": "Boise", "STATE": "ID"},
        {"ID": "5", "ADDRESS": "1681 Wood Street Apartment 56, Houston, TX"},
    )
    parts = ("house_number", "street", "unit", "city", "region", "postcode")
    assert tuple(got["1"][k] for k in parts) == (
        "168",
        "LIBERTY DR",
        "43",
        "LOS ANGELES",
        "CA",
        "90033",
    )
    assert got["1"]["address_line1"] == "168 LIBERTY DR APT 43"
    assert tuple(got["2"][k] for k in parts) == (
        "1124",
        "LIBERTY DR",
        None,
        "ST LOUIS",
        "MO",
        "63126",
    )
    assert tuple(got["3"][k] for k in parts) == (
        "7",
        "N MAIN ST",
        "200",
        "WORCESTER",
        "MA",
        "01608",
    )
    assert got["3"]["address_line1"] == "7 N MAIN ST STE 200"
    assert (got["4"]["street"], got["4"]["unit"], got["4"]["address_line1"]) == (
        "OAK AVE",
        "12B",
        "55 OAK AVE APT 12B",
    )
    assert tuple(got["5"][k] for k in parts) == ("1681", "WOOD ST", "56", "HOUSTON", "TX", None)


def test_phones_emails_and_unusable_rows(people) -> None:
    got = people(
        {"ID": "1", "LAST": "A", "PHONE": "(213) 867-5309", "EMAIL": " Foo@Bar.COM "},
        {"ID": "2", "LAST": "B", "PHONE": "213.867.5309", "EMAIL": "not an email"},
        {"ID": "3", "LAST": "C", "PHONE": "+12138675309", "EMAIL": "a@b"},
        {"ID": "4", "LAST": "D", "PHONE": "12345"},
        {"ID": "5", "LAST": "E", "PHONE": "call me maybe"},
        {"ID": "6", "FIRST": "Nobody", "PHONE": "2138675309"},
        {"ID": "7", "SSN": "123-45-6789"},
    )
    assert [got[i]["phone"] for i in "12345"] == [
        "+12138675309",
        "+12138675309",
        "+12138675309",
        None,
        None,
    ]
    assert [got[i]["email"] for i in "123"] == ["foo@bar.com", None, None]
    # a name alone is not enough; a name with a phone (even a first name) is
    reason = "no_national_id_nor_name_with_another_identifier"
    assert [got[i]["usable"] for i in "45"] == [False, False]
    assert got["4"]["unusable_reason"] == reason
    assert got["6"]["usable"] and got["6"]["unusable_reason"] is None
    assert got["7"]["usable"] and got["7"]["national_id_token"]
    assert all(got[i]["usable"] and got[i]["unusable_reason"] is None for i in "123")


def test_rows_share_records_ids_are_deterministic_and_reruns_are_noops(
    ws: Workspace, people
) -> None:
    first = people(
        {"ID": "1", "FIRST": "John", "LAST": "Smith", "DOB": "1980-01-02"},
        {"ID": "2", "FIRST": "JOHN", "LAST": "smith", "DOB": "1980-01-02"},
        {"ID": "3", "FIRST": "Bob", "LAST": "Smith", "DOB": "1980-01-02"},
    )
    assert first["1"]["identity_id"] == first["2"]["identity_id"] != first["3"]["identity_id"]
    assert first["1"]["n_records"] == 2 and first["1"]["identity_id"].startswith("I")
    with ws.engine() as engine:
        again = build_identity_records(engine, country="US")
        assert again.batches == () and again.rows_mapped == 0 and again.new_identity_ids == ()
        assert again.identity_records == 2
    second = people(
        {"ID": "4", "FIRST": "John", "LAST": "Smith", "DOB": "1980-01-02"},
        {"ID": "5", "FIRST": "Ann", "LAST": "Lee"},
    )
    assert second["4"]["identity_id"] == first["1"]["identity_id"]
    assert second["4"]["n_records"] == 3
    assert second["4"]["first_batch_id"] == "B000001"
    assert second["4"]["last_batch_id"] == "B000002"
    assert second["5"]["first_batch_id"] == "B000002"
    assert second["3"] == first["3"]


def test_batch_ids_keep_their_loading_order_past_a_million_batches(ws: Workspace, people) -> None:
    people({"ID": "1", "FIRST": "Ann", "LAST": "Lee", "DOB": "1990-05-06"})
    with ws.engine() as engine:  # as if 999,997 batches more had been loaded since
        engine.execute(
            "INSERT INTO ingest_batches SELECT * REPLACE ('B999998' AS batch_id, "
            "'other' AS file_sha256, 0 AS rows_read, 0 AS rows_loaded, "
            "0 AS rows_quarantined, 0 AS rows_new) FROM ingest_batches"
        )
    first = people({"ID": "2", "FIRST": "Bob", "LAST": "Ray", "DOB": "1970-01-01"})
    again = people({"ID": "3", "FIRST": "Bob", "LAST": "Ray", "DOB": "1970-01-01"})
    assert again["3"]["identity_id"] == first["2"]["identity_id"]
    assert again["3"]["first_batch_id"] == "B999999"
    assert again["3"]["last_batch_id"] == "C1000000"
    with ws.engine() as engine:
        loaded = [r[0] for r in engine.query("SELECT batch_id FROM ingest_batches ORDER BY 1")]
        assert loaded == ["B000001", "B999998", "B999999", "C1000000"]
        engine.execute(
            "INSERT INTO ingest_batches SELECT * REPLACE ('C9999999' AS batch_id, "
            "'more' AS file_sha256) FROM ingest_batches WHERE batch_id = 'B000001'"
        )
        from openbureau.ingest.store import next_batch_id

        assert next_batch_id(engine) == "D10000000" > "C9999999"


# -- a synthetic population ------------------------------------------------------------------


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return generate(tmp_path_factory.mktemp("pop") / "incoming", SynthConfig(persons=2000, seed=11))


def _src_union(engine: Engine) -> str:
    """Every loaded consumer: each feed's rows (``seq`` 0) and a Metro 2 feed's associated
    consumers (joint holders: ``seq`` 1, 2..., the line of their account's record)."""
    feeds = [r[0] for r in engine.query("SELECT DISTINCT feed FROM ingest_batches")]
    parts = [
        f"SELECT record_id, batch_id, line_no, '{f}' AS feed, 0 AS seq FROM src_{f}" for f in feeds
    ]
    if engine.table_exists("associated_consumers"):
        parts.append("SELECT record_id, batch_id, line_no, feed, seq FROM associated_consumers")
    return " UNION ALL ".join(parts)


@pytest.mark.slow
def test_population(population: SynthResult, ws: Workspace, tmp_path: Path) -> None:
    key = ws.national_id_key()
    held_back = "northbank_accounts"
    full = population.files[held_back]
    lines = full.read_bytes().split(b"\n")
    half = tmp_path / "accounts_first_half.csv"
    half.write_bytes(b"\n".join(lines[: len(lines) // 2]) + b"\n")
    truth = population.truth_dir / "records.parquet"
    with ws.engine() as engine:
        for feed, path in population.files.items():
            spec = load_spec(population.specs[feed])
            ingest_file(engine, spec, half if feed == held_back else path, key=key)
        first = build_identity_records(engine, country="US")
        rows = engine.scalar(f"SELECT count(*) FROM ({_src_union(engine)})")
        assert len(first.batches) == len(population.files)
        assert first.rows_mapped == rows
        assert first.identity_records == len(first.new_identity_ids)
        assert first.identity_records < rows / 10
        before = engine.arrow("SELECT * FROM identity_records ORDER BY identity_id")

        assert build_identity_records(engine, country="US").batches == ()

        report = ingest_file(engine, load_spec(population.specs[held_back]), full, key=key)
        second = build_identity_records(engine, country="US")
        assert second.batches == (report.batch_id,)
        # The first half repeats the first file: those rows are identical reports, not mapped
        # again (ingest keeps one row per report).
        assert report.identical > report.loaded / 3
        assert second.rows_mapped == report.new + report.superseding
        assert second.identity_records == first.identity_records + len(second.new_identity_ids)
        # Some identities of the second half were shown by the first (a person's account that
        # spans both halves, or another of their accounts): found, not made again.
        new = set(second.new_identity_ids)
        seen = {
            r[0]
            for r in engine.query(
                "SELECT DISTINCT identity_id FROM identity_record_map WHERE batch_id = ?",
                [report.batch_id],
            )
        }
        # (a handful since synth writes a person's rows together: only those whose rows
        # straddle the file's middle, or who gave the same identity to another feed)
        made_before = set(before.column("identity_id").to_pylist())
        assert new < seen and seen - new and seen - new <= made_before
        assert not new & made_before
        assert {
            r[0]
            for r in engine.query(
                "SELECT identity_id FROM identity_records WHERE first_batch_id = ?",
                [report.batch_id],
            )
        } == new
        fixed = [c for c in before.column_names if c not in ("n_records", "last_batch_id")]
        after = engine.arrow(
            f"SELECT {', '.join(fixed)} FROM identity_records WHERE first_batch_id <> ? "
            "ORDER BY identity_id",
            [report.batch_id],
        )
        assert after.equals(before.select(fixed))

        union = _src_union(engine)
        once, missing = engine.query(
            f"SELECT count(*) FILTER (n = 1), count(*) FILTER (n IS NULL) FROM ("
            f"SELECT s.record_id, (SELECT count(*) FROM identity_record_map m "
            f"WHERE m.record_id = s.record_id) AS n FROM ({union}) s)"
        )[0]
        total = engine.scalar(f"SELECT count(*) FROM ({union})")
        assert once == total and missing == 0
        assert engine.scalar("SELECT count(*) FROM identity_record_map") == total

        # Purity: an identity record holds rows of one true person.
        pure, records = engine.query(f"""
            SELECT count(*) FILTER (persons = 1), count(*) FROM (
                SELECT m.identity_id, count(DISTINCT t.person_id) AS persons
                FROM ({union}) s JOIN identity_record_map m USING (record_id)
                JOIN '{truth}' t ON t.feed = s.feed AND t.line_no = s.line_no
                    AND t.seq = s.seq
                GROUP BY 1)""")[0]
        assert records == engine.scalar("SELECT count(*) FROM identity_records")
        assert pure / records >= 0.99


POSTCODES = {  # country: [(as written, as kept)]; None: not a postcode of the country, emptied
    "US": [("90033", "90033"), ("63126-1234", "63126"), ("1608", "01608"), ("SW1A 1AA", None)],
    "GB": [
        ("SW1A 1AA", "SW1A 1AA"),
        ("sw1a1aa", "SW1A 1AA"),
        ("M1 1AE", "M1 1AE"),
        ("m11ae", "M1 1AE"),
        ("EC1Y-8SY", "EC1Y 8SY"),
        ("BFPO 61", "BFPO 61"),
        ("90210", None),
        ("SW1A 1AAX", None),
    ],
    "DE": [
        ("10115", "10115"),
        ("01067", "01067"),
        ("1067", "01067"),
        ("D-10115", None),
        ("101150", None),
    ],
    "CA": [("h3z2y7", "H3Z 2Y7"), ("H3Z 2Y7", "H3Z 2Y7"), ("H3Z", None)],
    "NL": [("1234ab", "1234 AB"), ("1234 AB", "1234 AB")],
    "PL": [("00950", "00-950"), ("00-950", "00-950")],
    "FR": [("75 008", "75008")],
    # no postcode format in the data: kept as written, in capitals, never emptied
    "HK": [("hk-123", "HK 123"), ("Kowloon", "KOWLOON")],
}


@pytest.mark.parametrize("country", list(POSTCODES))
def test_postcodes_by_country(people, country) -> None:
    cases = POSTCODES[country]
    got = people(
        *(
            {"ID": str(i), "LAST": "Lee", "DOB": "1990-01-01", "ZIP": written}
            for i, (written, _) in enumerate(cases)
        ),
        country=country,
    )
    assert [got[str(i)]["postcode"] for i in range(len(cases))] == [kept for _, kept in cases]
    lost = sum(kept is None for _, kept in cases)
    assert people.emptied[-1] == ({"postcode:not_a_postcode_of_country": lost} if lost else {})


def test_every_value_emptied_is_counted_by_field_and_reason(people) -> None:
    got = people(
        {
            "ID": "1",
            "FIRST": "李",
            "LAST": "Lee",
            "DOB": "1990-01-01",
            "SUFFIX": "Esq",
            "EMAIL": "not an email",
            "PHONE": "020 7946 0958",
            "STATE": "Bavaria",
        },
        {
            "ID": "2",
            "FIRST": "Ann",
            "LAST": "Lee",
            "DOB": "1990-01-01",
            "PHONE": "call me",
            "LINE1": "?!",
            "CITY": "?",
            "FULL": "…",
            "ADDRESS": "!!",
        },
        {
            "ID": "3",
            "FIRST": "Ann",
            "LAST": "Lee",
            "DOB": "1990-01-01",
            "PHONE": "+44 7946",
            "MIDDLE": "#",
        },
        {"ID": "4", "FIRST": "Ann", "LAST": "Lee", "DOB": "1990-01-01", "PHONE": "+44 7946"},
    )
    assert people.emptied[-1] == {
        "address_full:no_latin_letters_or_digits": 1,
        "address_line1:no_latin_letters_or_digits": 1,
        "city:no_latin_letters_or_digits": 1,
        "email:not_an_email_address": 1,
        "first_name:no_latin_letters_or_digits": 1,
        "full_name:no_latin_letters_or_digits": 1,
        "middle_name:no_latin_letters_or_digits": 1,
        "name_suffix:not_a_name_suffix": 1,
        "phone:not_a_phone_number": 1,
        "phone:not_a_valid_international_number": 2,
        "phone:not_a_valid_number_for_country": 1,
        "region:not_a_us_state": 1,
    }
    assert got["1"]["first_name"] is None and got["1"]["phone"] is None
    # (each a description in words, for link's summary and the docs)
    assert all((f, r) in EMPTIED for f, r in (k.split(":") for k in people.emptied[-1]))


# One-string addresses as each country writes them: (address_full, (address_line1, city,
# region, postcode) kept). The last of each is another country's address, or one whose town
# cannot be told from its street: what cannot be read is empty, and counted.
FULL_ADDRESSES: dict[str, list[tuple[str, tuple[str | None, ...]]]] = {
    "US": [
        ("123 Main St, Springfield, Illinois 62701", ("123 MAIN ST", "SPRINGFIELD", "IL", "62701")),
        (
            "168 Liberty Dr Apt 43, Los Angeles, CA 90033-1234",
            ("168 LIBERTY DR APT 43", "LOS ANGELES", "CA", "90033"),
        ),
        ("1 Oak Court, Charleston, West Virginia 25301", ("1 OAK CT", "CHARLESTON", "WV", "25301")),
        ("55 Elm St, Dover, DE 19901, United States", ("55 ELM ST", "DOVER", "DE", "19901")),
        # no comma between street and town: the town cannot be read
        ("123 Main St Springfield IL 62701", ("123 MAIN ST SPRINGFIELD", None, "IL", "62701")),
        ("10 High Street, London, SW1A 1AA", ("10 HIGH STREET LONDON", "SW1A 1AA", None, None)),
    ],
    "GB": [
        ("10 High Street, London, SW1A 1AA", ("10 HIGH ST", "LONDON", None, "SW1A 1AA")),
        ("22 Mill Road, Cambridge cb12ad", ("22 MILL RD", "CAMBRIDGE", None, "CB1 2AD")),
        (
            "Flat 2, 7 Park Avenue, Bristol, BS8 1TH, United Kingdom",
            ("FLAT 2 7 PARK AVE", "BRISTOL", None, "BS8 1TH"),
        ),
        ("10 High Street London SW1A 1AA", ("10 HIGH STREET LONDON", None, None, "SW1A 1AA")),
        ("Hauptstrasse 5, 10115 Berlin", ("HAUPTSTRASSE 5", "10115 BERLIN", None, None)),
    ],
    "DE": [
        ("Hauptstrasse 5, 10115 Berlin", ("HAUPTSTRASSE 5", "BERLIN", None, "10115")),
        ("Am Markt 1 01067 Dresden", ("AM MARKT 1", "DRESDEN", None, "01067")),
        ("Bahnhofstr. 12a, 80335 München", ("BAHNHOFSTR 12A", "MUNCHEN", None, "80335")),
        ("Hauptstrasse 5, Berlin", ("HAUPTSTRASSE 5", "BERLIN", None, None)),
        ("10 High Street, London, SW1A 1AA", ("10 HIGH STREET LONDON", "SW1A 1AA", None, None)),
    ],
}
FULL_ADDRESSES_NOT_READ = {
    "US": {
        "city:not_read_from_address_full": 1,
        "region:not_read_from_address_full": 1,
        "postcode:not_read_from_address_full": 1,
    },
    "GB": {"city:not_read_from_address_full": 1, "postcode:not_read_from_address_full": 1},
    "DE": {"postcode:not_read_from_address_full": 2},
}


@pytest.mark.parametrize("country", list(FULL_ADDRESSES))
def test_one_string_addresses_by_country(people, country) -> None:
    cases = FULL_ADDRESSES[country]
    got = people(
        *(
            {"ID": str(i), "LAST": "Lee", "DOB": "1990-01-01", "ADDRESS": written}
            for i, (written, _) in enumerate(cases)
        ),
        # (a row that gives town, region and postcode in columns of their own is not counted)
        {"ID": "own", "LAST": "Lee", "ADDRESS": "9 Elm St", "CITY": "X", "STATE": "CA", "ZIP": "x"},
        country=country,
    )
    parts = ("address_line1", "city", "region", "postcode")
    assert [tuple(got[str(i)][p] for p in parts) for i in range(len(cases))] == [
        kept for _, kept in cases
    ]
    assert people.emptied[-1] == {
        **FULL_ADDRESSES_NOT_READ[country],
        "postcode:not_a_postcode_of_country": 1,  # (the row's own "x")
    }
    assert describe_emptied({"postcode:not_read_from_address_full": 2}, country) == (
        f"postcode 2 rows (none found in a one-string address (address_full) where "
        f"{country}'s addresses have one)"
    )
