"""A full relink with the saved model beside plain Splink's predict and cluster of the same
records, and where the relink's time goes (``bench/linkage.py relink``).

The workspace relinked is a copy of a linked one's identity tables (all of its persons, or a
share of them: the persons whose ID hashes below it, with all their records), so that the
figures at 200,000 records come from the same population as those at 1,000,000. Each repeat
runs, in processes of their own and in turns: ``link(full=True)`` on a fresh copy of that
workspace, its steps timed by wrapping the functions that do them (see STEPS); and plain
Splink on the same usable records with the same saved model (a ``Linker`` on an in-memory
DuckDB table, ``predict`` at the edge threshold, ``cluster_pairwise_predictions_at_threshold``
at the link threshold). The relink's figure is the wall time from opening the warehouse to
closing it (``link()``, its commit, the checkpoint on closing); plain Splink's is predict plus
cluster (reading the records into memory, apart). CPU seconds (of all the process's threads)
are shown beside wall seconds: they move less with what else the machine runs.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median
from typing import Any

import duckdb

from openbureau.workspace import Workspace, init_workspace

# (the module: the package exports its function ``link`` under the same name)
link_module = importlib.import_module("openbureau.identity.link")

# (table, the rows of it a share keeps: SQL on the source catalog ``src`` and the kept
# persons ``keep_persons``, kept active persons' records ``keep_ids``)
COPIED = (
    ("ingest_batches", "TRUE"),
    ("identity_batches", "TRUE"),
    ("identity_emptied", "TRUE"),
    ("link_batches", "TRUE"),
    ("link_runs", "TRUE"),
    (
        "identity_records",
        "identity_id IN (SELECT identity_id FROM keep_ids) OR (NOT usable "
        "AND md5_number(identity_id) % 1000 < {k})",
    ),
    ("unlinked", "md5_number(identity_id) % 1000 < {k}"),
    ("person_index", "identity_id IN (SELECT identity_id FROM keep_ids)"),
    ("person_ids", "person_id IN (SELECT person_id FROM keep_persons)"),
    ("person_id_history", "person_id IN (SELECT person_id FROM keep_persons)"),
    ("person_id_members", "person_id IN (SELECT person_id FROM keep_persons)"),
    (
        "link_overrides",
        "identity_id_a IN (SELECT identity_id FROM keep_ids) "
        "AND identity_id_b IN (SELECT identity_id FROM keep_ids)",
    ),
    (
        "link_edges",
        "identity_id_l IN (SELECT identity_id FROM keep_ids) "
        "AND identity_id_r IN (SELECT identity_id FROM keep_ids)",
    ),
)


def prepare(source: Path, share: float, out: Path) -> Path:
    """``out``/ws: a workspace holding ``source``'s linking tables for a share of its persons
    (made once; kept for later runs)."""
    ws_dir = out / "ws"
    if (ws_dir / "warehouse.duckdb").exists():
        return ws_dir
    shutil.rmtree(out, ignore_errors=True)
    src = Workspace.open(source)
    ws = init_workspace(ws_dir)
    shutil.copy(source / "bureau.toml", ws_dir / "bureau.toml")
    (ws_dir / "models").mkdir(exist_ok=True)
    shutil.copy(src.root / "models" / "linkage-model.json", ws_dir / "models")
    with ws.engine() as engine:
        link_module.ensure_schema(engine)
        from openbureau.identity import standardise
        from openbureau.ingest import store

        store.ensure_schema(engine)
        standardise.ensure_schema(engine)
    k = round(share * 1000)
    with duckdb.connect(str(ws.warehouse_path)) as con:
        con.execute(f"ATTACH '{src.warehouse_path}' AS src (READ_ONLY)")
        con.execute(f"""CREATE TEMP TABLE keep_active AS SELECT person_id FROM src.person_ids
                        WHERE status = 'active' AND md5_number(person_id) % 1000 < {k}""")
        con.execute("""CREATE TEMP TABLE keep_persons AS SELECT person_id FROM keep_active
                       UNION SELECT person_id FROM src.person_ids
                       WHERE resolves_to IN (SELECT person_id FROM keep_active)""")
        con.execute("""CREATE TEMP TABLE keep_ids AS SELECT identity_id FROM src.person_index
                       WHERE person_id IN (SELECT person_id FROM keep_active)""")
        con.execute("BEGIN")
        for table, where in COPIED:
            con.execute(
                f"INSERT INTO main.{table} BY NAME SELECT * FROM src.{table} "
                f"WHERE {where.format(k=k)}"
            )
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
    return ws_dir


# The relink's steps: (name, module, function). Each step's time excludes the steps it calls.
STEPS = (
    ("standardise (stage new batches)", "standardise", "stage_identity_records"),
    ("scratch views", "link", "_read_in_scratch"),
    ("load model", "_training", "model_for_run"),
    ("linker + term frequencies", "_splink", "linker_for"),
    ("predict (Splink)", "_splink", "predict_all"),
    ("edges table (+ national ID, overrides)", "link", "_full_edges"),
    ("cluster (Splink)", "_splink", "cluster"),
    ("cluster: assign table", "_cluster", "cluster_full"),
    ("conflict check (enforce_splits)", "_cluster", "enforce_splits"),
    ("publish staged records", "standardise", "publish_identity_records"),
    ("ensure schema", "link", "ensure_schema"),
    ("person index: IDs", "_index", "apply_assignment"),
    ("person index: redirects", "_index", "_redirect_retired_ids"),
    ("overrides", "link", "_apply_overrides"),
    ("run record", "link", "_record_run"),
)


def _clocks() -> tuple[float, float]:
    """Wall seconds, and CPU seconds of this process's threads (less moved by what else the
    machine runs)."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), used.ru_utime + used.ru_stime


