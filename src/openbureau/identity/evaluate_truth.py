"""Linkage quality against any truth, per feed and overall, counted over records.

A **record** here is a loaded row, as a person sees it in their file: one row of
``identity_record_map`` (a ``src_<feed>`` row of a batch ``link`` has seen; a superseded version
counts as a record of its own). Its **file** is the person its identity record is in
(``person_index``); a record whose identity record is in none (unusable) is in no file and counts
as a person of its own, so it costs recall.

The truth gives a record its true person (``_truth_records``: record_id, feed, key, label),
from one of three sources:

- a folder written by ``openbureau synth``: ``records.parquet`` names the person behind every
  line of every file (:func:`truth_from_synth`);
- a truth file, CSV (text, with a header), Parquet or JSON lines: a key column and a true-person
  column (:func:`truth_from_file`). A truth row names the records whose column of the key's name
  in their feed's ``src_`` table holds its key as text: by default ``source_record_id``, the
  feed's record key (its parts as text, ``|``-joined). With a ``feed`` column it names records of
  that feed only; without one, of every feed, and a key found in two feeds is refused;
- a column of the loaded feeds' ``src_`` tables that holds the true person
  (:func:`truth_from_column`): a test feed carrying its generator's person ID.

Records with no truth are left out of the figures and counted, per feed; so are truth rows that
name no record and truth rows with an empty key or person. Pairwise figures per feed count the
ordered pairs of a feed's record with any other record (so a link between two feeds counts for
both); over all feeds that is every pair, twice, which leaves the ratios as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openbureau.engine import Engine, EngineError
from openbureau.engine.sql import ident, literal, path_literal
from openbureau.errors import UserError
from openbureau.warehouse.ingest import INGEST_BATCHES

TRUTH = "_truth_records"  # record_id, feed, key, label: the true person of each record
DEFAULT_KEY = "source_record_id"
FEED_COLUMN = "feed"  # in a truth file: the feed (spec name) a row's key belongs to
READERS = {
    ".csv": "read_csv({}, header = true, all_varchar = true)",
    ".parquet": "read_parquet({})",
    ".jsonl": "read_json({}, format = 'newline_delimited')",
    ".ndjson": "read_json({}, format = 'newline_delimited')",
}


@dataclass(frozen=True)
class TruthMatch:
    """How the truth met the warehouse: what was read, and what of it named no record."""

    source: str  # the file, folder or column the truth came from
    rows: int  # truth rows read (a column: records carrying a value)
    blank_rows: int  # rows with an empty key or person: not used
    unmatched_rows: int  # rows naming no record `link` has seen: not used
    unmatched_example: str | None


@dataclass(frozen=True)
class FeedQuality:
    """Quality over one feed's records (``feed`` None: over all feeds)."""

    feed: str | None
    records: int  # records with a truth: the figures count these
    without_truth: int  # records left out: no truth names their person
    precision: float
    recall: float
    f1: float
    in_mixed_file: int  # records whose file holds another person's records
    persons: int  # true persons with a record here
    persons_mixed: int  # of them, those with a record here in a file holding another's records
    merged_files: int  # files holding a record here and records of more than one person
    split_persons: int  # true persons with a record here whose records are in several files
    in_no_file: int  # records whose identity record is in no file (unusable)

    @property
    def mixed_share(self) -> float:
        return self.in_mixed_file / self.records if self.records else 0.0

    @property
    def persons_mixed_share(self) -> float:
        return self.persons_mixed / self.persons if self.persons else 0.0


@dataclass(frozen=True)
class RecordQuality:
    feeds: tuple[FeedQuality, ...]
    overall: FeedQuality
    truth: TruthMatch

    def warnings(self) -> list[str]:
        """What the figures leave out, counted, one line each."""
        t, out = self.truth, []
        if t.blank_rows:
            out.append(
                f"{t.blank_rows:,} of {t.rows:,} truth rows of {t.source} have an empty key "
                "or person: not used"
            )
        if t.unmatched_rows:
            out.append(
                f"{t.unmatched_rows:,} of {t.rows:,} truth rows of {t.source} name no record "
                f"`link` has seen (e.g. {t.unmatched_example!r}): not used"
            )
        if self.overall.without_truth:
            total = self.overall.records + self.overall.without_truth
            out.append(
                f"{self.overall.without_truth:,} of {total:,} records have no truth (per "
                "feed in the table): left out of the figures"
            )
        return out


