"""Publishing snapshots to the service, and the service's CLI commands."""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from openbureau.cli import app as cli
from openbureau.service.app import create_app
from tests.service.conftest import Served

runner = CliRunner()


def test_a_new_snapshot_is_picked_up_without_a_restart(served: Served, tmp_path: Path) -> None:
    ws = Path(shutil.copytree(served.ws, tmp_path / "ws"))
    app = create_app(ws, store_url=f"sqlite:///{tmp_path / 's.sqlite'}")
    with TestClient(app, base_url="https://testserver") as client:
        first = client.get("/api/v1/health").json()
        assert first["as_of"] == "2025-12-31"
        older = runner.invoke(cli, ["publish", "--snapshot", "S20250630-0001", "-w", str(ws)])
        assert older.exit_code == 0, older.output
        second = client.get("/api/v1/health").json()
        assert (second["snapshot_id"], second["as_of"]) == ("S20250630-0001", "2025-06-30")
    # at most two serving copies are kept
    assert len(list((ws / "serving").glob("*.duckdb"))) == 2


def test_each_publication_is_recorded_even_when_a_publish_stopped_before_recording_it(
    served: Served, tmp_path: Path
) -> None:
    """Every copy the service was given is in the warehouse's ``publications`` (and in each
    later copy), with the newest link run it shows: the access log's periods start there."""
    import duckdb

    ws = Path(shutil.copytree(served.ws, tmp_path / "ws"))
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        snapshots = [
            s
            for (s,) in con.execute(
                "SELECT snapshot_id FROM score_snapshots ORDER BY created_at"
            ).fetchall()
        ]
    for snapshot in (snapshots[0], snapshots[-1]):
        done = runner.invoke(cli, ["publish", "--snapshot", snapshot, "-w", str(ws)])
        assert done.exit_code == 0, done.output
    with duckdb.connect(str(ws / "warehouse.duckdb")) as con:
        rows = con.execute(
            "SELECT snapshot_id, published_at, identity_as_of "
            "FROM publications ORDER BY published_at"
        ).fetchall()
        linked = con.execute("SELECT max(linked_at) FROM link_runs").fetchall()[0][0]
        assert [r[0] for r in rows[-2:]] == [snapshots[0], snapshots[-1]]
        assert all(r[2] == linked for r in rows[-2:])
        # as a publish that stopped after putting its copy in place leaves it
        con.execute("DELETE FROM publications WHERE published_at = ?", [rows[-1][1]])
    done = runner.invoke(cli, ["publish", "--snapshot", snapshots[0], "-w", str(ws)])
    assert done.exit_code == 0, done.output
    current = ws / "serving" / (ws / "serving" / "CURRENT").read_text().strip()
    for db in (ws / "warehouse.duckdb", current):
        with duckdb.connect(str(db), read_only=True) as con:
            again = con.execute(
                "SELECT snapshot_id, published_at, identity_as_of "
                "FROM publications ORDER BY published_at"
            ).fetchall()
        assert again[: len(rows)] == rows and len(again) == len(rows) + 1, db


def test_no_snapshot_yet_is_a_503_with_a_code(served: Served, tmp_path: Path) -> None:
    ws = Path(shutil.copytree(served.ws, tmp_path / "ws"))
    shutil.rmtree(ws / "serving")
    app = create_app(ws, store_url=f"sqlite:///{tmp_path / 's.sqlite'}")
    with TestClient(app, base_url="https://testserver") as client:
        r = client.get("/api/v1/model")
        assert r.status_code == 401  # authentication comes first
        assert client.get("/api/v1/health").json()["snapshot_id"] is None