def _splink_step(table: str) -> str:
    """The step a table Splink makes belongs to."""
    name = table.removeprefix("__splink__")
    if name.startswith("df_tf_"):
        return "Splink: term frequencies"
    steps = {
        "blocked_id_pairs": "Splink: blocking (candidate pairs)",
        "df_predict": "Splink: scoring the pairs",
        "df_concat_with_tf": "Splink: records with term frequencies",
    }
    return steps.get(name, "Splink: clustering's tables")


class _Profile:
    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {}  # step: [wall, cpu]
        self.stack: list[str] = []
        self.statements: dict[str, float] = {}  # step: statement start: wall seconds

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        parent = self.stack[-1] if self.stack else None
        self.stack.append(name)
        t = _clocks()
        try:
            yield
        finally:
            spent = [b - a for a, b in zip(t, _clocks(), strict=True)]
            self.stack.pop()
            mine = self.seconds.setdefault(name, [0.0, 0.0])
            for i, x in enumerate(spent):
                mine[i] += x
                if parent is not None:
                    self.seconds.setdefault(parent, [0.0, 0.0])[i] -= x

    def time_splink_tables(self) -> None:
        """Time each table Splink makes (its term frequencies, blocked pairs, scored pairs,
        clustering steps) as a step of its own, named ``Splink: <table>``."""
        from splink.internals.database_api import DatabaseAPI

        make = DatabaseAPI._sql_to_splink_dataframe

        def timed(api: Any, sql: str, templated_name: str, physical_name: str) -> Any:
            with self.step(_splink_step(templated_name)):
                return make(api, sql, templated_name, physical_name)

        DatabaseAPI._sql_to_splink_dataframe = timed  # type: ignore[method-assign]

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with self.step(name):
                return fn(*args, **kwargs)

        return wrapped


def _timed_statement(prof: _Profile, run: Callable[..., Any]) -> Callable[..., Any]:
    def timed(self: Any, sql: str, params: Any) -> Any:
        t = time.perf_counter()
        try:
            return run(self, sql, params)
        finally:
            key = f"{prof.stack[-1] if prof.stack else ''}: {' '.join(sql.split())[:90]}"
            prof.statements[key] = prof.statements.get(key, 0.0) + time.perf_counter() - t

    return timed


# What a relink wrote, summed up to compare code versions by (run ids left out)
DIGESTED = {
    "person_index": "identity_id || person_id",
    "person_ids": "concat_ws('|', person_id, status, resolves_to, created_seq)",
    "link_edges": "concat_ws('|', identity_id_l, identity_id_r, match_probability, source)",
}


BENCH_STEP = "(the benchmark's own counting)"  # (left out of the relink's time)


