"""The records of a Metro 2 file (character format), read in the engine with ``_metro2``.

Each record (a line; in a file without line breaks, the characters its record descriptor word
counts) is one row of ``_ingest_text`` with its ``kind`` (``header``, ``detail`` for a base
segment, ``trailer``, ``unknown``, ``unreadable``, ``blank``), its descriptor word (``rdw``)
and its appended segments (``segments``: a list of texts, NULL when the characters after the
base segment are not a sequence of known segments). The header and trailer are counted, the
other records are rows: ``read = loaded + quarantined``, with ``control`` records besides.

The header must be the first record and the trailer the last, once each; every trailer total
this module reconciles (``_metro2.TRAILER_TOTALS``: base records, status codes, segments) must
match the records, or the file is rejected whole, in one line naming the file, the trailer's
line and the total.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from openbureau.engine import Engine
from openbureau.engine.sql import literal
from openbureau.errors import FileRejected
from openbureau.ingest import _metro2
from openbureau.ingest._read import FileContent
from openbureau.ingest._records import TEXT, RecordCounts
from openbureau.ingest._validate import NOT_BLANK, NOT_ROWS

# One appended segment, by its identifier and length; a record's tail is a sequence of them.
SEGMENT = "(?:" + "|".join(f"{s}.{{{n - 2}}}" for s, n in _metro2.SEGMENTS.items()) + ")"
TAIL = f"{SEGMENT}*"


def kind_sql(text: str = "text") -> str:
    """The SQL naming a record's kind from position 5."""
    arms = " ".join(
        f"WHEN substr({text}, {start}, {len(value)}) = {literal(value)} THEN '{kind}'"
        for kind, (start, value) in (
            ("header", _metro2.HEADER_ID),
            ("trailer", _metro2.TRAILER_ID),
            ("detail", _metro2.BASE_ID),
        )
    )
    return f"CASE {arms} ELSE 'unknown' END"


def split_by_descriptor(data: bytes, stop: int, path: Path) -> tuple[pa.Array, np.ndarray]:
    """Records of a file without line breaks (``data[:stop]``, UTF-8 by now), each as long as
    its record descriptor word says, found one after the other; the last one may be cut short
    (it is then quarantined, or the file lacks its trailer). Returns the records and their
    byte offsets (plus the end)."""
    ascii_only = data[:stop].isascii()
    if ascii_only:
        chars = stop
    else:  # a character starts at every byte that is not a UTF-8 continuation byte
        codes = np.frombuffer(data, dtype=np.uint8, count=stop)
        starts = np.append(np.flatnonzero((codes & 0xC0) != 0x80), stop)
        chars = len(starts) - 1
    offsets = [0]
    pos = 0  # in characters
    record = 1
    while pos < chars:
        at = pos if ascii_only else int(starts[pos])
        word = data[at : at + 4]
        if len(word) < 4 or not word.isdigit() or int(word) < 5:
            said = word.decode("latin-1")
            raise FileRejected(
                str(path),
                f"record {record} (byte {at}): its record descriptor word {said!r}"
                " is not a record length, so the records after it cannot be found; nothing "
                "was loaded",
            )
        pos = min(pos + int(word), chars)
        offsets.append(pos if ascii_only else int(starts[pos]))
        record += 1
    bounds = np.array(offsets, dtype=np.int64)
    records = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(bounds) - 1, [None, pa.py_buffer(bounds), pa.py_buffer(data)]
    )
    return records, bounds


def stage_text(engine: Engine) -> RecordCounts:
    """Decode the registered ``_ingest_lines`` into ``_ingest_text``: each record with its
    kind, descriptor word and appended segments; count them."""
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE {TEXT} AS SELECT *, "
        f"TRY_CAST(CASE WHEN regexp_full_match(substr(text, 1, 4), '[0-9]{{4}}') "
        "THEN substr(text, 1, 4) END AS INTEGER) AS rdw, "
        f"CASE WHEN kind = 'detail' AND regexp_full_match(substr(text, "
        f"{_metro2.BASE_LENGTH + 1}), {literal(TAIL)}) THEN list_filter(regexp_extract_all("
        f"substr(text, {_metro2.BASE_LENGTH + 1}), {literal(SEGMENT)}), lambda s: "
        "trim(substr(s, 3)) <> '') END AS segments FROM ("
        f"SELECT *, CASE WHEN NOT {NOT_BLANK} THEN 'blank' WHEN text IS NULL THEN 'unreadable' "
        f"ELSE {kind_sql()} END AS kind FROM (SELECT line_no, raw, CASE WHEN bad THEN NULL "
        "ELSE rtrim(decode(raw), chr(13) || chr(10)) END AS text FROM _ingest_lines))"
    )
    rows = dict(engine.query(f"SELECT kind, count(*) FROM {TEXT} GROUP BY kind"))
    return RecordCounts(
        read=sum(int(n) for k, n in rows.items() if k not in NOT_ROWS),
        blank=int(rows.get("blank", 0)),
        control=int(rows.get("header", 0)) + int(rows.get("trailer", 0)),
    )


