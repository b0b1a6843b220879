"""A bankruptcy two of a consumer's Metro 2 accounts report (CII D): one public record on the
person's file and in a lender's summary, not one per account."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from fastapi.testclient import TestClient

from tests.ingest.metro2_files import base, header, trailer, write
from tests.service.conftest import Served
from tests.service.test_compliance_condition import SPEC, _app, _cli


def test_two_accounts_reporting_a_bankruptcy_are_one_public_record(
    served: Served, tmp_path: Path
) -> None:
    ws = Path(shutil.copytree(served.ws, tmp_path / "ws"))
    spec = tmp_path / "acme.yaml"
    spec.write_text(SPEC)
    records = [
        base(account=a, cii=cii, dai="06302025", surname="QUILL", first="ODETTE",
             ssn="555443333", dob="07081975")
        for a, cii in (("A1", "D"), ("A2", "D"), ("A3", ""))
    ]  # fmt: skip
    june = write(tmp_path / "june.txt", [header(), *records, trailer(base=3, s11=3)])
    _cli("ingest", spec, june, "-w", ws)
    _cli("link", "-w", ws, "--model", ws / "models" / "linkage-model.json")
    _cli("score", "--as-of", "2025-12-31", "-w", ws)  # (and publishes)
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        (pid,) = con.execute(
            "SELECT DISTINCT person_id FROM ledger_account_status WHERE furnisher = 'Acme Bank'"
        ).fetchone()

    app, keys = _app(ws, "odette", pid)
    with TestClient(app, base_url="https://testserver") as client:
        mine = client.get("/api/v1/me/file", headers=keys["odette"]).json()
        items = [i for items in mine["furnishers"].values() for i in items]
        public = [(i["kind"], i["title"], i["status"]) for i in items if i["kind"] != "account"]
        assert public == [("public_record", "bankruptcy_ch13", "unresolved")], items
        r = client.post(
            "/api/v1/lookups",
            headers=keys["lena"],
            json={"purpose": "credit_application", "person_id": pid, "cutoff": 300},
        )
        assert r.status_code == 200, r.text
        summary = r.json()["file_summary"]
        assert (summary["accounts"], summary["public_records_unresolved"]) == (3, 1)
