"""A bounded sample of a furnisher file, as text, in the engine: what ``spec draft`` reads.

The format comes from the bytes (Parquet's magic, a JSON object on the first line, else CSV),
never from the name alone; a gzip stream is opened. The encoding is UTF-8 unless bytes do not
decode as UTF-8 and none of the sample is UTF-8 text (then Latin-1). Text is read up to
``rows`` lines (and ``MAX_SAMPLE_BYTES``), transcoded to UTF-8 and handed to DuckDB: its CSV
sniffer finds the dialect, the header and the column types, its JSON reader the structure of
JSON lines. The sample is the table ``draft_sample``: one VARCHAR column per source column,
holding each value's text as ingest reads it.
"""

from __future__ import annotations

import codecs
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from openbureau.engine import DuckDBEngine, EngineError
from openbureau.engine.sql import ident, literal, path_literal
from openbureau.errors import FileRejected
from openbureau.ingest import _metro2
from openbureau.ingest._read import _check_text
from openbureau.ingest._stream import raw_blocks
from openbureau.ingest._validate import _json_path

SAMPLE_TABLE = "draft_sample"
MAX_SAMPLE_BYTES = 64 << 20  # a sample never holds more text than this, whatever its rows
# Valid UTF-8 multi-byte sequences: text that is UTF-8 has them, Latin-1 text almost never.
_UTF8_TEXT = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_JSON_NAMES = (".jsonl", ".ndjson", ".json")
# A Metro 2 file's first record: a 4-digit record descriptor word, then HEADER.
_METRO2_HEADER = re.compile(f"[0-9]{{{_metro2.HEADER_ID[0] - 1}}}{_metro2.HEADER_ID[1]}")
# Fixed-width records: most lines (header, trailer, a cut record aside) of one length, at
# least this long, and no delimiter as often on most of them.
_FIXED_SHARE = 0.8
_FIXED_MIN_LENGTH = 20
_DELIMITERS = (",", ";", "\t", "|")
_NESTED = ("STRUCT", "MAP", "UNION")  # (and a LIST's type ends in [])

Format = Literal["csv", "jsonl", "parquet"]


@dataclass
class SourceColumn:
    """One column of the sample: its name in a spec, and the type the engine read it as."""

    name: str  # CSV header cell (or position), JSON dotted path, Parquet column
    engine_type: str  # DuckDB's type name (VARCHAR, BIGINT, DOUBLE, DATE, ...)
    sql: str  # its column in ``draft_sample``
    # JSON and Parquet type their values: a string there is text, even of digits; CSV's
    # sniffer reads neither 1,234.00 nor 42,21 as a number, so its text may still be one.
    typed: bool = False


@dataclass
class Sample:
    """What the sample says about the file's layout."""

    path: Path
    format: Format
    rows: int = 0  # data rows in ``draft_sample``
    whole_file: bool = False  # the sample is every row of the file
    encoding: str = "utf-8"
    compression: Literal["none", "gzip"] = "none"
    delimiter: str = ","
    quote: str = '"'
    header: bool = True
    final_newline: bool = True  # the file's last line ends with a line break (when known)
    columns: list[SourceColumn] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for the spec's header comment