def evaluate_truth(
    engine: Engine, *, truth: Path | None, column: str | None, key: str = DEFAULT_KEY
) -> RecordQuality:
    """Record-level quality of the person index against a synth folder (``truth`` a folder), a
    truth file (``truth`` a file, ``column`` its person column, ``key`` its key column) or a
    feed column (``column`` alone)."""
    if not engine.table_exists("person_index"):
        raise UserError("nothing linked yet: run `openbureau link` first")
    if truth is None:
        if column is None:
            raise UserError(
                "say where the truth is: --truth DIR (written by `openbureau synth`), "
                "--truth FILE --truth-column COL, or --truth-column COL of the feeds"
            )
        match = truth_from_column(engine, column)
    elif is_synth_folder(truth, column):
        if column is not None:
            raise UserError(
                f"{truth}: a synth truth folder names its persons itself; "
                "--truth-column is for a truth file or a feed column"
            )
        match = truth_from_synth(engine, truth)
    elif column is None:
        raise UserError(f"{truth}: a truth file needs --truth-column, its true-person column")
    else:
        match = truth_from_file(engine, truth, column, key)
    return record_quality(engine, match)


def is_synth_folder(truth: Path, column: str | None) -> bool:
    """Whether ``--truth`` names a synth truth folder (so also a path that is not there, given
    without a column: the folder's own error then says what is missing)."""
    return truth.is_dir() or (not truth.exists() and column is None)


def synth_record_join(engine: Engine, records: Path) -> str:
    """The SQL joining ``identity_record_map m`` (with ``ingest_batches b``) to the rows ``t``
    of synth's ``records.parquet``: by feed, file and line, and by ``seq`` (0 the row's
    consumer; n the n-th associated consumer of a Metro 2 record, whose record ID ends in
    ``.n``). A truth folder written before ``seq`` existed has rows' consumers only."""
    source = f"read_parquet({path_literal(records)})"
    has_seq = "seq" in {str(r[0]) for r in engine.query(f"DESCRIBE SELECT * FROM {source}")}
    seq = "t.seq" if has_seq else "0"
    return f"""JOIN {source} t
          ON t.feed = b.feed AND parse_filename(t.file) = b.file_name
         AND t.line_no = CAST(split_part(m.record_id, '.', 2) AS BIGINT)
         AND {seq} = coalesce(TRY_CAST(split_part(m.record_id, '.', 3) AS BIGINT), 0)"""


def truth_from_synth(engine: Engine, truth_dir: Path) -> TruthMatch:
    """``_truth_records`` from ``openbureau synth``'s ``records.parquet`` (by file and line)."""
    records = truth_dir / "records.parquet"
    if not records.is_file():
        raise UserError(f"{records}: truth file not found (written by `openbureau synth`)")
    engine.execute(f"""
        CREATE OR REPLACE TEMP TABLE {TRUTH} AS
        SELECT m.record_id, m.feed, NULL::VARCHAR AS key, CAST(t.person_id AS VARCHAR) AS label
        FROM identity_record_map m JOIN {INGEST_BATCHES.name} b USING (batch_id)
        {synth_record_join(engine, records)}""")
    rows = int(engine.scalar(f"SELECT count(*) FROM read_parquet({path_literal(records)})"))
    # (rows of lines quarantined, or identical to a report already loaded, are no record)
    return TruthMatch(str(records), rows, 0, 0, None)