def relink_once(ws_dir: Path) -> dict[str, Any]:
    """``link(full=True)`` on ``ws_dir``, profiled (run in a process of its own)."""
    from openbureau.engine import DuckDBEngine

    prof = _Profile()
    prof.time_splink_tables()
    for name, module, fn in STEPS:
        mod = importlib.import_module(f"openbureau.identity.{module}")
        setattr(mod, fn, prof.wrap(name, getattr(mod, fn)))
    checked: dict[str, int] = {}
    _cluster = importlib.import_module("openbureau.identity._cluster")
    enforce = _cluster.enforce_splits

    def counted(engine: Any, *args: Any, **kwargs: Any) -> Any:
        """(how many clusters the conflict check formed pairs in, of how many)"""
        done = enforce(engine, *args, **kwargs)
        s = "link_scratch"
        with prof.step(BENCH_STEP):
            checked["clusters"] = engine.scalar(
                f"SELECT count(DISTINCT cluster_id) FROM {s}.assign"
            )
            if engine.table_exists("may_conflict"):  # (code before the cluster filter: all)
                checked["checked"] = engine.scalar(
                    f"SELECT count(DISTINCT cluster_id) FROM {s}.may_conflict"
                )
        return done

    _cluster.enforce_splits = counted
    commit = DuckDBEngine._commit

    def timed_commit(self: DuckDBEngine) -> None:
        with prof.step("commit"):
            commit(self)

    DuckDBEngine._commit = timed_commit  # type: ignore[method-assign]
    for method in ("_execute", "_fetch_arrow"):
        setattr(DuckDBEngine, method, _timed_statement(prof, getattr(DuckDBEngine, method)))
    ws = Workspace.open(ws_dir)
    t = _clocks()
    engine = ws.engine()
    with prof.step("other (SQL in link.py, Splink's Python)"):
        report = link_module.link(
            engine,
            model_path=ws.root / "models" / "linkage-model.json",
            settings=ws.settings.identity,
            country=ws.settings.bureau.country,
            full=True,
        )
    with prof.step("checkpoint on closing"):
        engine.close()
    own = prof.seconds.pop(BENCH_STEP, [0.0, 0.0])
    total = [b - a - x for a, b, x in zip(t, _clocks(), own, strict=True)]
    with duckdb.connect(str(ws.warehouse_path), read_only=True) as con:
        digest = {
            table: con.execute(
                f"SELECT md5(string_agg({cols}, ',' ORDER BY {cols})) FROM {table}"
            ).fetchall()[0][0][:12]
            for table, cols in DIGESTED.items()
        }
    return {
        "digest": digest,
        "total": total,
        "steps": prof.seconds,
        "statements": prof.statements,
        "checked": checked,
        "records": report.records,
        "persons": report.persons,
        "edges": report.edges,
        "events": report.events,
    }


def splink_once(ws_dir: Path) -> dict[str, Any]:
    """Plain Splink's predict and cluster of ``ws_dir``'s usable records with its saved model
    (run in a process of its own)."""
    from splink import DuckDBAPI, Linker
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    from openbureau.identity import _splink
    from openbureau.identity._address import words_macro

    ws = Workspace.open(ws_dir)
    model = _splink.load_model(ws.root / "models" / "linkage-model.json")
    con = duckdb.connect()
    t = time.perf_counter()
    con.execute(f"ATTACH '{ws.warehouse_path}' AS wh (READ_ONLY)")
    con.execute(
        f"CREATE TABLE records AS SELECT {link_module.INPUT_COLUMNS} "
        "FROM wh.identity_records WHERE usable"
    )
    con.execute("DETACH wh")
    con.execute(words_macro())  # (the address comparison calls it)
    load = time.perf_counter() - t
    db_api = DuckDBAPI(connection=con)
    prof = _Profile()
    prof.time_splink_tables()
    t = _clocks()
    linker = Linker(db_api.register("records"), model.settings)
    pairs = linker.inference.predict(
        threshold_match_probability=ws.settings.identity.edge_threshold
    )
    t, predict = _clocks(), [b - a for a, b in zip(t, _clocks(), strict=True)]
    clusters = cluster_pairwise_predictions_at_threshold(
        "records",
        pairs.physical_name,
        db_api,
        node_id_column_name="unique_id",
        threshold_match_probability=ws.settings.identity.link_threshold,
    )
    persons = con.execute(
        f"SELECT count(DISTINCT cluster_id) FROM {clusters.physical_name}"
    ).fetchall()[0][0]
    cluster = [b - a for a, b in zip(t, _clocks(), strict=True)]
    edges = con.execute(f"SELECT count(*) FROM {pairs.physical_name}").fetchall()[0][0]
    return {
        "steps": prof.seconds,
        "load": load,
        "predict": predict,
        "cluster": cluster,
        "persons": persons,
        "edges": edges,
    }


