"""Ingest throughput on a synthetic population, beside plain DuckDB reading the same files.

    .venv/bin/python bench/ingest.py --persons 100000 --repeat 3

For each feed: rows per second through ``openbureau ingest`` (parse, type, validate, tokenise
national IDs, quarantine, write the batch) and through DuckDB's own reader loading the same file
into a table as text (``read_csv(all_varchar)`` / ``read_json`` / ``read_parquet``), with no
validation: the peer that shows what our guarantees cost. Medians over ``--repeat`` runs, each
into a fresh warehouse.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from openbureau.ingest import load_spec
from openbureau.ingest.load import ingest_file
from openbureau.synth import SynthConfig, generate
from openbureau.workspace import init_workspace

OUT = Path(__file__).parent / "out"


def peer_load(path: Path, fmt: str, delimiter: str, encoding: str, db: Path) -> float:
    con = duckdb.connect(str(db))
    p = str(path).replace("'", "''")
    if fmt == "csv":
        enc = {"cp1252": "latin-1", "utf-8-sig": "utf-8"}.get(encoding, encoding)
        src = (
            f"read_csv('{p}', all_varchar = true, delim = '{delimiter}', header = true, "
            f"encoding = '{enc}', ignore_errors = true)"
        )
    elif fmt == "jsonl":
        src = f"read_json('{p}', format = 'newline_delimited', ignore_errors = true)"
    else:
        src = f"read_parquet('{p}')"
    started = time.perf_counter()
    con.execute(f"CREATE TABLE t AS SELECT * FROM {src}")
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--feed", action="append", help="only these feeds (default: all)")
    args = ap.parse_args()

    pop = OUT / f"pop{args.persons}_s{args.seed}"
    shutil.rmtree(pop, ignore_errors=True)
    started = time.perf_counter()
    result = generate(pop, SynthConfig(persons=args.persons, seed=args.seed))
    print(
        f"synth: {args.persons:,} persons, {sum(result.rows.values()):,} rows in "
        f"{time.perf_counter() - started:.1f} s"
    )
    specs = [
        result.specs[feed] for feed in sorted(result.specs) if not args.feed or feed in args.feed
    ]
    files = result.files

    print(f"{'feed':24} {'rows':>10} {'ours s':>8} {'rows/s':>10} {'duckdb s':>9} {'ratio':>6}")
    total_rows, total_ours, total_peer = 0, 0.0, 0.0
    for spec_path in specs:
        spec = load_spec(spec_path)
        ours, peer, rows = [], [], 0
        for _ in range(args.repeat):
            tmp = Path(tempfile.mkdtemp(prefix="obbench"))
            try:
                ws = init_workspace(tmp / "ws")
                key = ws.national_id_key()
                with ws.engine() as engine:
                    started = time.perf_counter()
                    report = ingest_file(engine, spec, files[spec.name], key=key)
                    ours.append(time.perf_counter() - started)
                rows = report.read
                assert report.reconciled
                peer.append(
                    peer_load(
                        files[spec.name],
                        spec.format,
                        spec.parse.delimiter,
                        spec.parse.encoding,
                        tmp / "peer.duckdb",
                    )
                )
            finally:
                shutil.rmtree(tmp)
        o, p = statistics.median(ours), statistics.median(peer)
        total_rows += rows
        total_ours += o
        total_peer += p
        print(f"{spec.name:24} {rows:>10,} {o:>8.2f} {rows / o:>10,.0f} {p:>9.2f} {o / p:>6.1f}")
    print(
        f"{'all feeds':24} {total_rows:>10,} {total_ours:>8.2f} "
        f"{total_rows / total_ours:>10,.0f} {total_peer:>9.2f} {total_ours / total_peer:>6.1f}"
    )


if __name__ == "__main__":
    main()
