"""What the proxy test costs a score snapshot (governance/proxies.py), on a workspace with
scorecards and protected attributes (``openbureau demo`` makes one), and the measure alone on
a synthetic frame of the size asked.

    .venv/bin/python bench/proxies.py --workspace demo-workspace --persons 100000

1. In the workspace, as of 2025-12-31: the features, points and reasons of both active
   scorecards are computed as a snapshot computes them (``compute_scores``), then the proxy
   test as ``score_snapshot`` runs it (the scored persons' factors fetched from the engine,
   their attributes read from the store, the measures): CPU seconds, median of ``--repeat``,
   against the ``compute_scores`` it follows.
2. ``read_attributes`` of ``--persons`` persons asked (those of the person index, then ids the
   store does not hold): the read that grows with the persons scored.
3. ``measure`` alone on ``--persons`` random persons, 30 numeric factors (a fifth missing) and
   the five attributes: the part that grows with the persons besides the two reads.

Prints CPU seconds of the process (all its threads), as bench/ageing.py does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from openbureau.governance.protected_attributes import ATTRIBUTES, read_attributes
from openbureau.governance.proxies import ProxyGate, measure
from openbureau.scoring import load_scorecard
from openbureau.scoring.alternative import ALT_SCORECARD
from openbureau.scoring.score import _proxy_test, compute_scores, engine_now
from openbureau.service.audit import workspace_log
from openbureau.workspace import Workspace

AS_OF = dt.date(2025, 12, 31)


def _cpu(fn: Callable[[], object], repeat: int) -> tuple[float, list[float]]:
    runs = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        runs.append(time.process_time() - start)
    return statistics.median(runs), runs


def in_workspace(root: Path, repeat: int, n: int) -> None:
    ws = Workspace.open(root)
    card = load_scorecard(root / "models" / "scorecard.yaml")
    alt = load_scorecard(root / "models" / ALT_SCORECARD)

    def gate() -> ProxyGate:  # (a log of its own per run: each opens the store, as a command)
        return ProxyGate(ws, "bench@proxies", workspace_log(ws))

    with ws.engine() as engine:
        now = engine_now(engine)
        scores, runs_s = _cpu(
            lambda: compute_scores(engine, card, AS_OF, now, alt=alt, ageing=ws.settings.ageing),
            repeat,
        )
        persons = engine.scalar("SELECT count(*) FROM score_scored WHERE score IS NOT NULL")
        test, runs_t = _cpu(lambda: _proxy_test(engine, card, alt, gate()), repeat)
        held = [str(p) for (p,) in engine.query("SELECT DISTINCT person_id FROM person_index")]
    asked = held[:n] + [f"PX{i:09d}" for i in range(n - len(held[:n]))]
    read, runs_r = _cpu(
        lambda: read_attributes(
            ws, asked, actor="bench@proxies", purpose="bench", log=workspace_log(ws)
        ),
        repeat,
    )
    print(
        f"## {root}: {persons:,} persons scored (core), {len(card.factors)} + "
        f"{len(alt.factors)} factors x {len(ATTRIBUTES)} attributes; median of {repeat}\n"
        f"  compute_scores {scores:6.2f} CPU s (runs {', '.join(f'{r:.2f}' for r in runs_s)})\n"
        f"  proxy test     {test:6.2f} CPU s (runs {', '.join(f'{r:.2f}' for r in runs_t)}; "
        f"{test / scores:.1%} of compute_scores)\n"
        f"  read_attributes of {n:,} asked: {read:.2f} CPU s "
        f"(runs {', '.join(f'{r:.2f}' for r in runs_r)})"
    )


def synthetic(n: int, repeat: int) -> None:
    rng = np.random.default_rng(1)
    persons = [f"P{i:07d}" for i in range(n)]
    names = [f"f{i:02d}" for i in range(30)]
    values = rng.gamma(2.0, 10.0, (n, 30))
    values[rng.random((n, 30)) < 0.2] = np.nan
    frame = pd.DataFrame(values, columns=names).assign(person_id=persons)
    attrs = pd.DataFrame(
        {a: rng.choice(["a", "b", "c", "d", None], n) for a in ATTRIBUTES},
        index=pd.Index(persons, name="person_id"),
    )
    cost, runs = _cpu(lambda: measure(frame, [(f, "numeric") for f in names], attrs, 0.3), repeat)
    print(
        f"## measure alone: {n:,} persons x 30 factors x {len(ATTRIBUTES)} attributes: "
        f"{cost:.2f} CPU s (runs {', '.join(f'{r:.2f}' for r in runs)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, help="a workspace with scorecards and attributes")
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.workspace is not None:
        in_workspace(args.workspace, args.repeat, args.persons)
    synthetic(args.persons, args.repeat)


if __name__ == "__main__":
    main()
