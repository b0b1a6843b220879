"""Linking through the CLI and the Python API on synthetic populations with known truth."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from openbureau.cli import app
from openbureau.identity import evaluate_linkage, link
from openbureau.identity.evaluate import person_index_agreement
from openbureau.identity.explain import _most_probable_chain, files_of
from openbureau.synth import FEED_NAMES, SynthConfig, generate
from openbureau.workspace import Workspace, init_workspace

HELD_OUT = "county_court_records"  # arrives later, as the incremental batch


def run(*args: object) -> str:
    res = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.stdout


def ingest(ws: Path, pop: Path, feeds: list[str]) -> None:
    for feed in feeds:
        file = duckdb.sql(
            f"SELECT DISTINCT file FROM '{pop}/truth/records.parquet' WHERE feed = ?", params=[feed]
        ).fetchall()[0][0]
        run("ingest", pop / "specs" / f"{feed}.yaml", pop / file, "-w", ws)


def plain(out: str) -> str:
    """CLI output on one line, without the tables' box drawing."""
    return " ".join(re.sub("[\u2500-\u257f]", " ", out).split())


def index(ws: Path) -> dict[str, str]:
    with Workspace.open(ws).engine(read_only=True) as engine:
        return dict(engine.query("SELECT identity_id, person_id FROM person_index"))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """1,500 persons; everything but the court feed ingested and linked."""
    root = tmp_path_factory.mktemp("small")
    pop = root / "incoming"
    generate(pop, SynthConfig(persons=1500, seed=3))
    ws = init_workspace(root / "ws").root
    ingest(ws, pop, [f for f in FEED_NAMES if f != HELD_OUT])
    run("link", "-w", ws)
    return ws, pop


