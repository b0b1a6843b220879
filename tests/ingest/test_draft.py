"""`openbureau spec draft`: a starting spec drafted from a furnisher file, completed by a person.

The round trip: draft from a synthetic furnisher's file, fill in nothing but the placeholders
(from the spec synth wrote), ingest, and every row loads. The draft's types match the spec synth
declared, column by column. Every field's category is unknown: the feed loads, the factor guard
refuses a factor derived from it."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from openbureau.ingest._yaml import load_yaml
from openbureau.ingest.spec import PLACEHOLDER
from openbureau.synth import SynthConfig, generate
from tests.conftest import write_sealed_card


@pytest.fixture(scope="module")
def synth_out(tmp_path_factory: pytest.TempPathFactory):
    """300 synthetic persons' furnisher files, without deliberate defects (counts are exact)."""
    config = SynthConfig(persons=300, months=24, as_of=dt.date(2023, 12, 31), defect_rate=0)
    return generate(tmp_path_factory.mktemp("synth") / "incoming", config)


def _draft(cli, file: Path, out: Path, *args: str) -> dict[str, Any]:
    res = cli("spec", "draft", file, "-o", out, *args)
    assert res.exit_code == 0, res.output
    return load_yaml(out.read_text(encoding="utf-8"))


def _fill(draft: dict[str, Any], real: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The draft with each placeholder, and nothing else, filled in from synth's own spec."""
    by_column = {f["column"]: f for f in real["fields"]}
    filled = 0
    if draft["furnisher"] == PLACEHOLDER:
        draft["furnisher"], filled = real["furnisher"], filled + 1
    for f in draft["fields"]:
        if f.get("formats") == [PLACEHOLDER]:
            f["formats"], filled = by_column[f["column"]]["formats"], filled + 1
        for key, value in (f.get("codes") or {}).items():
            if value == PLACEHOLDER:
                f["codes"][key], filled = by_column[f["column"]]["codes"][key], filled + 1
    assert PLACEHOLDER not in yaml.safe_dump(draft)
    return draft, filled


FEEDS = [
    "northbank_accounts",  # CSV, Metro 2 style codes to map
    "brightwater_utility",  # Latin-1, ';', decimal commas, dd.mm.yyyy
    "county_court_records",  # tab-separated, yyyymmdd dates the engine reads as numbers
    "crestline_tradelines",  # JSON lines, nested objects, an ambiguous date column
    "metrotel_telecom",  # Parquet
]


@pytest.mark.parametrize("feed", FEEDS)
def test_a_draft_with_its_placeholders_filled_in_loads_every_row(
    synth_out, tmp_path: Path, cli, feed: str
) -> None:
    real = yaml.safe_load(synth_out.specs[feed].read_text(encoding="utf-8"))
    draft = _draft(cli, synth_out.files[feed], tmp_path / "draft.yaml")

    assert draft["format"] == real["format"]
    if real["format"] == "csv":
        for key in ("encoding", "delimiter", "header"):
            assert draft["parse"][key] == real["parse"][key], key
    types = {f["column"]: f["type"] for f in real["fields"]}
    assert {f["column"]: f["type"] for f in draft["fields"]} == types
    assert {f["category"] for f in draft["fields"]} == {"unknown"}

    spec, filled = _fill(draft, real)
    assert filled >= 1  # the furnisher's name at least
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    assert cli("init", tmp_path / "ws").exit_code == 0
    res = cli("ingest", tmp_path / "spec.yaml", synth_out.files[feed], "-w", tmp_path / "ws")
    assert res.exit_code == 0, res.output
    n = synth_out.rows[feed]
    assert f"read {n:,} = loaded {n:,} + quarantined 0 ok" in res.stdout


LEFT_UNFILLED = [
    ("northbank_accounts", None, "furnisher: still FILL_IN"),
    ("northbank_accounts", "ACCT_STATUS", "fields.7 (ACCT_STATUS).codes.11: still FILL_IN"),
    ("crestline_tradelines", "reportedOn", "fields.10 (reportedOn).formats.0: still FILL_IN"),
]


@pytest.mark.parametrize(("feed", "column", "said"), LEFT_UNFILLED)
def test_a_draft_still_holding_a_placeholder_is_refused_by_ingest_naming_the_field(
    synth_out, tmp_path: Path, cli, feed: str, column: str | None, said: str
) -> None:
    draft = _draft(cli, synth_out.files[feed], tmp_path / "draft.yaml")
    real = yaml.safe_load(synth_out.specs[feed].read_text(encoding="utf-8"))
    if column is not None:  # every placeholder filled in but this column's
        kept = copy.deepcopy(next(f for f in draft["fields"] if f["column"] == column))
        draft = _fill(draft, real)[0]
        draft["fields"] = [kept if f["column"] == column else f for f in draft["fields"]]
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(draft, sort_keys=False), encoding="utf-8")
    cli("init", tmp_path / "ws")

    res = cli("ingest", tmp_path / "spec.yaml", synth_out.files[feed], "-w", tmp_path / "ws")

    assert res.exit_code == 2 and "Traceback" not in res.output
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and f"spec.yaml: {said}, left by" in line, line