def check_file(engine: Engine, content: FileContent) -> RecordCounts:
    """A Metro 2 file's records (``TEXT``), its header, trailer and totals checked once."""
    counts = stage_text(engine)
    if content.records is None:
        _check_records(engine, content.path, counts)
        content.records = counts
    return content.records


def check_files(engine: Engine, contents: Sequence[FileContent]) -> None:
    """Check every file's records before any is loaded (see ``check_file``)."""
    try:
        for c in contents:
            with engine.registered("_ingest_lines", c.lines):
                check_file(engine, c)
    finally:
        engine.execute(f"DROP TABLE IF EXISTS {TEXT}")


def _check_records(engine: Engine, path: Path, counts: RecordCounts) -> None:
    first, last = engine.query(
        f"SELECT min(line_no), max(line_no) FROM {TEXT} WHERE kind <> 'blank'"
    )[0]
    for kind, line, place in (("header", first, "first"), ("trailer", last, "last")):
        named = f"{kind} record ({_metro2.HEADER_ID[1] if kind == 'header' else 'TRAILER'})"
        found = engine.query(
            f"SELECT line_no, length(text), rdw FROM {TEXT} WHERE kind = ? ORDER BY line_no "
            "LIMIT 2",
            [kind],
        )
        if not found:
            lost = "; the file may be truncated" if kind == "trailer" else ""
            raise FileRejected(str(path), f"no {named}{lost}; nothing was loaded")
        if len(found) > 1:
            raise FileRejected(
                str(path), f"a second {named}; nothing was loaded", line=int(found[1][0])
            )
        at, size, rdw = (int(found[0][0]), int(found[0][1]), found[0][2])
        if at != line:
            raise FileRejected(
                str(path), f"the {named} is not the {place} record; nothing was loaded", line=at
            )
        if rdw != size:
            raise FileRejected(
                str(path),
                f"the {named} is {size} characters long, but its record descriptor word says "
                f"{'nothing readable' if rdw is None else rdw}; nothing was loaded",
                line=at,
            )
    for total in _metro2.TRAILER_TOTALS:
        said = _reconcile(engine, path, total)
        if said is not None:
            counts.totals.append(said)


def _reconcile(engine: Engine, path: Path, total: _metro2.TrailerTotal) -> str | None:
    """Check one trailer total against the records; return it in words (None: left blank)."""
    end = total.start + _metro2.TOTAL_WIDTH - 1
    line, size, text = engine.query(
        f"SELECT line_no, length(text), substr(text, {total.start}, {_metro2.TOTAL_WIDTH}) "
        f"FROM {TEXT} WHERE kind = 'trailer'"
    )[0]
    where = f"trailer field {total.name!r} (positions {total.start}-{end})"
    if size < end:
        raise FileRejected(
            str(path),
            f"{where} is past the end of the trailer record ({size} characters); nothing was "
            "loaded",
            line=int(line),
        )
    if not text.strip():
        return None
    if not text.isdigit():
        raise FileRejected(
            str(path), f"{where}: {text!r} is not a number; nothing was loaded", line=int(line)
        )
    said = int(text)
    unread_segments = "segments IS NULL AND kind = 'detail'"
    if total.counts == "base":
        sql = f"SELECT count(*), 0, NULL FROM {TEXT} WHERE kind NOT IN {NOT_ROWS}"
        what = "base records between its header and trailer"
    elif total.counts in _metro2.SEGMENTS:
        sql = (
            f"SELECT coalesce(sum(len(list_filter(segments, lambda s: starts_with(s, "
            f"{literal(total.counts)})))), 0), count(*) FILTER ({unread_segments}), "
            f"min(line_no) FILTER ({unread_segments}) FROM {TEXT} WHERE kind = 'detail'"
        )
        what = f"{total.counts} segments"
    else:
        sql = (
            f"SELECT count(*) FILTER (substr(text, 124, 2) = {literal(total.counts)}), 0, NULL "
            f"FROM {TEXT} WHERE kind = 'detail'"
        )
        what = f"base records with account status {total.counts}"
    found, unread, first = engine.query(sql)[0]
    if int(found) != said:
        why = (
            f" ({unread:,} records' segments could not be read, the first at line {first})"
            if unread
            else ""
        )
        raise FileRejected(
            str(path),
            f"{where} says {said:,}, but the file has {int(found):,} {what}{why}; "
            "nothing was loaded",
            line=int(line),
        )
    return f"{total.name} {said:,}"
