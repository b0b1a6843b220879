"""A person's own file shows who the bureau's records say they are, and how the file was linked.

Checked against the warehouse the snapshot was published from, through the API and the page.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.service.conftest import Service

IDENTITY_SQL = """
    SELECT r.identity_id, b.furnisher, r.first_name, r.last_name, r.dob::VARCHAR AS dob,
           r.national_id_token IS NOT NULL AS national_id,
           (SELECT min(record_id) FROM identity_record_map m
            WHERE m.identity_id = r.identity_id) AS first_record_id,
           (SELECT count(*) FROM identity_record_map m
            WHERE m.identity_id = r.identity_id) AS rows,
           b.loaded_at::DATE::VARCHAR AS first_reported, r.national_id_token
    FROM person_index p JOIN identity_records r USING (identity_id)
    JOIN ingest_batches b ON b.batch_id = r.first_batch_id
    WHERE p.person_id = ?"""


def _expected(ws: Path, person_id: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        cur = con.execute(IDENTITY_SQL, [person_id])
        cols = [d[0] for d in cur.description or []]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def _key(r: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(r[k]) for k in ("identity_id", "furnisher", "first_name", "last_name",
                                     "dob", "national_id", "rows", "first_reported"))


def test_a_persons_file_shows_each_identity_reported_for_them_and_no_one_elses(
        service: Service) -> None:
    c = service.login("pat")
    r = c.get("/api/v1/me/file")
    assert r.status_code == 200, r.text
    body = r.json()
    mine = _expected(service.served.ws, body["person_id"])
    theirs = _expected(service.served.ws, service.served.other)
    assert len(mine) >= 2 and theirs  # (a file linked from several records)
    got = body["identity"]["records"]
    assert sorted(map(_key, got)) == sorted(map(_key, mine))
    page = c.get("/me/file").text
    card = page.split('id="identity"')[1].split('<div class="card furnisher">')[0]
    assert "Personal information" in card
    for record in mine:
        assert record["identity_id"] in card and record["furnisher"] in card
        assert record["last_name"] in card
    for record in theirs:
        assert record["identity_id"] not in r.text and record["identity_id"] not in page
    # a national ID is said to be held, never shown, not even as its token
    tokens = [t["national_id_token"] for t in mine + theirs if t["national_id_token"]]
    assert any(t["national_id"] for t in got) and tokens
    assert "on file (not shown)" in card
    for token in tokens:
        assert token not in r.text and token not in page
    assert all(h["person_id"] == body["person_id"] for h in body["identity"]["history"]
               if h["event"] == "new")


def test_a_split_file_tells_each_person_what_happened_without_the_others_id(
        service: Service, tmp_path: Path) -> None:
    """After a forced split, the file that lost records and the file split off each show the
    split, and neither shows the other's ID."""
    from openbureau.cli import app as cli
    from openbureau.service.app import create_app
    from openbureau.service.auth import create_account, issue_api_key
    from openbureau.service.store import open_store

    ws = Path(shutil.copytree(service.served.ws, tmp_path / "ws"))
    person = service.served.person
    records = sorted(_expected(ws, person), key=lambda r: r["first_record_id"])
    runner = CliRunner()
    for args in (["link", "--force-split", records[0]["first_record_id"],
                  records[-1]["first_record_id"]], ["score", "--as-of", "2025-12-31"]):
        res = runner.invoke(cli, [*args, "-w", str(ws)], catch_exceptions=False)
        assert res.exit_code == 0, res.output
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        parts = dict(con.execute(
            """SELECT m.record_id, p.person_id FROM identity_record_map m
               JOIN person_index p USING (identity_id) WHERE m.record_id IN (?, ?)""",
            [records[0]["first_record_id"], records[-1]["first_record_id"]]).fetchall())
    kept, split_off = parts[records[0]["first_record_id"]], parts[records[-1]["first_record_id"]]
    if kept != person:
        kept, split_off = split_off, kept
    assert kept == person and split_off != person  # the larger part keeps the ID

    url = f"sqlite:///{tmp_path / 'own-store.sqlite'}"
    keys = {}
    with open_store(url)() as session:
        for username, pid in (("kept", kept), ("split", split_off)):
            account = create_account(session, username=username, role="person", password=None,
                                     person_id=pid)
            keys[username] = issue_api_key(session, account)
        session.commit()
    with TestClient(create_app(ws, store_url=url), base_url="https://testserver") as client:
        def get(who: str) -> tuple[dict[str, Any], str]:
            r = client.get("/api/v1/me/file", headers={"Authorization": f"Bearer {keys[who]}"})
            assert r.status_code == 200, r.text
            return r.json(), r.text

        (was, was_text), (new, new_text) = get("kept"), get("split")
    lost = [h for h in was["identity"]["history"] if h["event"] == "split"]
    assert lost and lost[-1]["other_person_id"] == kept and lost[-1]["person_id"] is None
    assert lost[-1]["cause"] == "forced split"
    began = [h for h in new["identity"]["history"] if h["event"] == "split"]
    assert began and began[-1]["person_id"] == split_off and began[-1]["other_person_id"] is None
    assert split_off not in was_text and kept not in new_text
    assert records[-1]["identity_id"] in {r["identity_id"] for r in new["identity"]["records"]}
    assert records[-1]["identity_id"] not in {r["identity_id"] for r in was["identity"]["records"]}


def test_a_snapshot_published_before_the_identity_part_still_serves_the_file(
        service: Service, tmp_path: Path) -> None:
    """A serving copy an earlier version published has no person_identity table: the file
    is served without its personal information, not with an error."""
    from openbureau.service.app import create_app
    from openbureau.service.auth import create_account, issue_api_key
    from openbureau.service.store import open_store

    ws = Path(shutil.copytree(service.served.ws, tmp_path / "ws"))
    current = ws / "serving" / (ws / "serving" / "CURRENT").read_text().strip()
    with duckdb.connect(str(current)) as con:
        con.execute("DROP TABLE person_identity")
    url = f"sqlite:///{tmp_path / 'own-store.sqlite'}"
    with open_store(url)() as session:
        account = create_account(session, username="pat", role="person", password=None,
                                 person_id=service.served.person)
        key = issue_api_key(session, account)
        session.commit()
    with TestClient(create_app(ws, store_url=url), base_url="https://testserver") as client:
        r = client.get("/api/v1/me/file", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    assert r.json()["identity"] is None and r.json()["furnishers"]
