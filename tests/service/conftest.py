"""A served workspace: the linked population trained, scored at three dates and published."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient

from openbureau.service.app import create_app
from openbureau.service.auth import create_account, issue_api_key
from openbureau.service.store import open_store

SCORE_DATES = ("2025-06-30", "2025-09-30", "2025-12-31")
PASSWORD = "correct horse battery"


@dataclass
class Served:
    ws: Path
    person: str  # a scored person with reasons, high utilisation and inquiries
    other: str  # another scored person


@pytest.fixture(scope="session")
def served(
    linked_population: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Served:
    from typer.testing import CliRunner

    from openbureau.cli import app

    ws = Path(shutil.copytree(linked_population[0], tmp_path_factory.mktemp("srv") / "ws"))
    runner = CliRunner()
    steps = [["train", "--as-of", "2024-12-31"]] + [["score", "--as-of", d] for d in SCORE_DATES]
    for args in steps:
        res = runner.invoke(app, [*args, "-w", str(ws)], catch_exceptions=False)
        assert res.exit_code == 0, res.output
    con = duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True)
    try:
        snap = con.execute("SELECT max(snapshot_id) FROM score_snapshots").fetchone()[0]
        person, other = _pick(con, snap)
    finally:
        con.close()
    return Served(ws, person, other)


def _pick(con: duckdb.DuckDBPyConnection, snap: str) -> tuple[str, str]:
    """Scored persons with three reasons or more; the first one with cards to pay down and
    inquiries to remove, so every what-if applies."""
    serving = sorted(
        (
            Path(
                con.execute(
                    "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
                ).fetchone()[0]
            ).parent
            / "serving"
        ).glob("*.duckdb")
    )[-1]
    con.execute(f"ATTACH '{serving}' AS pub (READ_ONLY)")
    rows = con.execute(
        """SELECT s.person_id FROM scores s JOIN pub.features f USING (person_id)
           WHERE s.snapshot_id = ? AND len(s.reasons) >= 3
           ORDER BY (f.revolving_utilisation > 0.6 AND f.inquiries_24m > 0) DESC,
                    md5(s.person_id) LIMIT 2""",
        [snap],
    ).fetchall()
    return rows[0][0], rows[1][0]


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.sqlite'}"


def post_login(client: TestClient, username: str, password: str, **fields: str) -> Any:
    """Log in through the form as a browser does: open it (its token and cookie), post it."""
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert form.status_code == 200 and token, form.text
    return client.post(
        "/login",
        follow_redirects=False,
        data={"username": username, "password": password, "csrf_token": token.group(1), **fields},
    )


@dataclass
class Service:
    client: TestClient
    served: Served
    keys: dict[str, str]  # username -> API key
    store_url: str

    def login(self, username: str) -> TestClient:
        """A fresh browser-like client logged in as ``username``."""
        c = TestClient(self.client.app, base_url="https://testserver")
        r = post_login(c, username, PASSWORD)
        assert r.status_code == 303, r.text
        return c

    def api(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[username]}"}

    def identity(self, person_id: str) -> dict[str, str]:
        """The minimum identity of one of the person's records, as a lender would type it:
        first and last name, birth date, address line and postcode."""
        pub = self.client.app.state.ctx.published()
        cur = pub.cursor()
        try:
            row = cur.execute(
                """SELECT r.first_name, r.last_name, r.dob, r.address_line1, r.postcode
                   FROM identity_records r JOIN person_index p USING (identity_id)
                   WHERE p.person_id = ? AND r.first_name IS NOT NULL
                     AND r.last_name IS NOT NULL AND r.dob IS NOT NULL
                     AND r.address_line1 IS NOT NULL AND r.postcode IS NOT NULL
                   ORDER BY r.identity_id LIMIT 1""",
                [person_id],
            ).fetchone()
        finally:
            cur.close()
        assert row is not None, person_id
        first, last, dob, line, postcode = row
        return {
            "first_name": first.title(),
            "last_name": last.upper(),
            "dob": dob.isoformat(),
            "address_line1": line,
            "postcode": postcode,
        }


ACCOUNTS = [
    ("ada", "admin", None, None),
    ("audrey", "auditor", None, None),
    ("lena", "lender", None, "Northwind Bank"),
    ("pat", "person", "person", None),
    ("quinn", "person", "other", None),
]


def own_workspace(served: Served, where: Path) -> Served:
    """The served workspace for one test and its store: its own ``public/`` and ``secrets/``
    (the keys, the heads file, and the record of its audit log, which binds a workspace to one
    store's log), the rest (warehouse, snapshots, settings) linked to the served one's."""
    ws = where / "served-ws"
    ws.mkdir()
    for item in served.ws.iterdir():
        if item.name in ("public", "secrets"):
            shutil.copytree(item, ws / item.name)
        elif item.name != "service":  # (the served workspace's own store)
            (ws / item.name).symlink_to(item)
    return Served(ws, served.person, served.other)


@pytest.fixture
def service(served: Served, store_url: str, tmp_path: Path) -> Iterator[Service]:
    with serve(own_workspace(served, tmp_path), store_url) as running:
        yield running


@contextmanager
def serve(served: Served, store_url: str) -> Iterator[Service]:
    """The service on ``served.ws`` with the accounts of ``ACCOUNTS`` in the store."""
    app = create_app(served.ws, store_url=store_url)
    factory = open_store(store_url)
    keys = {}
    with factory() as session:
        for username, role, who, org in ACCOUNTS:
            pid = getattr(served, who) if who else None
            account = create_account(
                session,
                username=username,
                role=role,
                password=PASSWORD,
                person_id=pid,
                organisation=org,
            )
            keys[username] = issue_api_key(session, account, with_account=True)
        session.commit()
    with TestClient(app, base_url="https://testserver") as client:
        yield Service(client, served, keys, store_url)