def truth_from_file(engine: Engine, path: Path, column: str, key: str = DEFAULT_KEY) -> TruthMatch:
    """``_truth_records`` from a truth file: rows matched to records by ``key`` (and ``feed``
    when the file has that column)."""
    if not path.is_file():
        raise UserError(f"{path}: truth file not found")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UserError(f"{path}: a truth file is {', '.join(READERS)}; this one is none of them")
    source = reader.format(path_literal(path))
    with _reading(path):
        have = [r[0] for r in engine.query(f"DESCRIBE SELECT * FROM {source}")]
    for name, what in ((key, "key"), (column, "true-person")):
        if name not in have:
            raise UserError(f"{path}: no {what} column {name!r} (columns: {', '.join(have)})")
    by_feed = FEED_COLUMN in have and FEED_COLUMN not in (key, column)
    feed = f"CAST({ident(FEED_COLUMN)} AS VARCHAR)" if by_feed else "NULL::VARCHAR"
    with _reading(path):
        engine.execute(f"""
            CREATE OR REPLACE TEMP TABLE _truth_raw AS
            SELECT {feed} AS feed, CAST({ident(key)} AS VARCHAR) AS key,
                   CAST({ident(column)} AS VARCHAR) AS label FROM {source}""")
    rows, blank = engine.query(
        "SELECT count(*), count(*) FILTER (coalesce(trim(key), '') = '' "
        "OR coalesce(trim(label), '') = '') FROM _truth_raw"
    )[0]
    if rows == blank:
        raise UserError(f"{path}: no row has both a key ({key}) and a person ({column})")
    engine.execute("""
        CREATE OR REPLACE TEMP TABLE _truth_keys AS SELECT DISTINCT feed, key, label
        FROM _truth_raw WHERE trim(key) <> '' AND trim(label) <> ''""")
    conflict = engine.query(
        "SELECT count(*) OVER (), feed, key FROM _truth_keys GROUP BY feed, key "
        "HAVING count(*) > 1 ORDER BY feed, key LIMIT 1"
    )
    if conflict:
        n, f, k = conflict[0]
        where = f" of feed {f!r}" if f is not None else ""
        raise UserError(
            f"{path}: key {k!r}{where} has more than one true person "
            f"({n:,} such key{'s' if n != 1 else ''})"
        )
    _records_from_file(engine, path, key, by_feed)
    unmatched, example = engine.query(
        "SELECT count(*), min(key) FROM _truth_raw r WHERE trim(key) <> '' AND trim(label) <> '' "
        f"AND NOT EXISTS (SELECT 1 FROM {TRUTH} t WHERE t.key = r.key"
        + (" AND t.feed = r.feed)" if by_feed else ")")
    )[0]
    if unmatched and unmatched == rows - blank:
        feeds = ", ".join(_feeds(engine))
        raise UserError(
            f"{path}: none of its keys ({key}, e.g. {example!r}) names a record "
            f"`link` has seen (feeds: {feeds})"
        )
    return TruthMatch(str(path), int(rows), int(blank), int(unmatched), example)


def _records_from_file(engine: Engine, path: Path, key: str, by_feed: bool) -> None:
    """``_truth_records``: every seen record of a feed whose table has ``key``, with the truth
    row naming it (a key in two feeds is refused when the file does not say which)."""
    parts = []
    for feed in _feeds(engine):
        if key not in engine.columns(f"src_{feed}"):
            continue
        same_feed = f" AND t.feed = {literal(feed)}" if by_feed else ""
        parts.append(f"""
            SELECT s.record_id, {literal(feed)} AS feed, t.key, t.label
            FROM {ident("src_" + feed)} s JOIN _truth_keys t
              ON CAST(s.{ident(key)} AS VARCHAR) = t.key{same_feed}
            WHERE s.batch_id IN (SELECT batch_id FROM identity_batches)""")
    if not parts:
        raise UserError(
            f"{key}: no loaded feed has a column of this name, so no truth row of {path} can "
            f"name a record (the key is a column of the feeds' tables, e.g. {DEFAULT_KEY})"
        )
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {TRUTH} AS {' UNION ALL '.join(parts)}")
    if not by_feed:
        twice = engine.query(
            f"SELECT count(*) OVER (), key, list(DISTINCT feed ORDER BY feed) FROM {TRUTH} "
            "GROUP BY key HAVING count(DISTINCT feed) > 1 ORDER BY key LIMIT 1"
        )
        if twice:
            n, k, feeds = twice[0]
            raise UserError(
                f"{path}: key {k!r} names records of feeds {', '.join(feeds)} "
                f"({n:,} such key{'s' if n != 1 else ''}); "
                f"add a {FEED_COLUMN!r} column saying which"
            )