def read_sample(
    engine: DuckDBEngine, path: Path, folder: Path, rows: int, *, skip_bad_rows: bool = False
) -> Sample:
    """Load at most ``rows`` data rows of ``path`` into ``draft_sample`` (``folder``: where
    the transcoded text sample is written).

    Raises:
        FileRejected: the file is missing, empty, binary, not readable in its format, or (unless
            ``skip_bad_rows``) a sampled row is ragged or not a JSON object.
    """
    head = _open_head(path)
    if head.startswith(b"PAR1"):
        return _parquet(engine, path, rows)
    compression: Literal["none", "gzip"] = "none"
    if head.startswith(b"\x1f\x8b"):
        compression = "gzip"
    data, whole = _read_text(path, compression, rows)
    try:
        _check_text(path, data, "utf-8")
    except FileRejected as exc:  # (ingest's words, but a draft has no spec to declare in)
        problem = exc.problem.split(" (UTF-16?")[0]
        if problem.startswith("binary data"):
            problem += " (a draft reads CSV or JSON lines, in UTF-8 or Latin-1, and Parquet)"
        raise FileRejected(str(path), problem, line=exc.line) from None
    sample = Sample(path=path, format="csv", compression=compression, whole_file=whole)
    text = _decode(data, sample)
    if compression == "none" and not _ends_with_newline(path):
        sample.final_newline = False
        sample.notes.append(
            "the file's last line has no line break, which ingest takes for a truncated file: "
            "say parse.final_newline: optional if this furnisher never ends its files with "
            "one, required if it does"
        )
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    sample.format = "jsonl" if first.startswith("{") else "csv"
    if sample.format == "csv":
        _refuse_records(path, text)
    named = "jsonl" if path.name.lower().removesuffix(".gz").endswith(_JSON_NAMES) else "csv"
    if named != sample.format:
        sample.notes.append(
            f"the file's name says {named}, its content is {sample.format}: drafted as "
            f"{sample.format}"
        )
    copy = folder / "sample.txt"
    copy.write_text(text, encoding="utf-8")
    try:
        if sample.format == "csv":
            _csv(engine, copy, sample, rows, skip_bad_rows)
        else:
            _jsonl(engine, copy, sample, rows, skip_bad_rows)
    except EngineError as exc:
        raise FileRejected(str(path), f"cannot be read as {sample.format}: {_first(exc)}") from None
    if sample.rows == 0:
        none = "a header but no data rows" if sample.format == "csv" else "no JSON object"
        raise FileRejected(str(path), f"file has {none}")
    return sample


def _refuse_records(path: Path, text: str) -> None:
    """Refuse a Metro 2 or fixed-width file: drafted as CSV, its records would load whole as
    one text column, national IDs and all."""
    lines = [ln.rstrip("\r") for ln in text.splitlines() if ln.strip()]
    if _METRO2_HEADER.match(lines[0] if lines else ""):
        raise FileRejected(
            str(path),
            "a Metro 2 file (HEADER at position 5, after a record descriptor word), which spec "
            "draft does not draft: write a spec with format: metro2 by hand (see "
            "docs/ingest.md, Metro 2)",
        )
    if len(lines) < 2:
        return
    share = round(len(lines) * _FIXED_SHARE)
    length, same = Counter(len(ln) for ln in lines).most_common(1)[0]
    if same < share or length < _FIXED_MIN_LENGTH:
        return
    for delim in _DELIMITERS:
        counts = Counter(ln.count(delim) for ln in lines)
        if any(n > 0 and seen >= share for n, seen in counts.items()):
            return  # (a delimiter as often on most lines: CSV)
    raise FileRejected(
        str(path),
        f"fixed-width records ({same:,} of {len(lines):,} sampled lines {length:,} characters "
        "long, without a delimiter), which spec draft does not draft: write a spec with "
        "format: fixed by hand, with its fields' positions (see docs/ingest.md, Fixed-width "
        "files)",
    )


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(-1, 2)
        return fh.read(1) == b"\n"


def _first(exc: Exception) -> str:
    """The engine's own words, first line, without the backend's prefix."""
    return str(exc).splitlines()[0].removeprefix("duckdb: ")


def _open_head(path: Path) -> bytes:
    return next(raw_blocks(path, "none", 4), b"")


def _read_text(path: Path, compression: str, rows: int) -> tuple[bytes, bool]:
    """The first ``rows`` + 1 lines (a header and ``rows`` rows), whole lines only; and
    whether they are the whole file."""
    data = next(raw_blocks(path, compression, MAX_SAMPLE_BYTES + 1), b"")
    whole = len(data) <= MAX_SAMPLE_BYTES
    cut = -1
    for _ in range(rows + 1):
        cut = data.find(b"\n", cut + 1)
        if cut < 0:
            break
    if cut >= 0 and cut + 1 < len(data):  # more lines than the sample takes
        return data[: cut + 1], False
    if not whole:  # the sample ends inside a line: keep whole lines only
        return data[: data.rfind(b"\n") + 1], False
    return data, True


