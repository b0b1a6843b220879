"""A text file streamed in chunks of whole lines (or records), so that memory does not grow
with the file.

The file is read ``CHUNK_BYTES`` at a time (through ``gzip`` when compressed), transcoded to
UTF-8 with an incremental decoder, and cut after the last line break of each block; what
follows it is carried into the next chunk, so a line (a CRLF, a multi-byte character) is never
split. Each chunk is an Arrow table of ``line_no`` (numbered across chunks), ``raw`` (the
line's bytes with its break), ``text`` (the same bytes as text, NULL when not valid UTF-8: the
engine need not decode them again) and ``bad`` (not valid UTF-8). A fixed-width file without line
breaks is cut into records of ``record_length`` characters and a Metro 2 one by its record
descriptor words, each chunk ending on a record boundary. Whatever the chunk size, the chunks
hold the same lines with the same numbers as the whole file read at once.

What only the whole file can tell (no data rows, the last line without a break) is checked
when the stream ends, before anything is written.
"""

from __future__ import annotations

import codecs
import gzip
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from openbureau.errors import FileRejected
from openbureau.ingest.spec import SourceSpec

# Bytes read (and transcoded, split, validated) at a time. Tests set it small.
CHUNK_BYTES = 64 << 20
_UTF8 = {"utf-8", "utf_8", "utf8", "ascii", "us-ascii"}
_NOT_BLANK = re.compile(rb"[^ \t\r\n]")


@dataclass
class StreamEnd:
    """What the stream found once it ended."""

    lines: int = 0  # physical lines (records), the header included
    ends_with_newline: bool = True
    data: bool = False  # a non-blank line after the header


def raw_blocks(path: Path, compression: str, size: int | None = None) -> Iterator[bytes]:
    """The file's bytes (decompressed when ``compression`` is ``gzip``), ``size`` at a time;
    FileRejected, in one line, if it cannot be opened or read (ingest and ``spec draft``)."""
    size = size or CHUNK_BYTES
    try:
        # (closed by the with below, once the open errors are told apart)
        fh = gzip.open(path, "rb") if compression == "gzip" else path.open("rb")  # noqa: SIM115
    except FileNotFoundError:
        raise FileRejected(str(path), "file not found") from None
    except IsADirectoryError:
        raise FileRejected(str(path), "is a folder, not a file") from None
    except OSError as exc:
        raise FileRejected(str(path), f"cannot read: {exc.strerror}") from None
    with fh:
        while True:
            try:
                block = fh.read(size)
            except EOFError:
                raise FileRejected(str(path), "gzip stream is truncated") from None
            except (OSError, zlib.error) as exc:
                if compression != "gzip":
                    raise FileRejected(str(path), f"cannot read: {exc}") from None
                raise FileRejected(str(path), f"not a valid gzip file ({exc})") from None
            if not block:
                return
            yield block


def utf8_file_blocks(path: Path, spec: SourceSpec, size: int | None = None) -> Iterator[bytes]:
    """The file's bytes as its spec reads them (decompressed, transcoded to UTF-8)."""
    return utf8_blocks(raw_blocks(path, spec.parse.compression, size), spec.parse.encoding)


def _escape(err: UnicodeError) -> tuple[str, int]:
    """Undecodable bytes as surrogates that encode back to invalid UTF-8, as surrogateescape
    does; it fails on bytes below 0x80 (in UTF-16 a lone surrogate's other byte), which then
    stand for 0x80."""
    assert isinstance(err, UnicodeDecodeError)
    bad = err.object[err.start : err.end]
    return "".join(chr(0xDC00 + max(b, 0x80)) for b in bad), err.end


codecs.register_error("openbureau_escape", _escape)