def truth_from_column(engine: Engine, column: str) -> TruthMatch:
    """``_truth_records`` from a column of the feeds' ``src_`` tables holding the true person;
    records of feeds without it, or with it empty, have no truth."""
    feeds = _feeds(engine)
    parts = [
        f"SELECT record_id, {literal(feed)} AS feed, NULL::VARCHAR AS key, "
        f"CAST({ident(column)} AS VARCHAR) AS label FROM {ident('src_' + feed)} "
        "WHERE batch_id IN (SELECT batch_id FROM identity_batches)"
        for feed in feeds
        if column in engine.columns(f"src_{feed}")
    ]
    if not parts:
        raise UserError(
            f"{column}: no loaded feed has a column of this name (feeds: {', '.join(feeds)})"
        )
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE {TRUTH} AS SELECT * FROM "
        f"({' UNION ALL '.join(parts)}) WHERE trim(label) <> ''"
    )
    rows = int(engine.scalar(f"SELECT count(*) FROM {TRUTH}"))
    if not rows:
        raise UserError(f"{column}: empty in every record of the feeds that have it")
    return TruthMatch(f"column {column}", rows, 0, 0, None)


def _feeds(engine: Engine) -> list[str]:
    return [r[0] for r in engine.query("SELECT DISTINCT feed FROM identity_record_map ORDER BY 1")]


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """A truth file the engine cannot read is the user's to fix: one line naming it."""
    try:
        yield
    except EngineError as exc:
        cause = str(exc.__cause__ or exc).strip().splitlines()[0]
        raise UserError(f"{path}: cannot read it as {path.suffix.lower()[1:]}: {cause}") from None


# One row per (feed, file, true person) cell, then per record sums of pairs over the cells.
_QUALITY = f"""
WITH r AS (
  SELECT m.feed, t.label AS actual, p.person_id IS NULL AS unlinked,
         coalesce(p.person_id, 'unlinked:' || m.record_id) AS pred
  FROM identity_record_map m JOIN {TRUTH} t USING (record_id)
  LEFT JOIN person_index p USING (identity_id)),
cells AS (SELECT feed, pred, actual, count(*) AS n, count(*) FILTER (unlinked) AS u
          FROM r GROUP BY ALL),
w AS (SELECT *, sum(n) OVER (PARTITION BY pred, actual) AS n_both,
             sum(n) OVER (PARTITION BY pred) AS n_pred,
             sum(n) OVER (PARTITION BY actual) AS n_true,
             min(actual) OVER (PARTITION BY pred) <> max(actual) OVER (PARTITION BY pred) AS mixed,
             min(pred) OVER (PARTITION BY actual) <> max(pred) OVER (PARTITION BY actual) AS split
      FROM cells)
SELECT feed, sum(n), sum(n * (n_both - 1)), sum(n * (n_pred - 1)), sum(n * (n_true - 1)),
       coalesce(sum(n) FILTER (mixed), 0), count(DISTINCT actual),
       count(DISTINCT actual) FILTER (mixed), count(DISTINCT pred) FILTER (mixed),
       count(DISTINCT actual) FILTER (split), sum(u)
FROM w GROUP BY GROUPING SETS ((feed), ())"""


def record_quality(engine: Engine, truth: TruthMatch) -> RecordQuality:
    """Per feed and overall figures of the person index against ``_truth_records``."""
    without = dict(
        engine.query(f"""
        SELECT feed, count(*) FROM identity_record_map ANTI JOIN {TRUTH} USING (record_id)
        GROUP BY feed""")
    )
    figures = {row[0]: row[1:] for row in engine.query(_QUALITY)}
    overall = figures.pop(None, None)

    def quality(feed: str | None, row: tuple[Any, ...] | None, no_truth: int) -> FeedQuality:
        n, tp, pp, ap, mixed, persons, p_mixed, merged, split, unlinked = (
            [int(v or 0) for v in row] if row else [0] * 10
        )
        precision = tp / pp if pp else 1.0
        recall = tp / ap if ap else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return FeedQuality(
            feed,
            n,
            no_truth,
            precision,
            recall,
            f1,
            mixed,
            persons,
            p_mixed,
            merged,
            split,
            unlinked,
        )

    feeds = tuple(quality(f, figures.get(f), int(without.get(f, 0))) for f in _feeds(engine))
    return RecordQuality(
        feeds, quality(None, overall, sum(int(v) for v in without.values())), truth
    )