def _decode(data: bytes, sample: Sample) -> str:
    """The sample's text; sets the encoding (UTF-8, with its BOM if any, or Latin-1)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        if _UTF8_TEXT.search(data):
            sample.notes.append(
                f"line {line} holds bytes that are not UTF-8, though other lines are UTF-8 "
                "text: read as UTF-8, so ingest quarantines such lines (bad_encoding)"
            )
            return data.decode("utf-8", errors="replace").removeprefix("\ufeff")
        sample.encoding = "latin-1"
        sample.notes.append(
            f"line {line} holds bytes that are not UTF-8, and no line is UTF-8 text: read as "
            "Latin-1 (cp1252 if the furnisher exports from Windows; utf-8 if those bytes "
            "are defects, which ingest then quarantines)"
        )
        return data.decode("latin-1")
    if data.startswith(codecs.BOM_UTF8):
        sample.encoding = "utf-8-sig"
    return text.removeprefix("\ufeff")


def _bad_rows(what: str, sample: Sample, count: int, line: int, skip: bool) -> None:
    if not count:
        return
    if not skip:
        raise FileRejected(
            str(sample.path),
            f"{what} (ingest would quarantine it; to draft from the other rows, --skip-bad-rows)",
            line=line,
        )
    sample.notes.append(
        f"{count:,} sampled row{'s' if count > 1 else ''} left out of the draft "
        f"({what.split(':')[0]}, first at line {line})"
    )


def _csv(engine: DuckDBEngine, copy: Path, sample: Sample, rows: int, skip: bool) -> None:
    delim, quote, escape, header, columns = engine.query(
        "SELECT Delimiter, Quote, Escape, HasHeader, Columns "
        f"FROM sniff_csv({path_literal(copy)}, sample_size = -1, ignore_errors = true)"
    )[0]
    if len(delim) != 1:
        raise FileRejected(str(sample.path), f"delimiter {delim!r} is not one character")
    sample.delimiter, sample.header = delim, bool(header)
    if quote not in ("", "(empty)"):
        sample.quote = quote
    if escape not in ("", "(empty)", sample.quote):
        sample.notes.append(
            f"the file escapes quotes with {escape!r}, which ingest does not read: a field "
            "holding an escaped quote is quarantined"
        )
    names = [c["name"] for c in columns]
    typed = "{" + ", ".join(f"{literal(n)}: 'VARCHAR'" for n in names) + "}"
    engine.execute(f"""CREATE TEMP TABLE draft_rows AS SELECT * FROM read_csv({path_literal(copy)},
        auto_detect = false, delim = {literal(delim)}, quote = {literal(sample.quote)},
        escape = {literal(sample.quote)}, header = {str(sample.header).lower()}, columns = {typed},
        store_rejects = true, rejects_table = 'draft_rejects', rejects_scan = 'draft_scans')""")
    count, line, message = engine.query(
        "SELECT count(*), min(line), arg_min(error_message, line) FROM draft_rejects"
    )[0]
    _bad_rows(f"ragged row: {message}", sample, int(count), int(line or 0), skip)
    sample.columns = [
        SourceColumn(n if sample.header else str(i), str(c["type"]), f"c{i}")
        for i, (n, c) in enumerate(zip(names, columns, strict=True), start=1)
    ]
    select = ", ".join(f"{ident(n)} AS c{i}" for i, n in enumerate(names, start=1))
    _keep(engine, f"SELECT {select} FROM draft_rows", sample, rows)


def _jsonl(engine: DuckDBEngine, copy: Path, sample: Sample, rows: int, skip: bool) -> None:
    engine.execute(f"""CREATE TEMP TABLE draft_lines AS
        SELECT i AS line_no, lines[i] AS line,
          coalesce(try(json_type(lines[i])) = 'OBJECT', false) AS is_object
        FROM (SELECT lines, unnest(range(1, len(lines) + 1)) AS i
              FROM (SELECT string_split(content, chr(10)) AS lines
                    FROM read_text({path_literal(copy)})))
        WHERE trim(lines[i], ' ' || chr(9) || chr(13)) <> ''""")
    count, line = engine.query(
        "SELECT count(*), min(line_no) FROM draft_lines WHERE NOT is_object"
    )[0]
    _bad_rows("not a JSON object", sample, int(count), int(line or 0), skip)
    structure = engine.scalar(
        "SELECT json_group_structure(line::JSON) FROM draft_lines WHERE is_object"
    )
    leaves: list[tuple[str, str]] = []
    _flatten(json.loads(structure or "{}"), [], leaves, sample)
    sample.columns = [
        SourceColumn(name, kind, f"c{i}", typed=True)
        for i, (name, kind) in enumerate(leaves, start=1)
    ]
    paths = "[" + ", ".join(literal(_json_path(c.name)) for c in sample.columns) + "]"
    values = ", ".join(f"v[{i}] AS c{i}" for i in range(1, len(sample.columns) + 1))
    _keep(
        engine,
        f"SELECT {values} FROM (SELECT json_extract_string(line, {paths}) AS v "
        "FROM draft_lines WHERE is_object ORDER BY line_no)",
        sample,
        rows,
    )


def _flatten(node: Any, path: list[str], out: list[tuple[str, str]], sample: Sample) -> None:
    """Leaves of a JSON structure as (dotted path, type); lists and dotted keys are noted."""
    for key, value in node.items():
        where = ".".join([*path, key])
        if "." in key:
            sample.notes.append(f"key {where!r} holds a dot, which a spec path cannot name")
        elif isinstance(value, dict):
            _flatten(value, [*path, key], out, sample)
        elif isinstance(value, list):
            sample.notes.append(f"{where} is a list, which a spec field cannot read: left out")
        else:
            out.append((where, str(value)))


def _parquet(engine: DuckDBEngine, path: Path, rows: int) -> Sample:
    sample = Sample(path=path, format="parquet")
    source = f"read_parquet({path_literal(path)})"
    try:
        described = engine.query(f"SELECT column_name, column_type FROM (DESCRIBE FROM {source})")
    except EngineError as exc:
        raise FileRejected(str(path), f"not a readable Parquet file: {_first(exc)}") from None
    sample.columns = [
        SourceColumn(str(n), str(t), f"c{i}", typed=True)
        for i, (n, t) in enumerate(described, start=1)
    ]
    nested = [
        c.name
        for c in sample.columns
        if c.engine_type.startswith(_NESTED) or c.engine_type.endswith("]")
    ]
    if nested:
        sample.notes.append(f"nested columns are read as their text: {', '.join(nested)}")
    select = ", ".join(f"CAST({ident(c.name)} AS VARCHAR) AS {c.sql}" for c in sample.columns)
    sample.whole_file = True
    _keep(engine, f"SELECT {select} FROM {source}", sample, rows)
    if sample.rows == 0:
        raise FileRejected(str(path), "file is empty: the Parquet file has no rows")
    return sample


def _keep(engine: DuckDBEngine, select: str, sample: Sample, rows: int) -> None:
    """``draft_sample``: the first ``rows`` rows of ``select`` (one more is read, to tell
    whether the sample is the whole file)."""
    engine.execute(f"CREATE TEMP TABLE draft_all AS {select} LIMIT {int(rows) + 1}")
    available = int(engine.scalar("SELECT count(*) FROM draft_all"))
    engine.execute(f"CREATE TEMP TABLE {SAMPLE_TABLE} AS FROM draft_all LIMIT {int(rows)}")
    sample.rows = min(available, rows)
    sample.whole_file = sample.whole_file and available <= rows
