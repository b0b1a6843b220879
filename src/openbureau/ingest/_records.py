"""The records of a fixed-width file, read with its layout (``ingest._fixed``) in the engine.

Each record (a line, or ``record_length`` characters of a file without line breaks) is one row
of ``_ingest_text`` with its ``kind``: ``header``, ``detail``, ``trailer``, ``unknown`` (a record
type the layout does not list), ``unreadable`` (not text in the declared encoding) or ``blank``.
Fields are sliced out of the record text with ``substr`` in SQL, never row by row in Python.

Every record is accounted for: the header and trailer are counted (``control``), blank records
too, and every other record is a row, loaded or quarantined (``read``). The header must be the
first record and the trailer the last, once each; the trailer's totals must match what was
read. Otherwise the file is rejected whole, before anything is written, in one line naming the
file, the record and the trailer field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from openbureau.engine import Engine
from openbureau.errors import FileRejected
from openbureau.ingest._fixed import TrailerTotal, last_position, substr_sql
from openbureau.ingest._read import LINES_AS_TEXT, FileContent, stage_lines
from openbureau.ingest._validate import NOT_BLANK, NOT_ROWS
from openbureau.ingest._values import number_sql
from openbureau.ingest.categories import DataCategory
from openbureau.ingest.spec import FieldSpec, FieldType, SourceSpec

TEXT = "_ingest_text"


@dataclass
class RecordCounts:
    """How a fixed-width file's records were accounted for."""

    read: int  # rows: detail records, and records of an unknown type or not readable
    blank: int
    control: int  # header and trailer records
    totals: list[str] = field(default_factory=list)  # the trailer totals found to match


def stage_text(engine: Engine, spec: SourceSpec, content: FileContent) -> RecordCounts:
    """Decode the file's records into ``_ingest_text``, a chunk at a time, each record with
    its kind; count them."""
    kind = spec.fixed_layout.kind_sql("text")
    stage_lines(
        engine,
        content,
        f"SELECT *, CASE WHEN NOT {NOT_BLANK} THEN 'blank' WHEN text IS NULL THEN 'unreadable' "
        f"ELSE {kind} END AS kind FROM ({LINES_AS_TEXT})",
        TEXT,
    )
    rows = dict(engine.query(f"SELECT kind, count(*) FROM {TEXT} GROUP BY kind"))
    return RecordCounts(
        read=sum(int(n) for k, n in rows.items() if k not in NOT_ROWS),
        blank=int(rows.get("blank", 0)),
        control=int(rows.get("header", 0)) + int(rows.get("trailer", 0)),
    )


def check_file(engine: Engine, spec: SourceSpec, content: FileContent) -> RecordCounts:
    """A fixed-width file's records with their kinds (``TEXT``), its header, trailer and
    totals checked once per file."""
    counts = stage_text(engine, spec, content)
    if content.records is None:
        check_records(engine, spec, content.path, counts)
        content.records = counts
    return content.records


def check_files(engine: Engine, spec: SourceSpec, contents: Sequence[FileContent]) -> None:
    """Check every file's records before any is loaded (see ``check_file``)."""
    try:
        for c in contents:
            check_file(engine, spec, c)
    finally:
        engine.execute(f"DROP TABLE IF EXISTS {TEXT}")


