"""Linkage on the standard and the hard synthetic populations, same seed, untuned linker.

    .venv/bin/python bench/hardgen.py --persons 2000 --persons 20000
    .venv/bin/python bench/hardgen.py --persons 2000 --generator hard --difficulty household=0.2

For each generator and size: generate (``openbureau synth [--generator hard]``), ingest every
feed, link with the workspace's defaults (``openbureau link``: a model trained on the records
themselves), then the figures ``openbureau eval-linkage --truth`` reports, over records (the
unit a person sees): pairwise precision, recall and F1, merged files (holding records of more
than one person), split persons (records in more than one file), and the share of persons whose
file holds another person's records. Wall time of each step.

For the hard population, the same figures split by difficulty (``difficulties`` in its
``truth/records.parquet``): per difficulty, the records carrying it, the share of them in a
file that holds another person's records, and the share not in their person's main file (the
file holding most of the person's records).
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from openbureau.engine import Engine
from openbureau.engine.sql import path_literal
from openbureau.identity import link
from openbureau.identity.evaluate_truth import evaluate_truth
from openbureau.ingest import load_spec
from openbureau.ingest.load import ingest_file
from openbureau.synth import SynthConfig, generate, hard
from openbureau.workspace import init_workspace

OUT = Path(__file__).parent / "out" / "hardgen"
NATIONAL_ID_KEY = "7e" * 32  # fixed, so tokens and the trained model repeat run to run


@dataclass
class Result:
    generator: str
    persons: int
    records: int = 0
    precision: float = 0.0
    recall: float = 0.0
    f1: float = 0.0
    merged_files: int = 0
    split_persons: int = 0
    persons_mixed: float = 0.0
    times: dict[str, float] = field(default_factory=dict)
    by_difficulty: list[tuple] = field(default_factory=list)


def run(generator: str, persons: int, seed: int, settings: list[str]) -> Result:
    root = OUT / f"{generator}_{persons}"
    shutil.rmtree(root, ignore_errors=True)
    pop = root / "incoming"
    config = SynthConfig(persons=persons, seed=seed)
    t = time.perf_counter()
    if generator == "hard":
        result = hard.generate(pop, config, hard.parse(settings))
    else:
        result = generate(pop, config)
    times = {"synth": time.perf_counter() - t}
    ws = init_workspace(root / "ws")
    (ws.root / ws.settings.secrets.national_id_key).write_text(NATIONAL_ID_KEY + "\n")
    t = time.perf_counter()
    with ws.engine() as engine:
        for feed, spec in result.specs.items():
            ingest_file(
                engine,
                load_spec(spec),
                result.files[feed],
                key=ws.national_id_key(),
                max_quarantine_share=1.0,
            )
        times["ingest"] = time.perf_counter() - t
        t = time.perf_counter()
        link(
            engine,
            model_path=ws.root / "models" / "linkage-model.json",
            settings=ws.settings.identity,
            country=ws.settings.bureau.country,
        )
        times["link"] = time.perf_counter() - t
        quality = evaluate_truth(engine, truth=pop / "truth", column=None)
        by_difficulty = difficulty_table(engine, pop / "truth" / "records.parquet")
    q = quality.overall
    return Result(
        generator,
        persons,
        q.records,
        q.precision,
        q.recall,
        q.f1,
        q.merged_files,
        q.split_persons,
        q.persons_mixed_share,
        times,
        by_difficulty,
    )


def difficulty_table(engine: Engine, records: Path) -> list[tuple]:
    """Per difficulty: records, share in a mixed file, share outside the person's main file."""
    have = {
        r[0] for r in engine.query(f"DESCRIBE SELECT * FROM read_parquet({path_literal(records)})")
    }
    if "difficulties" not in have:
        return []
    return engine.query(f"""
        WITH r AS (
          SELECT pi.person_id AS file, t.person_id AS truth, t.difficulties
          FROM identity_record_map m JOIN ingest_batches b USING (batch_id)
          JOIN person_index pi ON pi.identity_id = m.identity_id
          JOIN read_parquet({path_literal(records)}) t
            ON t.feed = b.feed AND parse_filename(t.file) = b.file_name
           AND t.line_no = CAST(split_part(m.record_id, '.', 2) AS BIGINT)
           AND t.seq = coalesce(TRY_CAST(split_part(m.record_id, '.', 3) AS BIGINT), 0)),
        mixed AS (SELECT file FROM r GROUP BY file HAVING count(DISTINCT truth) > 1),
        main AS (SELECT truth, mode(file) AS file FROM r GROUP BY truth),
        flagged AS (
          SELECT unnest(r.difficulties) AS difficulty, r.file IN (SELECT file FROM mixed) AS mixed,
                 r.file <> main.file AS split_off
          FROM r JOIN main USING (truth))
        SELECT difficulty, count(*) AS records, avg(mixed::INT) AS in_mixed_file,
               avg(split_off::INT) AS outside_main_file
        FROM flagged GROUP BY difficulty ORDER BY difficulty""")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, action="append")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--generator", action="append", choices=["standard", "hard"])
    ap.add_argument("--difficulty", action="append", default=[], metavar="NAME=RATE")
    args = ap.parse_args()
    rows = []
    for persons in args.persons or [2000]:
        for generator in args.generator or ["standard", "hard"]:
            rows.append(run(generator, persons, args.seed, args.difficulty))
            r = rows[-1]
            print(
                f"{r.generator:>8} {r.persons:>7,} persons: {r.records:,} records, "
                f"pairwise P {r.precision:.4f} R {r.recall:.4f} F1 {r.f1:.4f}, "
                f"merged files {r.merged_files:,}, split persons {r.split_persons:,}, "
                f"persons whose file holds another's records {r.persons_mixed:.2%}; "
                + ", ".join(f"{k} {v:.0f} s" for k, v in r.times.items()),
                flush=True,
            )
            for name, n, mixed, split in r.by_difficulty:
                print(
                    f"    {name:<17} {n:>10,} records  in a mixed file {mixed:7.2%}  "
                    f"outside the main file {split:7.2%}"
                )
    print(
        "\n| generator | persons | records | pairwise P | R | F1 | merged files | split persons "
        "| persons mixed |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r.generator} | {r.persons:,} | {r.records:,} | {r.precision:.4f} | "
            f"{r.recall:.4f} | {r.f1:.4f} | {r.merged_files:,} | "
            f"{r.split_persons:,} | {r.persons_mixed:.2%} |"
        )


if __name__ == "__main__":
    main()
