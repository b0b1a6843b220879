"""The demo's pipeline end to end at a given scale: each stage's time and peak memory.

Each stage runs as the CLI in a process of its own (as a bureau runs them), so its peak
memory is its own (``os.wait4``'s maximum resident set size of that process):

    synth -> init -> ingest (every feed, one process each) -> link -> ledger -> train -> score

    .venv/bin/python bench/pipeline.py --persons 1000000 --memory-limit 12GB

prints a table of the stages (seconds, peak RSS, records or persons per second) with the
commit, the machine's load before and after, and the whole run's time and peak. Issue 20
item 7's goal at 1,000,000 persons: under 16 GB peak, under 30 minutes in all. ``--keep``
keeps the workspace (in ``bench/out/pipeline_<persons>_s<seed>``); ``--reuse`` takes the
synthetic files from an earlier run with the same persons and seed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
CLI = [sys.executable, "-m", "openbureau.cli"]
TRAIN_AS_OF = dt.date(2024, 12, 31)  # as the demo (openbureau.demo)
SCORE_AS_OF = dt.date(2025, 12, 31)


@dataclass
class Stage:
    name: str
    seconds: float
    peak_mb: float
    note: str = ""


def run(name: str, args: list[str], *, note: str = "") -> Stage:
    """Run one CLI command; its wall time and its own peak RSS. Fails loudly on an error."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{name} failed (exit {proc.returncode}):\n{output[-3000:]}")
    peak = usage.ru_maxrss / 1024  # (KiB on Linux)
    print(f"  {name}: {seconds:,.1f} s, peak {peak:,.0f} MB", flush=True)
    return Stage(name, seconds, peak, note)


def commit() -> str:
    res = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return res.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--persons", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--memory-limit", default=None, help="bureau.toml's warehouse.memory_limit (e.g. 12GB)"
    )
    parser.add_argument("--reuse", action="store_true", help="reuse the synthetic files")
    parser.add_argument("--keep", action="store_true", help="keep the workspace afterwards")
    args = parser.parse_args()

    here = OUT / f"pipeline_{args.persons}_s{args.seed}"
    files = here / "incoming"
    ws = here / "ws"
    load_before = os.getloadavg()
    print(f"{args.persons:,} persons, seed {args.seed}, commit {commit()}", flush=True)
    stages: list[Stage] = []
    if not (args.reuse and (files / ".done").exists()):
        shutil.rmtree(here, ignore_errors=True)
        stages.append(
            run(
                "synth",
                ["synth", "--persons", str(args.persons), "--seed", str(args.seed),
                 "--out", str(files)],
            )
        )  # fmt: skip
        (files / ".done").touch()
    shutil.rmtree(ws, ignore_errors=True)
    run("init", ["init", str(ws)])
    if args.memory_limit:
        toml = ws / "bureau.toml"
        text = toml.read_text(encoding="utf-8")
        toml.write_text(
            text.replace('# memory_limit = "8GB"', f'memory_limit = "{args.memory_limit}"', 1),
            encoding="utf-8",
        )
    from openbureau.synth._generate import FEEDS
    from openbureau.synth._metro2_writer import HARBOR_ACCOUNTS

    ingest_runs = []
    for feed in sorted([*FEEDS, HARBOR_ACCOUNTS], key=lambda f: f.name):
        spec = files / "specs" / f"{feed.name}.yaml"
        shutil.copy(spec, ws / "specs" / spec.name)
        ingest_runs.append(
            run(f"ingest {feed.name}", ["ingest", feed.name, str(files / feed.path), "-w", str(ws)])
        )
    stages.append(
        Stage(
            "ingest (all feeds)",
            sum(s.seconds for s in ingest_runs),
            max(s.peak_mb for s in ingest_runs),
            f"{len(ingest_runs)} feeds",
        )
    )
    stages.append(run("link", ["link", "-w", str(ws)]))
    stages.append(run("ledger", ["ledger", "-w", str(ws)]))
    stages.append(run("train", ["train", "--as-of", str(TRAIN_AS_OF), "-w", str(ws)]))
    stages.append(run("score", ["score", "--as-of", str(SCORE_AS_OF), "-w", str(ws)]))
    load_after = os.getloadavg()

    total = sum(s.seconds for s in stages)
    peak = max(s.peak_mb for s in stages)
    print(f"\n{args.persons:,} persons; commit {commit()}; load {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after (1-minute average)\n")  # fmt: skip
    print("| stage | time | peak RSS | persons per second |")
    print("|---|---:|---:|---:|")
    for s in stages:
        for row in [s, *(ingest_runs if s.name.startswith("ingest") else [])]:
            rate = args.persons / row.seconds if row.seconds else 0
            name = row.name if row is s else f"· {row.name.removeprefix('ingest ')}"
            print(f"| {name} | {row.seconds:,.1f} s | {row.peak_mb / 1024:,.2f} GB | {rate:,.0f} |")
    print(f"| **all** | **{total / 60:,.1f} min** | **{peak / 1024:,.2f} GB** | |")
    if not args.keep:
        shutil.rmtree(ws, ignore_errors=True)


if __name__ == "__main__":
    main()