def test_the_factor_guard_refuses_a_factor_derived_from_a_field_still_unknown(
    synth_out, tmp_path: Path, cli
) -> None:
    """The drafted feed loads with every category unknown; a scorecard whose factor reads one
    of its fields is refused against the workspace's catalog, in one line."""
    feed = "northbank_accounts"
    real = yaml.safe_load(synth_out.specs[feed].read_text(encoding="utf-8"))
    spec, _ = _fill(_draft(cli, synth_out.files[feed], tmp_path / "draft.yaml"), real)
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    cli("init", tmp_path / "ws")
    res = cli("ingest", tmp_path / "spec.yaml", synth_out.files[feed], "-w", tmp_path / "ws")
    assert res.exit_code == 0, res.output
    card = f"""\
name: drafted
factors:
  - name: worst_balance
    code: X01
    statement: Balance
    fields: [{{field: {spec["name"]}.balance, category: credit}}]
    custom: {{feed: {spec["name"]}, field: balance, aggregate: max, date_field: period}}
    bins:
      - {{upper: 1, points: 600}}
      - {{lower: 1, points: 500}}
      - {{missing: true, points: 550}}
"""
    path = write_sealed_card(tmp_path / "card.yaml", card)

    res = cli("seal", path, "-w", tmp_path / "ws")

    assert res.exit_code == 2 and "Traceback" not in res.output
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1
    assert f"field '{spec['name']}.balance' whose data category is 'unknown'" in line
    assert "nobody has declared its data category yet" in line


