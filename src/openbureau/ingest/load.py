"""Load furnisher files as append-only batches: whole or not at all, nothing lost.

Each file becomes one batch. Every data row is either loaded into ``src_<feed>`` or quarantined
with a reason, and ``read = loaded + quarantined`` is checked before anything is committed; a
file that cannot be read at all is rejected before any write. A loaded row is new, identical to
the feed's current report of its record key (a no-op: only its line is recorded), superseding
that report, or stale (reported before it: only its line is recorded; see ``_compare``); a
superseding row equal to an earlier version of the report is counted as reverting too.
Loading the same content (bytes) again for the same feed is a no-op, whatever was loaded in
between, unless asked for (``again``: the rows are then compared like any re-send's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from openbureau.engine import Engine, EngineError
from openbureau.engine.sql import ident, literal
from openbureau.errors import FileRejected
from openbureau.ingest import _metro2_records, _metro2_rows, _records, store
from openbureau.ingest._compare import REPORTED, compare_with_earlier, reported_column
from openbureau.ingest._csv_records import join_quoted_lines
from openbureau.ingest._read import (
    LINES_AS_TEXT,
    FileContent,
    read_parquet_file,
    read_text_file,
    stage_lines,
)
from openbureau.ingest._validate import (
    NOT_BLANK,
    STAGED,
    compile_validation,
    csv_rows,
    fixed_masked_raw,
    fixed_rows,
    hmac_key_bound,
    jsonl_rows,
    output_column,
    output_type,
    parquet_rows,
)
from openbureau.ingest.accuracy import AccuracyReport, check_batch
from openbureau.ingest.spec import SourceSpec

Progress = Callable[[str, int, int], None]
_STRUCTURAL = (
    "wrong_field_count",
    "malformed_quoting",
    "invalid_json",
    "bad_encoding",
    "short_record",
)


@dataclass
class BatchReport:
    """What happened to one file."""

    feed: str
    file: str
    batch_id: str
    status: str  # "loaded" or "already_loaded"
    read: int
    loaded: int
    quarantined: int
    blank_lines: int = 0
    # every reason of the quarantined rows: (reason, rows with it, first line); a row with
    # several reasons counts under each, so the rows do not add up to ``quarantined``
    reasons: list[tuple[str, int, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # the loaded rows against the feed's earlier reports of their key (store.REPORTS)
    new: int = 0
    identical: int = 0
    superseding: int = 0
    several_reasons: int = 0  # quarantined rows with more than one reason
    stale: int = 0
    again_of: str | None = None  # loaded again on purpose: the batch that loaded the same bytes
    # of the superseding rows, those equal to an earlier version of their report (A, B, A);
    # None: a batch loaded before they were counted
    reverting: int | None = 0
    # fixed width: header and trailer records (counted, not rows), and the trailer totals
    # found to match what was read
    control_records: int = 0
    totals: list[str] = field(default_factory=list)
    # what the accuracy rules found in the loaded batch (reporting only; see ingest.accuracy)
    accuracy: AccuracyReport | None = None

    @property
    def reconciled(self) -> bool:
        return (
            self.read == self.loaded + self.quarantined
            and self.loaded == self.new + self.identical + self.superseding + self.stale
        )


def read_file(spec: SourceSpec, path: Path) -> FileContent:
    """Read and structurally check a file; raise FileRejected if it cannot be read at all."""
    if spec.format == "parquet":
        return read_parquet_file(path, spec)
    return read_text_file(path, spec)


def _parquet_source(engine: Engine, spec: SourceSpec, content: FileContent) -> tuple[str, int]:
    path = str(content.path)
    try:
        meta = pq.read_metadata(path)
        described = engine.query(f"DESCRIBE SELECT * FROM read_parquet({literal(path)})")
    except (OSError, EngineError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FileRejected(path, f"not a readable Parquet file: {first}") from None
    columns = [r[0] for r in described]
    for f in spec.fields:
        if f.column not in columns:
            raise FileRejected(
                path, "required column missing from the Parquet schema", column=f.column
            )
    unmapped = [c for c in columns if c not in {f.column for f in spec.fields}]
    if unmapped:
        content.warnings.append("columns not in the spec were not loaded: " + ", ".join(unmapped))
    return parquet_rows(spec, path, columns), meta.num_rows


def _stage(
    engine: Engine, spec: SourceSpec, content: FileContent, key: bytes
) -> _records.RecordCounts:
    """Build the staged table; return the rows read, blank lines (and fixed-width header and
    trailer records) counted from the source."""
    extra: str | None = None  # (Metro 2: its associated consumers' reasons)
    masked: str | None = None  # (Metro 2: the raw text, its SSNs masked by position)
    if spec.format == "parquet":
        source, read = _parquet_source(engine, spec, content)
        blank = 0
    elif spec.format == "fixed":
        counts = _records.check_file(engine, spec, content)
        source, read, blank = fixed_rows(spec), counts.read, counts.blank
        masked = fixed_masked_raw(spec)
    elif spec.format == "metro2":
        counts = _metro2_records.check_file(engine, content)
        with hmac_key_bound(engine, key):
            _metro2_rows.stage_associated(engine)
        source, extra, masked = _metro2_rows.metro2_rows(spec)
        read, blank = counts.read, counts.blank
    else:
        stage_lines(engine, content, LINES_AS_TEXT, _records.TEXT)
        if spec.format == "csv":
            joined = join_quoted_lines(engine, spec, len(content.header))
            if joined:
                content.warnings.append(
                    f"{joined:,} lines continued a quoted field of the line before (a line "
                    "break inside a field): each record was read as one row, numbered by its "
                    "first line"
                )
        read, blank = engine.query(
            f"SELECT count(*) FILTER ({NOT_BLANK}), count(*) FILTER (NOT {NOT_BLANK}) "
            "FROM _ingest_text"
        )[0]
        source = csv_rows(spec, content.header) if spec.format == "csv" else jsonl_rows(spec)
    compiled = compile_validation(spec, source, extra_reasons=extra, masked_raw=masked)
    try:
        with hmac_key_bound(engine, key):
            compiled.run(engine)
    except EngineError as exc:
        if spec.format == "parquet":
            first = str(exc).split("\n")[0]
            raise FileRejected(str(content.path), f"cannot read Parquet data: {first}") from None
        raise
    if spec.format in ("fixed", "metro2"):
        return counts
    return _records.RecordCounts(int(read), int(blank), 0)


def _ensure_feed_table(engine: Engine, spec: SourceSpec) -> None:
    cols = {output_column(f): output_type(f) for f in spec.fields}
    if not engine.table_exists(spec.table):
        defs = ", ".join(f"{ident(c)} {t}" for c, t in cols.items())
        engine.execute(
            f"CREATE TABLE {ident(spec.table)} (record_id VARCHAR NOT NULL, "
            "batch_id VARCHAR NOT NULL,"
            f" line_no BIGINT NOT NULL, source_record_id VARCHAR, supersedes VARCHAR, {defs})"
        )
        return
    # (a feed table's columns come from its spec, so it is no declared table and keeps its
    # columns up to date here: openbureau.warehouse.ingest. One from before rows were
    # compared gains supersedes: its rows read as new reports)
    engine.execute(f"ALTER TABLE {ident(spec.table)} ADD COLUMN IF NOT EXISTS supersedes VARCHAR")
    existing = set(engine.columns(spec.table))
    for c, t in cols.items():
        if c not in existing:  # a spec may gain fields; earlier batches read NULL for them
            engine.execute(f"ALTER TABLE {ident(spec.table)} ADD COLUMN {ident(c)} {t}")


def _reason_summary(engine: Engine) -> tuple[list[tuple[str, int, int]], int]:
    """Every reason with the rows that have it and its first line, most frequent first; and
    how many rows have more than one (they count under each)."""
    rows = engine.query(
        f"SELECT reason, count(DISTINCT _line_no), min(_line_no) FROM (SELECT _line_no, "
        f"unnest(_reasons) AS reason FROM {STAGED} WHERE len(_reasons) > 0) "
        "GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    several = engine.scalar(f"SELECT count(*) FROM {STAGED} WHERE len(list_distinct(_reasons)) > 1")
    return [(r[0], int(r[1]), int(r[2])) for r in rows], int(several)


def _check_truncated(engine: Engine, content: FileContent) -> None:
    """With parse.final_newline: optional, a last line without a break is truncated only
    when it does not parse."""
    if content.end is None or content.end.ends_with_newline:
        return
    last = engine.query(f"SELECT _line_no, _reason FROM {STAGED} ORDER BY _line_no DESC LIMIT 1")
    final = content.end.lines  # (not a row: a fixed-width trailer)
    if last and last[0][1] in _STRUCTURAL and last[0][0] == final:
        raise FileRejected(
            str(content.path),
            f"file is truncated: the last line is incomplete ({last[0][1]})",
            line=int(last[0][0]),
        )


def ingest_file(
    engine: Engine,
    spec: SourceSpec,
    path: Path,
    *,
    key: bytes,
    max_quarantine_share: float = 1.0,
    progress: Progress | None = None,
    content: FileContent | None = None,
    again: bool = False,
    memory_limit: str | None = None,
) -> BatchReport:
    """Load one file as one batch. Raises FileRejected (nothing written) if unreadable.

    A file whose bytes were loaded for the feed before is "already loaded" (nothing written),
    unless ``again``: then it is loaded as a new batch that names the earlier one. The file is
    read a chunk at a time; ``memory_limit`` (e.g. '2GB', settings' ``ingest.memory_limit``)
    holds the engine's memory meanwhile, so that memory does not grow with the file.
    """
    tick = progress or (lambda step, done, total: None)
    tick(f"{path.name}: reading", 0, 4)
    content = content or read_file(spec, path)
    engine.require("ingest", "session_variables", "row_updates")
    store.ensure_schema(engine)
    previous = store.find_loaded(engine, spec.name, content.sha256)
    if previous and again:
        content.warnings.append(
            f"loaded again on purpose (--again): batch {previous.batch_id} loaded the same bytes"
        )
    elif previous:
        content.scan()  # (a file that cannot be read is rejected, loaded before or not)
        return BatchReport(
            spec.name,
            str(path),
            previous.batch_id,
            "already_loaded",
            previous.rows_read,
            previous.rows_loaded,
            previous.rows_quarantined,
            new=previous.rows_new,
            identical=previous.rows_identical,
            superseding=previous.rows_superseding,
            stale=previous.rows_stale,
            reverting=previous.rows_reverting,
        )
    tick(f"{path.name}: validating {content.size / 1e6:,.1f} MB", 1, 4)
    with engine.memory_limited(memory_limit):
        try:
            counts = _stage(engine, spec, content, key)
            again_of = previous.batch_id if previous else None
            report = _publish(
                engine, spec, path, content, counts, max_quarantine_share, tick, again_of
            )
        finally:
            for temp in (STAGED, "_ingest_text", REPORTED, _metro2_rows.ASSOCIATED):
                engine.execute(f"DROP TABLE IF EXISTS {temp}")
        report.accuracy = check_batch(engine, report.batch_id)  # (after the batch commits)
    return report


def _publish(
    engine: Engine,
    spec: SourceSpec,
    path: Path,
    content: FileContent,
    lines: _records.RecordCounts,
    max_share: float,
    tick: Progress,
    again_of: str | None,
) -> BatchReport:
    read, blank = lines.read, lines.blank
    staged, quarantined = engine.query(
        f"SELECT count(*), count(*) FILTER (len(_reasons) > 0) FROM {STAGED}"
    )[0]
    if staged != read:
        raise EngineError(f"{path}: staged {staged} rows but read {read}; refusing to load")
    _check_truncated(engine, content)
    reasons, several = _reason_summary(engine)
    if read and quarantined / read > max_share:
        top, _, first = reasons[0]
        raise FileRejected(
            str(path),
            f"{quarantined} of {read} rows ({quarantined / read:.0%}) failed validation, above "
            f"the limit of {max_share:.0%}; most often {top} (first at line {first}): "
            "is this the right spec?",
        )
    for problem, count in engine.query(
        f"SELECT p, count(*) FROM (SELECT unnest(_nulled) AS p FROM {STAGED} "
        "WHERE len(_reasons) = 0) GROUP BY p ORDER BY p"
    ):
        reason, target = problem.split(":")
        content.warnings.append(
            f"{target}: {count:,} values set to empty ({reason}; the spec says invalid: null)"
        )
    if spec.ledger is not None and not spec.record_key:
        content.warnings.append(
            "the spec has no record_key: a row re-sent with a changed value "
            "cannot supersede its earlier report and is another event"
        )
    tick(f"{path.name}: writing {read - quarantined:,} rows, quarantining {quarantined:,}", 2, 4)
    columns = [output_column(f) for f in spec.fields]
    col_list = ", ".join(ident(c) for c in columns)
    with engine.transaction():
        batch_id = store.next_batch_id(engine)
        _ensure_feed_table(engine, spec)
        compare_with_earlier(engine, spec)
        counts = dict.fromkeys(store.REPORTS, 0) | {
            str(r): int(n)
            for r, n in engine.query(f"SELECT _report, count(*) FROM {REPORTED} GROUP BY 1")
        }
        reverting = int(engine.scalar(f"SELECT count(*) FROM {REPORTED} WHERE _reverting"))
        if counts["stale"]:
            first = engine.scalar(f"SELECT min(_line_no) FROM {REPORTED} WHERE _report = 'stale'")
            content.warnings.append(
                f"{counts['stale']:,} rows (the first at line {first}) were reported before the "
                f"feed's current report of their key ({reported_column(spec)}): stale, not "
                "loaded; a furnisher's correction of a report needs a later reporting date"
            )
        engine.execute(
            f"INSERT INTO {ident(spec.table)} (record_id, batch_id, line_no, source_record_id, "
            f"supersedes, {col_list}) SELECT ? || '.' || _line_no, ?, _line_no, "
            f"_source_record_id, r._supersedes, {col_list} FROM {STAGED} "
            f"JOIN {REPORTED} r USING (_line_no) WHERE r._report IN ('new', 'superseding') "
            "ORDER BY _line_no",
            [batch_id, batch_id],
        )
        if spec.format == "metro2":  # (the associated consumers of the rows written)
            _metro2_rows.publish_associated(
                engine,
                spec,
                batch_id,
                f"SELECT _line_no FROM {REPORTED} WHERE _report IN ('new', 'superseding')",
            )
        engine.execute(
            f"INSERT INTO identical_rows SELECT ?, ?, _line_no, _supersedes FROM {REPORTED} "
            "WHERE _report = 'identical' ORDER BY _line_no",
            [batch_id, spec.name],
        )
        engine.execute(
            "INSERT INTO stale_rows SELECT ?, ?, _line_no, _reported_date, _supersedes "
            f"FROM {REPORTED} WHERE _report = 'stale' ORDER BY _line_no",
            [batch_id, spec.name],
        )
        engine.execute(
            "INSERT INTO quarantine SELECT ?, ?, _line_no, _reason, _field, _source_column, "
            f"_value, _reasons, _raw_text FROM {STAGED} WHERE len(_reasons) > 0 "
            "ORDER BY _line_no",
            [batch_id, spec.name],
        )
        stored, superseding = engine.query(
            f"SELECT count(*), count(supersedes) FROM {ident(spec.table)} WHERE batch_id = ?",
            [batch_id],
        )[0]
        same = engine.scalar("SELECT count(*) FROM identical_rows WHERE batch_id = ?", [batch_id])
        stale = engine.scalar("SELECT count(*) FROM stale_rows WHERE batch_id = ?", [batch_id])
        stored_q = engine.scalar("SELECT count(*) FROM quarantine WHERE batch_id = ?", [batch_id])
        loaded = stored + same + stale
        if (
            loaded + stored_q != read
            or same != counts["identical"]
            or superseding != counts["superseding"]
            or stale != counts["stale"]
        ):
            raise EngineError(
                f"{path}: read {read} = loaded {loaded} + quarantined {stored_q} "
                f"(of the loaded: {counts}) does not hold; nothing was loaded"
            )
        engine.execute(
            "INSERT INTO ingest_batches (batch_id, feed, furnisher, spec_fingerprint, spec_yaml, "
            "file_name, file_path, file_sha256, file_bytes, loaded_at, rows_read, rows_loaded, "
            "rows_quarantined, blank_lines, warnings, rows_new, rows_identical, rows_superseding, "
            "rows_stale, rows_reverting, again_of, control_records) VALUES (?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                batch_id,
                spec.name,
                spec.furnisher,
                spec.fingerprint(),
                spec.to_yaml(),
                path.name,
                str(path.resolve()),
                content.sha256,
                content.size,
                datetime.now(UTC).replace(tzinfo=None, microsecond=0),
                read,
                loaded,
                stored_q,
                blank,
                content.warnings,
                counts["new"],
                counts["identical"],
                counts["superseding"],
                counts["stale"],
                reverting,
                again_of,
                lines.control,
            ],
        )
        engine.execute("DELETE FROM field_catalog WHERE feed = ?", [spec.name])
        for f in spec.fields:
            engine.execute(
                "INSERT INTO field_catalog VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    spec.name,
                    output_column(f),
                    f.column,
                    f.type,
                    f.catalog_category.value,
                    f.catalog_category.protected,
                    spec.fingerprint(),
                ],
            )
    tick(f"{path.name}: batch {batch_id} written", 4, 4)
    return BatchReport(
        spec.name,
        str(path),
        batch_id,
        "loaded",
        read,
        int(loaded),
        int(stored_q),
        blank,
        reasons,
        content.warnings,
        counts["new"],
        counts["identical"],
        counts["superseding"],
        several,
        counts["stale"],
        again_of,
        reverting,
        lines.control,
        lines.totals,
    )


def ingest_files(
    engine: Engine,
    spec: SourceSpec,
    paths: Sequence[Path],
    *,
    key: bytes,
    max_quarantine_share: float = 1.0,
    progress: Progress | None = None,
    again: bool = False,
    memory_limit: str | None = None,
) -> list[BatchReport]:
    """Check every file can be read, then load each as its own batch (``again``: even a file
    whose bytes were loaded before, see ``ingest_file``).

    A file that cannot be read stops the command before any batch is written.
    """
    contents = [read_file(spec, p) for p in paths]
    # Each file is read to its end (a file found unreadable there stops the others too), unless
    # there is one: it is checked as it is staged, before anything is written.
    # (the checks stage each file whole: held to ``memory_limit`` as its load is)
    engine.require("ingest", "session_variables", "row_updates")
    with engine.memory_limited(memory_limit):
        if len(contents) == 1:
            pass
        elif spec.format == "fixed":  # (a trailer that does not match rejects its file whole)
            _records.check_files(engine, spec, contents)
        elif spec.format == "metro2":
            _metro2_records.check_files(engine, contents)
        else:
            for c in contents:
                c.scan()
    return [
        ingest_file(
            engine,
            spec,
            p,
            key=key,
            max_quarantine_share=max_quarantine_share,
            progress=progress,
            content=c,
            again=again,
            memory_limit=memory_limit,
        )
        for p, c in zip(paths, contents, strict=True)
    ]
