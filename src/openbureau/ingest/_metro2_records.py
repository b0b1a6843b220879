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

from openbureau.engine import Engine
from openbureau.engine.sql import literal
from openbureau.errors import FileRejected
from openbureau.ingest import _metro2
from openbureau.ingest._read import LINES_AS_TEXT, FileContent, stage_lines
from openbureau.ingest._records import TEXT, RecordCounts
from openbureau.ingest._stream import char_bounds
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


class DescriptorSplitter:
    """Finds the records of a file without line breaks (UTF-8 by now), each as long as its
    record descriptor word says, one chunk after the other: ``offsets`` is given each chunk
    with what was left over from the one before in front."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.record = 1  # the next record's number
        self.byte = 0  # the file's bytes (UTF-8) before the chunk

    def offsets(self, data: bytes, stop: int, *, final: bool) -> np.ndarray:
        """Byte offsets of the whole records in ``data[:stop]`` (plus the end of the last);
        when ``final``, the last one may be cut short (it is then quarantined, or the file
        lacks its trailer)."""
        ascii_only = data[:stop].isascii()
        if ascii_only:
            chars = stop
        else:  # a character starts at every byte that is not a UTF-8 continuation byte
            starts = char_bounds(data, stop, final)
            chars = len(starts) - 1
        offsets = [0]
        pos = 0  # in characters
        while pos < chars:
            at = pos if ascii_only else int(starts[pos])
            word = data[at : at + 4]
            if not final and (len(word) < 4 or (word.isdigit() and pos + int(word) > chars)):
                break  # (the rest comes with the next chunk)
            if len(word) < 4 or not word.isdigit() or int(word) < 5:
                said = word.decode("latin-1")
                raise FileRejected(
                    str(self.path),
                    f"record {self.record} (byte {self.byte + at}): its record descriptor word "
                    f"{said!r} is not a record length, so the records after it cannot be found; "
                    "nothing was loaded",
                )
            pos = min(pos + int(word), chars)
            offsets.append(pos if ascii_only else int(starts[pos]))
            self.record += 1
        self.byte += offsets[-1]
        return np.array(offsets, dtype=np.int64)


def stage_text(engine: Engine, content: FileContent) -> RecordCounts:
    """Decode the file's records into ``_ingest_text``, a chunk at a time: each record with
    its kind, descriptor word and appended segments; count them."""
    stage_lines(
        engine,
        content,
        "SELECT *, "
        f"TRY_CAST(CASE WHEN regexp_full_match(substr(text, 1, 4), '[0-9]{{4}}') "
        "THEN substr(text, 1, 4) END AS INTEGER) AS rdw, "
        f"CASE WHEN kind = 'detail' AND regexp_full_match(substr(text, "
        f"{_metro2.BASE_LENGTH + 1}), {literal(TAIL)}) THEN list_filter(regexp_extract_all("
        f"substr(text, {_metro2.BASE_LENGTH + 1}), {literal(SEGMENT)}), lambda s: "
        "trim(substr(s, 3)) <> '') END AS segments FROM ("
        f"SELECT *, CASE WHEN NOT {NOT_BLANK} THEN 'blank' WHEN text IS NULL THEN 'unreadable' "
        f"ELSE {kind_sql()} END AS kind FROM ({LINES_AS_TEXT}))",
        TEXT,
    )
    rows = dict(engine.query(f"SELECT kind, count(*) FROM {TEXT} GROUP BY kind"))
    return RecordCounts(
        read=sum(int(n) for k, n in rows.items() if k not in NOT_ROWS),
        blank=int(rows.get("blank", 0)),
        control=int(rows.get("header", 0)) + int(rows.get("trailer", 0)),
    )


def check_file(engine: Engine, content: FileContent) -> RecordCounts:
    """A Metro 2 file's records (``TEXT``), its header, trailer and totals checked once."""
    counts = stage_text(engine, content)
    if content.records is None:
        _check_records(engine, content.path, counts)
        content.records = counts
    return content.records


def check_files(engine: Engine, contents: Sequence[FileContent]) -> None:
    """Check every file's records before any is loaded (see ``check_file``)."""
    try:
        for c in contents:
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
    line, size, text = engine.query(
        f"SELECT line_no, length(text), text FROM {TEXT} WHERE kind = 'trailer'"
    )[0]
    counted = _found(engine)
    for total in _metro2.TRAILER_TOTALS:
        said = _reconcile(path, total, (int(line), int(size), str(text)), counted[total.counts])
        if said is not None:
            counts.totals.append(said)


def _found(engine: Engine) -> dict[str, tuple[int, int, int | None]]:
    """What each trailer total counts, from the records, in one pass: the count, and the
    records whose segments could not be read (how many, the first line)."""
    unread = "kind = 'detail' AND segments IS NULL"
    columns: list[str] = []
    for total in _metro2.TRAILER_TOTALS:
        if total.counts == "base":
            columns.append(f"count(*) FILTER (kind NOT IN {NOT_ROWS})")
        elif total.counts in _metro2.SEGMENTS:
            columns.append(
                "coalesce(sum(len(list_filter(segments, lambda s: starts_with(s, "
                f"{literal(total.counts)})))) FILTER (kind = 'detail'), 0)"
            )
        else:
            columns.append(
                "count(*) FILTER (kind = 'detail' AND substr(text, 124, 2) = "
                f"{literal(total.counts)})"
            )
    *values, missing, first = engine.query(
        f"SELECT {', '.join(columns)}, count(*) FILTER ({unread}), min(line_no) FILTER "
        f"({unread}) FROM {TEXT}"
    )[0]
    return {
        t.counts: (int(v), int(missing), first)
        if t.counts in _metro2.SEGMENTS
        else (int(v), 0, None)
        for t, v in zip(_metro2.TRAILER_TOTALS, values, strict=True)
    }


def _reconcile(
    path: Path,
    total: _metro2.TrailerTotal,
    trailer: tuple[int, int, str],
    counted: tuple[int, int, int | None],
) -> str | None:
    """Check one trailer total against the records; return it in words (None: left blank)."""
    end = total.start + _metro2.TOTAL_WIDTH - 1
    line, size, record = trailer
    text = record[total.start - 1 : end]
    where = f"trailer field {total.name!r} (positions {total.start}-{end})"
    if size < end:
        raise FileRejected(
            str(path),
            f"{where} is past the end of the trailer record ({size} characters); nothing was "
            "loaded",
            line=line,
        )
    if not text.strip():
        return None
    if not text.isdigit():
        raise FileRejected(
            str(path), f"{where}: {text!r} is not a number; nothing was loaded", line=line
        )
    said = int(text)
    if total.counts == "base":
        what = "base records between its header and trailer"
    elif total.counts in _metro2.SEGMENTS:
        what = f"{total.counts} segments"
    else:
        what = f"base records with account status {total.counts}"
    found, unread, first = counted
    if found != said:
        why = (
            f" ({unread:,} records' segments could not be read, the first at line {first})"
            if unread
            else ""
        )
        raise FileRejected(
            str(path),
            f"{where} says {said:,}, but the file has {found:,} {what}{why}; nothing was loaded",
            line=line,
        )
    return f"{total.name} {said:,}"
