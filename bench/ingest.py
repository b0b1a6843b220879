"""Ingest throughput on a synthetic population, beside plain DuckDB reading the same files.

    .venv/bin/python bench/ingest.py --persons 100000 --repeat 3

For each feed: rows per second through ``openbureau ingest`` (parse, type, validate, tokenise
national IDs, quarantine, write the batch) and through DuckDB's own reader loading the same file
into a table as text (``read_csv(all_varchar)`` / ``read_json`` / ``read_parquet``; a Metro 2
file's lines read as text and its base segment's fields cut out by position), with no
validation: the peer that shows what our guarantees cost. Medians over ``--repeat`` runs, each
into a fresh warehouse, and the peak memory (RSS) of the process that ran our ingest: each run
is a process of its own.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from openbureau.engine.sql import path_literal
from openbureau.ingest import load_spec
from openbureau.ingest.load import ingest_file
from openbureau.synth import SynthConfig, generate
from openbureau.workspace import init_workspace

OUT = Path(__file__).parent / "out"


def peer_load(path: Path, fmt: str, delimiter: str, encoding: str, db: Path) -> float:
    con = duckdb.connect(str(db))
    p = path_literal(path)
    if fmt == "csv":
        enc = {"cp1252": "latin-1", "utf-8-sig": "utf-8"}.get(encoding, encoding)
        src = (
            f"read_csv({p}, all_varchar = true, delim = '{delimiter}', header = true, "
            f"encoding = '{enc}', ignore_errors = true)"
        )
    elif fmt == "jsonl":
        src = f"read_json({p}, format = 'newline_delimited', ignore_errors = true)"
    elif fmt == "metro2":
        from openbureau.ingest import _metro2

        cols = ", ".join(
            f"substr(line, {f.start}, {f.end - f.start + 1}) AS c{i}"
            for i, f in enumerate(_metro2.BASE_FIELDS)
        )
        src = f"""(SELECT {cols} FROM read_csv({p}, columns = {{'line': 'VARCHAR'}},
            delim = '\x1f', quote = '', escape = '', header = false, encoding = 'latin-1'))"""
    else:
        src = f"read_parquet({p})"
    started = time.perf_counter()
    con.execute(f"CREATE TABLE t AS SELECT * FROM {src}")
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def _ours(spec_path: Path, path: Path, root: Path, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """One ingest in this process: (seconds, rows read, peak RSS in bytes) to ``out``."""
    spec = load_spec(spec_path)
    ws = init_workspace(root)
    key = ws.national_id_key()
    limit = ws.settings.ingest.memory_limit  # (as openbureau ingest runs it)
    with ws.engine() as engine:
        started = time.perf_counter()
        report = ingest_file(engine, spec, path, key=key, memory_limit=limit)
        elapsed = time.perf_counter() - started
    assert report.reconciled
    out.put((elapsed, report.read, _peak_rss()))


def _peak_rss() -> int:
    """This process's peak resident memory in bytes (VmHWM: ru_maxrss would carry the
    parent's peak across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_ours(spec_path: Path, path: Path, root: Path) -> tuple[float, int, int]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_ours, args=(spec_path, path, root, out))
    proc.start()
    result = out.get()
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"ingest of {path} failed in its process")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--feed", action="append", help="only these feeds (default: all)")
    ap.add_argument(
        "--reuse", action="store_true", help="the population of an earlier run, if in bench/out"
    )
    args = ap.parse_args()

    pop = OUT / f"pop{args.persons}_s{args.seed}"
    if args.reuse and (pop / "specs").is_dir():
        from openbureau.synth._generate import FEEDS
        from openbureau.synth._metro2_writer import HARBOR_ACCOUNTS

        feeds = [*FEEDS, HARBOR_ACCOUNTS]
        spec_paths = {f.name: pop / "specs" / f"{f.name}.yaml" for f in feeds}
        files = {f.name: pop / f.path for f in feeds}
        print(f"synth: {args.persons:,} persons, reusing {pop}")
    else:
        shutil.rmtree(pop, ignore_errors=True)
        started = time.perf_counter()
        result = generate(pop, SynthConfig(persons=args.persons, seed=args.seed))
        print(
            f"synth: {args.persons:,} persons, {sum(result.rows.values()):,} rows in "
            f"{time.perf_counter() - started:.1f} s"
        )
        spec_paths, files = result.specs, result.files
    specs = [spec_paths[feed] for feed in sorted(spec_paths) if not args.feed or feed in args.feed]

    print(
        f"{'feed':24} {'rows':>10} {'ours s':>8} {'rows/s':>10} {'duckdb s':>9} {'ratio':>6} "
        f"{'file MB':>8} {'peak MB':>8}"
    )
    total_rows, total_ours, total_peer, peak_all = 0, 0.0, 0.0, 0
    for spec_path in specs:
        spec = load_spec(spec_path)
        path = files[spec.name]
        ours, peer, peaks, rows = [], [], [], 0
        for _ in range(args.repeat):
            tmp = Path(tempfile.mkdtemp(prefix="obbench"))
            try:
                elapsed, rows, peak = run_ours(spec_path, path, tmp / "ws")
                ours.append(elapsed)
                peaks.append(peak)
                peer.append(
                    peer_load(
                        path, spec.format, spec.parse.delimiter, spec.parse.encoding,
                        tmp / "peer.duckdb",
                    )
                )  # fmt: skip
            finally:
                shutil.rmtree(tmp)
        o, p = statistics.median(ours), statistics.median(peer)
        peak_mb = max(peaks) / 2**20
        total_rows += rows
        total_ours += o
        total_peer += p
        peak_all = max(peak_all, max(peaks))
        print(
            f"{spec.name:24} {rows:>10,} {o:>8.2f} {rows / o:>10,.0f} {p:>9.2f} {o / p:>6.1f} "
            f"{path.stat().st_size / 2**20:>8,.0f} {peak_mb:>8,.0f}"
        )
    print(
        f"{'all feeds':24} {total_rows:>10,} {total_ours:>8.2f} "
        f"{total_rows / total_ours:>10,.0f} {total_peer:>9.2f} {total_ours / total_peer:>6.1f} "
        f"{'':>8} {peak_all / 2**20:>8,.0f}"
    )


if __name__ == "__main__":
    main()
