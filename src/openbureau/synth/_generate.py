"""``generate``: draw the population, write every furnisher file, its spec and the truth.

The population is generated ``chunk_persons`` persons at a time: each chunk's blocks are drawn
(``_block``), their identities loaded into DuckDB, and every file gets the chunk's rows
appended (Harbor's Metro 2 trailer, written last, counts every chunk's records). Memory depends
on the chunk size, not on the population's; the output does not depend on the chunk size.
"""

from __future__ import annotations

from collections.abc import Iterator
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
from openbureau.synth._config import BLOCK, Progress, SynthConfig, SynthResult, validate
from openbureau.synth._ids import Numbering
from openbureau.synth._layout import Feed, FeedFile, ParquetAppender, to_arrow
from openbureau.synth._lenders import (
    CRESTLINE_INQUIRIES,
    CRESTLINE_TRADELINES,
    NORTHBANK_ACCOUNTS,
    NORTHBANK_INQUIRIES,
)
from openbureau.synth._names import load_tables
from openbureau.synth._noise import install_macros
from openbureau.synth._population import join_blocks, load_population
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
# Per person, what the manifest's figures are computed from once every chunk is written.
SUMMARY = ("pd_12m", "default_12m", "defaulted_before_as_of", "has_tradeline", "has_any_record")


def _join_rows(parts: list[act.Rows], done: int) -> tuple[act.Rows, list[int]]:
    """A feed's rows of consecutive blocks as one table: lines numbered on from ``done`` rows
    already in the file, accounts (``src``) numbered apart; also each block's first ``ord``."""
    shifts, src_shift, joined = [], 0, []
    for rows in parts:
        shift = done + sum(len(r["ord"]) for r in joined)
        shifts.append(shift)
        rows["ord"] = rows["ord"] + shift
        rows["line_no"] = rows["line_no"] + shift
        rows["src"] = rows["src"] + src_shift
        src_shift = int(rows["src"].max()) + 1 if len(rows["src"]) else src_shift
        joined.append(rows)
    return {k: np.concatenate([r[k] for r in joined]) for k in joined[0]}, shifts


def _persons_of(block: Block, rows: act.Rows) -> act.Rows:
    """Person ids (and a Metro 2 record's joint holder) from the block's indexes to the
    population's."""
    rows["person_id"] = rows["person_id"] + block.first
    if "joint" in rows:
        rows["joint"] = np.where(rows["joint"] >= 0, rows["joint"] + block.first, -1)
    return rows


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

    harbor = metro2.HARBOR_ACCOUNTS
    result = SynthResult(out=out, truth_dir=out / "truth")
    truth = result.truth_dir
    truth.mkdir(parents=True, exist_ok=True)
    names = (*(f.name for f in FEEDS), harbor.name)
    files = {feed.name: FeedFile(feed, out / feed.path) for feed in FEEDS}
    harbor_file = metro2.Metro2File(out / harbor.path)
    persons = ParquetAppender(truth / "persons.parquet")
    records = FeedMajor(truth / "records.parquet", names)
    defects = FeedMajor(truth / "defects.parquet", names)
    result.rows = dict.fromkeys(names, 0)
    summary: dict[str, list[np.ndarray]] = {k: [] for k in SUMMARY}
    sold = False

    for start, size in chunks:
        blocks = []
        for first in range(start, start + size, BLOCK):
            n = min(BLOCK, start + size - first)
            blocks.append(draw_block(config, first, n, FEEDS, cal, tables, mix, ids, not sold))
            sold = sold or bool(blocks[-1].rows[harbor.name]["sold"].any())
        pop = join_blocks([(b.first, b.pop) for b in blocks])
        load_population(con, pop, tables, first_id=start + 1)
        report(f"Drew persons {start + 1:,}-{start + size:,} of {config.persons:,}")

        for feed in (*FEEDS, harbor):
            parts = [_persons_of(b, b.rows.pop(feed.name)) for b in blocks]
            rows, shifts = _join_rows(parts, result.rows[feed.name])
            if feed is harbor:
                joint = [_persons_of(b, b.harbor_joint) for b in blocks]
                for j, shift in zip(joint, shifts, strict=True):
                    j["ord"] = j["ord"] + shift
                joined = {k: np.concatenate([j[k] for j in joint]) for k in joint[0]}
                truth_rows = harbor_file.write(con, rows, joined)
            else:
                con.register("feed_rows", to_arrow(rows))
                files[feed.name].write(con, "feed_rows")
                con.unregister("feed_rows")
                truth_rows = {"line_no": rows["line_no"], "person_id": rows["person_id"]}
            result.rows[feed.name] += len(rows["ord"])
            part = {"feed": feed.name, "file": feed.path}
            records.add(feed.name, records_table({**part, **truth_rows}))
            bad = rows["defect"] > 0
            kinds = [feed.defect_name(int(k)) for k in rows["defect"][bad]]
            defects.add(
                feed.name, defects_table({**part, "line_no": rows["line_no"][bad], "kind": kinds})
            )
            report(f"Wrote {feed.path} (persons to {start + size:,})")

        risk = Risk(
            *(
                np.concatenate([getattr(b.risk, f) for b in blocks])
                for f in Risk.__dataclass_fields__
            )
        )
        flags = {k: np.concatenate([b.flags[k] for b in blocks]) for k in blocks[0].flags}
        protected = {
            k: np.concatenate([b.protected[k] for b in blocks]) for k in blocks[0].protected
        }
        persons.add(persons_table(con, pop, risk, flags, protected, cal, first_id=start + 1))
        for key in SUMMARY:
            summary[key].append(flags[key] if key in flags else getattr(risk, key))
        report(f"Wrote the truth of persons to {start + size:,}")

    for file in files.values():
        file.close()
    harbor_file.close()
    result.files = {f.name: out / f.path for f in (*FEEDS, harbor)}
    for feed in FEEDS:
        result.specs[feed.name] = write_spec(feed, out / "specs")
    result.specs[harbor.name] = metro2.write_spec(out / "specs")
    report("Wrote specs")

    persons.close()
    records.close()
    defects.close()
    s = {k: np.concatenate(v) for k, v in summary.items()}
    alive = ~s["defaulted_before_as_of"]
    result.oracle_auc = rank_auc(s["pd_12m"][alive], s["default_12m"][alive])
    figures = {
        "oracle_auc": result.oracle_auc,
        "default_rate_12m": float(s["default_12m"][alive].mean()) if alive.any() else 0.0,
        "defaulted_before_as_of": float(s["defaulted_before_as_of"].mean()),
        "share_with_tradeline": float(s["has_tradeline"].mean()),
        "share_without_any_record": float(1 - s["has_any_record"].mean()),
    }
    paths = {f.name: f.path for f in (*FEEDS, harbor)}
    write_manifest(config, result.rows, paths, figures, truth / "manifest.json")
    con.close()
    report("Wrote truth")
    return result
