"""``generate``: draw the population, write every furnisher file, its spec and the truth.

The population is generated ``chunk_persons`` persons at a time: each chunk's blocks are drawn
(``_block``), their identities loaded into DuckDB, and every file gets the chunk's rows
appended (Harbor's Metro 2 trailer, written last, counts every chunk's records). Memory depends
on the chunk size, not on the population's; the output does not depend on the chunk size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import duckdb
import numpy as np

from openbureau.synth import _activity as act
from openbureau.synth import _metro2_writer as metro2
from openbureau.synth._alternative import (
    BRIGHTWATER_UTILITY,
    COUNTY_COURT,
    METROTEL_TELECOM,
    RENTRIGHT_RENT,
    STATE_TAX,
)
from openbureau.synth._block import Block, draw_block
from openbureau.synth._config import BLOCK, Calendar, Progress, SynthConfig, SynthResult, validate
from openbureau.synth._ids import Numbering
from openbureau.synth._layout import Feed, FeedFile, ParquetAppender, to_arrow
from openbureau.synth._lenders import (
    CRESTLINE_INQUIRIES,
    CRESTLINE_TRADELINES,
    NORTHBANK_ACCOUNTS,
    NORTHBANK_INQUIRIES,
)
from openbureau.synth._names import NameTables, load_tables
from openbureau.synth._noise import install_macros
from openbureau.synth._population import Population, join_blocks, load_population
from openbureau.synth._protected import zip_mix
from openbureau.synth._risk import Risk, rank_auc
from openbureau.synth._specs import write_spec
from openbureau.synth._truth import (
    FeedMajor,
    defects_table,
    persons_table,
    records_table,
    write_manifest,
)

FEEDS: tuple[Feed, ...] = (
    NORTHBANK_ACCOUNTS,
    NORTHBANK_INQUIRIES,
    CRESTLINE_TRADELINES,
    CRESTLINE_INQUIRIES,
    BRIGHTWATER_UTILITY,
    METROTEL_TELECOM,
    RENTRIGHT_RENT,
    COUNTY_COURT,
    STATE_TAX,
)
# The residential mix of ethnicity per zip code: drawn once, from a stream of its own.
MIX_STREAM = 0x5A4950
# What DuckDB may hold while formatting a chunk (it spills to disk beyond).
DUCKDB_MEMORY_LIMIT = "2GB"
HARBOR = metro2.HARBOR_ACCOUNTS
SUMMARY = ("pd_12m", "default_12m", "defaulted_before_as_of", "has_tradeline", "has_any_record")


def _join_rows(parts: list[act.Rows], done: int) -> tuple[act.Rows, list[int]]:
    """A feed's rows of consecutive blocks as one table: lines numbered on from ``done`` rows
    already in the file, accounts (``src``) numbered apart; also each block's first ``ord``."""
    shifts: list[int] = []
    shift, src_shift = done, 0
    for rows in parts:
        shifts.append(shift)
        rows["ord"] = rows["ord"] + shift
        rows["line_no"] = rows["line_no"] + shift
        rows["src"] = rows["src"] + src_shift
        shift += len(rows["ord"])
        src_shift = int(rows["src"].max()) + 1 if len(rows["src"]) else src_shift
    return _joined(parts), shifts


def _persons_of(block: Block, rows: act.Rows) -> act.Rows:
    """Person ids (and a Metro 2 record's joint holder) from the block's indexes to the
    population's."""
    rows["person_id"] = rows["person_id"] + block.first
    if "joint" in rows:
        rows["joint"] = np.where(rows["joint"] >= 0, rows["joint"] + block.first, -1)
    return rows