def _in_process(what: str, ws_dir: Path) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).parent / "linkage.py"),
            "_relink-once",
            what,
            str(ws_dir),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.exit(f"{what} on {ws_dir} failed: {done.stderr.strip()[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run(source: Path, share: float, out_root: Path, repeats: int) -> None:
    out = out_root / f"relink_{source.name if source.name != 'ws' else source.parent.name}_{share}"
    base = prepare(source, share, out)
    runs: list[dict[str, Any]] = []
    plain: list[dict[str, Any]] = []
    for _ in range(repeats):
        work = out / "run"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(base, work)
        subprocess.run(["sync"], check=False)
        runs.append(_in_process("openbureau", work))
        plain.append(_in_process("splink", base))
    shutil.rmtree(out / "run", ignore_errors=True)
    report(runs, plain)


STATEMENTS_SHOWN = 15


def report(runs: list[dict[str, Any]], plain: list[dict[str, Any]]) -> None:
    """A table of medians: wall seconds (CPU seconds of the process's threads)."""

    def med(values: list[list[float]]) -> tuple[float, float]:
        return median(v[0] for v in values), median(v[1] for v in values)

    def cell(values: list[list[float]]) -> str:
        wall, cpu = med(values)
        return f"{wall:.2f} ({cpu:.2f})"

    ours = med([r["total"] for r in runs])
    theirs = med([[a + b for a, b in zip(p["predict"], p["cluster"], strict=True)] for p in plain])
    r0, p0 = runs[0], plain[0]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\nload average at the end {load}; {r0['records']:,} usable records; openbureau: "
        f"{r0['persons']:,} persons, {r0['edges']:,} links stored; plain Splink: "
        f"{p0['persons']:,} clusters, {p0['edges']:,} scored pairs"
    )
    print("| step | wall s (CPU s) | share of wall | wall s, each run |\n|---|---|---|---|")
    zero = [0.0, 0.0]
    steps = sorted(runs[0]["steps"], key=lambda s: -med([r["steps"].get(s, zero) for r in runs])[0])
    for step in steps:
        each = [r["steps"].get(step, zero) for r in runs]
        print(
            f"| {step} | {cell(each)} | {med(each)[0] / ours[0]:.0%} | "
            + ", ".join(f"{w:.2f}" for w, _ in each)
            + " |"
        )
    print(
        f"| **relink, all** | **{cell([r['total'] for r in runs])}** | | "
        + ", ".join(f"{r['total'][0]:.2f}" for r in runs)
        + " |"
    )
    for part in ("load", "predict", "cluster"):
        each = [p[part] if isinstance(p[part], list) else [p[part], 0.0] for p in plain]
        print(
            f"| plain Splink: {part} | {cell(each)} | | "
            + ", ".join(f"{w:.2f}" for w, _ in each)
            + " |"
        )
    for step in sorted(plain[0]["steps"]):
        each = [p["steps"].get(step, zero) for p in plain]
        print(
            f"| plain Splink, of which {step} | {cell(each)} | | "
            + ", ".join(f"{w:.2f}" for w, _ in each)
            + " |"
        )
    digests = {json.dumps(r["digest"], sort_keys=True) for r in runs}
    print(
        f"ID changes: {', '.join(f'{k} {v}' for k, v in sorted(r0['events'].items())) or 'none'}; "
        f"what the relink wrote (md5): {' / '.join(digests)}"
    )
    c = r0["checked"]
    print(
        f"the conflict check formed pairs in {c.get('checked', c['clusters']):,} of "
        f"{c['clusters']:,} clusters"
    )
    slow = sorted(
        runs[0]["statements"],
        key=lambda k: -median(r["statements"].get(k, 0.0) for r in runs),
    )[:STATEMENTS_SHOWN]
    print("\nthe relink's slowest statements through the engine (median wall s):")
    for k in slow:
        print(f"  {median(r['statements'].get(k, 0.0) for r in runs):6.2f}  {k}")
    print(
        f"relink {ours[0]:.2f} s ({ours[1]:.2f} s CPU) against plain Splink's predict + cluster "
        f"{theirs[0]:.2f} s ({theirs[1]:.2f} s CPU): **{ours[0] / theirs[0]:.2f}x** wall, "
        f"{ours[1] / theirs[1]:.2f}x CPU (medians of {len(runs)})",
        flush=True,
    )


def once(what: str, ws_dir: Path) -> None:
    """The ``_relink-once`` subcommand: one measurement, printed as a JSON line."""
    result = relink_once(ws_dir) if what == "openbureau" else splink_once(ws_dir)
    print(json.dumps(result))
