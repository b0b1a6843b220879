"""A lender's lookup by identity, measured against what it stands for and what it replaced.

    .venv/bin/python bench/lookup.py agreement --workspace W --sample 10000
    .venv/bin/python bench/lookup.py speed --workspace W --lookups 300 --compare-src OTHER/src
    .venv/bin/python bench/lookup.py splink --workspace W --lookups 12

``W`` is a workspace with a published snapshot (``bench/api.py`` builds demo ones into
``bench/out/api_<persons>_s<seed>/ws``). Lookups read the serving copy as the service does (an
in-memory DuckDB with the copy attached read-only, its tables as views), in this process.

``agreement``: identity records of the snapshot drawn at random among those holding what a
lender must give (first and last name, birth date, address line and postcode), each typed in as
it stands (those fields only, title case, as ``bench/api.py`` sends them), looked up as the
service does (held to the minimum identity): found, and in the file the batch linker (``openbureau
link``) put the record in? Counts of found in that file, found in another, ambiguous and not
found, and the time a lookup took.

``speed``: the same kind of identities looked up one at a time, by this tree and, with
``--compare-src``, by another (a process of its own with that tree's ``src`` first on the path,
e.g. main's: the lookup before this one), on the same identities: time per lookup (the first
apart: it loads the lookup index and prepares the search) and whether the two answered the same
(status, person, and each candidate's probability and weight to the last bit).

``splink``: what Splink's own paths for one new record cost with a linker built once and reused
(the question before writing a search of our own): ``predict_between`` of the record against
the population (Splink's blocking and scoring), ``score_pair`` of the record and one candidate,
and ``compare_records`` (``splink.internals.realtime``) with its SQL cached, against 20
candidates; the median per call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from openbureau.engine.sql import path_literal

FIELDS = ("first_name", "last_name", "dob", "address_line1", "postcode")


def serving_connection(ws: Path) -> tuple[duckdb.DuckDBPyConnection, Path]:
    """The workspace's current serving copy, opened as the service opens it."""
    path = ws / "serving" / (ws / "serving" / "CURRENT").read_text(encoding="utf-8").strip()
    con = duckdb.connect(":memory:")
    con.execute(f"ATTACH {path_literal(path)} AS srv (READ_ONLY)").fetchall()
    tables = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'srv'"
    ).fetchall()
    for (table,) in tables:
        con.execute(f"CREATE VIEW main.{table} AS SELECT * FROM srv.{table}").fetchall()
    return con, path