def check_records(engine: Engine, spec: SourceSpec, path: Path, counts: RecordCounts) -> None:
    """Reject the file unless its header and trailer are where the layout puts them and the
    trailer's totals match what was read (noted on ``counts``)."""
    layout = spec.fixed_layout
    first, last = engine.query(
        f"SELECT min(line_no), max(line_no) FROM {TEXT} WHERE kind <> 'blank'"
    )[0]
    where = {"header": (first, "the first"), "trailer": (last, "the last")}
    for kind in ("header", "trailer"):
        types = getattr(layout, kind)
        if not types:
            continue
        named = f"{kind} record (record type {' or '.join(repr(t) for t in types)})"
        found = engine.query(
            f"SELECT line_no, length(text) FROM {TEXT} WHERE kind = ? ORDER BY line_no LIMIT 2",
            [kind],
        )
        line, place = where[kind]
        if not found:
            lost = "; the file may be truncated" if kind == "trailer" else ""
            raise FileRejected(str(path), f"no {named}{lost}; nothing was loaded")
        if len(found) > 1:
            raise FileRejected(
                str(path), f"a second {named}; nothing was loaded", line=int(found[1][0])
            )
        if found[0][0] != line:
            raise FileRejected(
                str(path),
                f"the {named} is not {place} record; nothing was loaded",
                line=int(found[0][0]),
            )
        size = int(found[0][1])
        if layout.record_length is not None and size != layout.record_length:
            raise FileRejected(
                str(path),
                f"the {named} is {size} characters long, not layout.record_length "
                f"{layout.record_length}; nothing was loaded",
                line=int(line),
            )
    for total in layout.totals:
        counts.totals.append(_reconcile(engine, spec, path, total))


def _total_field(spec: SourceSpec, total: TrailerTotal) -> FieldSpec:
    """A trailer total read as a field: a count as an integer, a sum as its field's type."""
    kind: FieldType = "integer" if total.count is not None else spec.field(total.sum or "").type
    return FieldSpec(
        column=total.name,
        target="trailer_total",
        type=kind,
        category=DataCategory.reference,
        scale=total.scale,
        sign=total.sign,
    )


def _reconcile(engine: Engine, spec: SourceSpec, path: Path, total: TrailerTotal) -> str:
    """Check one trailer total against the records; return it in words."""
    end = last_position(total)
    line, size, text, said = engine.query(
        f"SELECT line_no, length(text), {substr_sql(total)}, "
        f"{number_sql(_total_field(spec, total), substr_sql(total))} FROM {TEXT} "
        "WHERE kind = 'trailer'"
    )[0]
    where = f"trailer field {total.name!r}"
    if size < end:
        raise FileRejected(
            str(path),
            f"{where} ends at position {end}, past the end of the trailer record ({size} "
            "characters); nothing was loaded",
            line=int(line),
        )
    if said is None:
        raise FileRejected(
            str(path), f"{where}: {text!r} is not a number; nothing was loaded", line=int(line)
        )
    if total.count is not None:
        rows = "kind <> 'blank'" if total.count == "all_records" else f"kind NOT IN {NOT_ROWS}"
        found = int(engine.scalar(f"SELECT count(*) FROM {TEXT} WHERE {rows}"))
        if found != said:
            which = (
                "records in all"
                if total.count == "all_records"
                else "records besides its header and trailer"
            )
            raise FileRejected(
                str(path),
                f"{where} says {said:,} records, but the file has {found:,} {which} "
                "(blank lines not counted); nothing was loaded",
                line=int(line),
            )
        return f"{total.name} {said:,}"
    f = spec.field(total.sum or "")
    value = f"CASE WHEN length(text) >= {last_position(f)} THEN {number_sql(f, substr_sql(f))} END"
    unread = f"v IS NULL AND (length(text) < {last_position(f)} OR trim({substr_sql(f)}) <> '')"
    added, missing, first = engine.query(
        f"SELECT coalesce(sum(v), 0), count(*) FILTER ({unread}), min(line_no) FILTER "
        f"({unread}) FROM (SELECT *, {value} AS v FROM {TEXT} WHERE kind = 'detail')"
    )[0]
    if added != said:
        why = (
            f" ({missing:,} of them could not be read, the first at line {first})"
            if missing
            else ""
        )
        raise FileRejected(
            str(path),
            f"{where} says {said:,} but the detail records' {f.target} add up to "
            f"{added:,}{why}; nothing was loaded",
            line=int(line),
        )
    return f"{total.name} {said:,}"
