"""Property: mangled input never breaks the reconciliation and never crashes ingest.

Whatever bytes a furnisher sends, ingest either loads a batch in which every non-blank data line
is accounted for exactly once (loaded or quarantined), or rejects the file with one line naming
it and writes nothing.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openbureau.engine import DuckDBEngine
from openbureau.errors import FileRejected
from openbureau.ingest import parse_spec
from openbureau.ingest.load import ingest_file
from tests.conftest import BANK_SPEC

CSV_SPEC = parse_spec(yaml.safe_load(BANK_SPEC))
JSONL_SPEC = parse_spec(
    {
        "name": "jl",
        "furnisher": "J",
        "feed": "f",
        "format": "jsonl",
        "record_key": ["account_id"],
        "fields": [
            {"column": "id", "target": "account_id", "category": "reference", "required": True},
            {"column": "who.name", "target": "full_name", "category": "identity"},
            {"column": "dob", "target": "dob", "type": "date", "category": "identity"},
            {"column": "bal", "target": "balance", "type": "amount", "category": "credit"},
        ],
    }
)

# tmp_path is shared by the examples of one test; each example overwrites its file.
FIXTURE_OK = [HealthCheck.function_scoped_fixture]
names = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n\x00"), max_size=8)
csv_row = st.tuples(
    st.integers(0, 50),
    names,
    names,
    st.dates().map(str) | st.sampled_from(["", "1999-02-30", "31/12/1999"]),
    st.sampled_from(["", "123-45-6789", "987654321", "12"]),
    st.sampled_from(["2024-01", "2024-13", ""]),
    st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str) | st.just("x"),
    st.sampled_from(["11", "71", "97", "42", ""]),
).map(lambda r: ",".join(str(v) for v in r))

mangle = st.sampled_from(
    [
        b"\x00",
        b"\xff",
        b"\xc3",
        b",",
        b'"',
        b"\n",
        b"\r\n",
        b"\n\n",
        b" \t ",
        b"\n\t \r\n",
        b";",
        b"\xef\xbb\xbf",
        "é".encode(),
        b"{",
        b"}",
        b"\\",
    ]
)


@st.composite
def mangled(draw: st.DrawFn, body: bytes, header_len: int) -> bytes:
    data = bytearray(body)
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["insert", "delete", "truncate", "dup_line", "blank_line"]))
        lo = header_len if draw(st.booleans()) or not data else 0
        pos = draw(st.integers(min(lo, len(data)), len(data)))
        if op == "insert":
            data[pos:pos] = draw(mangle)
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 5))]
        elif op == "truncate":
            del data[pos:]
        elif op == "blank_line":
            start = data.rfind(b"\n", 0, pos) + 1
            data[start:start] = draw(st.sampled_from([b"", b" ", b"\t", b" \t\r"])) + b"\n"
        else:
            start = data.rfind(b"\n", 0, pos) + 1
            end = data.find(b"\n", pos)
            end = len(data) if end < 0 else end + 1
            data[end:end] = data[start:end]
    return bytes(data)


def check(spec, path: Path, data: bytes, header_lines: int) -> None:
    path.write_bytes(data)
    engine = DuckDBEngine(":memory:")
    try:
        report = ingest_file(engine, spec, path, key=b"k" * 32)
    except FileRejected as exc:
        msg = str(exc)
        assert msg.startswith(str(path)) and "\n" not in msg
        tables = {r[0] for r in engine.query("SELECT table_name FROM information_schema.tables")}
        if "ingest_batches" in tables:
            assert engine.scalar("SELECT count(*) FROM ingest_batches") == 0
            assert engine.scalar("SELECT count(*) FROM quarantine") == 0
        assert spec.table not in tables
        return
    text = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    lines = text.split(b"\n")
    if text.endswith(b"\n"):
        lines.pop()
    expected = {i + 1 for i, line in enumerate(lines) if i >= header_lines and line.strip(b" \t\r")}
    loaded = {r[0] for r in engine.query(f"SELECT line_no FROM {spec.table}")}
    quarantined = {r[0] for r in engine.query("SELECT line_no FROM quarantine")}
    assert report.read == len(expected) == report.loaded + report.quarantined
    assert loaded | quarantined == expected and not loaded & quarantined
    batch = engine.query("SELECT rows_read, rows_loaded, rows_quarantined FROM ingest_batches")
    assert batch == [(report.read, report.loaded, report.quarantined)]
    engine.close()


@settings(max_examples=100, deadline=None, suppress_health_check=FIXTURE_OK)
@given(rows=st.lists(csv_row, min_size=1, max_size=12), data=st.data())
def test_mangled_csv_is_loaded_or_rejected_whole(tmp_path: Path, rows, data) -> None:
    header = b"ACCT,FIRST,LAST,DOB,SSN,PERIOD,BAL,STATUS\n"
    body = header + "\n".join(rows).encode() + b"\n"
    check(CSV_SPEC, tmp_path / "f.csv", data.draw(mangled(body, len(header))), 1)


json_row = st.fixed_dictionaries(
    {
        "id": st.integers(0, 30) | st.none(),
        "who": st.fixed_dictionaries({"name": names}) | st.none(),
        "dob": st.sampled_from(["1980-01-02", "1980-02-30", "", None]),
        "bal": st.integers(-5, 5) | st.text(max_size=3),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE_OK)
@given(rows=st.lists(json_row, min_size=1, max_size=10), data=st.data())
def test_mangled_jsonl_is_loaded_or_rejected_whole(tmp_path: Path, rows, data) -> None:
    import json

    body = b"".join(json.dumps(r).encode() + b"\n" for r in rows)
    check(JSONL_SPEC, tmp_path / "f.jsonl", data.draw(mangled(body, 0)), 0)
