"""The hard population (``openbureau.synth.hard``): determinism, layout, rates, the CLI."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from openbureau.synth import FEED_NAMES, SynthConfig, generate, hard
from openbureau.synth.hard import PERSON_TAGS, TAGS, Difficulties

SMALL = SynthConfig(persons=600, seed=5, defect_rate=0.01)
# Rates unlike the defaults, so a rate that is not applied as configured shows.
CUSTOM = Difficulties(
    household=0.6,
    jr_sr=0.08,
    twin=0.06,
    namesake=0.1,
    married=0.08,
    transliterated=0.3,
    hyphenated=0.12,
    nickname=0.25,
    moved=0.5,
    shared_phone=0.3,
    nickname_used=0.8,
    hyphen_form=0.7,
    address_variant=0.5,
    name_typo=0.1,
    dob_swap=0.08,
    dob_year_typo=0.05,
    dob_missing=0.06,
    ssn_missing=0.1,
    ssn_typo=0.05,
    ssn_borrowed=0.05,
    field_missing=0.08,
)


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hard.generate(tmp_path_factory.mktemp("hard") / "out", SMALL).out


@pytest.fixture(scope="module", params=["defaults", "custom"])
def rated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    rates = Difficulties() if request.param == "defaults" else CUSTOM
    out = tmp_path_factory.mktemp(f"rates_{request.param}") / "out"
    hard.generate(out, SynthConfig(persons=6000, seed=13, defect_rate=0.0), rates)
    return out, rates


def test_same_seed_same_bytes_other_seed_other_population(small: Path, tmp_path: Path) -> None:
    again = hard.generate(tmp_path / "again", SMALL).out
    assert _digest(small) == _digest(again)
    other = hard.generate(tmp_path / "other", dataclasses.replace(SMALL, seed=6)).out
    assert _digest(other)["northbank/accounts.csv"] != _digest(small)["northbank/accounts.csv"]


def test_same_layout_as_the_standard_generator_other_persons(small: Path, tmp_path: Path) -> None:
    standard = generate(tmp_path / "standard", SMALL).out
    ours, theirs = _digest(small), _digest(standard)
    assert ours.keys() == theirs.keys()
    for name in ours:  # the specs are the same; the files and the truth are not
        if name.startswith("specs/"):
            # ... but that the hard feeds' birth dates, often mistyped, are emptied when
            # implausible rather than the row quarantined
            hard_spec = (small / name).read_text(encoding="utf-8")
            standard_spec = (standard / name).read_text(encoding="utf-8")
            assert hard_spec.replace("  invalid: 'null'\n", "") == standard_spec, name
            # (Metro 2's fields are the format's own, not written in its spec)
            assert ("invalid: 'null'" in hard_spec) == ("target: dob" in hard_spec), name
        else:
            assert ours[name] != theirs[name], name
    std = pq.read_schema(standard / "truth" / "persons.parquet")
    got = pq.read_schema(small / "truth" / "persons.parquet")
    for column in std.names:
        assert got.field(column).type == std.field(column).type, column
    rec = pq.read_schema(small / "truth" / "records.parquet")
    assert rec.names == ["feed", "file", "line_no", "person_id", "seq", "difficulties"]
    names = duckdb.sql(f"""SELECT count(*) FROM '{small}/truth/persons.parquet' h
        JOIN '{standard}/truth/persons.parquet' s USING (first_name, last_name, dob)""")
    assert names.fetchall()[0][0] < SMALL.persons * 0.01  # (independent persons)


def test_every_line_is_in_the_truth_with_its_difficulties(small: Path) -> None:
    counts = dict(
        duckdb.sql(f"""SELECT file, count(*) FROM '{small}/truth/records.parquet'
                       WHERE seq = 0 GROUP BY file""").fetchall()
    )
    assert len(counts) == len(FEED_NAMES)
    for file, n in counts.items():
        if file.endswith(".parquet"):
            assert pq.read_metadata(small / file).num_rows == n
        else:  # (less a header line, or a Metro 2 file's header and trailer records)
            lines = (small / file).read_bytes().count(b"\n")
            assert lines - {".jsonl": 0, ".metro2": 2}.get(Path(file).suffix, 1) == n, file
    tags = duckdb.sql(f"""SELECT DISTINCT unnest(difficulties)
                          FROM '{small}/truth/records.parquet'""").fetchall()
    assert {t[0] for t in tags} <= set(TAGS)


def _person_share(out: Path, tag: str) -> float:
    if tag == "shared_phone":  # (of households of two or more)
        sql = f"""SELECT avg(shared::INT) FROM (
            SELECT household_id, bool_or(list_contains(difficulties, 'shared_phone')) AS shared
            FROM '{out}/truth/persons.parquet' GROUP BY household_id HAVING count(*) >= 2)"""
    else:
        sql = f"""SELECT avg(list_contains(difficulties, '{tag}')::INT)
                  FROM '{out}/truth/persons.parquet'"""
    return float(duckdb.sql(sql).fetchall()[0][0])


# Record difficulties: the rows a rate is a chance over (feeds showing the field; persons
# with what it needs), as SQL over records r joined to persons p.
RECORD_BASE = {
    "nickname_used": "list_contains(p.difficulties, 'nickname')",
    "name_typo": "true",
    "address_variant": "r.feed <> 'metrotel_telecom'",
    "dob_year_typo": "r.feed NOT IN ('brightwater_utility', 'state_tax_liens')"
    " AND NOT (month(p.dob) = 2 AND day(p.dob) = 29)",
    "dob_missing": "r.feed NOT IN ('brightwater_utility', 'state_tax_liens')",
    "dob_swap": "r.feed NOT IN ('brightwater_utility', 'state_tax_liens')"
    " AND day(p.dob) <= 12 AND day(p.dob) <> month(p.dob)",
    "ssn_missing": "r.feed IN ('northbank_accounts', 'northbank_inquiries',"
    " 'crestline_tradelines', 'crestline_inquiries', 'state_tax_liens')",
    "ssn_typo": "r.feed IN ('northbank_accounts', 'northbank_inquiries',"
    " 'crestline_tradelines', 'crestline_inquiries', 'state_tax_liens')",
    "ssn_borrowed": "list_contains(p.difficulties, 'household') AND r.feed IN"
    " ('northbank_accounts', 'northbank_inquiries', 'crestline_tradelines',"
    " 'crestline_inquiries', 'state_tax_liens')",
    "hyphen_form": "list_contains(p.difficulties, 'hyphenated')"
    " AND NOT list_contains(p.difficulties, 'married')",
}


def test_each_difficulty_at_about_its_rate(rated: tuple[Path, Difficulties]) -> None:
    out, rates = rated
    for tag in PERSON_TAGS:
        if tag == "shared_email":  # (observed, not set)
            continue
        want, got = getattr(rates, tag), _person_share(out, tag)
        assert abs(got - want) <= 0.15 * want + 0.005, (tag, want, got)
    for tag, base in RECORD_BASE.items():
        got = duckdb.sql(f"""
            SELECT avg(list_contains(r.difficulties, '{tag}')::INT)
            FROM '{out}/truth/records.parquet' r
            JOIN '{out}/truth/persons.parquet' p USING (person_id) WHERE {base}""")
        want, share = getattr(rates, tag), float(got.fetchall()[0][0])
        assert abs(share - want) <= 0.25 * want + 0.004, (tag, want, share)
    # (shares of the rows these can touch are below the rate, but never absent)
    for tag in ("variant_spelling", "name_order", "maiden_name", "stale_address", "field_missing"):
        n = duckdb.sql(f"""SELECT count(*) FROM '{out}/truth/records.parquet'
                           WHERE list_contains(difficulties, '{tag}')""").fetchall()[0][0]
        assert n > 0, tag


def test_the_hard_cases_are_what_the_truth_says(rated: tuple[Path, Difficulties]) -> None:
    out, _ = rated
    p = f"'{out}/truth/persons.parquet'"

    def one(sql: str) -> tuple:
        return duckdb.sql(sql).fetchall()[0]

    # a Jr and his father: one first name and surname, one household and address, 20+ years
    jr = one(f"""SELECT count(*), bool_and(j.first_name = s.first_name
                   AND j.last_name = s.last_name AND j.household_id = s.household_id
                   AND j.addresses = s.addresses AND j.ssn <> s.ssn
                   AND date_diff('year', s.dob, j.dob) >= 20 AND j.sex = 'male')
                 FROM {p} j JOIN {p} s ON s.person_id = j.jr_sr_of
                 WHERE j.household_role = 'son'""")
    assert jr[0] > 0 and jr[1]
    # (a brother's and a sister's surname differ where it has a female form: Kowalski, -ska)
    twins = one(f"""SELECT count(*), bool_and(a.dob = b.dob AND a.household_id = b.household_id
                      AND (a.last_name = b.last_name OR a.sex <> b.sex)
                      AND a.first_name <> b.first_name)
                    FROM {p} a JOIN {p} b ON b.person_id = a.twin_of""")
    assert twins[0] > 0 and twins[1]
    namesakes = one(f"""SELECT count(*), bool_and(a.first_name = b.first_name
                          AND a.last_name = b.last_name AND a.email = b.email
                          AND a.household_id <> b.household_id)
                        FROM {p} a JOIN {p} b ON b.person_id = a.namesake_of""")
    assert namesakes[0] > 0 and namesakes[1]
    married = one(f"""SELECT count(*), bool_and(name_change_date IS NOT NULL
                        AND married_name IS NOT NULL AND len(addresses) >= 2)
                      FROM {p} WHERE list_contains(difficulties, 'married')""")
    assert married[0] > 0 and married[1]


def test_hard_population_goes_through_ingest_and_link_on_the_cli(cli, tmp_path: Path) -> None:
    pop, ws = tmp_path / "pop", tmp_path / "ws"
    res = cli("synth", "--out", pop, "--persons", 500, "--seed", 3, "--generator", "hard")
    assert res.exit_code == 0, res.output
    assert "(hard)" in res.stdout
    assert cli("init", ws).exit_code == 0
    for spec in sorted((pop / "specs").glob("*.yaml")):
        feed = spec.stem
        file = duckdb.sql(
            f"SELECT any_value(file) FROM '{pop}/truth/records.parquet' WHERE feed = '{feed}'"
        ).fetchall()[0][0]
        res = cli("ingest", spec, pop / file, "-w", ws)
        assert res.exit_code == 0, res.output
    res = cli("link", "-w", ws)
    assert res.exit_code == 0, res.output
    res = cli("eval-linkage", "--truth", pop / "truth", "-w", ws)
    assert res.exit_code == 0, res.output
    assert "pairwise F1" in res.stdout
    assert "Persons whose file holds another person's records" in res.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--generator", "odd"], "--generator odd: one of standard, hard"),
        (["--difficulty", "twin=0.1"], "add --generator hard"),
        (["--generator", "hard", "--difficulty", "twins=0.1"], "--difficulty twins: no such"),
        (["--generator", "hard", "--difficulty", "twin"], "expected NAME=RATE"),
        (["--generator", "hard", "--difficulty", "twin=often"], "a rate like 0.05"),
        (["--generator", "hard", "--difficulty", "twin=1.5"], "between 0 and 1"),
        (["--generator", "hard", "--difficulty", "household=0.01"], "at least jr_sr + twin"),
        (["--generator", "hard", "--difficulty", "married=0.5"], "living alone"),
        (["--generator", "hard", "--persons", "0"], "persons must be"),
    ],
)
def test_bad_options_give_one_clear_line(
    cli, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    res = cli("synth", "--out", out, *args)
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert not (out / "truth").exists()