def utf8_blocks(blocks: Iterator[bytes], encoding: str) -> Iterator[bytes]:
    """The blocks transcoded to UTF-8 (a UTF-8 BOM dropped), undecodable bytes kept as invalid
    UTF-8 so that only their line is quarantined (as bad encoding), not the file."""
    name = codecs.lookup(encoding).name
    decoder = (
        None
        if name in _UTF8 or name == "utf-8-sig"
        else codecs.getincrementaldecoder(encoding)("openbureau_escape")
    )
    head: bytes | None = b""  # the file's first bytes, until a BOM is ruled in or out
    for block in blocks:
        if decoder is not None:
            block = decoder.decode(block).encode("utf-8", "surrogateescape")
        if head is not None:
            head += block
            if len(head) < len(codecs.BOM_UTF8) and codecs.BOM_UTF8.startswith(head):
                continue
            block, head = head.removeprefix(codecs.BOM_UTF8), None
        if block:
            yield block
    if decoder is not None:
        tail = decoder.decode(b"", final=True).encode("utf-8", "surrogateescape")
        head = tail if head is None else head + tail
    if head:
        yield head.removeprefix(codecs.BOM_UTF8)


def _regroup(blocks: Iterator[bytes], size: int) -> Iterator[bytes]:
    """Blocks of at least ``size`` bytes (the last may be shorter)."""
    pending: list[bytes] = []
    held = 0
    for block in blocks:
        pending.append(block)
        held += len(block)
        if held >= size:
            yield b"".join(pending)
            pending, held = [], 0
    if pending:
        yield b"".join(pending)


def is_unbroken(blocks: Iterator[bytes]) -> bool:
    """Whether a file holds no line break before its final run of CR and LF (fixed-width or
    Metro 2 records written without line breaks)."""
    seen_break = False
    for block in blocks:
        if not seen_break:
            at = block.find(b"\n")
            if at < 0:
                continue
            seen_break = True
            block = block[at:]
        if block.strip(b"\r\n"):
            return False
    return True


def _table(data: bytes, offsets: np.ndarray, first_line: int) -> pa.Table:
    """The parts of ``data`` between ``offsets`` as numbered rows, undecodable ones marked:
    ``raw`` (bytes) and ``text`` (the same bytes as text, NULL where they are not valid
    UTF-8; both share the chunk's buffer, and the engine need not decode them)."""
    n = len(offsets) - 1
    buffers = [pa.py_buffer(offsets), pa.py_buffer(data)]
    parts = pa.LargeBinaryArray.from_buffers(pa.large_binary(), n, [None, *buffers])
    bad = np.zeros(n, dtype=bool)
    bad[_undecodable(data, offsets)] = True
    valid = pa.py_buffer(np.packbits(~bad, bitorder="little"))
    text = pa.LargeStringArray.from_buffers(n, buffers[0], buffers[1], valid, int(bad.sum()))
    line_no = np.arange(first_line, first_line + n, dtype=np.int64)
    return pa.table({"line_no": line_no, "raw": parts, "text": text, "bad": bad})


_BAD_UTF8: list[int] = []


def _note_bad_utf8(err: UnicodeError) -> tuple[str, int]:
    assert isinstance(err, UnicodeDecodeError)
    _BAD_UTF8.append(err.start)
    return "", err.end


codecs.register_error("openbureau_note_bad_utf8", _note_bad_utf8)


def _undecodable(data: bytes, offsets: np.ndarray) -> np.ndarray:
    """Indices of the parts that are not valid UTF-8 (the chunk is cut between parts)."""
    base = int(offsets[0])
    if memoryview(data)[base : int(offsets[-1])].tobytes().isascii():
        return np.zeros(0, dtype=np.int64)
    _BAD_UTF8.clear()
    codecs.decode(memoryview(data)[base : int(offsets[-1])], "utf-8", "openbureau_note_bad_utf8")
    found = np.array(_BAD_UTF8, dtype=np.int64) + base
    return np.unique(np.searchsorted(offsets, found, "right") - 1)


def _line_offsets(data: bytes, final: bool) -> np.ndarray:
    """Offsets of the lines of ``data`` (each with its break); the unterminated rest only when
    ``final``."""
    breaks = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A) + 1
    stops = np.append(breaks, len(data)) if final and not data.endswith(b"\n") else breaks
    return np.concatenate([[0], stops]).astype(np.int64)


