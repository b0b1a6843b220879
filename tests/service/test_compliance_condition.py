"""A furnisher's compliance condition (Metro 2: XB disputed by the consumer, XA closed at
their request, XR removal...): kept on the account until another code or XR, shown on the
person's file, and counted for a lender as a disputed account."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from openbureau.cli import app as cli_app
from openbureau.ingest import _metro2
from openbureau.service.app import create_app
from openbureau.service.auth import create_account, issue_api_key
from openbureau.service.store import default_url, open_store
from tests.ingest.metro2_files import base, header, trailer, write
from tests.service.conftest import PASSWORD, Served, post_login

runner = CliRunner()
SPEC = "name: acme_cards\nfurnisher: Acme Bank\nfeed: accounts\nformat: metro2\n"


def _cli(*args: object) -> None:
    res = runner.invoke(cli_app, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == 0, res.output


def _month(path: Path, dai: str, codes: dict[str, str], balance: int = 450) -> Path:
    records = [base(account=a, ccc=c, dai=dai, surname="QUILL", first="ODETTE", balance=balance,
                    ssn="555443333", dob="07081975") for a, c in codes.items()]  # fmt: skip
    return write(path, [header(), *records, trailer(base=len(records), s11=len(records))])


def _app(ws: Path, person: str, pid: str) -> tuple[Any, dict[str, dict[str, str]]]:
    """The service on ``ws`` and API keys of the person ``pid`` (as ``person``) and a lender
    (``lena``)."""
    store = default_url(ws)
    app = create_app(ws, store_url=store)
    with open_store(store)() as session:
        keys = {}
        for username, role, who, org in (
            (person, "person", pid, None),
            ("lena", "lender", None, "Northwind Bank"),
        ):
            account = create_account(session, username=username, role=role, password=PASSWORD,
                                     person_id=who, organisation=org)  # fmt: skip
            keys[username] = {
                "Authorization": f"Bearer {issue_api_key(session, account, with_account=True)}"
            }
        session.commit()
    return app, keys


def test_the_standing_condition_is_shown_to_the_person_and_counted_for_a_lender(
    served: Served, tmp_path: Path
) -> None:
    ws = Path(shutil.copytree(served.ws, tmp_path / "ws"))
    spec = tmp_path / "acme.yaml"
    spec.write_text(SPEC)
    # A1: disputed in June, the dispute removed (XR) in July; A2: the consumer disagrees with
    # the investigation (XC) in June, nothing sent in July (the code stands); A3: closed at
    # the consumer's request (no dispute); A4: a code that is no CRRG code
    june = _month(
        tmp_path / "june.txt", "06302025", {"A1": "XB", "A2": "XC", "A3": "XA", "A4": "ZZ"}
    )
    july = _month(tmp_path / "july.txt", "07312025", {"A1": "XR", "A2": "", "A3": "", "A4": ""})
    # A3's June re-sent with its balance corrected and the code blank: the code stands
    june_again = _month(tmp_path / "june2.txt", "06302025", {"A3": ""}, balance=300)
    for f in (june, july, june_again):
        _cli("ingest", spec, f, "-w", ws)
    _cli("link", "-w", ws, "--model", ws / "models" / "linkage-model.json")
    _cli("score", "--as-of", "2025-12-31", "-w", ws)  # (and publishes)
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        (pid,) = con.execute(
            "SELECT DISTINCT person_id FROM ledger_account_status WHERE furnisher = 'Acme Bank'"
        ).fetchone()

    app, keys = _app(ws, "odette", pid)
    with TestClient(app, base_url="https://testserver") as client:
        mine = client.get("/api/v1/me/file", headers=keys["odette"]).json()
        notes = {i["item_id"]: i["furnisher_note"] for i in mine["furnishers"]["Acme Bank"]}
        assert notes == {
            "Acme Bank:A1": None,  # removed by XR
            "Acme Bank:A2": _metro2.COMPLIANCE["XC"],
            "Acme Bank:A3": _metro2.COMPLIANCE["XA"],
            "Acme Bank:A4": "compliance condition ZZ",  # (shown as sent, never dropped)
        }
        page = TestClient(app, base_url="https://testserver")
        assert post_login(page, "odette", PASSWORD).status_code == 303
        html = page.get("/me/file").text
        assert "The furnisher reports: the furnisher completed its investigation" in html

        r = client.post(
            "/api/v1/lookups",
            headers=keys["lena"],
            json={"purpose": "credit_application", "person_id": pid, "cutoff": 300},
        )
        assert r.status_code == 200, r.text
        summary = r.json()["file_summary"]
        assert (summary["accounts"], summary["accounts_disputed"]) == (4, 1)  # A2 only


def test_a_copy_published_before_the_columns_still_serves_lenders_and_exports(
    served: Served, tmp_path: Path
) -> None:
    """A serving copy (and its records file) published before compliance conditions and
    months read from payment histories were kept: a lender's lookup and a person's export
    still answer, reading the missing columns as empty."""
    ws = Path(shutil.copytree(served.ws, tmp_path / "ws"))
    copy = ws / "serving" / (ws / "serving" / "CURRENT").read_text().strip()
    with duckdb.connect(str(copy)) as con:
        con.execute("ALTER TABLE file_items DROP COLUMN compliance_condition")
        pid = con.execute(
            "SELECT any_value(person_id) FROM file_items WHERE kind = 'account'"
        ).fetchone()[0]
    for records in (ws / "serving" / "records").glob("*.duckdb"):
        with duckdb.connect(str(records)) as con:
            for column in ("history_of", "compliance_condition"):
                con.execute(f"ALTER TABLE file_records DROP COLUMN {column}")
    app, keys = _app(ws, "pat", pid)
    with TestClient(app, base_url="https://testserver") as client:
        r = client.post(
            "/api/v1/lookups",
            headers=keys["lena"],
            json={"purpose": "credit_application", "person_id": pid, "cutoff": 300},
        )
        assert r.status_code == 200, r.text
        assert r.json()["file_summary"]["accounts_disputed"] == 0
        mine = client.get("/api/v1/me/file", headers=keys["pat"]).json()
        notes = {i["furnisher_note"] for items in mine["furnishers"].values() for i in items}
        assert notes == {None}
        r = client.get("/api/v1/me/export", headers=keys["pat"])
        assert r.status_code == 200, r.text
