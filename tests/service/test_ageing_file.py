"""An aged-off item on the person's file: shown to the person as no longer reported, never to a
lender, never in features or reasons."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from openbureau.cli import app as cli_app
from openbureau.service.app import create_app
from openbureau.service.auth import create_account, issue_api_key
from openbureau.service.store import default_url, open_store
from tests.ledger.test_ageing import SPEC, cu_file
from tests.service.conftest import PASSWORD, Served, post_login

runner = CliRunner()


def _cli(*args: object) -> None:
    res = runner.invoke(cli_app, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == 0, res.output


def test_the_person_sees_an_aged_off_item_as_no_longer_reported_and_a_lender_not_at_all(
    served: Served, tmp_path: Path
) -> None:
    ws = Path(shutil.copytree(served.ws, tmp_path / "ws"))
    spec = tmp_path / "valley_cu_accounts.yaml"
    spec.write_text(SPEC)
    _cli("ingest", spec, cu_file(tmp_path / "cu.csv"), "-w", ws)
    _cli("link", "-w", ws, "--model", ws / "models" / "linkage-model.json")
    _cli("score", "--as-of", "2025-12-31", "-w", ws)  # (and publishes)
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        alpha, aged_records = con.execute(
            """SELECT any_value(person_id), list(record_id) FROM ledger_account_status
               WHERE account_id = 'Valley Credit Union:A1'"""
        ).fetchone()
        reasons = con.execute(
            "SELECT reasons FROM scores WHERE person_id = ? ORDER BY snapshot_id DESC LIMIT 1",
            [alpha],
        ).fetchone()[0]
    served_copy = ws / "serving" / (ws / "serving" / "CURRENT").read_text().strip()
    with duckdb.connect(str(served_copy), read_only=True) as con:
        features = con.execute(
            "SELECT tradelines, months_since_serious_delinquency FROM features WHERE person_id = ?",
            [alpha],
        ).fetchall()
    # features and reasons: as if the charge-off (DOFD 2017-01-10, aged off 2024-01-10) were gone
    assert features == [(1, None)]
    assert not {rid for r in reasons or [] for rid in r["record_ids"]} & set(aged_records)

    store = default_url(ws)
    app = create_app(ws, store_url=store)
    with open_store(store)() as session:
        keys = {}
        for username, role, pid, org in (
            ("alba", "person", alpha, None),
            ("lena", "lender", None, "Northwind Bank"),
        ):
            account = create_account(
                session,
                username=username,
                role=role,
                password=PASSWORD,
                person_id=pid,
                organisation=org,
            )
            keys[username] = {
                "Authorization": f"Bearer {issue_api_key(session, account, with_account=True)}"
            }
        session.commit()
    with TestClient(app, base_url="https://testserver") as client:
        # the person: the charge-off is on the file, no longer reported; the card is reported
        mine = client.get("/api/v1/me/file", headers=keys["alba"]).json()
        items = {i["item_id"]: i for i in mine["furnishers"]["Valley Credit Union"]}
        aged, card = items["Valley Credit Union:A1"], items["Valley Credit Union:A2"]
        assert aged["aged_off_on"] == "2024-01-10"
        assert aged["status_text"] == "no longer reported (was charged off)"
        assert aged["first_delinquency"] == "2017-01-10"
        assert aged["first_delinquency_derived"] is False
        assert card["aged_off_on"] is None and card["status_text"] == "paid as agreed"
        page = TestClient(app, base_url="https://testserver")
        assert post_login(page, "alba", PASSWORD).status_code == 303
        html = page.get("/me/file").text
        assert "No longer reported since 2024-01-10" in html

        # the lender: one account, in good standing; nothing of the charge-off
        r = client.post(
            "/api/v1/lookups",
            headers=keys["lena"],
            json={"purpose": "credit_application", "person_id": alpha, "cutoff": 300},
        )
        assert r.status_code == 200, r.text
        summary = r.json()["file_summary"]
        assert (summary["accounts"], summary["accounts_not_current"]) == (1, 0)


def test_a_republish_ages_items_by_the_periods_the_snapshot_was_scored_with(
    served: Served, tmp_path: Path
) -> None:
    ws = Path(shutil.copytree(served.ws, tmp_path / "ws"))
    spec = tmp_path / "valley_cu_accounts.yaml"
    spec.write_text(SPEC)
    _cli("ingest", spec, cu_file(tmp_path / "cu.csv"), "-w", ws)
    _cli("link", "-w", ws, "--model", ws / "models" / "linkage-model.json")
    _cli("score", "--as-of", "2025-12-31", "-w", ws)  # (the charge-off aged off 2024-01-10)
    # bureau.toml changed afterwards: a republish of that snapshot keeps its own periods
    toml = ws / "bureau.toml"
    text = toml.read_text()
    assert 'charged_off = "7y"' in text and 'delinquency = "7y"' in text
    toml.write_text(
        text.replace('charged_off = "7y"', 'charged_off = "10y"').replace(
            'delinquency = "7y"', 'delinquency = "10y"'
        )
    )
    _cli("publish", "-w", ws)
    served_copy = ws / "serving" / (ws / "serving" / "CURRENT").read_text().strip()
    with duckdb.connect(str(served_copy), read_only=True) as con:
        aged = con.execute(
            "SELECT aged_off_on FROM file_items WHERE item_id = 'Valley Credit Union:A1'"
        ).fetchall()
    assert [str(d) for (d,) in aged] == ["2024-01-10"]
