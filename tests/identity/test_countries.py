"""A bureau outside the US: phones and postcodes in its own formats are kept, through every
path that standardises (full and incremental links, forced links, lookups), and what
standardisation empties is counted and reported."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openbureau.cli import app
from openbureau.identity.lookup import IdentityQuery, find_person
from openbureau.workspace import Workspace, init_workspace
from tests.identity.test_link import plain, run

SPEC = """\
name: {name}
furnisher: {name}
feed: {name}
format: csv
record_key: [id]
fields:
  - {{column: ID, target: id, category: reference, required: true}}
  - {{column: FIRST, target: first_name, category: identity}}
  - {{column: LAST, target: last_name, category: identity}}
  - {{column: DOB, target: dob, type: date, category: identity, formats: ["%Y-%m-%d"]}}
  - {{column: LINE1, target: address_line1, category: identity}}
  - {{column: CITY, target: city, category: identity}}
  - {{column: POSTCODE, target: postcode, category: identity}}
  - {{column: PHONE, target: phone, category: identity}}
"""
HEADER = "ID,FIRST,LAST,DOB,LINE1,CITY,POSTCODE,PHONE\n"
FIRST = ["OLIVER", "AMELIA", "HARRY", "ISLA", "JACK", "AVA", "NOAH", "MIA", "LEO", "EMILY"]
LAST = ["SMITH", "JONES", "TAYLOR", "BROWN", "WILLIAMS", "WILSON", "JOHNSON", "DAVIES"]
STREETS = [
    "HIGH STREET",
    "STATION ROAD",
    "CHURCH LANE",
    "MILL ROAD",
    "PARK AVENUE",
    "VICTORIA ROAD",
    "GREEN LANE",
]
PERSONS = 40
_INWARD = "ABDEFGHJLNPQRSTUWXYZ"


@dataclass(frozen=True)
class Formats:
    """Person i's phone and postcode as the bank writes them (national forms), as the
    telecom writes them (international phones, other postcode spellings), and as the
    standardiser should keep them."""

    country: str
    city: str

    def phone(self, i: int) -> tuple[str, str, str]:
        return {
            "US": (f"(213) 867-{1000 + i}", f"+1 213 867 {1000 + i}", f"+1213867{1000 + i}"),
            "GB": (f"020 7946 {i:04d}", f"+44 20 7946 {i:04d}", f"+44207946{i:04d}"),
            "DE": (f"030 9018{i:04d}", f"+49 30 9018{i:04d}", f"+493090{18 * 10000 + i}"),
        }[self.country]

    def postcode(self, i: int) -> tuple[str, str, str]:
        if self.country == "US":
            return f"{90000 + i}", f"{90000 + i}-1234", f"{90000 + i}"
        if self.country == "GB":  # (the space, or none, in any case)
            inward = f"{i % 10}{_INWARD[i // 10 % 20]}{_INWARD[(i * 7) % 20]}"
            return f"SW1A {inward}", f"sw1a{inward.lower()}", f"SW1A {inward}"
        # DE: Dresden's, whose leading zero a spreadsheet drops
        return f"{1067 + i:05d}", f"{1067 + i}", f"{1067 + i:05d}"


FORMATS = {
    c: Formats(c, city) for c, city in (("US", "LOS ANGELES"), ("GB", "LONDON"), ("DE", "DRESDEN"))
}


def person(i: int) -> tuple[str, str, str, str]:
    rng = random.Random(i)
    return (
        FIRST[i % len(FIRST)],
        LAST[i // len(FIRST) % len(LAST)],
        f"{rng.randint(1950, 2000)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        f"{10 + i} {STREETS[i % len(STREETS)]}",
    )


def write_feeds(folder: Path, fmt: Formats, persons: range) -> dict[str, Path]:
    """A bank and a telecom file (national, then international forms) of these persons."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for side, feed in enumerate(("bank", "telco")):
        rows = []
        for i in persons:
            first, last, dob, line = person(i)
            rows.append(
                ",".join(
                    [
                        f"{feed}{i}",
                        first.title(),
                        last.title(),
                        dob,
                        line,
                        fmt.city.title(),
                        fmt.postcode(i)[side],
                        fmt.phone(i)[side],
                    ]
                )
            )
        files[feed] = folder / f"{feed}_{persons.start}.csv"
        files[feed].write_text(HEADER + "\n".join(rows) + "\n")
        (folder / f"{feed}.yaml").write_text(SPEC.format(name=feed))
    return files


def workspace(root: Path, country: str) -> Workspace:
    ws = init_workspace(root)
    toml = ws.root / "bureau.toml"
    toml.write_text(toml.read_text().replace('country = "US"', f'country = "{country}"'))
    return Workspace.open(ws.root)


def ingest(ws: Workspace, files: dict[str, Path]) -> None:
    for feed, file in files.items():
        run("ingest", file.parent / f"{feed}.yaml", file, "-w", ws.root)


def kept(ws: Workspace) -> list[tuple[str, str | None, str | None]]:
    with ws.engine(read_only=True) as engine:
        return [
            (r[0], r[1], r[2])
            for r in engine.query(
                "SELECT s.id, r.phone, r.postcode FROM identity_records r "
                "JOIN identity_record_map m USING (identity_id) JOIN ("
                "SELECT record_id, id FROM src_bank UNION ALL SELECT record_id, id FROM src_telco"
                ") s USING (record_id) ORDER BY 1"
            )
        ]


def expected(fmt: Formats, persons: range) -> list[tuple[str, str | None, str | None]]:
    return sorted(
        (f"{feed}{i}", fmt.phone(i)[2], fmt.postcode(i)[2])
        for feed in ("bank", "telco")
        for i in persons
    )