def char_bounds(data: bytes, stop: int, final: bool) -> np.ndarray:
    """Offsets of the characters of ``data[:stop]`` (UTF-8; a character starts at every byte
    that is not a continuation byte) and of their end; unless ``final``, a last character whose
    bytes are not all there yet ends them instead (it comes whole with the next chunk)."""
    codes = np.frombuffer(data, dtype=np.uint8, count=stop)
    starts = np.flatnonzero((codes & 0xC0) != 0x80)
    if not final and len(starts):
        lead = int(codes[starts[-1]])
        size = (
            2
            if 0xC0 <= lead < 0xE0
            else 3
            if 0xE0 <= lead < 0xF0
            else 4
            if 0xF0 <= lead < 0xF8
            else 1
        )
        if int(starts[-1]) + size > stop:
            return starts
    return np.append(starts, stop)


def _record_offsets(data: bytes, length: int, final: bool) -> np.ndarray:
    """Offsets of the records of ``length`` characters in ``data`` (UTF-8), the incomplete
    rest only when ``final``."""
    if data.isascii():
        offsets = np.arange(0, len(data) + 1, length, dtype=np.int64)
    else:
        offsets = char_bounds(data, len(data), final)[::length]
    if final and offsets[-1] != len(data):
        offsets = np.append(offsets, len(data))
    return offsets.astype(np.int64)


def line_chunks(
    path: Path, spec: SourceSpec, unbroken: bool, end: StreamEnd
) -> Iterator[tuple[bytes, np.ndarray]]:
    """The file as chunks of whole lines or records: each chunk's bytes and the offsets of its
    parts (plus its end). ``end`` is filled in as the stream goes."""
    from openbureau.ingest._metro2_records import DescriptorSplitter

    blocks = _regroup(utf8_file_blocks(path, spec), CHUNK_BYTES)
    metro2 = DescriptorSplitter(path) if unbroken and spec.format == "metro2" else None
    carry = b""
    for block in blocks:
        data = carry + block
        if unbroken:
            # (a final run of line breaks is no record: held back until the file ends)
            stop = len(data.rstrip(b"\r\n"))
            if metro2 is not None:
                offsets = metro2.offsets(data, stop, final=False)
            else:
                assert spec.fixed_layout.record_length is not None
                offsets = _record_offsets(data[:stop], spec.fixed_layout.record_length, False)
        else:
            offsets = _line_offsets(data, final=False)
        cut = int(offsets[-1])
        carry = data[cut:]
        if len(offsets) > 1:
            yield data[:cut], offsets
    if unbroken:
        carry = carry.rstrip(b"\r\n")
        if carry and metro2 is not None:
            yield carry, metro2.offsets(carry, len(carry), final=True)
        elif carry:
            assert spec.fixed_layout.record_length is not None
            yield carry, _record_offsets(carry, spec.fixed_layout.record_length, True)
    elif carry:
        end.ends_with_newline = False
        yield carry, _line_offsets(carry, final=True)


def chunks(
    path: Path, spec: SourceSpec, *, unbroken: bool, skip: int, end: StreamEnd
) -> Iterator[pa.Table]:
    """The file's lines (records) after the first ``skip`` as numbered chunks (see the
    module's docstring); ``end`` says what the whole stream held once it is exhausted."""
    for data, offsets in line_chunks(path, spec, unbroken, end):
        first = end.lines + 1
        end.lines += len(offsets) - 1
        if first <= skip:  # (the header: parsed on its own)
            offsets = offsets[skip - first + 1 :]
            first = skip + 1
            if len(offsets) < 2:
                continue
        if not end.data and _NOT_BLANK.search(data, int(offsets[0])):
            end.data = True
        yield _table(data, offsets, first)


def first_line(path: Path, spec: SourceSpec) -> bytes:
    """The file's first line (UTF-8, with its break), read without reading the rest."""
    held = b""
    for block in utf8_file_blocks(path, spec, 1 << 16):
        held += block
        at = held.find(b"\n")
        if at >= 0:
            return held[: at + 1]
    return held
