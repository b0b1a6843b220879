"""The synthetic population: determinism, file formats, specs, truth and the risk model."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from openbureau.errors import UserError
from openbureau.ingest.spec import load_spec
from openbureau.synth import FEED_NAMES, SynthConfig, SynthResult, generate

SMALL = SynthConfig(persons=2000, seed=7, defect_rate=0.01)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return generate(tmp_path_factory.mktemp("synth") / "out", SMALL)


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _text_lines(path: Path, encoding: str) -> list[str]:
    return path.read_bytes().decode(encoding, errors="replace").splitlines()


def test_same_seed_gives_identical_files(run: SynthResult, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", SMALL)
    assert _digest(run.out) == _digest(again.out)


def test_other_seed_gives_other_files(tmp_path: Path) -> None:
    one = generate(tmp_path / "one", SynthConfig(persons=300, seed=7))
    other = generate(tmp_path / "other", SynthConfig(persons=300, seed=8))
    a, b = _digest(one.out), _digest(other.out)
    assert a.keys() == b.keys()
    assert a["northbank/accounts.csv"] != b["northbank/accounts.csv"]


def test_every_feed_has_a_file_a_spec_and_rows(run: SynthResult) -> None:
    assert set(run.files) == set(FEED_NAMES) == set(run.specs) == set(run.rows)
    for name in FEED_NAMES:
        assert run.files[name].is_file()
        assert run.rows[name] > 0, name
    assert not any("truth" in p.parts for p in run.files.values())


def test_encodings_and_delimiters(run: SynthResult) -> None:
    bright = run.files["brightwater_utility"].read_bytes()
    with pytest.raises(UnicodeDecodeError):
        bright.decode("utf-8")  # latin-1 accents are not valid UTF-8
    text = bright.decode("latin-1")
    assert any(ch in text for ch in "éëüñáíóú")
    assert text.splitlines()[0].split(";")[0] == "Account Number"
    assert ",".join(text.splitlines()[1].split(";")[5:6]).count(",") == 1  # decimal comma

    tax = run.files["state_tax_liens"].read_bytes()
    assert b"\r\n" in tax
    header = tax.split(b"\r\n")[0].decode("cp1252")
    assert header.split("|")[0] == "Lien_ID"
    rent = run.files["rentright_rent"].read_bytes()
    assert rent.startswith(b"\xef\xbb\xbfLeaseId,")
    court = run.files["county_court_records"].read_text("utf-8", errors="replace")
    assert court.splitlines()[0].split("\t")[0] == "case-no"
    jsonl = run.files["crestline_tradelines"].read_text("utf-8", errors="replace")
    first = json.loads(jsonl.splitlines()[0])
    assert set(first["borrower"]) >= {"name", "birth_date", "tax_id", "address"}
    telecom = pq.read_table(run.files["metrotel_telecom"])
    assert str(telecom.schema.field("birth_date").type) == "date32[day]"
    assert "sex" not in telecom.column_names
    assert set(telecom.column("title").to_pylist()) <= {"Mr", "Mrs", "Ms", "Mx"}


def _columns_in_file(
    run: SynthResult, name: str, spec_format: str, encoding: str, delimiter: str
) -> set[str]:
    path = run.files[name]
    if spec_format == "parquet":
        return set(pq.read_schema(path).names)
    if spec_format == "csv":
        head = path.read_bytes().decode(encoding, errors="replace").splitlines()[0]
        return set(head.split(delimiter))
    keys: set[str] = set()

    def walk(obj: dict, prefix: str) -> None:
        for k, v in obj.items():
            if isinstance(v, dict):
                walk(v, prefix + k + ".")
            else:
                keys.add(prefix + k)

    walk(json.loads(path.read_text("utf-8", errors="replace").splitlines()[0]), "")
    return keys


def test_specs_load_and_name_existing_columns(run: SynthResult) -> None:
    for name, spec_path in run.specs.items():
        spec = load_spec(spec_path)
        assert spec.name == name
        if spec.format == "metro2":  # (its fields sit at built-in positions: see below)
            continue
        present = _columns_in_file(
            run, name, spec.format, spec.parse.encoding, spec.parse.delimiter
        )
        missing = {f.column for f in spec.fields} - present
        assert not missing, f"{name}: {missing}"
        dates = [f for f in spec.fields if f.type in ("date", "month")]
        assert all(f.formats for f in dates)
    tel = load_spec(run.specs["metrotel_telecom"])
    assert tel.field("title").category.value == "sex"
    assert load_spec(run.specs["brightwater_utility"]).field("amount_due").decimal_comma


def test_truth_covers_every_row_once(run: SynthResult) -> None:
    records = pq.read_table(run.truth_dir / "records.parquet").to_pydict()
    base = np.array(records["seq"]) == 0  # (a Metro 2 joint holder is a consumer of its row)
    feeds = np.array(records["feed"])[base]
    lines = np.array(records["line_no"])[base]
    header_line = (".csv", ".tsv", ".metro2")
    for name in FEED_NAMES:
        mine = np.sort(lines[feeds == name])
        assert len(mine) == run.rows[name], name
        first = 2 if run.files[name].suffix in header_line else 1
        assert np.array_equal(mine, np.arange(first, first + run.rows[name])), name
    # physical line count matches the truth (header + rows) for every text file
    for name in FEED_NAMES:
        path = run.files[name]
        if path.suffix == ".parquet":
            assert pq.read_metadata(path).num_rows == run.rows[name]
            continue
        n_lines = path.read_bytes().count(b"\n")
        header = {".csv": 1, ".tsv": 1, ".metro2": 2}.get(path.suffix, 0)  # (and trailer)
        assert n_lines == run.rows[name] + header, name


def test_truth_person_matches_file_identity(run: SynthResult) -> None:
    persons = pq.read_table(run.truth_dir / "persons.parquet").to_pydict()
    ssn_of = dict(zip(persons["person_id"], persons["ssn"], strict=True))
    records = pq.read_table(run.truth_dir / "records.parquet").to_pydict()
    who = {
        ln: pid
        for f, ln, pid in zip(
            records["feed"], records["line_no"], records["person_id"], strict=True
        )
        if f == "northbank_accounts"
    }
    rows = list(
        csv.reader(
            io.StringIO(run.files["northbank_accounts"].read_text("utf-8", errors="replace"))
        )
    )
    header = rows[0]
    ssn_col = header.index("SSN")
    agree = sum(
        r[ssn_col].replace("-", "") == ssn_of[who[i + 2]]
        for i, r in enumerate(rows[1:])
        if len(r) == len(header)
    )
    assert agree / (len(rows) - 1) > 0.9


def test_defects_are_where_the_truth_says(run: SynthResult) -> None:
    defects = pq.read_table(run.truth_dir / "defects.parquet").to_pylist()
    assert len(defects) > 0
    kinds = {d["kind"] for d in defects}
    assert {"bad_date", "duplicate", "bad_byte", "missing_identifier"} <= kinds
    for d in defects:
        if d["feed"] != "northbank_accounts":
            continue
        raw = run.files["northbank_accounts"].read_bytes().split(b"\n")
        line = raw[d["line_no"] - 1]
        if d["kind"] == "bad_byte":
            assert b"\xff" in line
        elif d["kind"] == "duplicate":
            assert line == raw[d["line_no"] - 2]
        elif d["kind"] == "field_count":
            assert line.count(b",") == raw[0].count(b",") + 1
        elif d["kind"] == "bad_date":
            assert b"2024-13-45" in line
    clean = generate(run.out.parent / "clean", SynthConfig(persons=300, defect_rate=0.0))
    assert pq.read_metadata(clean.truth_dir / "defects.parquet").num_rows == 0


def test_hard_negatives_exist(run: SynthResult) -> None:
    p = pq.read_table(run.truth_dir / "persons.parquet").to_pydict()
    idx = {pid: i for i, pid in enumerate(p["person_id"])}
    twins = [(i, idx[t]) for i, t in enumerate(p["twin_of"]) if t is not None]
    assert len(twins) >= 10
    for a, b in twins:
        assert p["dob"][a] == p["dob"][b] and p["last_name"][a] == p["last_name"][b]
        assert p["first_name"][a] != p["first_name"][b] and p["ssn"][a] != p["ssn"][b]
        assert p["addresses"][a] == p["addresses"][b]
    pairs = [(i, idx[t]) for i, t in enumerate(p["jr_sr_of"]) if t is not None]
    assert len(pairs) >= 10
    for a, b in pairs:
        assert p["first_name"][a] == p["first_name"][b]
        assert {p["name_suffix"][a], p["name_suffix"][b]} == {"Jr", "Sr"}
        gap = abs((p["dob"][a] - p["dob"][b]).days) / 365.25
        assert 20 < gap < 32
    assert p["last_name"].count("Smith") > 5


def test_risk_model_within_documented_ranges(run: SynthResult) -> None:
    p = pq.read_table(run.truth_dir / "persons.parquet").to_pydict()
    pd12 = np.array(p["pd_12m"])
    assert ((pd12 > 0) & (pd12 < 1)).all()
    alive = ~np.array(p["defaulted_before_as_of"])
    y = np.array(p["default_12m"])
    assert 0.06 <= y[alive].mean() <= 0.14
    assert 0.74 <= run.oracle_auc <= 0.86
    z = np.array(p["latent_risk"])
    high, low = alive & (z > 1), alive & (z < -1)
    assert y[high].mean() > 3 * y[low].mean()
    share_no_trade = 1 - np.mean(p["has_tradeline"])
    assert 0.1 < share_no_trade < 0.25
    manifest = json.loads((run.truth_dir / "manifest.json").read_text())
    assert manifest["oracle_auc"] == pytest.approx(run.oracle_auc, abs=1e-6)
    assert manifest["rows"] == run.rows


def test_defaults_show_up_in_the_files(run: SynthResult) -> None:
    """A person defaulting in the window reports 90+ days past due somewhere."""
    p = pq.read_table(run.truth_dir / "persons.parquet").to_pydict()
    records = pq.read_table(run.truth_dir / "records.parquet").to_pydict()
    lines = run.files["northbank_accounts"].read_text("utf-8", errors="replace").splitlines()
    bad_status = {"80", "82", "83", "97"}
    status_col = lines[0].split(",").index("ACCT_STATUS")
    seriously_late = {
        pid
        for f, ln, pid in zip(
            records["feed"], records["line_no"], records["person_id"], strict=True
        )
        if f == "northbank_accounts"
        and lines[ln - 1].split(",")[status_col : status_col + 1][0] in bad_status
    }
    defaulted = {
        pid
        for pid, y, b in zip(
            p["person_id"], p["default_12m"], p["defaulted_before_as_of"], strict=True
        )
        if y or b
    }
    assert seriously_late and seriously_late <= defaulted


def test_progress_is_reported(tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    generate(tmp_path / "p", SynthConfig(persons=50), progress=lambda *a: calls.append(a))
    assert len(calls) >= len(FEED_NAMES) + 3
    assert calls[-1][1] == calls[-1][2]


@pytest.mark.parametrize(
    "config",
    [
        SynthConfig(persons=0),
        SynthConfig(months=12),
        SynthConfig(as_of=date(2025, 6, 30)),
        SynthConfig(as_of=date(2022, 12, 31)),
    ],
)
def test_bad_config_raises_user_error(config: SynthConfig, tmp_path: Path) -> None:
    with pytest.raises(UserError):
        generate(tmp_path / "x", config)


def test_unwritable_output_raises_user_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match="cannot write"):
        generate(blocker / "out", SynthConfig(persons=10))


def test_harbor_writes_a_metro2_file_with_joint_sold_and_renumbered_accounts(
    run: SynthResult,
) -> None:
    lines = run.files["harbor_accounts"].read_bytes().decode("latin-1").split("\r\n")[:-1]
    assert lines[0][4:10] == "HEADER" and lines[-1][4:11] == "TRAILER"
    records = lines[1:-1]
    assert all(int(r[:4]) == len(r) and r[4] == "1" for r in records)
    tails = [r[426:] for r in records]
    joint = {t[:2] for t in tails if t}
    assert joint >= {"J1", "J2"}
    sold = [r for r in records if "K2" in r[426:]]
    renumbered = [r for r in records if "L12" in r[426:] or "L11" in r[426:]]
    assert len(sold) == 1 and sold[0][123:125] == "05" and sold[0][154:163] == "0" * 9
    assert sold[0][426:][3:22] == "SEAGATE CAPITAL LLC"
    assert len(renumbered) == 1
    old, new = renumbered[0][42:72].strip(), renumbered[0][426:][3:33].strip()
    numbers = [r[42:72].strip() for r in records]
    month = [r[181:189] for r in records]  # (MMDDYYYY)
    changed = renumbered[0][181:189]
    assert old != new and new in numbers
    # (a bad_date defect writes month 13)
    later = {m[4:] + m[:2] for m, n in zip(month, numbers, strict=True) if n == old and m < "13"}
    assert max(later) == changed[4:] + changed[:2]  # the old number stops at the L1 month
    # the truth names every joint holder (seq 1) on its record's line
    truth = pq.read_table(run.truth_dir / "records.parquet").to_pydict()
    seq = [
        (ln, s)
        for f, ln, s in zip(truth["feed"], truth["line_no"], truth["seq"], strict=True)
        if f == "harbor_accounts"
    ]
    with_joint = {i + 2 for i, t in enumerate(tails) if t[:2] in ("J1", "J2")}
    assert {ln for ln, s in seq if s == 1} == with_joint