def sample(con: duckdb.DuckDBPyConnection, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` identity records drawn at random with a lender's minimum identity, as typed (title
    case), each with the person the batch linker gave it."""
    rows = con.execute(
        """SELECT r.first_name, r.last_name, r.dob, r.address_line1, r.postcode, p.person_id
           FROM identity_records r JOIN person_index p USING (identity_id)
           WHERE r.usable AND r.first_name IS NOT NULL AND r.last_name IS NOT NULL
             AND r.dob IS NOT NULL AND r.address_line1 IS NOT NULL AND r.postcode IS NOT NULL
           ORDER BY md5(r.identity_id || ?) LIMIT ?""",
        [str(seed), n],
    ).fetchall()
    return [
        {
            "first_name": f.title(),
            "last_name": la.title(),
            "dob": d.isoformat(),
            "address_line1": line,
            "postcode": pc,
            "person_id": pid,
        }
        for f, la, d, line, pc, pid in rows
    ]


def lookups(ws: Path, identities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each identity looked up by this process's tree: the answer and its time."""
    from openbureau.engine import DuckDBEngine
    from openbureau.identity.lookup import IdentityQuery, find_person
    from openbureau.workspace import Workspace

    country = Workspace.open(ws).settings.bureau.country
    con, path = serving_connection(ws)
    engine = DuckDBEngine.wrap(con, str(path))
    model = ws / "models" / "linkage-model.json"
    out = []
    for identity in identities:
        query = IdentityQuery(
            **{k: v for k, v in identity.items() if k in FIELDS and k != "dob"},
            dob=date.fromisoformat(identity["dob"]),
        )
        started = time.perf_counter()
        result = find_person(engine, model, query, national_id_key=None, country=country)
        seconds = time.perf_counter() - started
        out.append(
            {
                "status": result.status,
                "person_id": result.best.person_id if result.best else None,
                "candidates": [
                    [c.person_id, c.match_probability, c.match_weight, c.matched_records, c.tied]
                    for c in result.candidates
                ],
                "seconds": seconds,
            }
        )
    return out


def _quantiles(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    if not ms:
        return "none"
    q = {p: ms[min(len(ms) - 1, int(p * len(ms)))] for p in (0.5, 0.9, 0.99)}
    return f"median {q[0.5]:.1f} ms, p90 {q[0.9]:.1f}, p99 {q[0.99]:.1f}, max {ms[-1]:.1f}"


def run_agreement(ws: Path, n: int, seed: int) -> None:
    con, _ = serving_connection(ws)
    records = con.execute("SELECT count(*) FROM identity_records WHERE usable").fetchall()[0][0]
    persons = con.execute("SELECT count(DISTINCT person_id) FROM person_index").fetchall()[0][0]
    identities = sample(con, n, seed)
    con.close()
    print(
        f"{ws}: {records:,} usable identity records, {persons:,} persons; {len(identities):,} drawn"
    )
    answers = lookups(ws, identities)
    outcome: Counter[str] = Counter()
    for identity, answer in zip(identities, answers, strict=True):
        if answer["status"] != "found":
            outcome[answer["status"]] += 1
        else:
            same = answer["person_id"] == identity["person_id"]
            outcome["found, the batch linker's file" if same else "found, another file"] += 1
    for what, count in sorted(outcome.items()):
        print(f"  {what:34} {count:>7,} {count / len(identities):>9.3%}")
    rest = _quantiles([a["seconds"] for a in answers[1:]])
    print(f"  first lookup {answers[0]['seconds']:.2f} s; then {rest}")


def _in_tree(src: Path, ws: Path, identities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`lookups` by the tree ``src``, in a process of its own."""
    feed = Path(os.environ.get("TMPDIR", "/tmp")) / f"lookup_bench_{os.getpid()}.json"
    feed.write_text(json.dumps(identities), encoding="utf-8")
    try:
        done = subprocess.run(
            [sys.executable, __file__, "_answers", str(ws), str(feed)],
            env={**os.environ, "PYTHONPATH": str(src.resolve())},
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        feed.unlink(missing_ok=True)
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def run_speed(ws: Path, n: int, seed: int, compare: Path | None) -> None:
    con, _ = serving_connection(ws)
    identities = sample(con, n, seed)
    con.close()
    here = Path(__file__).resolve().parent.parent / "src"
    trees = ([("other tree", compare)] if compare else []) + [("this tree", here)]
    answers = {}
    for label, src in trees:
        answers[label] = _in_tree(src, ws, identities)
        seconds = [a["seconds"] for a in answers[label]]
        print(f"{label:10} ({src}): first {seconds[0]:.2f} s; then {_quantiles(seconds[1:])}")
    if compare:
        old, new = answers["other tree"], answers["this tree"]
        same = sum(
            (a["status"], a["person_id"], a["candidates"])
            == (b["status"], b["person_id"], b["candidates"])
            for a, b in zip(old, new, strict=True)
        )
        ratio = statistics.median(a["seconds"] for a in old[1:]) / statistics.median(
            b["seconds"] for b in new[1:]
        )
        print(f"the same answer, to the last bit: {same} of {len(new)}")
        print(f"median {ratio:.0f} times faster")
        print(f"statuses: {Counter(a['status'] for a in new)}")


def run_splink(ws: Path, n: int) -> None:
    from splink import DuckDBAPI
    from splink.internals.realtime import compare_records

    from openbureau.identity import _splink
    from openbureau.identity._address import words_macro
    from openbureau.identity.link import INPUT_COLUMNS

    served, _ = serving_connection(ws)
    con = duckdb.connect()
    con.execute(words_macro()).fetchall()
    population = served.sql(
        f"SELECT {INPUT_COLUMNS} FROM identity_records WHERE usable"
    ).to_arrow_table()
    con.register("_population", population)
    con.execute("CREATE TABLE population AS SELECT * FROM _population").fetchall()
    model = _splink.load_model(ws / "models" / "linkage-model.json").settings
    db = DuckDBAPI(connection=con)
    started = time.perf_counter()
    linker = _splink.linker_for(db, "population", model)
    built = time.perf_counter() - started
    print(f"{len(population):,} records; the linker and its term frequencies: {built:.1f} s")
    # (compare_records reads term frequencies from the records: a copy with them)
    tf = ", ".join(
        f"count(*) OVER (PARTITION BY {c})::DOUBLE / count({c}) OVER () AS tf_{c}"
        for c in _splink.tf_columns(model)
    )
    con.execute(f"CREATE TABLE population_tf AS SELECT *, {tf} FROM population").fetchall()
    ids = [
        r[0]
        for r in con.execute(
            f"SELECT unique_id FROM population ORDER BY md5(unique_id) LIMIT {n}"
        ).fetchall()
    ]

    def record(uid: str, as_query: bool) -> Any:
        replace = "* REPLACE ('query' AS unique_id)" if as_query else "*"
        return db.register(
            con.sql(
                f"SELECT {replace} FROM population WHERE unique_id = ?", params=[uid]
            ).to_arrow_table()
        )

    times: dict[str, list[float]] = {"predict_between": [], "score_pair": [], "compare_records": []}
    for uid in ids:
        t = time.perf_counter()
        linker.inference.predict_between(
            record(uid, True),
            db.register("population"),
            threshold_match_probability=0.5,
            warning_mode="never",
        ).as_record_list()
        times["predict_between"].append(time.perf_counter() - t)
        t = time.perf_counter()
        linker.inference.score_pair(record(uid, True), record(uid, False)).as_record_list()
        times["score_pair"].append(time.perf_counter() - t)
        last = con.execute(
            "SELECT last_name FROM population WHERE unique_id = ?", [uid]
        ).fetchall()[0][0]
        t = time.perf_counter()
        candidates = con.sql(
            "SELECT * FROM population_tf WHERE last_name = ? LIMIT 20", params=[last]
        ).to_arrow_table()
        compare_records(
            con.sql(
                "SELECT * REPLACE ('query' AS unique_id) FROM population_tf WHERE unique_id = ?",
                params=[uid],
            ).to_arrow_table(),
            candidates,
            model,
            db,
            sql_cache_key="lookup",
        ).as_record_list()
        times["compare_records"].append(time.perf_counter() - t)
    for what, seconds in times.items():
        rest = statistics.median(seconds[1:]) * 1000
        print(f"  {what:16} first {seconds[0] * 1000:7.0f} ms; median of the rest {rest:7.0f} ms")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "_answers":  # (a tree's lookups, for speed)
        identities = json.loads(Path(sys.argv[3]).read_text(encoding="utf-8"))
        print(json.dumps(lookups(Path(sys.argv[2]), identities)))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("agreement", "speed", "splink"))
    ap.add_argument("--workspace", type=Path, required=True)
    ap.add_argument("--sample", type=int, default=10_000, help="agreement: identities drawn")
    ap.add_argument("--lookups", type=int, default=300, help="speed, splink: lookups")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--compare-src", type=Path, help="speed: another tree's src")
    args = ap.parse_args()
    ws = args.workspace.resolve()
    if args.what == "agreement":
        run_agreement(ws, args.sample, args.seed)
    elif args.what == "speed":
        run_speed(ws, args.lookups, args.seed, args.compare_src)
    else:
        run_splink(ws, args.lookups)


if __name__ == "__main__":
    main()
