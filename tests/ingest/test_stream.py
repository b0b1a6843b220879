"""Files streamed in chunks: whatever the chunk size, the same rows, quarantine and counts.

Each file is loaded once whole (one chunk) and again in chunks of a few bytes, so that chunk
boundaries fall inside lines, CRLFs, multi-byte characters, quoted fields and records; the
batch must come out identical, and a batch that fails must leave nothing behind.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from unittest.mock import patch

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openbureau.engine import DuckDBEngine
from openbureau.errors import FileRejected
from openbureau.ingest import _stream, parse_spec
from openbureau.ingest.load import ingest_file, ingest_files
from openbureau.ingest.spec import SourceSpec
from tests.conftest import BANK_HEADER, BANK_SPEC
from tests.ingest import metro2_files as m2
from tests.ingest import test_fixed as fx

KEY = b"k" * 32
CSV = parse_spec(yaml.safe_load(BANK_SPEC))
CSV_OPTIONAL = parse_spec({**yaml.safe_load(BANK_SPEC), "parse": {"final_newline": "optional"}})
WHOLE = 1 << 30
SIZES = [1, 2, 3, 5, 7, 11, 16, 29, 64, 100]

ROWS = [
    "1,John,Smith,1980-01-02,123-45-6789,2024-01,100.50,11",
    '2,"Ann\r\nMarie",Lee,05/06/1990,987654321,2024-01,"1,234.00",71',  # a quoted line break
    "3,J\xf6rg,Bad\xff,1970-05-05,,2024-01,0,97",  # a bad byte (written as Latin-1 below)
    "",
    "1,John,Smith,1980-01-02,123-45-6789,2024-01,100.50,11",  # duplicate row
    "1,John,Smith,1980-01-02,123-45-6789,2024-01,999.00,11",  # duplicate key
    "4,Zo\x00e,Ng,1971-01-01,,2024-01,5,11",  # a control character
    "5,Émile,Zola,1940-04-02,,2024-01,1e5,11",  # a bad amount, multi-byte letters
    '6,"Pat ""P"" O\'Neil",Oak,1970-05-05,,2024-02,12,11',
    "7,Ann,Lee,1990-13-01,987654321,2024-02,5,42",
]


def _bytes(rows: list[str], sep: bytes = b"\r\n", end: bytes | None = None) -> bytes:
    lines = [
        r.encode("utf-8").replace("\xf6".encode(), b"\xf6").replace("\xff".encode(), b"\xff")
        for r in rows
    ]
    return BANK_HEADER.encode() + sep.join(lines) + (sep if end is None else end)


def nothing_written(engine: DuckDBEngine, spec: SourceSpec) -> bool:
    return not engine.table_exists(spec.table) and all(
        not engine.table_exists(t) or engine.scalar(f"SELECT count(*) FROM {t}") == 0
        for t in ("quarantine", "ingest_batches")
    )


def outcome(spec: SourceSpec, path: Path, chunk: int) -> tuple[object, ...]:
    """Everything a load leaves behind (or its rejection), with ``chunk`` bytes a chunk."""
    engine = DuckDBEngine()
    try:
        with patch.object(_stream, "CHUNK_BYTES", chunk):
            try:
                report = ingest_file(engine, spec, path, key=KEY)
            except FileRejected as exc:
                assert nothing_written(engine, spec)
                return ("rejected", str(exc))
        assert report.reconciled
        counts = (report.read, report.loaded, report.quarantined, report.blank_lines)
        loaded = engine.query(
            f"SELECT * EXCLUDE (record_id, batch_id) FROM {spec.table} ORDER BY line_no"
        )
        quarantine = engine.query("SELECT * EXCLUDE (batch_id) FROM quarantine ORDER BY line_no")
        associated = (
            engine.query("SELECT * EXCLUDE (batch_id, record_id, base_record_id) FROM "
                         "associated_consumers ORDER BY line_no, seq")
            if spec.format == "metro2"
            else []
        )  # fmt: skip
        return (
            counts,
            report.reasons,
            report.warnings,
            report.control_records,
            report.totals,
            loaded,
            quarantine,
            associated,
        )
    finally:
        engine.close()


def same_in_chunks(spec: SourceSpec, path: Path, sizes: list[int] = SIZES) -> tuple[object, ...]:
    whole = outcome(spec, path, WHOLE)
    for size in sizes:
        assert outcome(spec, path, size) == whole, f"chunks of {size} bytes"
    return whole


def test_csv_in_chunks_gives_the_same_batch(tmp_path) -> None:
    path = tmp_path / "bank.csv"
    path.write_bytes(_bytes(ROWS))
    (read, loaded, quarantined, blank), reasons, warnings, *_ = same_in_chunks(CSV, path)
    # (11 lines after the header: 1 blank, 1 continuing the quoted field of the line before)
    assert (read, loaded + quarantined, blank) == (9, 9, 1)
    assert any(w.startswith("1 lines continued a quoted field") for w in warnings)
    found = {r.split(":")[0] for r, _, _ in reasons}
    assert {"bad_encoding", "duplicate_row", "duplicate_key", "control_character"} <= found
    assert "bad_amount" in found and "malformed_quoting" not in found


def test_no_final_line_break_and_gzip_in_chunks(tmp_path) -> None:
    plain = _bytes(ROWS, end=b"")
    path = tmp_path / "bank.csv"
    path.write_bytes(plain)
    whole = same_in_chunks(CSV_OPTIONAL, path)
    rejected = same_in_chunks(CSV, path, [1, 7, 64])
    assert rejected[0] == "rejected" and "the last line has no line break" in str(rejected[1])
    zipped = tmp_path / "bank.csv.gz"
    zipped.write_bytes(gzip.compress(plain))
    gz = parse_spec({**yaml.safe_load(BANK_SPEC), "parse": {"final_newline": "optional",
                                                             "compression": "gzip"}})  # fmt: skip
    assert same_in_chunks(gz, zipped, [1, 5, 64]) == whole


def test_utf16_and_bom_split_across_chunks(tmp_path) -> None:
    rows = [r for r in ROWS if "\xff" not in r and "\x00" not in r]
    text = BANK_HEADER + "\r\n".join(rows) + "\r\n"
    path = tmp_path / "bank.csv"
    path.write_bytes(text.encode("utf-16"))
    utf16 = parse_spec({**yaml.safe_load(BANK_SPEC), "parse": {"encoding": "utf-16"}})
    first = same_in_chunks(utf16, path, [1, 3, 5, 64])
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert same_in_chunks(CSV, path, [1, 2, 4]) == first


def test_fixed_width_without_line_breaks_in_chunks(tmp_path) -> None:
    spec = parse_spec({**fx.SPEC, "parse": {"encoding": "utf-8"}})
    unknown = "X" + fx.GOOD[1][1:]  # (quarantined: a record type the layout does not list)
    records = [*fx.GOOD_FILE[:-1], unknown, fx.trailer(4, 123456 - 2550)]
    path = tmp_path / "dale.dat"
    path.write_bytes("".join(records).encode("utf-8") + b"\r\n")  # ü and ñ: two bytes each
    (read, loaded, quarantined, _), *_ = same_in_chunks(spec, path)
    assert (read, loaded, quarantined) == (4, 3, 1)
    path.write_bytes("\n".join(records).encode("utf-8") + b"\n")  # (and with line breaks)
    assert same_in_chunks(spec, path, [1, 13, 31])[0][:3] == (4, 3, 1)


def test_fixed_width_a_multi_byte_character_ending_a_record_split_across_chunks(tmp_path) -> None:
    """A record's last character cut by the read: the record waits for its last bytes (it was
    taken as whole, the file then lost its header record)."""
    spec = parse_spec({**fx.SPEC, "parse": {"encoding": "utf-8"}})
    header = "HDALE CU 20240705".ljust(29) + "\xe9"
    records = [header, *fx.GOOD, fx.trailer(3, 123456 - 2550)]
    path = tmp_path / "dale.dat"
    path.write_bytes("".join(records).encode("utf-8") + b"\r\n")
    assert same_in_chunks(spec, path, [1, 2, 3, 5])[0] == (3, 3, 0, 0)


@pytest.mark.parametrize("sep", ["\r\n", ""])
def test_metro2_in_chunks(tmp_path, sep) -> None:
    from tests.ingest.test_metro2 import RECORDS, TOTALS

    path = m2.write(tmp_path / "acme.txt", [m2.header(), *RECORDS, m2.trailer(**TOTALS)], sep)
    spec = parse_spec(m2.SPEC)
    (read, loaded, _, _), *_, associated = same_in_chunks(spec, path, [1, 200, 427, 1000])
    assert (read, loaded, len(associated)) == (4, 4, 2)


def test_a_bad_descriptor_word_in_a_late_chunk_writes_nothing(tmp_path) -> None:
    from tests.ingest.test_metro2 import RECORDS, TOTALS

    bad = "04X6" + RECORDS[3][4:]
    records = [m2.header(), *RECORDS[:3], bad, m2.trailer(**TOTALS)]
    path = m2.write(tmp_path / "acme.txt", records, "")
    result = same_in_chunks(parse_spec(m2.SPEC), path, [1, 500, 2000])
    assert result[0] == "rejected" and "record 5 (byte " in str(result[1])


def test_a_failing_batch_leaves_no_partial_rows(tmp_path) -> None:
    """Chunks are staged before anything is written: a file rejected at its end (too many bad
    rows, found once every chunk is in) writes nothing, as it would whole."""
    path = tmp_path / "bank.csv"
    path.write_bytes(_bytes(ROWS[:1] + ["x,y"] * 5))
    engine = DuckDBEngine()
    with patch.object(_stream, "CHUNK_BYTES", 3), pytest.raises(FileRejected, match="above"):
        ingest_file(engine, CSV, path, key=KEY, max_quarantine_share=0.5)
    assert nothing_written(engine, CSV)


def test_a_file_unreadable_at_its_end_stops_the_list_before_any_batch(tmp_path) -> None:
    good, cut = tmp_path / "a.csv", tmp_path / "b.csv"
    good.write_bytes(_bytes(ROWS[:1]))
    cut.write_bytes(_bytes(ROWS[:1], end=b""))  # (found only once the file is read through)
    engine = DuckDBEngine()
    with patch.object(_stream, "CHUNK_BYTES", 5), pytest.raises(FileRejected, match=r"b\.csv"):
        ingest_files(engine, CSV, [good, cut], key=KEY)
    assert nothing_written(engine, CSV)


line = st.lists(st.sampled_from([*'1,a"é\r \x00\xff', "2024-01", "John"]), max_size=12).map("".join)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(line, min_size=1, max_size=8), size=st.integers(1, 80), data=st.data())
def test_any_chunk_size_gives_the_same_batch(tmp_path, rows, size, data) -> None:
    good = "1,John,Smith,1980-01-02,123-45-6789,2024-01,100.50,11"
    body = [good, *rows] if data.draw(st.booleans()) else rows
    path = tmp_path / "bank.csv"
    path.write_bytes(_bytes(body, sep=data.draw(st.sampled_from([b"\n", b"\r\n"]))))
    assert outcome(CSV_OPTIONAL, path, size) == outcome(CSV_OPTIONAL, path, WHOLE)


def test_the_memory_limit_holds_while_loading_and_is_put_back(ws, tmp_path) -> None:
    path = tmp_path / "bank.csv"
    path.write_bytes(_bytes(ROWS))
    with ws.engine() as engine:
        before = engine.scalar("SELECT current_setting('memory_limit')")
        seen: list[str] = []

        def tick(step: str, done: int, total: int) -> None:
            seen.append(engine.scalar("SELECT current_setting('memory_limit')"))

        report = ingest_file(engine, CSV, path, key=KEY, memory_limit="64MB", progress=tick)
        assert engine.scalar("SELECT current_setting('memory_limit')") == before
    assert report.read == 9 and "61.0 MiB" in seen


def test_metro2_a_multi_byte_character_ending_a_record_split_across_chunks(tmp_path) -> None:
    from tests.ingest.test_metro2 import RECORDS, TOTALS

    header = m2.header()[:-1] + "\xe9"  # (UTF-8: read without transcoding, cut anywhere)
    path = tmp_path / "acme.txt"
    path.write_bytes("".join([header, *RECORDS, m2.trailer(**TOTALS)]).encode("utf-8"))
    spec = parse_spec({**m2.SPEC, "parse": {"encoding": "utf-8"}})
    assert same_in_chunks(spec, path, [1, 2, 3])[0] == (4, 4, 0, 0)


def test_utf16_a_lone_surrogate_costs_its_line(tmp_path) -> None:
    # (surrogateescape cannot stand for the surrogate's low byte: the load crashed)
    good = "1,John,Smith,1980-01-02,123-45-6789,2024-01,100.50,11\r\n"
    bad = "2,Ann,Lee,1990-01-01,,2024-01,5,11\r\n".encode("utf-16-le")
    path = tmp_path / "bank.csv"
    path.write_bytes((BANK_HEADER + good).encode("utf-16-le") + bad[:8] + b"\x00\xd8" + bad[8:])
    spec = parse_spec({**yaml.safe_load(BANK_SPEC), "parse": {"encoding": "utf-16-le"}})
    counts, reasons, *_ = same_in_chunks(spec, path, [1, 3, 64])
    assert counts[:3] == (2, 1, 1) and [r for r, _, _ in reasons] == ["bad_encoding"]


def test_several_metro2_files_are_checked_within_the_memory_limit(tmp_path) -> None:
    from openbureau.ingest import _metro2_records
    from tests.ingest.test_metro2 import RECORDS, TOTALS

    paths = [
        m2.write(tmp_path / f"acme{i}.txt", [m2.header(), *RECORDS, m2.trailer(**TOTALS)])
        for i in (1, 2)
    ]
    engine = DuckDBEngine()
    seen: list[str] = []
    staged = _metro2_records.stage_text

    def spy(engine: DuckDBEngine, content: object) -> object:
        seen.append(str(engine.scalar("SELECT current_setting('memory_limit')")))
        return staged(engine, content)  # type: ignore[arg-type]

    with patch.object(_metro2_records, "stage_text", spy):
        ingest_files(engine, parse_spec(m2.SPEC), paths, key=KEY, again=True, memory_limit="1GB")
    assert len(seen) == 4 and set(seen) == {"953.6 MiB"}


def test_a_file_that_grows_after_it_was_hashed_is_rejected(tmp_path) -> None:
    # A list of files is hashed first and each read again when its turn comes: a file still
    # being written had its batch recorded under the hash of fewer bytes than it loaded.
    first, growing = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_bytes(_bytes(ROWS[:1]))
    growing.write_bytes(_bytes(ROWS[:1]))
    engine = DuckDBEngine()
    staged = _stream.chunks

    def append_then_read(path: Path, *args: object, **kwargs: object) -> object:
        if path == growing:
            with growing.open("ab") as fh:
                fh.write(b"2,Ann,Lee,1990-01-01,,2024-01,5,11\r\n")
        return staged(path, *args, **kwargs)  # type: ignore[arg-type]

    with (
        patch.object(_stream, "chunks", append_then_read),
        pytest.raises(FileRejected, match=r"b\.csv: the file changed while it was being loaded"),
    ):
        ingest_files(engine, CSV, [first, growing], key=KEY)
    assert nothing_written(engine, CSV)