@pytest.mark.parametrize("country", ["US", "GB", "DE"])
def test_a_bureaus_own_formats_keep_their_phones_and_postcodes(tmp_path, country) -> None:
    fmt = FORMATS[country]
    ws = workspace(tmp_path / "ws", country)
    first, later = range(0, 30), range(30, PERSONS)
    ingest(ws, write_feeds(tmp_path / "in", fmt, first))
    out = plain(run("link", "-w", ws.root))
    assert "(full, model v1)" in out and f"-> {len(first)} persons" in out
    assert f"Emptied by standardisation ({country} conventions): nothing" in out
    assert kept(ws) == expected(fmt, first)
    # a later batch, linked incrementally, the same
    ingest(ws, write_feeds(tmp_path / "in", fmt, later))
    out = plain(run("link", "-w", ws.root))
    assert "(incremental, model v1)" in out and f"-> {PERSONS} persons" in out
    assert f"Emptied by standardisation ({country} conventions): nothing" in out
    assert kept(ws) == expected(fmt, range(PERSONS))
    with ws.engine(read_only=True) as engine:
        assert engine.query("SELECT DISTINCT country FROM identity_batches") == [(country,)]
        assert engine.query("SELECT country, emptied FROM link_runs ORDER BY run_id") == [
            (country, ""),
            (country, ""),
        ]
        # the linker, given the national form of a phone, finds the person (a name and a
        # phone are below a lender's minimum identity: the linker's own rule only)
        found = find_person(
            engine,
            ws.root / "models" / "linkage-model.json",
            IdentityQuery(first_name=FIRST[3], last_name=LAST[0], phone=fmt.phone(3)[0]),
            national_id_key=None,
            country=country,
            minimum=False,  # (the phone's form is what is tested, not a lender's minimum)
        )
        assert found.status == "found"
        assert found.best is not None and found.best.person_id == engine.scalar(
            "SELECT person_id FROM person_index JOIN identity_record_map m USING "
            "(identity_id) JOIN src_bank USING (record_id) WHERE id = 'bank3'"
        )
    # explain-link compares the phones as kept
    res = run("explain-link", "B000001.2", "B000002.2", "-w", ws.root)
    assert fmt.phone(0)[2] in res


def test_the_same_data_linked_as_a_us_bureau_loses_them_and_says_so(tmp_path) -> None:
    fmt = FORMATS["GB"]
    ws = workspace(tmp_path / "ws", "US")
    ingest(ws, write_feeds(tmp_path / "in", fmt, range(PERSONS)))
    # (with phones and postcodes gone, these 80 records cannot train a model that weighs
    # names: the refusal says so, and the default model links them)
    refused = CliRunner().invoke(app, ["link", "-w", str(ws.root)])
    assert refused.exit_code == 2
    said = plain(refused.output)
    assert "the linkage model trained on this workspace is unusable" in said
    assert "\n" not in said.strip() and "Traceback" not in said  # (one line)
    assert (  # (and why, most likely: the values the wrong country's conventions emptied)
        "; standardisation (US conventions) emptied phone 40 rows (no country code, and not a "
        "valid number of US); postcode 80 rows (not a postcode of US), values training could "
        "not use (if the data is not of US, set bureau.country); ingest more feeds" in said
    )
    out = plain(run("link", "--model", "default", "-w", ws.root))
    national_lost = (
        "phone 40 rows (no country code, and not a valid number of US); "
        "postcode 80 rows (not a postcode of US)"
    )
    assert f"Emptied by standardisation (US conventions): {national_lost}" in out
    phones = [phone for _, phone, _ in kept(ws)]
    assert phones.count(None) == PERSONS  # (the bank's, written without +44)
    with ws.engine(read_only=True) as engine:
        assert (
            engine.scalar("SELECT emptied FROM link_runs")
            == "phone:not_a_valid_number_for_country 40, postcode:not_a_postcode_of_country 80"
        )
        assert engine.query(
            "SELECT batch_id, field, reason, rows FROM identity_emptied ORDER BY ALL"
        ) == [
            ("B000001", "phone", "not_a_valid_number_for_country", 40),
            ("B000001", "postcode", "not_a_postcode_of_country", 40),
            ("B000002", "postcode", "not_a_postcode_of_country", 40),
        ]
    # the bureau set right: later batches are read as GB's, and link says the first were not
    toml = ws.root / "bureau.toml"
    toml.write_text(toml.read_text().replace('country = "US"', 'country = "GB"'))
    ingest(ws, write_feeds(tmp_path / "more", fmt, range(PERSONS, PERSONS + 5)))
    out = plain(run("link", "-w", ws.root))
    assert "Emptied by standardisation (GB conventions): nothing" in out
    assert (
        "warning: batches standardised with another country's conventions before "
        "bureau.toml said GB: 2 with US's; their phones and postcodes stay as those left "
        "them"
    ) in out


def test_a_forced_link_standardises_with_the_bureaus_country_too(tmp_path) -> None:
    fmt = FORMATS["GB"]
    ws = workspace(tmp_path / "ws", "GB")
    ingest(ws, write_feeds(tmp_path / "in", fmt, range(PERSONS)))
    run("link", "-w", ws.root)
    ingest(ws, write_feeds(tmp_path / "more", fmt, range(PERSONS, PERSONS + 10)))
    # (a forced link standardises the new batches before the run: with GB's rules)
    run("link", "--force-split", "B000001.2", "B000002.2", "-w", ws.root)
    assert kept(ws) == expected(fmt, range(PERSONS + 10))
