"""Turn a furnisher file into rows the engine can validate, or reject the file whole.

Text formats (CSV, JSON lines, fixed-width and Metro 2) are read line by line, so every
physical line is accounted for and keeps its line number: a line that cannot be parsed is
quarantined, never skipped. Bytes are split in Arrow and decoded in the engine, so one bad byte
costs one line, not the file. A fixed-width file without line breaks is cut into records of its
layout's ``record_length`` characters instead (a Metro 2 file by its descriptor words), numbered
from 1 like lines. The file is streamed into the engine in chunks (``_stream``), so memory does
not grow with it: reading a file checks only what its first bytes can tell, and the chunks are
read when the batch is staged. Parquet is read by the engine with its row ordinal as the line
number.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from openbureau.errors import FileRejected
from openbureau.ingest import _stream
from openbureau.ingest._stream import StreamEnd
from openbureau.ingest.spec import SourceSpec

if TYPE_CHECKING:
    from openbureau.engine import Engine
    from openbureau.ingest._records import RecordCounts

_OTHER_DELIMITERS = [",", ";", "\t", "|"]
# What a blank line may hold (see _validate.NOT_BLANK); files can be large, so search, not strip.
_NOT_BLANK = re.compile(rb"[^ \t\r\n]")


LINES = "_ingest_lines"  # one chunk of a file's lines, registered while it is staged
# A chunk's lines decoded: their raw bytes are kept only when they are not text.
LINES_AS_TEXT = (
    "SELECT line_no, CASE WHEN bad THEN raw END AS raw, rtrim(text, chr(13) || chr(10)) AS text "
    f"FROM {LINES}"
)


@dataclass
class FileContent:
    """What a file holds before validation."""

    path: Path
    sha256: str
    size: int
    spec: SourceSpec | None = None  # text formats: read in chunks (see ``chunks``)
    unbroken: bool = False  # fixed width or Metro 2 without line breaks
    header: list[str] = field(default_factory=list)  # CSV header cells, in file order
    header_lines: int = 0
    warnings: list[str] = field(default_factory=list)
    # fixed width: the records' counts, once checked against the layout (see _records)
    records: RecordCounts | None = None
    # what streaming the whole file found (None until it has been)
    end: StreamEnd | None = None
    # the file's size and modification time when it was hashed (see ``_stamp``)
    stamp: tuple[int, int] | None = None

    @property
    def ends_with_newline(self) -> bool:
        return self.end is None or self.end.ends_with_newline

    def chunks(self) -> Iterator[pa.Table]:
        """The lines after the header, a chunk at a time: Arrow tables of ``line_no``, ``raw``
        (bytes, with the line break), ``text`` (the same as text; NULL when ``bad``) and
        ``bad`` (not valid text in the declared encoding).
        Raises FileRejected, once the file has been read to its end, for what only the whole
        file tells: no data rows, or a last line without a line break where one is required."""
        assert self.spec is not None
        end = StreamEnd()
        yield from _stream.chunks(
            self.path, self.spec, unbroken=self.unbroken, skip=self.header_lines, end=end
        )
        if self.stamp is not None and _stamp(self.path) != self.stamp:
            raise FileRejected(
                str(self.path),
                "the file changed while it was being loaded (is it still being written?); "
                "nothing was loaded",
            )
        if not end.data:
            raise FileRejected(str(self.path), "file has a header but no data rows")
        if not end.ends_with_newline and self.spec.parse.final_newline == "required":
            raise FileRejected(str(self.path), _TRUNCATED[self.spec.format], line=end.lines)
        self.end = end

    def scan(self) -> None:
        """Read the whole file once, for the checks ``chunks`` makes at its end."""
        if self.spec is not None and self.end is None:
            for _ in self.chunks():
                pass


_TRUNCATED = {
    fmt: "file is truncated: the last line has no line break (if this furnisher never ends its "
    "files with one, set parse.final_newline: optional" + tail
    for fmt, tail in (
        ("csv", ")"),
        ("jsonl", ")"),
        ("fixed", "; a fixed-width file without any line breaks needs layout.record_length)"),
        ("metro2", "; a Metro 2 file without any line breaks is read by its descriptor words)"),
    )
}


def stage_lines(engine: Engine, content: FileContent, select: str, table: str) -> None:
    """Create the temp ``table`` from ``select``, a query over ``LINES`` run on each chunk of
    the file in turn (Python holds one chunk at a time; the engine may spill the table)."""
    created = False
    for chunk in content.chunks():
        with engine.registered(LINES, chunk):
            engine.execute(
                f"INSERT INTO {table} {select}"
                if created
                else f"CREATE OR REPLACE TEMP TABLE {table} AS {select}"
            )
        created = True
    assert created  # (a file without data rows is rejected by ``chunks``)


def _stamp(path: Path) -> tuple[int, int] | None:
    """The file's size and modification time: the file is read again after it was hashed (in
    chunks, after other files of the command), and must still be the bytes hashed."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def file_digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


_BINARY_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"%PDF": "a PDF",
    b"PK\x03\x04": "a ZIP archive",
    b"PAR1": "a Parquet file",
    b"\x1f\x8b": "gzip-compressed (set compression)",
}
_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\r\x0c")