@pytest.fixture
def ws_copy(small: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    ws, pop = small
    return Path(shutil.copytree(ws, tmp_path / "ws")), pop


@pytest.mark.slow
def test_f1_on_a_5000_person_population(tmp_path: Path) -> None:
    pop = tmp_path / "incoming"
    generate(pop, SynthConfig(persons=5000, seed=2026))
    ws = init_workspace(tmp_path / "ws")
    ingest(ws.root, pop, list(FEED_NAMES))
    out = run("link", "-w", ws.root)
    assert "(full, model v1)" in out
    with ws.engine(read_only=True) as engine:
        quality = evaluate_linkage(engine, pop / "truth")
    print(quality)
    assert quality.f1 >= 0.97
    assert quality.exact_share >= 0.9
    report = run("eval-linkage", "--truth", pop / "truth", "-w", ws.root)
    assert f"{quality.f1:.4f}" in report


def test_person_ids_look_right_and_every_usable_record_has_one(small) -> None:
    ws, _ = small
    ids = index(ws)
    assert ids and all(re.fullmatch(r"P[0-9A-F]{12}", p) for p in ids.values())
    with Workspace.open(ws).engine(read_only=True) as engine:
        usable = engine.scalar("SELECT count(*) FROM identity_records WHERE usable")
        active = engine.scalar("SELECT count(*) FROM person_ids WHERE status = 'active'")
        assert usable == len(ids)
        assert active == len(set(ids.values()))


def test_linking_the_same_data_again_keeps_every_id(ws_copy) -> None:
    ws, _ = ws_copy
    before = index(ws)
    out = run("link", "--full", "-w", ws)
    assert "ID changes: none" in out
    assert index(ws) == before


def test_a_fresh_workspace_with_the_same_data_gets_the_same_ids(small, tmp_path) -> None:
    ws, pop = small
    fresh = init_workspace(tmp_path / "fresh").root
    # the same bureau starting over: national-ID tokens are keyed, so it keeps its key
    shutil.copyfile(ws / "secrets" / "national_id.key", fresh / "secrets" / "national_id.key")
    ingest(fresh, pop, [f for f in FEED_NAMES if f != HELD_OUT])
    run("link", "-w", fresh)
    assert index(fresh) == index(ws)


def test_a_new_batch_keeps_existing_ids_and_agrees_with_a_full_relink(ws_copy, tmp_path) -> None:
    ws, pop = ws_copy
    before = index(ws)
    ingest(ws, pop, [HELD_OUT])
    out = run("link", "-w", ws)
    assert "(incremental, model v1)" in out
    after = index(ws)
    assert set(before) < set(after)
    with Workspace.open(ws).engine(read_only=True) as engine:
        from openbureau.identity._index import resolve

        for identity, person in before.items():
            # an ID survives, or was merged and resolves to the record's person now
            assert after[identity] == person or resolve(engine, person) == after[identity]
    assert_persons_counted(ws)
    # a new record that joined a person indexed before: the chain to that person's record is
    # made of links stored by this run (the new record's) and, past it, by the first
    with Workspace.open(ws).engine(read_only=True) as engine:
        new, old = engine.query(
            """
            SELECT n.identity_id, o.identity_id FROM person_index n
            JOIN identity_records r ON r.identity_id = n.identity_id AND r.feed = ?
            JOIN person_index o ON o.person_id = n.person_id AND o.run_id = 1
            ORDER BY 1, 2 LIMIT 1""",
            [HELD_OUT],
        )[0]
    line = files_line(new, old, ws)
    assert line.startswith(f"{new} and {old} are in one file, {after[old]}, joined by "), line
    runs = [int(r) for r in re.findall(r"\(link run (\d+)\)", line)]
    assert runs and runs[0] == 2 and set(runs) <= {1, 2}
    relinked = Path(shutil.copytree(ws, tmp_path / "relinked"))
    run("link", "--full", "-w", relinked)
    agreement = person_index_agreement(ws / "warehouse.duckdb", relinked / "warehouse.duckdb")
    assert agreement >= 0.995


def test_an_incremental_run_scores_each_pair_once_as_a_full_relink_does(ws_copy, tmp_path) -> None:
    ws, pop = ws_copy
    # the court batch, with twenty defendants sued twice, from a new address the second time:
    # pairs among the batch's own records as well as with the indexed ones
    court = pop / "court" / "judgments.tsv"
    header, *rows = court.read_text().splitlines()

    def sued_again(row: str) -> str:
        case, *middle, address = row.split("\t")
        number, street = address.split(" ", 1)
        return "\t".join([f"{case}-2", *middle, f"{int(number) + 2} {street}"])

    again = [sued_again(r) for r in rows if re.match(r"\d+ ", r.rsplit("\t", 1)[-1])][:20]
    assert len(again) == 20
    batch_file = tmp_path / "judgments.tsv"
    batch_file.write_text("\n".join([header, *rows, *again]) + "\n")
    run("ingest", pop / "specs" / f"{HELD_OUT}.yaml", batch_file, "-w", ws)
    assert "(incremental, model v1)" in run("link", "-w", ws)
    relinked = Path(shutil.copytree(ws, tmp_path / "relinked"))
    run("link", "--full", "-w", relinked)
    con = duckdb.connect()
    con.execute(f"ATTACH '{ws / 'warehouse.duckdb'}' AS inc (READ_ONLY)")
    con.execute(f"ATTACH '{relinked / 'warehouse.duckdb'}' AS relinked (READ_ONLY)")
    con.execute(
        "CREATE TEMP TABLE new AS SELECT identity_id FROM inc.identity_records WHERE feed = ?",
        [HELD_OUT],
    )
    pair = "least(identity_id_l, identity_id_r) AS a, greatest(identity_id_l, identity_id_r) AS b"
    con.execute(f"""CREATE TEMP TABLE i AS SELECT {pair}, match_probability AS p
                    FROM inc.link_edges WHERE run_id = 2 AND source = 'model'""")
    pairs, once, itself, within = con.execute("""
        SELECT count(*), count(DISTINCT (a, b)), count(*) FILTER (WHERE a = b),
               count(*) FILTER (WHERE a IN (FROM new) AND b IN (FROM new)) FROM i""").fetchone()
    assert pairs == once and itself == 0 and within >= 20, (pairs, once, itself, within)
    differ = con.execute(f"""
        WITH f AS (SELECT {pair}, match_probability AS p FROM relinked.link_edges
                   WHERE source = 'model' AND (identity_id_l IN (FROM new)
                                                OR identity_id_r IN (FROM new)))
        SELECT count(*) FROM i FULL JOIN f USING (a, b)
        WHERE i.p IS NULL OR f.p IS NULL OR abs(i.p - f.p) > 1e-9""").fetchone()[0]
    assert differ == 0


def test_a_new_batch_never_splits_a_person_the_index_holds(ws_copy, tmp_path) -> None:
    """A new record that matches two persons who cannot be one (a Jr and a Sr) joins one of
    them; it takes no record away from either. (Re-clustering the records one by one would
    move Zebulon's record to the Sr, whose national ID differs, and leave the Jr alone.)
    Zebulon shares the Jr's address: linked about as well to the Sr, he would stand alone."""
    from tests.conftest import BANK_SPEC

    ws, _ = ws_copy
    spec = tmp_path / "bank.yaml"
    spec.write_text(
        BANK_SPEC.replace(
            "  - {column: PERIOD",
            (
                "  - {column: STREET, target: address_line1, category: identity}\n"
                "  - {column: ZIP, target: postcode, category: identity}\n  - {column: PERIOD"
            ),
        )
    )
    header = "ACCT,FIRST,LAST,DOB,SSN,STREET,ZIP,PERIOD,BAL,STATUS\n"
    rows = [
        "1,Zebulon,Quixley,1980-01-02,111-11-1111,1 Elm Road,11111,2024-01,1,11",
        "2,Zebulin,Quixley Jr,1980-01-02,,1 Elm Road,11111,2024-01,1,11",
        "3,Zebulon,Quixley Sr,1980-01-02,222-22-2222,9 Oak Lane,99999,2024-01,1,11",
        "4,Zebulon,Quixley,1980-01-02,,,,2024-01,1,11",
    ]

    def quixleys() -> dict[str, str]:
        with Workspace.open(ws).engine(read_only=True) as engine:
            return dict(
                engine.query(
                    "SELECT identity_id, p.person_id FROM identity_records r "
                    "JOIN person_index p USING (identity_id) WHERE r.last_name = 'QUIXLEY'"
                )
            )

    for i, batch in enumerate((rows[:3], rows[3:])):
        (tmp_path / f"{i}.csv").write_text(header + "\n".join(batch) + "\n")
        run("ingest", spec, tmp_path / f"{i}.csv", "-w", ws)
        run("link", "-w", ws)
        if i == 0:
            before = quixleys()
            assert len(set(before.values())) == 2, before  # Zebulon with the Jr; the Sr apart
    after = quixleys()
    assert {k: after[k] for k in before} == before
    with Workspace.open(ws).engine(read_only=True) as engine:
        events = dict(
            engine.query(
                "SELECT event, count(*) FROM person_id_history WHERE run_id "
                "= (SELECT max(run_id) FROM link_runs) GROUP BY 1"
            )
        )
    assert "split" not in events


def assert_persons_counted(ws: Path) -> None:
    """The last run reports as many persons as the index holds."""
    with Workspace.open(ws).engine(read_only=True) as engine:
        assert engine.scalar(
            "SELECT persons FROM link_runs ORDER BY run_id DESC LIMIT 1"
        ) == engine.scalar("SELECT count(DISTINCT person_id) FROM person_index")


def test_a_batch_that_meets_no_blocking_rule_gets_persons_of_its_own(ws_copy, tmp_path) -> None:
    from tests.conftest import BANK_HEADER, BANK_SPEC

    ws, _ = ws_copy
    # a surname and a street line: enough to keep (unlike a name alone), but no rule pairs
    # records on these alone (each wants a postcode, a town, a first name or a birth date)
    spec = tmp_path / "lines.yaml"
    spec.write_text(
        BANK_SPEC.replace("require_one_of: [[national_id], [last_name, dob]]\n", "").replace(
            'target: dob, type: date, category: identity, formats: ["%Y-%m-%d", "%d/%m/%Y"]',
            "target: address_line1, category: identity",
        )
    )
    rows = tmp_path / "lines.csv"
    rows.write_text(
        BANK_HEADER + "1,,Smith,12 Oak Street,,2024-01,1,11\n2,,Jones,12 Oak Street,,2024-01,1,11\n"
    )
    before = index(ws)
    run("ingest", spec, rows, "-w", ws)
    out = run("link", "-w", ws)
    assert "(incremental, model v1)" in out and "(2 new)" in out, out
    after = index(ws)
    new = set(after) - set(before)
    assert len(new) == 2 and len({after[i] for i in new} - set(before.values())) == 2
    assert_persons_counted(ws)


def test_forced_link_and_split_survive_a_full_relink(ws_copy) -> None:
    ws, _ = ws_copy
    with Workspace.open(ws).engine(read_only=True) as engine:
        # two records of different persons, and two records of one person
        a, b = engine.query("""SELECT min(m.record_id) FROM identity_record_map m
                               JOIN person_index p USING (identity_id)
                               GROUP BY p.person_id ORDER BY p.person_id LIMIT 2""")
        c, d = engine.query("""SELECT m.record_id FROM identity_record_map m
                               JOIN person_index p USING (identity_id)
                               WHERE p.person_id = (SELECT person_id FROM person_index
                                                    GROUP BY 1 HAVING count(*) >= 4
                                                    ORDER BY 1 LIMIT 1)
                               QUALIFY row_number() OVER (PARTITION BY m.identity_id) = 1
                               ORDER BY m.record_id LIMIT 2""")
    a, b, c, d = a[0], b[0], c[0], d[0]

    def person(record: str) -> str:
        with Workspace.open(ws).engine(read_only=True) as engine:
            return str(
                engine.scalar(
                    "SELECT person_id FROM person_index JOIN identity_record_map"
                    " USING (identity_id) WHERE record_id = ?",
                    [record],
                )
            )

    assert person(a) != person(b) and person(c) == person(d)
    assert files_line(a, b, ws) == f"{a} is in file {person(a)}; {b} is in file {person(b)}."
    before = {person(a), person(b)}
    out = run("link", "--force-link", a, b, "-w", ws)
    assert "merge" in out and person(a) == person(b)
    assert_persons_counted(ws)
    # either ID shows the one file now: both records, the retired ID, the forced merge
    (retired,) = before - {person(a)}
    shown = plain(run("person", retired, "-w", ws))
    assert shown.startswith(f"{retired} was merged; it now leads to {person(a)}.")
    assert f"Merged into it: {retired} (link run" in shown
    assert re.search(rf"merge {person(a)} {retired} \d+ forced link", shown)
    with Workspace.open(ws).engine(read_only=True) as engine:
        for record in (a, b):
            assert resolve(engine, record) in shown
        ia, ib = (resolve(engine, r) for r in (a, b))
    # the most probable chain between them is the forced link itself
    assert re.fullmatch(
        rf"{a} and {b} are in one file, {person(a)}, joined by 1 link: "
        rf"{ia} - {ib}: forced link \(link run \d+\)",
        files_line(a, b, ws),
    )
    out = run("link", "--force-split", c, d, "-w", ws)
    assert "split" in out and person(c) != person(d)
    assert files_line(c, d, ws) == f"{c} is in file {person(c)}; {d} is in file {person(d)}."
    assert_persons_counted(ws)
    run("link", "--full", "-w", ws)
    assert person(a) == person(b) and person(c) != person(d)
    assert_persons_counted(ws)
    with Workspace.open(ws).engine(read_only=True) as engine:
        causes = {r[0] for r in engine.query("SELECT cause FROM person_id_history")}
    assert {"forced link", "forced split"} <= causes


def test_a_split_undoing_merges_gives_the_merged_ids_back(ws_copy) -> None:
    """X merged into A, then A into a larger B (forced links). Forcing A and B apart gives the
    X-and-A part its earlier ID back instead of a new one (rule 4), and the ID retired first,
    which a merge had pointed at B, leads to that part again (rule 5). IDs then hold."""
    ws, _ = ws_copy

    def persons() -> dict[str, set[str]]:
        with Workspace.open(ws).engine(read_only=True) as engine:
            rows = engine.query("SELECT person_id, list(identity_id) FROM person_index GROUP BY 1")
        return {pid: set(ids) for pid, ids in rows}

    def ids() -> dict[str, tuple[str, str | None]]:
        with Workspace.open(ws).engine(read_only=True) as engine:
            return {
                p: (s, r)
                for p, s, r in engine.query("SELECT person_id, status, resolves_to FROM person_ids")
            }

    # (starting from a full relink's files, as the test ends with one: in one CI run the
    # closing relink put one record elsewhere than the workspace's first link had; the cause is
    # not established, see the 2026-11-30 note on issue 3)
    run("link", "--full", "-w", ws)
    with Workspace.open(ws).engine(read_only=True) as engine:
        # two files of two records and one of five or more: a record id of each
        (x, px), (a, pa) = engine.query("""
            SELECT min(m.record_id), p.person_id FROM identity_record_map m
            JOIN person_index p USING (identity_id) GROUP BY p.person_id
            HAVING count(DISTINCT p.identity_id) = 2 ORDER BY 2 LIMIT 2""")
        b, pb = engine.query("""
            SELECT min(m.record_id), p.person_id FROM identity_record_map m
            JOIN person_index p USING (identity_id) GROUP BY p.person_id
            HAVING count(DISTINCT p.identity_id) >= 5 ORDER BY 2 LIMIT 1""")[0]
    before = persons()
    run("link", "--force-link", x, a, "-w", ws)
    (first,) = {px, pa} - set(persons())  # the ID retired first
    kept = ({px, pa} - {first}).pop()
    run("link", "--force-link", a, b, "-w", ws)
    assert ids()[first] == ("retired", pb) and ids()[kept] == ("retired", pb)

    out = run("link", "--force-split", a, b, "-w", ws)
    assert "1 split" in out and "new" not in out.split("ID changes:")[1]
    after = persons()
    assert after[kept] == before[px] | before[pa] and after[pb] == before[pb]
    assert ids()[kept] == ("active", None) and ids()[first] == ("retired", kept)
    # its records were in B's file from the second forced link to the split
    shown = run("person", kept, "-w", ws)
    assert "Its records in another file" in shown and pb in shown.split("another file")[1]
    assert "Its records in another file" not in run("person", pb, "-w", ws)
    with Workspace.open(ws).engine(read_only=True) as engine:
        events = engine.query("""SELECT event, person_id, other_person_id, cause
                                 FROM person_id_history
                                 WHERE run_id = (SELECT max(run_id) FROM link_runs)""")
        members = engine.scalar(
            "SELECT count(*) FROM person_id_members WHERE person_id = ?", [kept]
        )
    assert sorted(events) == [
        ("redirect", kept, first, "forced split"),
        ("split", kept, pb, "forced split"),
    ]
    assert members == 0  # (an active ID holds no retired records)
    shown = plain(run("person", first, "-w", ws))
    assert shown.startswith(f"{first} was merged; it now leads to {kept}.")
    # and they hold through a full relink
    run("link", "--full", "-w", ws)
    assert persons()[kept] == after[kept] and persons()[pb] == after[pb]
    assert ids()[first] == ("retired", kept)


def files_line(a: str, b: str, ws: Path) -> str:
    """explain-link's account of the files two records are in, on one line."""
    out = " ".join(run("explain-link", a, b, "-w", ws).split())
    return out[re.search(r"match probability [0-9.]+ ", out).end() :]


def test_explain_link_gives_the_chain_of_links_that_made_one_file(small) -> None:
    """Two records of one person that no link joins directly: explain-link names the chain of
    stored links between them, each one the clustering could follow, within that person."""
    ws, _ = small
    with Workspace.open(ws).engine(read_only=True) as engine:
        person, a, b = engine.query("""
            WITH m AS (SELECT p.person_id, min(r.record_id) AS record_id, p.identity_id
                       FROM person_index p JOIN identity_record_map r USING (identity_id)
                       GROUP BY ALL)
            SELECT x.person_id, x.record_id, y.record_id FROM m x JOIN m y
              ON x.person_id = y.person_id AND x.record_id < y.record_id
            WHERE NOT EXISTS (SELECT 1 FROM link_edges e
              WHERE (e.identity_id_l, e.identity_id_r) IN ((x.identity_id, y.identity_id),
                                                           (y.identity_id, x.identity_id)))
            ORDER BY 1, 2, 3 LIMIT 1""")[0]
        members = {
            r[0]
            for r in engine.query(
                "SELECT identity_id FROM person_index WHERE person_id = ?", [person]
            )
        }
        ends = [resolve(engine, r) for r in (a, b)]
        stored = engine.query(
            "SELECT identity_id_l, identity_id_r, source, "
            "min(match_probability) FROM link_edges GROUP BY ALL"
        )
    threshold = Workspace.open(ws).settings.identity.link_threshold
    line = files_line(a, b, ws)
    head = re.match(rf"{a} and {b} are in one file, {person}, joined by (\d+) links: ", line)
    assert head, line
    hops = re.findall(
        r"(I\w+) - (I\w+): (model, match probability ([0-9.]+)|same national ID)"
        r" \(link run \d+\)",
        line,
    )
    assert len(hops) == int(head.group(1)) >= 2
    assert hops[0][0] == ends[0] and hops[-1][1] == ends[1]
    for (x, y, _how, p), after in zip(hops, [*hops[1:], None], strict=True):
        assert {x, y} <= members and (after is None or after[0] == y)
        source = "model" if p else "national_id"
        assert [
            prob
            for l_, r_, s_, prob in stored
            if {l_, r_} == {x, y} and s_ == source and (s_ != "model" or prob >= threshold)
        ]


def resolve(engine: object, record: str) -> str:
    from openbureau.identity.link import resolve_record

    return resolve_record(engine, record)  # type: ignore[arg-type]


def test_explain_link_says_which_record_is_not_linked_yet(ws_copy) -> None:
    ws, pop = ws_copy
    from openbureau.identity import build_identity_records

    ingest(ws, pop, [HELD_OUT])
    with Workspace.open(ws).engine() as engine:
        build_identity_records(engine, country="US")  # standardised, not linked
    with Workspace.open(ws).engine(read_only=True) as engine:
        indexed = engine.scalar(
            "SELECT min(record_id) FROM identity_record_map JOIN person_index USING (identity_id)"
        )
        new = engine.scalar(
            "SELECT min(record_id) FROM identity_record_map WHERE feed = ?", [HELD_OUT]
        )
    assert files_line(indexed, new, ws).endswith(
        f"; {new} is in no file: not linked yet (run `openbureau link`)."
    )


def test_person_shows_the_records_of_a_file_and_its_history(small) -> None:
    ws, _ = small
    with Workspace.open(ws).engine(read_only=True) as engine:
        pid = engine.scalar(
            "SELECT person_id FROM person_index GROUP BY 1 HAVING count(*) >= 3 ORDER BY 1 LIMIT 1"
        )
        held = engine.query(
            """SELECT p.identity_id, r.feed, min(m.record_id), count(*)
                               FROM person_index p JOIN identity_records r USING (identity_id)
                               JOIN identity_record_map m USING (identity_id)
                               WHERE p.person_id = ? GROUP BY ALL""",
            [pid],
        )
        # who reported each, and when it was loaded
        reported = engine.query(
            """SELECT DISTINCT b.furnisher, b.loaded_at::DATE::VARCHAR
                                   FROM person_index p JOIN identity_records r USING (identity_id)
                                   JOIN ingest_batches b ON b.batch_id = r.first_batch_id
                                   WHERE p.person_id = ?""",
            [pid],
        )
        others = {
            r[0]
            for r in engine.query(
                "SELECT identity_id FROM person_index WHERE person_id <> ? LIMIT 50", [pid]
            )
        }
    out = plain(run("person", pid.lower(), "-w", ws))
    feeds = len({feed for _, feed, _, _ in held})
    assert out.startswith(f"{pid}: {len(held)} identity records from {feeds} feed")
    for identity, _, first, rows in held:
        assert identity in out and first in out
        assert rows == 1 or f"+ {rows - 1:,} more" in out
    drawn = run("person", pid, "-w", ws)  # (furnisher, then the day, in one cell)
    for furnisher, day in reported:
        assert re.search(rf"│ {re.escape(furnisher)} +│.*\n.*│ {day} +│", drawn)
    assert not any(other in out for other in others)
    assert re.search(rf"\b1 \S+ \S+ new {pid} {len(held)} full link", out)


def test_the_chain_is_the_most_probable_one_whichever_way_links_are_stored() -> None:
    links = [
        ("A", "B", 0.95, "model", 1),
        ("C", "B", 0.999, "model", 1),
        ("A", "C", 0.999, "model", 2),
        ("D", "E", 1.0, "national_id", 1),
    ]
    chain = _most_probable_chain(links, "A", "B")
    # 0.999 * 0.999 beats the direct 0.95; the link stored as C-B is walked C to B
    assert [(h["from"], h["to"], h["run_id"]) for h in chain] == [("A", "C", 2), ("C", "B", 1)]
    assert _most_probable_chain(links[:1], "B", "A")[0]["from"] == "B"
    # of equals, the shorter chain
    equal = [
        ("A", "B", 1.0, "override", 3),
        ("A", "C", 1.0, "model", 1),
        ("C", "B", 1.0, "model", 1),
    ]
    assert [h["source"] for h in _most_probable_chain(equal, "A", "B")] == ["override"]
    assert _most_probable_chain(links, "A", "E") == []


def test_an_incremental_runs_components_are_connected_components_at_the_threshold() -> None:
    from types import SimpleNamespace

    from openbureau.identity._cluster import S
    from openbureau.identity._cluster import components as _components

    con = duckdb.connect()
    con.execute(f"ATTACH ':memory:' AS {S}")
    # d-b-a-c-e: the smallest in the middle, reached both ways; x-y below the threshold; z alone;
    # f-g-h and h-f: a cycle, one link given twice and one node linked to itself
    con.execute("""CREATE TABLE memory.edges AS SELECT * FROM (VALUES
        ('d', 'b', 0.95), ('b', 'a', 0.9), ('a', 'c', 1.0), ('e', 'c', 0.99),
        ('x', 'y', 0.89), ('f', 'g', 0.97), ('g', 'h', 0.97), ('h', 'f', 0.97),
        ('h', 'f', 0.97), ('g', 'g', 0.97)) t(unique_id_l, unique_id_r, match_probability)""")
    con.execute(
        "CREATE TABLE memory.nodes AS SELECT unnest(['a', 'b', 'c', 'd', 'e', 'x', "
        "'y', 'z', 'f', 'g', 'h']) AS unique_id"
    )
    table = _components(SimpleNamespace(execute=con.execute), "memory.nodes", "memory.edges", 0.9)
    got = dict(con.execute(f"SELECT unique_id, cluster_id FROM {table}").fetchall())
    assert got == {
        **dict.fromkeys("abcde", "a"),
        "x": "x",
        "y": "y",
        "z": "z",
        **dict.fromkeys("fgh", "f"),
    }


def test_a_file_no_stored_chain_joins_at_todays_threshold_says_so(small) -> None:
    """Raising link_threshold after linking leaves some files joined only by links now below
    it: explain-link says so rather than showing an empty chain."""
    from openbureau.cli.identity import files_text

    ws, _ = small
    with Workspace.open(ws).engine(read_only=True) as engine:
        a, b = (
            r[0]
            for r in engine.query("""
            SELECT min(m.record_id) FROM identity_record_map m JOIN person_index p
              USING (identity_id) JOIN identity_records r USING (identity_id)
            WHERE p.person_id = (SELECT person_id FROM person_index JOIN identity_records
                                 USING (identity_id) GROUP BY 1
                                 HAVING count(*) >= 2 AND count(national_id_token) = 0
                                 ORDER BY 1 LIMIT 1)
            GROUP BY p.identity_id ORDER BY 1 LIMIT 2""")
        )
        files = files_of(engine, a, b, 1.5)
    assert (
        files["path"] == [] and files["records"][0]["person_id"] == files["records"][1]["person_id"]
    )
    assert files_text(files, 1.5).endswith(
        "no chain of stored links at today's link_threshold (1.5) joins them (it was lower "
        "when they were linked)."
    )


def test_explain_link_shows_the_waterfall(small) -> None:
    ws, _ = small
    with Workspace.open(ws).engine(read_only=True) as engine:
        a, b = (
            r[0]
            for r in engine.query(
                "SELECT min(record_id) FROM identity_record_map GROUP BY identity_id "
                "ORDER BY 1 LIMIT 2"
            )
        )
    out = " ".join(run("explain-link", a, b, "-w", ws).split())
    assert "prior" in out
    for comparison in ("first_name", "last_name", "dob", "address", "total"):
        assert comparison in out
    probability = float(re.search(r"match probability ([0-9.]+)", out).group(1))
    assert 0.0 <= probability <= 1.0


def test_records_with_no_identifier_are_left_unlinked(
    tmp_path, write_file, bank_spec, small
) -> None:
    from tests.conftest import BANK_GOOD_ROWS, BANK_HEADER

    ws = init_workspace(tmp_path / "ws")
    spec = bank_spec.read_text().replace("require_one_of: [[national_id], [last_name, dob]]\n", "")
    bank_spec.write_text(spec)
    f = write_file("b.csv", BANK_HEADER + "\n".join(BANK_GOOD_ROWS) + "\n9,,,,,2024-01,1,11\n")
    run("ingest", bank_spec, f, "-w", ws.root)
    # (three persons of one record each train no model: a saved one links them)
    out = run("link", "--model", small[0] / "models" / "linkage-model.json", "-w", ws.root)
    assert "1 unlinked" in out
    with ws.engine(read_only=True) as engine:
        reason = engine.scalar("SELECT reason FROM unlinked")
        assert (
            reason
            and engine.scalar("SELECT count(*) FROM person_index JOIN unlinked USING (identity_id)")
            == 0
        )
        lost, kept = engine.query("""SELECT min(m.record_id) FROM identity_record_map m
                                     JOIN identity_records r USING (identity_id)
                                     GROUP BY r.usable ORDER BY r.usable""")
        files = files_of(engine, lost[0], kept[0], 0.9)
    assert files["records"][0]["person_id"] is None and files["path"] == []
    assert files["records"][0]["not_in_a_file"] == f"unlinked ({reason.replace('_', ' ')})"
    assert files["records"][1]["person_id"] is not None
    # the CLI refuses such a record before it gets there, saying why
    res = CliRunner().invoke(app, ["explain-link", lost[0], kept[0], "-w", str(ws.root)])
    assert res.exit_code == 2 and "no usable identifier, so it is never linked" in res.stderr


def test_user_mistakes_are_one_line(cli, ws, small) -> None:
    res = cli("link", "-w", ws.root)
    assert res.exit_code == 2 and "nothing to link" in res.stderr
    linked, _ = small
    res = cli("explain-link", "B999999.1", "B000001.2", "-w", linked)
    assert res.exit_code == 2 and "B999999.1: no such record" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = cli("person", "P0NOBODY0000", "-w", linked)
    assert res.exit_code == 2 and res.stderr.strip() == "error: P0NOBODY0000: no such person ID"
    for given in ("[/]", "B000001.2"):  # (markup is printed as given, not parsed)
        res = cli("person", given, "-w", linked)
        assert res.exit_code == 2 and res.stderr.strip() == f"error: {given}: no such person ID"
    res = cli("person", "P0NOBODY0000", "-w", ws.root)
    assert res.exit_code == 2 and "no person index yet" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = cli("eval-linkage", "--truth", ws.root / "nowhere", "-w", linked)
    assert res.exit_code == 2 and "truth file not found" in res.stderr


def test_link_report_through_the_python_api(ws_copy) -> None:
    ws, _ = ws_copy
    w = Workspace.open(ws)
    with w.engine() as engine:
        report = link(
            engine,
            model_path=w.root / "models" / "linkage-model.json",
            settings=w.settings.identity,
            country=w.settings.bureau.country,
        )
    assert report.mode == "incremental" and report.new_records == 0 and report.events == {}


def test_no_person_holds_two_records_that_cannot_be_one_person(ws_copy) -> None:
    from openbureau.identity._splink import load_model
    from openbureau.identity.link import conflict_sql

    ws, pop = ws_copy
    ingest(ws, pop, [HELD_OUT])
    run("link", "-w", ws)  # incremental: conflicts checked only where they can be new
    model = load_model(ws / "models" / "linkage-model.json")
    # the generator's national IDs are rarely mistyped, so the model relies on them
    assert model.national_ids_decisive and model.birth_dates_decisive

    def held_and_apart() -> tuple[int, int]:
        with Workspace.open(ws).engine(read_only=True) as engine:
            engine.execute("""CREATE TEMP VIEW rec AS SELECT p.person_id, r.identity_id,
                              r.first_name_std AS first_name, r.last_name, r.name_suffix, r.dob,
                              r.national_id_token
                              FROM identity_records r JOIN person_index p USING (identity_id)""")
            held = engine.scalar(f"""SELECT count(*) FROM rec x JOIN rec y
                                    ON x.person_id = y.person_id
                                    AND x.identity_id < y.identity_id
                                    WHERE {conflict_sql(model)}""")
            # ... while such pairs exist in the population, in different persons
            apart = engine.scalar(f"""SELECT count(*) FROM rec x JOIN rec y
                                     ON x.last_name = y.last_name AND x.dob = y.dob
                                     AND x.person_id <> y.person_id
                                     WHERE {conflict_sql(model)}""")
        return int(held), int(apart)

    held, apart = held_and_apart()
    assert held == 0 and apart > 0
    # a full relink checks the pairs of the clusters where two records may conflict only
    run("link", "--full", "-w", ws)
    held, apart = held_and_apart()
    assert held == 0 and apart > 0


def test_a_workspace_linked_before_batches_were_recorded_still_links_only_new_records(
    ws_copy,
) -> None:
    ws, pop = ws_copy
    with Workspace.open(ws).engine() as engine:  # as an older version left it
        engine.execute("DELETE FROM link_batches")
    before = index(ws)
    ingest(ws, pop, [HELD_OUT])
    out = run("link", "-w", ws)
    assert "(incremental, model v1)" in out
    after = index(ws)
    new = set(after) - set(before)
    assert new and re.search(rf"\({len(new):,} new\)", out), out
    with Workspace.open(ws).engine(read_only=True) as engine:
        assert engine.scalar("SELECT count(*) FROM link_batches") == engine.scalar(
            "SELECT count(*) FROM identity_batches"
        )


def test_link_suggests_compact_when_the_warehouse_is_mostly_free_space(ws_copy) -> None:
    ws, _ = ws_copy
    with Workspace.open(ws).engine() as engine:
        engine.execute(
            "CREATE TABLE scratch AS SELECT range AS n, md5(range::VARCHAR) AS h "
            "FROM range(3000000)"
        )
        engine.execute("CHECKPOINT")
        engine.execute("DROP TABLE scratch")
    assert "`openbureau compact`" in run("link", "-w", ws)
    run("compact", "-w", ws)
    assert "compact" not in run("link", "-w", ws)


def test_explain_link_works_on_a_read_only_warehouse(small) -> None:
    from openbureau.identity.explain import explain_link

    ws, _ = small
    w = Workspace.open(ws)
    with w.engine(read_only=True) as engine:
        a, b = (
            r[0]
            for r in engine.query(
                "SELECT min(record_id) FROM identity_record_map GROUP BY identity_id "
                "ORDER BY 1 LIMIT 2"
            )
        )
        steps = explain_link(engine, w.root / "models" / "linkage-model.json", a, b)
    assert steps[0]["comparison"] == "prior" and steps[-1]["comparison"] == "total"
    assert 0.0 <= steps[-1]["match_probability"] <= 1.0


def test_a_workspace_whose_big_tables_have_primary_keys_loses_them_rows_kept(ws_copy) -> None:
    ws, pop = ws_copy
    tables = ("identity_record_map", "person_index")
    with Workspace.open(ws).engine() as engine:  # as versions before 2026-11-29 made them
        for table in tables:
            key = engine.columns(table)[0]
            engine.execute(f"CREATE TABLE {table}__pk AS SELECT * FROM {table}")
            engine.execute(f"DROP TABLE {table}")
            engine.execute(f"CREATE TABLE {table} AS SELECT * FROM {table}__pk LIMIT 0")
            engine.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({key})")
            engine.execute(f"INSERT INTO {table} SELECT * FROM {table}__pk")
            engine.execute(f"DROP TABLE {table}__pk")
        counts = {t: engine.scalar(f"SELECT count(*) FROM {t}") for t in tables}
        keyed = (
            "SELECT count(*) FROM information_schema.table_constraints WHERE "
            "table_name = ? AND constraint_type = 'PRIMARY KEY'"
        )
        assert all(engine.scalar(keyed, [t]) == 1 for t in tables)
    before = index(ws)
    ingest(ws, pop, [HELD_OUT])
    run("link", "-w", ws)
    with Workspace.open(ws).engine(read_only=True) as engine:
        assert all(engine.scalar(keyed, [t]) == 0 for t in tables)
        assert (
            engine.scalar("SELECT count(*) FROM identity_record_map")
            > counts["identity_record_map"]
        )
        # every row kept: the records linked before keep their persons
        kept = dict(engine.query("SELECT identity_id, person_id FROM person_index"))
    assert len(kept) > len(before)
    assert sum(kept[i] == p for i, p in before.items()) / len(before) > 0.99


def test_linking_leaves_the_engines_checkpoint_threshold_as_it_found_it(
    ws_copy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (scratch tables are never checkpointed while linking; the warehouse is as usual after)
    from openbureau.identity import _splink

    ws, pop = ws_copy
    ingest(ws, pop, [HELD_OUT])
    w = Workspace.open(ws)
    setting = "SELECT current_setting('checkpoint_threshold')"
    with w.engine() as engine:
        engine.execute("SET checkpoint_threshold = '1.5GiB'")  # not the default
        before = engine.scalar(setting)
        assert before == "1.5 GiB"
        link(
            engine,
            model_path=ws / "models" / "linkage-model.json",
            settings=w.settings.identity,
            country=w.settings.bureau.country,
        )
        assert engine.scalar(setting) == before

        def broken(*args: object, **kwargs: object) -> str:
            raise RuntimeError("clustering failed")

        monkeypatch.setattr(_splink, "cluster", broken)
        with pytest.raises(RuntimeError):  # a run that fails leaves it as well
            link(
                engine,
                model_path=ws / "models" / "linkage-model.json",
                settings=w.settings.identity,
                country=w.settings.bureau.country,
                full=True,
            )
        assert engine.scalar(setting) == before


def test_a_clustering_that_assigns_a_record_twice_is_refused_and_nothing_written(ws_copy) -> None:
    from openbureau.engine import EngineError
    from openbureau.identity import _index

    ws, _ = ws_copy
    before = index(ws)
    one, other = sorted(before)[:2]
    with Workspace.open(ws).engine() as engine:
        engine.execute(
            "CREATE TEMP TABLE clash AS SELECT * FROM (VALUES (?, 'a'), (?, 'b'), "
            "(?, 'c')) t(identity_id, cluster_id)",
            [one, one, other],
        )
        with pytest.raises(EngineError, match="1 records assigned twice"), engine.transaction():
            _index.apply_assignment(engine, "clash", run_id=99, cause="test", replace_all=False)
    assert index(ws) == before
