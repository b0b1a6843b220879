"""Fixed-width files: records by position, record types, trailer totals, every record counted."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from openbureau.engine import DuckDBEngine
from openbureau.errors import FileRejected
from openbureau.ingest import parse_spec
from openbureau.ingest.load import ingest_file, ingest_files
from openbureau.workspace import Workspace
from tests.ingest.test_properties import mangled

LAYOUT = {
    "record_length": 30,
    "record_type": {"start": 1, "width": 1},
    "header": "H",
    "detail": ["D"],
    "trailer": "T",
    "totals": [
        {"name": "COUNT", "start": 2, "width": 6, "count": "records"},
        {
            "name": "TOTAL",
            "start": 8,
            "end": 17,
            "sum": "balance",
            "scale": 0.01,
            "sign": "trailing",
        },
    ],
}
SPEC = {
    "name": "dale_accounts",
    "furnisher": "Dale CU",
    "feed": "accounts",
    "format": "fixed",
    "parse": {"encoding": "latin-1"},
    "layout": LAYOUT,
    "record_key": ["account_id", "period"],
    "fields": [
        {"column": "ACCT", "start": 2, "width": 5, "target": "account_id",
         "category": "reference", "required": True},
        {"column": "NAME", "start": 7, "end": 16, "target": "last_name", "category": "identity"},
        {"column": "MONTH", "start": 17, "width": 6, "target": "period", "type": "month",
         "formats": ["%Y%m"], "category": "reference", "required": True},
        {"column": "BAL", "start": 23, "width": 8, "target": "balance", "type": "amount",
         "scale": 0.01, "sign": "trailing", "category": "credit"},
    ],
}  # fmt: skip


def detail(acct: str, name: str, cents: int | None, month: str = "202406") -> str:
    bal = " " * 8 if cents is None else f"{abs(cents):07d}" + ("-" if cents < 0 else " ")
    return f"D{acct:<5}{name:<10}{month}{bal}"


def trailer(count: int, cents: int) -> str:
    return f"T{count:06d}{abs(cents):09d}{'-' if cents < 0 else ' '}".ljust(30)


HEADER = "HDALE CU 20240705".ljust(30)
GOOD = [detail("A1", "Müller", 123456), detail("A2", "Peña", -2550), detail("A3", "Ode", None)]
GOOD_FILE = [HEADER, *GOOD, trailer(3, 123456 - 2550)]


def write(tmp_path: Path, records: list[str], sep: str = "\n", end: str | None = None) -> Path:
    p = tmp_path / "dale.dat"
    p.write_bytes((sep.join(records) + (sep if end is None else end)).encode("latin-1"))
    return p


def load(ws: Workspace, file: Path, spec: dict | None = None):
    with ws.engine() as engine:
        return ingest_file(engine, parse_spec(spec or SPEC), file, key=ws.national_id_key())


def query(ws: Workspace, sql: str):
    with ws.engine(read_only=True) as engine:
        return engine.query(sql)


def nothing_written(ws: Workspace) -> bool:
    with ws.engine(read_only=True) as engine:
        return not engine.table_exists("src_dale_accounts") and (
            not engine.table_exists("ingest_batches")
            or engine.scalar("SELECT count(*) FROM ingest_batches") == 0
        )


@pytest.mark.parametrize(
    ("sep", "end"), [("\n", None), ("\r\n", None), ("", ""), ("", "\n")], ids=["LF", "CRLF",
    "no line breaks", "no line breaks, one at the end"]
)  # fmt: skip
def test_good_files_load_with_every_line_ending(ws, tmp_path, sep, end) -> None:
    report = load(ws, write(tmp_path, GOOD_FILE, sep, end))
    assert (report.read, report.loaded, report.quarantined, report.control_records) == (3, 3, 0, 2)
    assert report.totals == ["COUNT 3", "TOTAL 1,209.06"]
    got = query(ws, "SELECT line_no, account_id, last_name, balance FROM src_dale_accounts")
    assert sorted(got) == [
        (2, "A1", "Müller", Decimal("1234.56")),  # cents, scaled
        (3, "A2", "Peña", Decimal("-25.50")),  # trailing sign
        (4, "A3", "Ode", None),  # blank amount: empty, not zero
    ]
    assert query(ws, "SELECT rows_read, control_records FROM ingest_batches") == [(3, 2)]


def test_a_layout_without_record_types_reads_every_line_as_a_row(ws, tmp_path) -> None:
    spec = {**SPEC, "layout": {"record_length": 30}}
    report = load(ws, write(tmp_path, GOOD), spec)
    assert (report.read, report.loaded, report.control_records) == (3, 3, 0)


def test_records_that_cannot_be_rows_are_quarantined_with_their_line(ws, tmp_path) -> None:
    records = [
        HEADER,
        GOOD[0],
        "XA9   NOTE".ljust(30),  # a record type the layout does not list
        detail("A4", "Short", 700)[:20],  # cut inside the period
        detail("A5", "Long", 100) + "??",  # every field there, but 32 characters
        "",  # blank: counted apart
        detail("A6", "Bad", 5)[:22] + "12x4567 ",  # not a number
    ]
    spec = {**SPEC, "layout": {**LAYOUT, "totals": LAYOUT["totals"][:1]}}
    report = load(ws, write(tmp_path, [*records, trailer(5, 0)]), spec)
    assert (report.read, report.loaded, report.quarantined) == (5, 1, 4)
    assert (report.blank_lines, report.control_records) == (1, 2)
    reasons = dict(query(ws, "SELECT line_no, reasons FROM quarantine"))
    assert reasons == {
        3: ["unknown_record_type"],
        4: ["short_record:period"],
        5: ["wrong_record_length"],
        7: ["bad_amount:balance"],
    }
    assert query(ws, "SELECT source_column, value FROM quarantine WHERE line_no = 7") == [
        ("BAL", "12x4567")
    ]


def test_a_quarantined_record_never_keeps_a_national_id(ws, tmp_path) -> None:
    """The attack: national IDs right after other digits (no word boundary for a pattern to
    find), in records quarantined for every kind of reason, one of them not valid UTF-8 (so
    its fields cannot be cut as text). Each is masked by its place in the layout."""
    spec = {
        **SPEC,
        "parse": {"encoding": "utf-8"},
        "layout": {**LAYOUT, "record_length": 39, "totals": LAYOUT["totals"][:1]},
        "fields": [*SPEC["fields"], {"column": "SSN", "start": 31, "width": 9,
                                     "target": "national_id", "category": "identity"}],
    }  # fmt: skip
    ids = ["123456789", "987654321", "555667777", "444332222", "111223333"]
    records = [
        HEADER.ljust(39),
        "DA1   Müller    20240600001000" + ids[0],  # loads
        "XA2   Ode       20240600001000" + ids[1],  # unknown record type
        "DA3   Ode       20240600001000" + ids[2][:7],  # short: a part of one
        "DA4   Ode       2024x60000100 " + ids[3],  # a bad date
        "DA5   Ode\udcff      20240600001000" + ids[4],  # not UTF-8
    ]
    data = "\n".join([*records, "T000005".ljust(39)]).encode("utf-8", "surrogateescape")
    (tmp_path / "dale.dat").write_bytes(data + b"\n")
    report = load(ws, tmp_path / "dale.dat", spec)
    assert (report.read, report.loaded, report.quarantined) == (5, 1, 4)
    raws = dict(query(ws, "SELECT line_no, raw FROM quarantine"))
    assert sorted(raws) == [3, 4, 5, 6]
    for raw in raws.values():
        assert "[national_id]" in raw, raw
        assert not any(i[:5] in raw or i[-4:] in raw for i in ids), raw
    assert raws[3] == "XA2   Ode       20240600001000[national_id]"
    assert raws[6].startswith("DA5   Ode\\xFF"), raws[6]  # (the bad byte shown as it was)


def test_a_truncated_file_without_line_breaks_loses_only_its_last_record(ws, tmp_path) -> None:
    spec = {**SPEC, "layout": {"record_length": 30}}
    file = write(tmp_path, GOOD, "", "")
    file.write_bytes(file.read_bytes()[:-5])
    report = load(ws, file, spec)
    assert (report.read, report.loaded, report.quarantined) == (3, 2, 1)
    assert query(ws, "SELECT line_no, reason, field FROM quarantine") == [
        (3, "short_record", "balance")
    ]


@pytest.mark.parametrize(
    ("records", "message"),
    [
        (
            [HEADER, *GOOD, trailer(4, 123456 - 2550)],
            "dale.dat, line 5: trailer field 'COUNT' says 4 records, but the file has 3 "
            "records besides its header and trailer",
        ),
        (
            [HEADER, *GOOD, trailer(3, 123456)],
            "dale.dat, line 5: trailer field 'TOTAL' says 1,234.56 but the detail records' "
            "balance add up to 1,209.06; nothing was loaded",
        ),
        (
            [HEADER, GOOD[0], detail("A2", "Peña", 1)[:22] + "0000Z50-", trailer(2, 123456 - 2550)],
            "line 4: trailer field 'TOTAL' says 1,209.06 but the detail records' balance add "
            "up to 1,234.56 (1 of them could not be read, the first at line 3)",
        ),
        ([HEADER, *GOOD], "dale.dat: no trailer record (record type 'T'); the file may be"),
        (
            [HEADER, GOOD[0], trailer(1, 123456), GOOD[1]],
            "line 3: the trailer record (record type 'T') is not the last record",
        ),
        ([*GOOD, trailer(3, 0)], "dale.dat: no header record (record type 'H'); nothing was"),
        (
            [GOOD[0], HEADER, *GOOD[1:], trailer(3, 0)],
            "line 2: the header record (record type 'H') is not the first record",
        ),
        ([HEADER, HEADER, *GOOD, trailer(3, 0)], "line 2: a second header record"),
        (
            [HEADER[:29], *GOOD, trailer(3, 0)],
            "line 1: the header record (record type 'H') is 29 characters long, not "
            "layout.record_length 30",
        ),
        ([HEADER, *GOOD, "T00000x".ljust(30)], "line 5: trailer field 'COUNT': '00000x' is not a"),
    ],
    ids=["count", "sum", "unreadable amount", "no trailer", "trailer not last", "no header",
         "header not first", "two headers", "short header", "count not a number"],
)  # fmt: skip
def test_a_file_whose_structure_or_totals_do_not_hold_is_rejected_whole(
    ws, tmp_path, records, message
) -> None:
    file = write(tmp_path, records)
    with pytest.raises(FileRejected, match=re.escape(message)):
        load(ws, file)
    assert nothing_written(ws)


def test_a_bad_trailer_stops_the_command_before_any_file_is_loaded(ws, tmp_path) -> None:
    good = write(tmp_path, GOOD_FILE)
    bad = tmp_path / "bad.dat"
    bad.write_bytes("\n".join([HEADER, *GOOD, trailer(9, 0)]).encode("latin-1") + b"\n")
    with ws.engine() as engine, pytest.raises(FileRejected, match=r"bad\.dat, line 5: trailer"):
        ingest_files(engine, parse_spec(SPEC), [good, bad], key=ws.national_id_key())
    assert nothing_written(ws)


def test_the_cli_prints_the_header_and_trailer_and_the_totals(ws, tmp_path, cli) -> None:
    spec = tmp_path / "dale.yaml"
    spec.write_text(yaml.safe_dump(SPEC, allow_unicode=True), encoding="utf-8")
    result = cli("ingest", spec, write(tmp_path, GOOD_FILE, "\r\n"), "-w", ws.root)
    assert result.exit_code == 0, result.output
    assert "read 3 = loaded 3 + quarantined 0 ok" in result.output
    assert "+ 2 header and trailer records (counted, not rows); trailer totals match: COUNT 3, " \
        "TOTAL 1,209.06" in result.output  # fmt: skip
    bad = write(tmp_path, [HEADER, *GOOD, trailer(2, 0)])
    result = cli("ingest", spec, bad, "-w", ws.root)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {bad}, line 5: trailer field 'COUNT' says 2 records, but the file has 3 records "
        "besides its header and trailer (blank lines not counted); nothing was loaded"
    ]


def test_scale_and_sign_work_in_a_csv_file_too(ws, tmp_path) -> None:
    spec = {
        **{k: v for k, v in SPEC.items() if k not in ("layout", "fields", "parse")},
        "format": "csv",
        "fields": [
            {k: v for k, v in f.items() if k not in ("start", "width", "end")}
            for f in SPEC["fields"]
        ],
    }
    file = tmp_path / "dale.csv"
    file.write_text(
        "ACCT,NAME,MONTH,BAL\nA1,X,202406,123456\nA2,Y,202406,2550-\nA3,Z,202406,12.5\n"
        "A4,W,202406,-5\n",
        encoding="utf-8",
    )
    report = load(ws, file, spec)
    assert (report.loaded, report.quarantined) == (2, 2)
    assert sorted(query(ws, "SELECT account_id, balance FROM src_dale_accounts")) == [
        ("A1", Decimal("1234.56")),
        ("A2", Decimal("-25.50")),
    ]
    assert dict(query(ws, "SELECT line_no, reasons FROM quarantine")) == {
        4: ["too_many_decimals:balance"],  # 12.5 cents is 0.125
        5: ["bad_amount:balance"],  # the spec says the sign trails
    }


@pytest.mark.parametrize(
    ("scale", "text", "value"),
    [
        (0.001, "12340", Decimal("12.34")),
        (0.001, "12345", None),  # 12.345: too many decimals, never rounded
        (1000, "1.5", Decimal("1500.00")),
    ],
)
def test_a_scale_is_exact_or_the_value_is_refused(ws, tmp_path, scale, text, value) -> None:
    spec = {**SPEC, "layout": {"record_length": 30}}
    spec["fields"] = [
        {**f, "scale": scale, "sign": None} if f["target"] == "balance" else f
        for f in SPEC["fields"]
    ]
    file = write(tmp_path, [f"DA1   X         202406{text:>8}"])
    report = load(ws, file, spec)
    assert report.loaded == (value is not None)
    if value is not None:
        assert query(ws, "SELECT balance FROM src_dale_accounts") == [(value,)]
    else:
        assert query(ws, "SELECT reason FROM quarantine") == [("too_many_decimals",)]


def test_a_trailer_without_a_final_line_break_is_not_a_truncated_file(ws, tmp_path) -> None:
    spec = {**SPEC, "parse": {"encoding": "latin-1", "final_newline": "optional"}}
    records = [HEADER, GOOD[0], GOOD[1][:20], GOOD[2], trailer(3, 123456)]  # (a cut balance)
    report = load(ws, write(tmp_path, records, "\n", ""), spec)
    assert (report.read, report.loaded, report.quarantined) == (3, 2, 1)
    with pytest.raises(FileRejected, match="the last line has no line break"):
        load(ws, write(tmp_path, records, "\n", ""))  # (final_newline: required)


def test_utf8_records_without_line_breaks_are_cut_by_characters(ws, tmp_path) -> None:
    spec = {**SPEC, "parse": {"encoding": "utf-8"}, "layout": {"record_length": 30}}
    file = tmp_path / "dale.dat"
    file.write_bytes("".join(GOOD).encode("utf-8"))  # ü and ñ are two bytes each
    report = load(ws, file, spec)
    assert (report.read, report.loaded) == (3, 3)
    assert sorted(query(ws, "SELECT last_name FROM src_dale_accounts")) == [
        ("Müller",),
        ("Ode",),
        ("Peña",),
    ]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["A1", "B22", "C"]), st.sampled_from(["Müller", "", "Ode"]),
                  st.integers(-9999, 99999) | st.none()),
        min_size=1, max_size=8,
    ),
    data=st.data(),
)  # fmt: skip
def test_mangled_fixed_width_is_loaded_or_rejected_whole(tmp_path, rows, data) -> None:
    """Every non-blank record besides the header and trailer is loaded or quarantined, once."""
    records = [detail(a, n, c) for a, n, c in rows]
    total = sum(c or 0 for _, _, c in rows)
    body = "\n".join([HEADER, *records, trailer(len(records), total)]).encode("latin-1") + b"\n"
    raw = data.draw(mangled(body, 0))
    path = tmp_path / "f.dat"
    path.write_bytes(raw)
    engine = DuckDBEngine(":memory:")
    try:
        report = ingest_file(engine, parse_spec(SPEC), path, key=b"k" * 32)
    except FileRejected as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        assert not engine.table_exists("src_dale_accounts")
        event("rejected")
        return
    event("loaded")
    lines = raw.split(b"\n")
    if raw.endswith(b"\n"):
        lines.pop()
    kept = [(i + 1, line) for i, line in enumerate(lines) if line.strip(b" \t\r")]
    expected = {i for i, line in kept if line[:1] not in (b"H", b"T")}
    loaded = {r[0] for r in engine.query("SELECT line_no FROM src_dale_accounts")}
    quarantined = {r[0] for r in engine.query("SELECT line_no FROM quarantine")}
    assert report.read == len(expected) == report.loaded + report.quarantined
    assert loaded | quarantined == expected and not loaded & quarantined
    assert report.control_records == len(kept) - len(expected) == 2
    engine.close()
