"""What a publish costs, with the ledger unchanged and after it changed; and the records file.

    .venv/bin/python bench/publish.py --persons 3000 --repeat 3

On a demo workspace of ``--persons`` persons (built once and kept in ``bench/out/``, copied for
the run so it stays as built), the newest snapshot's features are computed once, then
``publish_snapshot`` is timed (seconds, median of ``--repeat``):

- ``first``: the first publish of the run (it writes the records file for the ledger as built);
- ``unchanged``: a publish with the ledger unchanged since the last one;
- ``changed``: a publish after a correction to one record (a ledger change);
- ``records file``: writing the records file alone (``_records_file.ensure_records_file``, into
  an empty folder), with its rows and size.

A source tree without records files (``PYTHONPATH`` at an older ``src``) gives the three
publishes and no ``records file`` row. The machine's 1-minute load average is printed with the
figures: other work on a shared machine shows there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
BIN = Path(sys.executable).parent


def demo_workspace(persons: int, seed: int) -> Path:
    """A demo workspace with published snapshots, built once and kept in ``bench/out``."""
    ws = OUT / f"publish_{persons}_s{seed}" / "ws"
    if (ws / "serving" / "CURRENT").exists():
        return ws
    ws.parent.mkdir(parents=True, exist_ok=True)
    print(f"building a {persons:,}-person demo workspace in {ws} (once) ...", flush=True)
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "openbureau.cli",
            "demo",
            "--dir",
            str(ws),
            "--replace",
            "--persons",
            str(persons),
            "--seed",
            str(seed),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
    return ws


def timed(
    step: Callable[[], object], repeat: int, before: Callable[[], object] | None = None
) -> float:
    """The median of ``repeat`` timings of ``step`` (``before`` runs untimed before each)."""
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--persons", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from openbureau.ledger import correct_record
    from openbureau.ledger._schema import EVENTS
    from openbureau.ledger.features import compute_features
    from openbureau.scoring.factors import add_custom_features
    from openbureau.scoring.score import latest_snapshot
    from openbureau.service import serving
    from openbureau.workspace import Workspace

    built = demo_workspace(args.persons, args.seed)
    with tempfile.TemporaryDirectory(dir=OUT) as scratch:
        root = Path(shutil.copytree(built, Path(scratch) / "ws", symlinks=True))
        ws = Workspace.open(root)
        with ws.engine() as engine:
            sid = latest_snapshot(engine)
            card, as_of = serving.snapshot_card(engine, sid)
            assert card is not None
            known_at = engine.scalar(
                "SELECT known_at FROM score_snapshots WHERE snapshot_id = ?", [sid]
            )
            compute_features(engine, as_of, into="publish_features", known_at=known_at)
            add_custom_features(
                engine,
                "publish_features",
                as_of,
                [(f.name, f.custom) for f in card.factors if f.custom is not None],
                known_at=known_at,
            )
            accounts = [
                r
                for (r,) in engine.query(
                    "SELECT record_id FROM ledger_account_status WHERE is_current "
                    "ORDER BY record_id LIMIT ?",
                    [args.repeat],
                )
            ]

            def publish() -> None:
                serving.publish_snapshot(engine, root, sid, "publish_features")

            def correct() -> None:
                correct_record(engine, accounts.pop(), {"balance": 1.0}, "bench: a correction")

            rows = [("first", timed(publish, 1))]
            rows.append(("unchanged", timed(publish, args.repeat)))
            rows.append(("changed", timed(publish, args.repeat, before=correct)))
            size = ""
            try:
                from openbureau.publication._records import ensure_records_file
            except ImportError:
                pass
            else:
                folder = Path(scratch) / "records-only"

                def fresh() -> None:
                    shutil.rmtree(folder, ignore_errors=True)
                    folder.mkdir()

                def write() -> None:
                    ensure_records_file(engine, folder)

                rows.append(("records file", timed(write, args.repeat, fresh)))
                (written,) = (folder / "records").glob("*.duckdb")
                versions = sum(
                    int(engine.scalar(f"SELECT count(*) FROM {t.table}")) for t in EVENTS.values()
                )
                size = f"{versions:,} versions, {written.stat().st_size / 1e6:.1f} MB"
    load = os.getloadavg()[0]
    print(f"\n{args.persons:,} persons, median of {args.repeat} (load {load:.1f})")
    print("| publish | seconds |\n|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")
    if size:
        print(f"records file: {size}")


if __name__ == "__main__":
    main()
