"""eval-linkage on any truth (synth folder, truth file, feed column), per feed, over records."""

from __future__ import annotations

import itertools
import random
import shutil
from pathlib import Path

import duckdb
import pytest

from openbureau.engine import DuckDBEngine
from openbureau.identity import link
from openbureau.identity.evaluate_truth import FeedQuality, record_quality, truth_from_column
from openbureau.ingest import load_spec
from openbureau.ingest.load import ingest_file
from openbureau.synth import SynthConfig, generate
from openbureau.workspace import init_workspace

COLUMNS = 11  # of the record table: feed, records, no truth, then the figures


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """800 synthetic persons, every feed ingested and linked: (workspace, synth folder)."""
    root = tmp_path_factory.mktemp("truth")
    result = generate(root / "incoming", SynthConfig(persons=800, seed=5))
    ws = init_workspace(root / "ws")
    (ws.root / ws.settings.secrets.national_id_key).write_text("3c" * 32 + "\n")
    with ws.engine() as engine:
        for feed, spec in result.specs.items():
            # (a truth file's key names rows of the feeds' tables: a Metro 2 feed's associated
            # consumers have none, so the synth folder's figures would count records more)
            if feed == "harbor_accounts":
                continue
            ingest_file(engine, load_spec(spec), result.files[feed], key=ws.national_id_key())
        link(
            engine,
            model_path=ws.root / "models" / "linkage-model.json",
            settings=ws.settings.identity,
            country=ws.settings.bureau.country,
        )
    return ws.root, root / "incoming"


def truth_rows(ws: Path, pop: Path) -> str:
    """SQL of (feed, source_record_id, person_id) for every loaded row, from the synth truth."""
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        feeds = [r[0] for r in con.sql("SELECT DISTINCT feed FROM ingest_batches").fetchall()]
    return " UNION ALL ".join(
        f"SELECT b.feed, s.source_record_id, t.person_id FROM w.src_{f} s "
        "JOIN w.ingest_batches b USING (batch_id) "
        f"JOIN '{pop}/truth/records.parquet' t ON t.feed = b.feed "
        "AND parse_filename(t.file) = b.file_name AND t.line_no = s.line_no"
        for f in feeds
    )


def write_truth(ws: Path, pop: Path, path: Path, select: str = "SELECT * FROM t") -> Path:
    """Write ``select`` over the truth rows (``t``) to ``path`` (format by its suffix)."""
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{ws / 'warehouse.duckdb'}' AS w (READ_ONLY)")
        fmt = {".csv": "csv", ".parquet": "parquet", ".jsonl": "json"}[path.suffix]
        con.execute(f"COPY (WITH t AS ({truth_rows(ws, pop)}) {select}) TO '{path}' (FORMAT {fmt})")
    return path


