"""What ageing-off and consent cost the score step: point-in-time features and a full score
snapshot, with and without the ageing rules and the second scorecard, on a synthetic population
copied to the size asked.

    .venv/bin/python bench/ageing.py --base 10000 --copies 5 --repeat 3

The population (``_scoring_synthetic.population``: generated, ingested, linked, in the
ledger; a scorecard trained as of 2024-12-31) is copied ``--copies`` times into its own
warehouse, as ``scoring.py scale`` does. Then, as of 2024-12-31, median of ``--repeat`` runs
of each:

- ``without``: the ageing conditions left out (the point-in-time views as before ageing-off);
- ``default``: bureau.toml's default periods. The synthetic history is 36 months, so no late
  account row can be 7 years old: the delinquency pass is skipped (one ``min`` over the status
  table decides it), and inquiries (12 months in the score), bills and public records are
  filtered;
- ``aged``: ``delinquency`` and ``charged_off`` set to one year, so the delinquency pass (the
  DOFD derivation over every late row) runs and its anti-joins drop a good share of the late
  rows: the cost when ageing-off has work to do;
- ``consent``: the default periods and the scorecard with alternative data beside the core one
  (``score_snapshot(..., alt=...)``: every person's ``alt_score``, and reasons with their
  records where it is above the core score), as ``openbureau score`` runs when both
  scorecards exist. Its ratio to ``without`` is what ageing-off and consent add together.

Prints CPU seconds of the process (all its threads: on a machine shared with other work, wall
time swings by 2x between runs) and the ratio to ``without``, for features and for the
snapshot (features, points, reasons with their evidence).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

from _scoring_synthetic import EVENT_TABLES, OUT, TRAIN_AS_OF, population
from openbureau.config import AgeingSection
from openbureau.ledger import _pit
from openbureau.ledger.ageing import AgeingFilters, create_ageing_filters


def _copied(base: int, copies: int, seed: int) -> Path:
    from openbureau.scoring import seal_scorecard
    from openbureau.scoring.train import train
    from openbureau.workspace import Workspace

    ws_dir, _, _ = population(base, seed)
    if not (ws_dir / "models" / "scorecard.yaml").exists():
        with Workspace.open(ws_dir).engine() as engine:
            train(
                engine,
                as_of=TRAIN_AS_OF,
                models_dir=ws_dir / "models",
                reports_dir=ws_dir / "reports",
            )
    big = OUT / f"ageing_{base}x{copies}_s{seed}"
    if not (big / "warehouse.duckdb").exists():
        shutil.rmtree(big, ignore_errors=True)
        shutil.copytree(ws_dir, big)
        with Workspace.open(big).engine() as engine:
            for k in range(1, copies):
                for table in EVENT_TABLES:
                    # (every copy a person of its own, with accounts of its own)
                    renamed = ["event_id", "record_id", "person_id", "identity_id"]
                    if "account_id" in engine.columns(table):
                        renamed.append("account_id")
                    replace = ", ".join(f"{c} || '.{k}' AS {c}" for c in renamed)
                    engine.execute(f"""INSERT INTO {table} SELECT * REPLACE ({replace})
                        FROM {table} WHERE person_id NOT LIKE '%.%'""")
                engine.execute(f"""INSERT INTO person_index SELECT * REPLACE (
                    identity_id || '.{k}' AS identity_id, person_id || '.{k}' AS person_id)
                    FROM person_index WHERE person_id NOT LIKE '%.%'""")
    # (a card kept from before cards were sealed is sealed as it is; a sealed one is left alone)
    for name in ("scorecard.yaml", "scorecard-alternative.yaml"):
        seal_scorecard(big / "models" / name)
    return big


def _no_ageing(*args: object, **kwargs: object) -> AgeingFilters:
    return AgeingFilters()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=int, default=10_000)
    parser.add_argument("--copies", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from openbureau.ledger import compute_features
    from openbureau.scoring import load_scorecard, score_snapshot
    from openbureau.workspace import Workspace

    big = _copied(args.base, args.copies, args.seed)
    card = load_scorecard(big / "models" / "scorecard.yaml")
    alt = load_scorecard(big / "models" / "scorecard-alternative.yaml")
    modes: dict[str, AgeingSection | None] = {
        "without": None,
        "default": AgeingSection(),
        "aged": AgeingSection(delinquency="1y", charged_off="1y"),
        "consent": AgeingSection(),
    }
    with Workspace.open(big).engine() as engine:
        persons = engine.scalar("SELECT count(DISTINCT person_id) FROM person_index")
        status_rows = engine.scalar("SELECT count(*) FROM ledger_account_status")
        late_rows = engine.scalar(
            "SELECT count(*) FROM ledger_account_status_effective WHERE status_rank >= 1"
        )
        print(
            f"## ageing-off cost: {args.base:,} persons x {args.copies} = {persons:,} persons, "
            f"{status_rows:,} account status rows ({late_rows:,} late); as of {TRAIN_AS_OF}, "
            f"median of {args.repeat}, the modes taking turns"
        )
        feats: dict[str, list[float]] = {m: [] for m in modes}
        snaps: dict[str, list[float]] = {m: [] for m in modes}
        aged = 0
        for _ in range(args.repeat):
            for mode, rules in modes.items():
                _pit.create_ageing_filters = (  # type: ignore[attr-defined]
                    _no_ageing if mode == "without" else create_ageing_filters
                )
                t = time.process_time()
                compute_features(engine, TRAIN_AS_OF, into="f", ageing=rules)
                feats[mode].append(time.process_time() - t)
                if mode == "aged":
                    aged = engine.scalar("SELECT count(*) FROM pit_aged_records")
                t = time.process_time()
                with_alt = alt if mode == "consent" else None
                score_snapshot(engine, card, TRAIN_AS_OF, alt=with_alt, ageing=rules)
                snaps[mode].append(time.process_time() - t)
        base_f, base_s = statistics.median(feats["without"]), statistics.median(snaps["without"])
        for mode in modes:
            f, s = statistics.median(feats[mode]), statistics.median(snaps[mode])
            print(
                f"  {mode:8} features {f:6.2f} CPU s (x{f / base_f:.3f}; runs "
                f"{', '.join(f'{x:.2f}' for x in feats[mode])})  snapshot {s:6.2f} CPU s "
                f"(x{s / base_s:.3f}; runs {', '.join(f'{x:.2f}' for x in snaps[mode])})"
                + (f"  late rows aged off: {aged:,}" if mode == "aged" else "")
            )
    _pit.create_ageing_filters = create_ageing_filters  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