def _joined(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-person arrays of consecutive blocks, end to end."""
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


class _Output:
    """Every file of a population, open while the chunks are appended to it."""

    def __init__(self, out: Path, result: SynthResult) -> None:
        self.result = result
        truth = result.truth_dir
        truth.mkdir(parents=True, exist_ok=True)
        names = (*(f.name for f in FEEDS), HARBOR.name)
        self.files = {feed.name: FeedFile(feed, out / feed.path) for feed in FEEDS}
        self.harbor = metro2.Metro2File(out / HARBOR.path)
        self.persons = ParquetAppender(truth / "persons.parquet")
        self.records = FeedMajor(truth / "records.parquet", names)
        self.defects = FeedMajor(truth / "defects.parquet", names)
        result.rows = dict.fromkeys(names, 0)
        result.files = {f.name: out / f.path for f in (*FEEDS, HARBOR)}
        # per person, what the manifest's figures are computed from at the end
        self.summary: dict[str, list[np.ndarray]] = {k: [] for k in SUMMARY}

    def feed(self, con: duckdb.DuckDBPyConnection, feed: Feed, blocks: list[Block]) -> None:
        """Append the blocks' rows to the feed's file, and their truth."""
        parts = [_persons_of(b, b.rows.pop(feed.name)) for b in blocks]
        rows, shifts = _join_rows(parts, self.result.rows[feed.name])
        if feed is HARBOR:
            joint = [_persons_of(b, b.harbor_joint) for b in blocks]
            for j, shift in zip(joint, shifts, strict=True):
                j["ord"] = j["ord"] + shift
            truth = self.harbor.write(con, rows, _joined(joint))
        else:
            con.register("feed_rows", to_arrow(rows))
            self.files[feed.name].write(con, "feed_rows")
            con.unregister("feed_rows")
            truth = {"line_no": rows["line_no"], "person_id": rows["person_id"]}
        self.result.rows[feed.name] += len(rows["ord"])
        part = {"feed": feed.name, "file": feed.path}
        self.records.add(feed.name, records_table({**part, **truth}))
        bad = rows["defect"] > 0
        kinds = [feed.defect_name(int(k)) for k in rows["defect"][bad]]
        table = defects_table({**part, "line_no": rows["line_no"][bad], "kind": kinds})
        self.defects.add(feed.name, table)

    def persons_truth(
        self,
        con: duckdb.DuckDBPyConnection,
        pop: Population,
        blocks: list[Block],
        cal: Calendar,
        first_id: int,
    ) -> None:
        """Append the blocks' persons to persons.parquet (their identities loaded in DuckDB)."""
        risk = Risk(**_joined([vars(b.risk) for b in blocks]))
        flags = _joined([b.flags for b in blocks])
        protected = _joined([b.protected for b in blocks])
        self.persons.add(persons_table(con, pop, risk, flags, protected, cal, first_id))
        for key in SUMMARY:
            self.summary[key].append(flags[key] if key in flags else getattr(risk, key))

    def close(self, config: SynthConfig) -> None:
        """Finish every file (Harbor's trailer, the truth in feed order) and the manifest."""
        for file in self.files.values():
            file.close()
        self.harbor.close()
        self.persons.close()
        self.records.close()
        self.defects.close()
        s = {k: np.concatenate(v) for k, v in self.summary.items()}
        alive = ~s["defaulted_before_as_of"]
        self.result.oracle_auc = rank_auc(s["pd_12m"][alive], s["default_12m"][alive])
        figures = {
            "oracle_auc": self.result.oracle_auc,
            "default_rate_12m": float(s["default_12m"][alive].mean()) if alive.any() else 0.0,
            "defaulted_before_as_of": float(s["defaulted_before_as_of"].mean()),
            "share_with_tradeline": float(s["has_tradeline"].mean()),
            "share_without_any_record": float(1 - s["has_any_record"].mean()),
        }
        paths = {f.name: f.path for f in (*FEEDS, HARBOR)}
        manifest = self.result.truth_dir / "manifest.json"
        write_manifest(config, self.result.rows, paths, figures, manifest)

    def discard(self) -> None:
        """Remove every file of the population, unfinished: a generation that fails (ids run
        out, a full disk, an interrupt) leaves no files that look like a population."""
        files: list[FeedFile | metro2.Metro2File | ParquetAppender | FeedMajor] = [
            *self.files.values(),
            self.harbor,
            self.persons,
            self.records,
            self.defects,
        ]
        for file in files:
            with suppress(Exception):  # (each file removed, whatever became of the others)
                file.discard()
        for spec in self.result.specs.values():
            spec.unlink(missing_ok=True)
        (self.result.truth_dir / "manifest.json").unlink(missing_ok=True)
        for path in (*self.result.files.values(), *self.result.specs.values()):
            with suppress(OSError):  # (only an empty folder: others may hold the user's files)
                path.parent.rmdir()
        with suppress(OSError):
            self.result.truth_dir.rmdir()


def _chunks(config: SynthConfig) -> Iterator[tuple[int, int]]:
    for start in range(0, config.persons, config.chunk_persons):
        yield start, min(config.chunk_persons, config.persons - start)


def generate(
    out: Path, config: SynthConfig = SynthConfig(), progress: Progress | None = None
) -> SynthResult:
    """Write a synthetic population's furnisher files, their specs and the truth into ``out``.

    Args:
        out: Output folder, created if missing.
        config: Size, seed and reporting window; ``chunk_persons`` bounds memory.
        progress: Called as ``progress(step, done, total)`` while work advances.

    Returns:
        Paths of every file and spec, row counts per feed and the oracle AUC.

    Raises:
        UserError: A setting is out of range or ``out`` cannot be written.
    """
    out = Path(out)
    cal = validate(config, out)
    chunks = list(_chunks(config))
    total = len(chunks) * (len(FEEDS) + 3) + 2
    step = 0

    def report(what: str) -> None:
        nonlocal step
        step += 1
        if progress is not None:
            progress(what, step, total)

    tables = load_tables()
    ids = Numbering(config.seed)
    mix = zip_mix(np.random.default_rng([config.seed, MIX_STREAM]), tables)
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET enable_progress_bar = false")
    install_macros(con)
    result = SynthResult(out=out, truth_dir=out / "truth")
    output = _Output(out, result)
    try:
        _write_population(config, cal, output, con, ids, tables, mix, chunks, report)
        for feed in FEEDS:
            result.specs[feed.name] = write_spec(feed, out / "specs")
        result.specs[HARBOR.name] = metro2.write_spec(out / "specs")
        report("Wrote specs")
        output.close(config)
    except BaseException:
        output.discard()
        raise
    finally:
        con.close()
    report("Wrote truth")
    return result


def _write_population(
    config: SynthConfig,
    cal: Calendar,
    output: _Output,
    con: duckdb.DuckDBPyConnection,
    ids: Numbering,
    tables: NameTables,
    mix: tuple[np.ndarray, np.ndarray],
    chunks: list[tuple[int, int]],
    report: Callable[[str], None],
) -> None:
    """Draw the population chunk by chunk and append each chunk to every file."""
    sold = False  # (Harbor sells one account and renumbers one in the whole file)
    for start, size in chunks:
        blocks = []
        for first in range(start, start + size, BLOCK):
            n = min(BLOCK, start + size - first)
            blocks.append(draw_block(config, first, n, FEEDS, cal, tables, mix, ids, not sold))
            sold = sold or bool(blocks[-1].rows[HARBOR.name]["sold"].any())
        pop = join_blocks([(b.first, b.pop) for b in blocks])
        load_population(con, pop, tables, first_id=start + 1)
        report(f"Drew persons {start + 1:,}-{start + size:,} of {config.persons:,}")
        for feed in (*FEEDS, HARBOR):
            output.feed(con, feed, blocks)
            report(f"Wrote {feed.path} (persons to {start + size:,})")
        output.persons_truth(con, pop, blocks, cal, start + 1)
        report(f"Wrote the truth of persons to {start + size:,}")