def _check_text(path: Path, data: bytes, encoding: str) -> None:
    """Reject what is not a text file at all (``data``: its first bytes, or all of them); a
    stray control byte only costs its line."""
    if not _NOT_BLANK.search(data):
        raise FileRejected(str(path), "file is empty")
    name = codecs.lookup(encoding).name
    if name.startswith(("utf-16", "utf-32")):
        return
    for magic, what in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise FileRejected(str(path), f"binary data: this is {what}, not a text file")
    head = data[:65536]
    controls = len(head) - len(head.translate(None, _CONTROL))
    if controls > max(8, len(head) // 50) or b"\x00\x00" in head:
        offset = min(head.find(bytes([b])) for b in _CONTROL if bytes([b]) in head)
        hint = " (UTF-16? declare it in the spec's parse.encoding)" if b"\x00" in head else ""
        raise FileRejected(
            str(path), f"binary data: not a text file{hint}", line=head[:offset].count(b"\n") + 1
        )


def _check_head(path: Path, spec: SourceSpec) -> None:
    """``_check_text`` on the file's first bytes (past them when they are all blank)."""
    head = next(_stream.raw_blocks(path, spec.parse.compression, 65536), b"")
    if not _NOT_BLANK.search(head) and any(
        _NOT_BLANK.search(block) for block in _stream.raw_blocks(path, spec.parse.compression)
    ):
        return
    _check_text(path, head, spec.parse.encoding)


def _decode_one(raw: bytes, path: Path, line_no: int) -> str:
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise FileRejected(
            str(path), "header is not valid text in the declared encoding", line=line_no
        ) from None


def _parse_header(path: Path, text: str, spec: SourceSpec) -> list[str]:
    delim = spec.parse.delimiter
    try:
        cells = next(csv.reader([text], delimiter=delim, quotechar=spec.parse.quote))
    except (csv.Error, StopIteration):
        raise FileRejected(str(path), "header line cannot be parsed", line=1) from None
    cells = [c.strip() for c in cells]
    wanted = [f.column for f in spec.fields]
    missing = [c for c in wanted if c not in cells]
    if missing:
        if len(cells) == 1:
            for other in _OTHER_DELIMITERS:
                if other != delim and text.count(other) >= 1:
                    raise FileRejected(
                        str(path),
                        f"wrong delimiter: the header has one column and looks "
                        f"{other!r}-delimited, but the spec says {delim!r}",
                        line=1,
                    )
        raise FileRejected(
            str(path), "required column missing from the header", line=1, column=missing[0]
        )
    dupes = sorted({c for c in cells if cells.count(c) > 1 and c in wanted})
    if dupes:
        raise FileRejected(str(path), "column appears twice in the header", line=1, column=dupes[0])
    return cells


def read_text_file(path: Path, spec: SourceSpec) -> FileContent:
    """Check a CSV, JSON-lines, fixed-width or Metro 2 file can be read, hash it and parse its
    header; reject it if unreadable. Its lines are read later, in chunks (``chunks``)."""
    if path.is_dir():
        raise FileRejected(str(path), "is a folder, not a file")
    stamp = _stamp(path)
    sha, size = file_digest(path) if path.is_file() else ("", 0)
    _check_head(path, spec)
    content = FileContent(path=path, sha256=sha, size=size, spec=spec, stamp=stamp)
    fixed = spec.format == "fixed" and spec.fixed_layout.record_length is not None
    if fixed or spec.format == "metro2":
        content.unbroken = _stream.is_unbroken(_stream.utf8_file_blocks(path, spec))
    if spec.format == "csv":
        if spec.parse.header:
            first = _stream.first_line(path, spec)
            content.header = _parse_header(path, _decode_one(first, path, 1), spec)
            content.header_lines = 1
            unmapped = [c for c in content.header if c not in {f.column for f in spec.fields}]
            if unmapped:
                content.warnings.append(
                    "columns not in the spec were not loaded: "
                    + ", ".join(unmapped[:8])
                    + (" ..." if len(unmapped) > 8 else "")
                )
        else:
            width = max(int(f.column) for f in spec.fields)
            content.header = [str(i) for i in range(1, width + 1)]
    return content


def read_parquet_file(path: Path, spec: SourceSpec) -> FileContent:
    """Check a Parquet file exists and hash it; the engine reads it during validation."""
    if not path.is_file():
        raise FileRejected(
            str(path), "file not found" if not path.exists() else "is not a regular file"
        )
    sha, size = file_digest(path)
    if size == 0:
        raise FileRejected(str(path), "file is empty")
    with path.open("rb") as fh:
        head = fh.read(4)
        fh.seek(max(0, size - 4))
        tail = fh.read(4)
    if head != b"PAR1":
        raise FileRejected(str(path), "not a Parquet file (no PAR1 magic at the start)")
    if tail != b"PAR1":
        raise FileRejected(str(path), "Parquet file is truncated (no footer)")
    return FileContent(path=path, sha256=sha, size=size)