def test_accounts_cli_adds_lists_and_refuses_bad_input(
    served: Served, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    store = f"sqlite:///{tmp_path / 's.sqlite'}"
    monkeypatch.setenv("OPENBUREAU_PASSWORD", "a long password")
    base = ["-w", str(served.ws), "--store", store]
    ok = runner.invoke(cli, ["accounts", "add", "bank1", "--role", "lender", "--api-key", *base])
    assert ok.exit_code == 0 and "API key (shown once): obk_" in ok.output
    # a person ID as typed, lower case and spaced: stored as person IDs are written
    person = runner.invoke(
        cli,
        [
            "accounts",
            "add",
            "pat1",
            "--role",
            "person",
            "--person",
            f" {served.person.lower()} ",
            *base,
        ],
    )
    assert person.exit_code == 0, person.output
    listed = runner.invoke(cli, ["accounts", "list", *base])
    assert "bank1" in listed.output and "lender" in listed.output
    assert served.person in listed.output
    for args, message in (
        (["accounts", "add", "x", "--role", "wizard"], "role"),
        (["accounts", "add", "bank1", "--role", "lender"], "is taken"),
        (["accounts", "add", "p", "--role", "person"], "person_id"),
        (["accounts", "add", "p", "--role", "person", "--person", " "], "person_id"),
        (["accounts", "add", "bad name", "--role", "lender"], "username"),
    ):
        bad = runner.invoke(cli, [*args, *base])
        assert bad.exit_code == 2, (args, bad.output)
        assert message in bad.output and "Traceback" not in bad.output
    monkeypatch.setenv("OPENBUREAU_PASSWORD", "short")
    short = runner.invoke(cli, ["accounts", "add", "y", "--role", "lender", *base])
    assert short.exit_code == 2 and "at least 10 characters" in short.output


def test_unreachable_store_is_one_line(served: Served) -> None:
    r = runner.invoke(
        cli,
        [
            "accounts",
            "list",
            "-w",
            str(served.ws),
            "--store",
            "postgresql+psycopg://nobody@127.0.0.1:1/none",
        ],
    )
    assert r.exit_code == 2
    assert r.output.count("\n") <= 3 and "service store" in r.output
    assert "secret" not in r.output


def test_a_killed_publish_leaves_no_tmp_files_after_the_next_one(
    served: Served, tmp_path: Path
) -> None:
    """A `score` or `publish` killed while writing leaves its half-written copy (and its
    write-ahead log, and a pointer file not yet renamed): the next publish removes them."""
    ws = Path(shutil.copytree(served.ws, tmp_path / "ws"))
    folder = ws / "serving"
    killed = [
        folder / "S20251231-0003-1700000000000000000.tmp",
        folder / "S20251231-0003-1700000000000000000.tmp.wal",
        folder / "CURRENT.tmp",
        folder / "records" / "0123456789abcdef.tmp",  # (a records file, and its log)
        folder / "records" / "0123456789abcdef.tmp.wal",
    ]
    (folder / "records").mkdir(exist_ok=True)
    for path in killed:
        path.write_bytes(b"half written")
    done = runner.invoke(cli, ["publish", "-w", str(ws)])
    assert done.exit_code == 0, done.output
    assert not [p.name for p in folder.rglob("*") if ".tmp" in p.name]
    current = (folder / "CURRENT").read_text().strip()
    assert (folder / current).is_file() and current.endswith(".duckdb")


def test_the_lender_s_file_summaries_held_in_memory_are_each_file_s_query(served: Served) -> None:
    """A lookup reads a file's summary from the copy's summaries of every file, computed once:
    each equals the query of that one file, with alternative data erased or not, and a person
    with no file item gets what the query gives for none."""
    from openbureau.service import views
    from openbureau.service.serving import ServingStore

    pub = ServingStore(served.ws).current()
    assert pub is not None
    persons = pub.scores.column("person_id").to_pylist() if pub.scores is not None else []
    assert len(persons) > 1_000
    for erased in (False, True):
        for pid in [*persons[:400], "P-NO-SUCH-PERSON"]:
            assert views.file_summary(pub, pid, erased) == views._one_file_summary(
                pub, pid, erased
            ), (pid, erased)
    assert {views.file_summary(pub, p)["bill_accounts"] > 0 for p in persons[:400]} == {
        True,
        False,
    }


def test_a_published_copy_holds_the_lookup_index(served: Served) -> None:
    """Publishing writes the lookup's records and keys, so the service loads them rather than
    computes them: one row per usable identity record with a person, keys sorted."""
    import duckdb

    from openbureau.identity._lookup_index import KEYS, RECORDS

    copy = served.ws / "serving" / (served.ws / "serving" / "CURRENT").read_text().strip()
    con = duckdb.connect(str(copy), read_only=True)
    try:
        records, persons = con.execute(
            f"SELECT count(*), count(DISTINCT person_id) FROM {RECORDS}"
        ).fetchall()[0]
        usable = con.execute(
            "SELECT count(*) FROM identity_records r JOIN person_index p USING (identity_id) "
            "WHERE r.usable"
        ).fetchall()[0][0]
        keys = [k for (k,) in con.execute(f"SELECT key FROM {KEYS}").fetchall()]
        columns = {d[0] for d in con.execute(f"SELECT * FROM {RECORDS} LIMIT 0").description}
    finally:
        con.close()
    assert records == usable > 10_000 and persons > 2_000
    assert len(keys) > 10 * records and keys == sorted(keys)
    assert {"rid", "person_id", "tf_first_name", "tf_last_name", "tf_email"} <= columns