def _csv(tmp_path: Path, name: str, header: str, rows: list[str], encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes((header + "\n" + "".join(r + "\n" for r in rows)).encode(encoding))
    return path


def test_ambiguous_dates_are_left_for_a_person_and_the_candidates_named(
    tmp_path: Path, cli
) -> None:
    days = [f"{d:02d}/{m:02d}/2023" for d in range(1, 13) for m in (1, 6)]
    ambiguous = _csv(tmp_path, "a.csv", "ID,OPENED", [f"{i},{v}" for i, v in enumerate(days)])
    spec = _draft(cli, ambiguous, tmp_path / "a.yaml")
    opened = spec["fields"][1]
    assert opened["type"] == "date" and opened["formats"] == [PLACEHOLDER]
    text = (tmp_path / "a.yaml").read_text()
    assert "ambiguous dates: %d/%m/%Y and %m/%d/%Y" in text

    clear = _csv(tmp_path, "b.csv", "ID,OPENED", [f"{i},{v}" for i, v in enumerate(days)] +
                 ["99,25/12/2023"])  # fmt: skip
    assert _draft(cli, clear, tmp_path / "b.yaml")["fields"][1]["formats"] == ["%d/%m/%Y"]


def test_codes_seen_map_onto_the_vocabulary_and_the_rest_are_marked(tmp_path: Path, cli) -> None:
    statuses = ["current", "CURRENT ", "Charged off", "L30"] * 10
    path = _csv(tmp_path, "s.csv", "ACCT;STATUS;FLAG", [f"A{i};{s};Y" for i, s in
                                                         enumerate(statuses)])  # fmt: skip
    fields = {f["column"]: f for f in _draft(cli, path, tmp_path / "s.yaml")["fields"]}
    assert fields["STATUS"]["target"] == "payment_status" and fields["STATUS"]["type"] == "code"
    # one spelling per code as ingest matches them (case and surrounding spaces ignored)
    assert fields["STATUS"]["codes"] == {
        "CURRENT": "current", "Charged off": "chargeoff", "L30": PLACEHOLDER
    }  # fmt: skip
    assert fields["FLAG"]["type"] == "boolean"
    assert "# a guess: target from the column name" in (tmp_path / "s.yaml").read_text()


def test_the_encoding_is_told_by_the_bytes_and_the_format_by_the_content(
    tmp_path: Path, cli
) -> None:
    names = ["Zoë", "José", "Ana"] * 5
    latin = _csv(tmp_path, "l.csv", "NAME,N", [f"{n},{i}" for i, n in enumerate(names)], "latin-1")
    assert _draft(cli, latin, tmp_path / "l.yaml")["parse"]["encoding"] == "latin-1"
    utf8 = _csv(tmp_path, "u.csv", "NAME,N", [f"{n},{i}" for i, n in enumerate(names)])
    assert _draft(cli, utf8, tmp_path / "u.yaml")["parse"]["encoding"] == "utf-8"

    lines = [f'{{"id": "{i}", "amount": {i}.50}}' for i in range(10)]
    mislabelled = _csv(tmp_path, "j.csv", lines[0], lines[1:])
    spec = _draft(cli, mislabelled, tmp_path / "j.yaml")
    assert spec["format"] == "jsonl"
    assert [f["type"] for f in spec["fields"]] == ["string", "amount"]
    assert "the file's name says csv, its content is jsonl" in (tmp_path / "j.yaml").read_text()


def test_only_the_sampled_rows_are_read_and_the_draft_says_so(tmp_path: Path, cli) -> None:
    rows = [f"{i},{i * 10}" for i in range(30)] + ["30,not a number"]
    path = _csv(tmp_path, "n.csv", "ID,QTY", rows)
    res = cli("spec", "draft", path, "--sample-rows", "20")
    assert res.exit_code == 0, res.output
    assert "# Read: the first 20 data rows (a bounded sample, --sample-rows)." in res.stdout
    assert load_yaml(res.stdout)["fields"][1]["type"] == "integer"  # row 31 never seen
    whole = cli("spec", "draft", path)
    assert "# Read: all 31 data rows." in whole.stdout
    assert load_yaml(whole.stdout)["fields"][1]["type"] == "string"


BAD_FILES = {
    "missing": (None, "missing.csv: file not found"),
    "empty": (b"", "empty.csv: file is empty"),
    "header only": (b"A,B\n", "header only.csv: file has a header but no data rows"),
    "binary": (b"\x00\x01\x02\x00\x00" * 100, "binary.csv, line 1: binary data"),
    "ragged": (
        b"A,B,C\n1,2,3\n4,5,6\n7,8\n9,10,11\n",
        "ragged.csv, line 4: ragged row: Expected Number of Columns: 3 Found: 2",
    ),
    "not json": (b'{"a": 1}\n[2]\n', "not json.csv, line 2: not a JSON object"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_a_file_that_cannot_be_drafted_from_is_refused_in_one_line(
    tmp_path: Path, cli, kind: str
) -> None:
    content, said = BAD_FILES[kind]
    path = tmp_path / f"{kind}.csv"
    if content is not None:
        path.write_bytes(content)

    res = cli("spec", "draft", path, "-o", tmp_path / "out.yaml")

    assert res.exit_code == 2 and "Traceback" not in res.output
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and said in line, line
    assert not (tmp_path / "out.yaml").exists()


def test_a_ragged_row_may_be_left_out_on_request(tmp_path: Path, cli) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(BAD_FILES["ragged"][0])
    res = cli("spec", "draft", path, "--skip-bad-rows")
    assert res.exit_code == 0, res.output
    assert "1 sampled row left out of the draft (ragged row, first at line 4)" in res.stdout
    assert [f["column"] for f in load_yaml(res.stdout)["fields"]] == ["A", "B", "C"]


def test_an_existing_spec_is_not_overwritten(tmp_path: Path, cli) -> None:
    path = _csv(tmp_path, "x.csv", "A", ["1"])
    (tmp_path / "x.yaml").write_text("mine\n")
    res = cli("spec", "draft", path, "-o", tmp_path / "x.yaml")
    assert res.exit_code == 2 and "already exists (--force replaces it)" in res.stderr
    assert (tmp_path / "x.yaml").read_text() == "mine\n"
    assert cli("spec", "draft", path, "-o", tmp_path / "x.yaml", "--force").exit_code == 0


def test_values_that_look_like_identifiers_are_never_written_into_the_spec(
    tmp_path: Path, cli
) -> None:
    ssns, emails = ["123-45-6789", "987-65-4321"], ["jane@example.com", "john@example.com"]
    rows = [
        f"A{i};{ssns[i % 2]};{emails[i % 2]};X{i % 2}7731;{['GOLD', 'SILVER'][i % 2]};"
        f"{['PENDING', 'NONE'][i % 2]};{ssns[i % 2]}"
        for i in range(20)
    ]
    path = _csv(tmp_path, "p.csv", "ACCT;REF;CONTACT;STATUS;TIER;SSN;TIN", rows)
    spec = _draft(cli, path, tmp_path / "p.yaml")
    text = (tmp_path / "p.yaml").read_text()
    for value in [*ssns, *emails, "X07731", "X17731", "PENDING", "NONE"]:
        assert value not in text, value
    fields = {f["column"]: f for f in spec["fields"]}
    # a status column of identifiers gets no code table of them
    assert "codes" not in fields["STATUS"] and fields["STATUS"]["target"] == "status"
    assert text.count("values seen withheld: they look like identifiers") == 3  # REF, ...
    assert "values seen withheld: named like national_id, an identity field" in text  # TIN
    assert "values seen: GOLD (10), SILVER (10)" in text  # codes are still listed


def test_a_metro2_or_fixed_width_file_is_refused_not_drafted_as_one_column(
    tmp_path: Path, cli
) -> None:
    from tests.ingest.metro2_files import base, header, trailer, write

    metro2 = write(tmp_path / "acme.txt", [header(), base(account="A1"), trailer(base=1)])
    unbroken = write(tmp_path / "acme.dat", [header(), base(account="A1"), trailer(base=1)], "")
    records = [f"D{i:010d}DOE       JANE      19800102{i * 7:09d}" for i in range(12)]
    fixed = _csv(tmp_path, "lakeside.dat", "HLAKESIDE CREDIT UNION 20240705", records)
    for path, fmt in ((metro2, "metro2"), (unbroken, "metro2"), (fixed, "fixed")):
        res = cli("spec", "draft", path, "-o", tmp_path / "out.yaml")
        assert res.exit_code == 2 and "Traceback" not in res.output
        line = res.stderr.strip()
        assert len(line.splitlines()) == 1 and f"write a spec with format: {fmt} by hand" in line
        assert not (tmp_path / "out.yaml").exists()
    # a CSV file whose rows happen to be of one length is still a CSV file
    padded = _csv(tmp_path, "p.csv", "ACCOUNT_ID,BALANCE", [f"A{i:05d},{i:08d}" for i in range(12)])
    assert [f["column"] for f in _draft(cli, padded, tmp_path / "p.yaml")["fields"]] == [
        "ACCOUNT_ID", "BALANCE"
    ]  # fmt: skip