def record_table(out: str) -> dict[str, list[str]]:
    """The record table's rows by feed ("all feeds" too), cells as printed."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == COLUMNS and cells[1][:1].isdigit():
            rows[cells[0]] = cells[1:]
    return rows


def test_synth_folder_and_truth_files_give_the_same_figures(cli, linked, tmp_path) -> None:
    ws, pop = linked
    res = cli("eval-linkage", "--truth", pop / "truth", "-w", ws)
    assert res.exit_code == 0, res.output
    assert "Linkage against truth (identity records)" in res.stdout  # as before
    synth = record_table(res.stdout)
    assert len(synth) >= 5 and "all feeds" in synth
    records = int(synth["all feeds"][0].replace(",", ""))
    assert records == sum(int(r[0].replace(",", "")) for f, r in synth.items() if f != "all feeds")
    assert all(r[1] == "0" for r in synth.values())  # every record has its truth
    assert "Persons whose file holds another person's records:" in res.stdout
    assert "warning" not in res.stdout
    for name in ("t.parquet", "t.csv", "t.jsonl"):
        truth = write_truth(ws, pop, tmp_path / name)
        res = cli("eval-linkage", "--truth", truth, "--truth-column", "person_id", "-w", ws)
        assert res.exit_code == 0, res.output
        assert record_table(res.stdout) == synth, name
        assert "identity records" not in res.stdout and "warning" not in res.stdout
    # without a feed column a key names the records holding it in every feed (unique here)
    truth = write_truth(
        ws, pop, tmp_path / "nofeed.csv", "SELECT source_record_id, person_id AS who FROM t"
    )
    res = cli("eval-linkage", "--truth", truth, "--truth-column", "who", "-w", ws)
    assert res.exit_code == 0, res.output
    assert record_table(res.stdout) == synth


def test_a_feed_column_holding_the_true_person(cli, linked, tmp_path) -> None:
    src, pop = linked
    ws = Path(shutil.copytree(src, tmp_path / "ws"))
    synth = record_table(cli("eval-linkage", "--truth", pop / "truth", "-w", ws).stdout)
    rows = truth_rows(ws, pop).replace("w.", "")
    with duckdb.connect(str(ws / "warehouse.duckdb")) as con:
        con.execute(f"CREATE TEMP TABLE t AS {rows}")
        feeds = [r[0] for r in con.sql("SELECT DISTINCT feed FROM t ORDER BY 1").fetchall()]
        for f in feeds:
            con.execute(f"ALTER TABLE src_{f} ADD COLUMN true_person VARCHAR")
            con.execute(
                f"UPDATE src_{f} s SET true_person = t.person_id FROM t "
                f"WHERE t.feed = '{f}' AND t.source_record_id = s.source_record_id"
            )
    res = cli("eval-linkage", "--truth-column", "true_person", "-w", ws)
    assert res.exit_code == 0, res.output
    assert record_table(res.stdout) == synth
    # a feed without the column, and rows with it empty: no truth, counted, left out
    dropped, emptied = feeds[0], feeds[1]
    with duckdb.connect(str(ws / "warehouse.duckdb")) as con:
        con.execute(f"ALTER TABLE src_{dropped} DROP COLUMN true_person")
        con.execute(
            f"UPDATE src_{emptied} SET true_person = NULL WHERE record_id IN "
            f"(SELECT record_id FROM src_{emptied} ORDER BY record_id LIMIT 3)"
        )
    res = cli("eval-linkage", "--truth-column", "true_person", "-w", ws)
    assert res.exit_code == 0, res.output
    got = record_table(res.stdout)
    assert got[dropped][:2] == ["0", synth[dropped][0]] and set(got[dropped][2:]) == {"-"}
    n_emptied = int(synth[emptied][0].replace(",", ""))
    assert got[emptied][:2] == [f"{n_emptied - 3:,}", "3"]
    left_out = int(synth[dropped][0].replace(",", "")) + 3
    total = int(synth["all feeds"][0].replace(",", ""))
    assert got["all feeds"][:2] == [f"{total - left_out:,}", f"{left_out:,}"]
    warning = f"warning: {left_out:,} of {total:,} records have no truth"
    assert warning in res.stdout


def test_truth_rows_naming_nothing_and_records_without_truth_are_counted(
    cli, linked, tmp_path
) -> None:
    ws, pop = linked
    truth = write_truth(
        ws,
        pop,
        tmp_path / "partial.jsonl",
        "SELECT * FROM t WHERE feed <> (SELECT min(feed) FROM t) "
        "UNION ALL SELECT min(feed), 'no-such-key', 1 FROM t "
        "UNION ALL SELECT 'no_such_feed', min(source_record_id), 1 FROM t "
        "UNION ALL SELECT min(feed), NULL, 1 FROM t",
    )
    res = cli("eval-linkage", "--truth", truth, "--truth-column", "person_id", "-w", ws)
    assert res.exit_code == 0, res.output
    warnings = [line for line in res.stdout.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 3, res.stdout
    assert "1 of " in warnings[0] and "have an empty key or person" in warnings[0]
    assert "2 of " in warnings[1] and "name no record" in warnings[1]
    assert "records have no truth" in warnings[2]
    rows = record_table(res.stdout)
    first = min(f for f in rows if f != "all feeds")
    assert rows[first][0] == "0" and rows[first][1] != "0"


def test_bad_truth_is_one_line(cli, linked, tmp_path, ws) -> None:
    linked_ws, pop = linked
    good = write_truth(linked_ws, pop, tmp_path / "good.csv")
    cases = {
        "truth file not found": ["--truth", tmp_path / "none.csv", "--truth-column", "p"],
        "no true-person column 'p'": ["--truth", good, "--truth-column", "p"],
        "no key column 'rec'": [
            *("--truth", good, "--truth-column", "person_id", "--truth-key", "rec"),
        ],
        "needs --truth-column": ["--truth", good],
        "names its persons itself": ["--truth", pop / "truth", "--truth-column", "p"],
        "say where the truth is": [],
        "p: no loaded feed has a column of this name": ["--truth-column", "p"],
        "a truth file is .csv": ["--truth", pop / "truth" / "manifest.json", "--truth-column", "p"],
        "cannot read it as parquet": [
            "--truth",
            (tmp_path / "bad.parquet").resolve(),
            "--truth-column",
            "p",
        ],
        "none of its keys": [
            "--truth",
            write_truth(
                linked_ws, pop, tmp_path / "x.csv", "SELECT 'x' AS source_record_id, 1 AS p"
            ),
            *("--truth-column", "p"),
        ],
        "no row has both a key": [
            "--truth",
            write_truth(
                linked_ws, pop, tmp_path / "e.csv", "SELECT 'k' AS source_record_id, '' AS p"
            ),
            *("--truth-column", "p"),
        ],
        "has more than one true person": [
            "--truth",
            write_truth(
                linked_ws,
                pop,
                tmp_path / "two.csv",
                "SELECT * FROM t UNION ALL (SELECT feed, source_record_id, -1 FROM t LIMIT 1)",
            ),
            *("--truth-column", "person_id"),
        ],
        # (a month is in every monthly feed: which feed's records does the truth mean?)
        "add a 'feed' column saying which": [
            "--truth",
            write_truth(
                linked_ws,
                pop,
                tmp_path / "period.csv",
                "SELECT split_part(source_record_id, '|', 2) AS period, 1 AS p FROM t "
                "WHERE feed IN ('crestline_tradelines', 'northbank_accounts') "
                "GROUP BY period HAVING count(DISTINCT feed) = 2 ORDER BY period LIMIT 1",
            ),
            *("--truth-column", "p", "--truth-key", "period"),
        ],
    }
    (tmp_path / "bad.parquet").write_text("not parquet")
    for expected, args in cases.items():
        res = cli("eval-linkage", *args, "-w", linked_ws)
        assert res.exit_code == 2, (expected, res.output)
        assert expected in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    res = cli("eval-linkage", "--truth", good, "--truth-column", "person_id", "-w", ws.root)
    assert res.exit_code == 2 and "nothing linked yet" in res.stderr


def brute_force(records: list[tuple[str, str, str | None, str | None]]) -> list[FeedQuality]:
    """Per feed and overall figures by listing every pair: records (id, feed, person, truth)."""
    judged = [(r, f, p or f"unlinked:{r}", t, p is None) for r, f, p, t in records if t]
    out = []
    for feed in [*sorted({f for _, f, _, _ in records}), None]:
        mine = [x for x in judged if feed in (None, x[1])]
        tp = pp = ap = 0
        for a, b in itertools.product(mine, judged):
            if a[0] != b[0]:
                pp += a[2] == b[2]
                ap += a[3] == b[3]
                tp += a[2] == b[2] and a[3] == b[3]
        truths = {p: {x[3] for x in judged if x[2] == p} for p in {x[2] for x in judged}}
        files = {t: {x[2] for x in judged if x[3] == t} for t in {x[3] for x in judged}}
        mixed = [x for x in mine if len(truths[x[2]]) > 1]
        precision, recall = (tp / pp if pp else 1.0), (tp / ap if ap else 1.0)
        out.append(
            FeedQuality(
                feed,
                len(mine),
                sum(1 for _, f, _, t in records if not t and feed in (None, f)),
                precision,
                recall,
                2 * precision * recall / (precision + recall) if precision + recall else 0.0,
                len(mixed),
                len({x[3] for x in mine}),
                len({x[3] for x in mixed}),
                len({x[2] for x in mixed}),
                len({x[3] for x in mine if len(files[x[3]]) > 1}),
                sum(1 for x in mine if x[4]),
            )
        )
    return out


def test_pairs_and_files_are_counted_as_listing_every_pair_does() -> None:
    rng = random.Random(7)
    for _ in range(25):
        n = rng.randint(1, 30)
        records = []  # (record_id, feed, person in the index or None, truth or None)
        for i in range(n):
            truth = rng.choice(["t1", "t2", "t3", "t4", None])
            identity = rng.choice(["I1", "I2", "I3", "I4", "I5", "I6"])
            records.append((f"B1.{i}", rng.choice(["a", "b", "c"]), identity, truth))
        persons = {i: rng.choice(["P1", "P2", "P3", None]) for i in ("I1", "I2", "I3", "I4", "I5")}
        with DuckDBEngine() as engine:
            engine.execute("CREATE TABLE identity_batches AS SELECT 'B1' AS batch_id")
            engine.execute(
                "CREATE TABLE identity_record_map (record_id VARCHAR, identity_id VARCHAR, "
                "feed VARCHAR, batch_id VARCHAR)"
            )
            engine.execute("CREATE TABLE person_index (identity_id VARCHAR, person_id VARCHAR)")
            for feed in ("a", "b", "c"):
                engine.execute(
                    f"CREATE TABLE src_{feed} (record_id VARCHAR, batch_id VARCHAR, who VARCHAR)"
                )
            for rid, feed, identity, truth in records:
                engine.execute(
                    "INSERT INTO identity_record_map VALUES (?, ?, ?, 'B1')", [rid, identity, feed]
                )
                engine.execute(f"INSERT INTO src_{feed} VALUES (?, 'B1', ?)", [rid, truth])
            for identity, person in persons.items():
                if person:  # (I6 and the others without a person are in no file)
                    engine.execute("INSERT INTO person_index VALUES (?, ?)", [identity, person])
            if not any(t for *_, t in records):
                continue
            got = record_quality(engine, truth_from_column(engine, "who"))
        seen = [(r, f, persons.get(i), t) for r, f, i, t in records]
        expected = {q.feed: q for q in brute_force(seen)}
        assert {q.feed: q for q in got.feeds} | {None: got.overall} == pytest.approx(expected)
