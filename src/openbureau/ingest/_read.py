"""Turn a furnisher file into rows the engine can validate, or reject the file whole.

Text formats (CSV, JSON lines and fixed-width) are read line by line, so every physical line
is accounted for and keeps its line number: a line that cannot be parsed is quarantined, never
skipped. Bytes are split in Arrow and decoded in the engine, so one bad byte costs one line, not
the file. A fixed-width file without line breaks is cut into records of its layout's
``record_length`` characters instead, numbered from 1 like lines. Parquet is read by the engine
with its row ordinal as the line number.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from openbureau.errors import FileRejected
from openbureau.ingest.spec import SourceSpec

if TYPE_CHECKING:
    from openbureau.ingest._records import RecordCounts

_UTF8 = {"utf-8", "utf_8", "utf8", "ascii", "us-ascii"}
_OTHER_DELIMITERS = [",", ";", "\t", "|"]
# What a blank line may hold (see _validate.NOT_BLANK); files can be large, so search, not strip.
_NOT_BLANK = re.compile(rb"[^ \t\r\n]")


@dataclass
class FileContent:
    """What a file holds before validation."""

    path: Path
    sha256: str
    size: int
    # Text formats: one row per physical line after the header: line_no, raw (bytes, with the
    # line break) and bad (the bytes are not valid text in the declared encoding).
    lines: pa.Table | None = None
    ends_with_newline: bool = True
    header: list[str] = field(default_factory=list)  # CSV header cells, in file order
    header_lines: int = 0
    warnings: list[str] = field(default_factory=list)
    # fixed width: the records' counts, once checked against the layout (see _records)
    records: RecordCounts | None = None


def file_digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _read_bytes(path: Path, spec: SourceSpec) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileRejected(str(path), "file not found") from None
    except IsADirectoryError:
        raise FileRejected(str(path), "is a folder, not a file") from None
    except OSError as exc:
        raise FileRejected(str(path), f"cannot read: {exc.strerror}") from None
    if spec.parse.compression == "gzip":
        try:
            data = gzip.decompress(data)
        except EOFError:
            raise FileRejected(str(path), "gzip stream is truncated") from None
        except (OSError, zlib.error) as exc:
            raise FileRejected(str(path), f"not a valid gzip file ({exc})") from None
    return data


def _to_utf8(data: bytes, encoding: str) -> bytes:
    """Transcode to UTF-8, keeping undecodable bytes as invalid UTF-8 so that only their line is
    quarantined (as bad encoding) rather than the whole file."""
    name = codecs.lookup(encoding).name
    if name in _UTF8 or name == "utf-8-sig":
        return data
    text = data.decode(encoding, errors="surrogateescape")
    return text.encode("utf-8", errors="surrogateescape")


_BINARY_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"%PDF": "a PDF",
    b"PK\x03\x04": "a ZIP archive",
    b"PAR1": "a Parquet file",
    b"\x1f\x8b": "gzip-compressed (set compression)",
}
_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\r\x0c")


def _check_text(path: Path, data: bytes, encoding: str) -> None:
    """Reject what is not a text file at all; a stray control byte only costs its line."""
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


def _split_lines(data: bytes) -> tuple[pa.Array, np.ndarray, bool]:
    """Lines as a zero-copy Arrow array over ``data`` (each keeps its line break), and the
    offsets of their starts (plus the end)."""
    ends = data.endswith(b"\n")
    breaks = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A) + 1
    stops = breaks if ends else np.append(breaks, len(data))
    offsets = np.concatenate([[0], stops]).astype(np.int64)
    lines = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    return lines, offsets, ends


def _split_records(data: bytes, length: int, stop: int) -> tuple[pa.Array, np.ndarray]:
    """Records of ``length`` characters each, over ``data[:stop]`` (UTF-8 by now: a character
    starts at every byte that is not a continuation byte), found a chunk at a time."""
    found = [np.zeros(1, dtype=np.int64)]
    chars = 0  # characters before the chunk
    chunk = 1 << 26
    for base in range(0, stop, chunk):
        codes = np.frombuffer(data, dtype=np.uint8, count=min(chunk, stop - base), offset=base)
        starts = np.flatnonzero((codes & 0xC0) != 0x80) + base
        found.append(starts[(-chars) % length :: length])
        chars += len(starts)
    found.append(np.array([stop], dtype=np.int64))
    offsets = np.unique(np.concatenate(found)).astype(np.int64)
    records = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    return records, offsets


def _unbroken_end(data: bytes, spec: SourceSpec) -> int | None:
    """Where the records of a fixed-width or Metro 2 file without line breaks end (a final
    line break left out), or None when the file is read line by line."""
    fixed = spec.format == "fixed" and spec.fixed_layout.record_length is not None
    if not fixed and spec.format != "metro2":
        return None
    stop = len(data)
    while stop and data[stop - 1] in b"\r\n":
        stop -= 1
    return stop if data.find(b"\n", 0, stop) < 0 else None


_BAD_UTF8: list[int] = []


def _note_bad_utf8(err: UnicodeError) -> tuple[str, int]:
    assert isinstance(err, UnicodeDecodeError)
    _BAD_UTF8.append(err.start)
    return "", err.end


codecs.register_error("openbureau_note_bad_utf8", _note_bad_utf8)


def _undecodable_lines(data: bytes, offsets: np.ndarray) -> np.ndarray:
    """Indices of lines that are not valid UTF-8, found by decoding line-aligned chunks."""
    bad: list[int] = []
    chunk = 1 << 26
    start_idx = 0
    view = memoryview(data)
    while start_idx < len(offsets) - 1:
        stop_idx = int(np.searchsorted(offsets, offsets[start_idx] + chunk, "right"))
        stop_idx = min(max(stop_idx, start_idx + 1), len(offsets) - 1)
        base = int(offsets[start_idx])
        _BAD_UTF8.clear()
        codecs.decode(view[base : int(offsets[stop_idx])], "utf-8", "openbureau_note_bad_utf8")
        bad.extend(base + pos for pos in _BAD_UTF8)
        start_idx = stop_idx
    return np.unique(np.searchsorted(offsets, np.array(bad, dtype=np.int64), "right") - 1)


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
    """Read a CSV, JSON-lines or fixed-width file into numbered raw lines (or records); reject
    it if unreadable."""
    sha, size = file_digest(path) if path.is_file() else ("", 0)
    data = _read_bytes(path, spec)
    _check_text(path, data, spec.parse.encoding)
    data = _to_utf8(data, spec.parse.encoding)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    unbroken = _unbroken_end(data, spec)
    if unbroken is None:
        parts, offsets, ends = _split_lines(data)
    elif spec.format == "metro2":  # (each record as long as its descriptor word says)
        from openbureau.ingest._metro2_records import split_by_descriptor

        parts, offsets = split_by_descriptor(data, unbroken, path)
        ends = True
    else:  # (no line breaks: nothing can be missing one)
        assert spec.fixed_layout.record_length is not None
        parts, offsets = _split_records(data, spec.fixed_layout.record_length, unbroken)
        ends = True
    content = FileContent(path=path, sha256=sha, size=size, ends_with_newline=ends)
    first_data = 1
    if spec.format == "csv":
        if spec.parse.header:
            content.header = _parse_header(path, _decode_one(parts[0].as_py(), path, 1), spec)
            content.header_lines = 1
            first_data = 2
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
    body = parts.slice(first_data - 1)
    header_bytes = int(offsets[first_data - 1])
    if not _NOT_BLANK.search(data, header_bytes):  # searching in place: no copy of the body
        raise FileRejected(str(path), "file has a header but no data rows")
    if not ends and spec.parse.final_newline == "required":
        raise FileRejected(
            str(path),
            "file is truncated: the last line has no line break "
            "(if this furnisher never ends its files with one, set "
            "parse.final_newline: optional"
            + (
                "; a fixed-width file without any line breaks needs layout.record_length)"
                if spec.format == "fixed"
                else "; a Metro 2 file without any line breaks is read by its descriptor words)"
                if spec.format == "metro2"
                else ")"
            ),
            line=len(parts),
        )
    line_no = pa.array(np.arange(first_data, first_data + len(body), dtype=np.int64))
    # Lines that are not valid UTF-8 are marked; the engine decodes the others (and the marked
    # ones are quarantined as bad_encoding, their raw bytes kept).
    bad = _undecodable_lines(data, offsets) - (first_data - 1)
    undecodable = np.zeros(len(body), dtype=bool)
    undecodable[bad[bad >= 0]] = True
    content.lines = pa.table({"line_no": line_no, "raw": body, "bad": pa.array(undecodable)})
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
