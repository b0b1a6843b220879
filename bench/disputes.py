"""A dispute's resolution to a rescored person: the warehouse change and the person-level rescore.

    .venv/bin/python bench/disputes.py --base 100000 --copies 10 --disputes 200

On the scaled synthetic ledger of ``bench/scoring.py scale`` (``--base`` persons copied
``--copies`` times; built once and reused under bench/out), for ``--disputes`` persons drawn at
random (seed 0) among those with an inquiry on file, one at a time as the service does it: open
the warehouse, suppress the inquiry as ``disputed`` (an expiry, or a furnisher's deletion),
rescore the person (``service.disputes.rules.rescore_persons``: the snapshot's own SQL
restricted to them, as of the training date, as known now), serialise the row as the service
stores it, close the warehouse. Prints p50, p95, p99 and the maximum in seconds, with the rescore
alone beside it.
The store's writes (the dispute's steps and the rescore row, a few small rows in SQLite or
PostgreSQL) are not in the figure.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    from _scoring_synthetic import TRAIN_AS_OF, scaled_workspace
    from openbureau.ledger.corrections import suppress_record
    from openbureau.scoring import load_scorecard
    from openbureau.service.disputes.rules import rescore_persons
    from openbureau.workspace import Workspace

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=int, default=100_000)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--disputes", type=int, default=200)
    args = parser.parse_args()

    big = scaled_workspace(args.base, args.copies, args.seed)
    card = load_scorecard(big / "models" / "scorecard.yaml")
    ws = Workspace.open(big)
    with ws.engine() as engine:
        persons = engine.scalar("SELECT count(DISTINCT person_id) FROM person_index")
        candidates = engine.query(
            "SELECT person_id, min(record_id) FROM ledger_inquiries_effective "
            "GROUP BY person_id ORDER BY person_id"
        )
    picked = random.Random(0).sample(candidates, min(args.disputes, len(candidates)))
    total, rescore = [], []
    for person_id, record_id in picked:
        t = time.perf_counter()
        with ws.engine() as engine:
            suppress_record(engine, record_id, "disputed", note="bench", person_id=person_id)
            r = time.perf_counter()
            _, rows = rescore_persons(engine, card, TRAIN_AS_OF, "bench", [person_id])
            rescore.append(time.perf_counter() - r)
            json.dumps(rows[0], default=str)
        total.append(time.perf_counter() - t)

    def q(xs: list[float], p: float) -> float:
        return statistics.quantiles(xs, n=100, method="inclusive")[int(p) - 1]

    print(f"\n## dispute resolution: {persons:,} persons ({args.base:,} x {args.copies})")
    for name, xs in (("resolution (open, suppress, rescore, close)", total), ("rescore", rescore)):
        print(
            f"  {name}: p50 {q(xs, 50):.3f} s, p95 {q(xs, 95):.3f} s, p99 {q(xs, 99):.3f} s, "
            f"max {max(xs):.3f} s ({len(xs)} disputes)"
        )


if __name__ == "__main__":
    main()
