"""A person's file export: everything held on them (every record from every furnisher with its
versions and batches, the links, scores over time, statements, notices, every read), as JSON
that docs/export.schema.json validates and as a printable page; from `GET /api/v1/me/export`,
`/me/export` and `openbureau export-file`; only one's own; each export in the logs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import jsonschema_rs
import pytest
from typer.testing import CliRunner

from openbureau.cli import app as cli
from openbureau.ledger import correct_record, suppress_record
from openbureau.ledger._schema import EVENTS
from openbureau.service.export_schema import SCHEMA_PATH, schema_text
from openbureau.workspace import Workspace
from tests.service.conftest import Service

ROOT = Path(__file__).resolve().parents[2]


def _ledger(ws: Path, person: str) -> dict[str, set[str]]:
    """The person's records and versions, read from the ledger tables directly."""
    union = " UNION ALL ".join(
        f"SELECT record_id, event_id, batch_id, furnisher FROM {t.table} WHERE person_id = $1"
        for t in EVENTS.values()
    )
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(union, [person]).fetchall()
    return {
        "records": {r[0] for r in rows},
        "versions": {r[1] for r in rows},
        "batches": {r[2] for r in rows},
        "furnishers": {r[3] for r in rows},
    }


def _exported(export: dict[str, Any]) -> dict[str, set[str]]:
    return {
        "records": {r["record_id"] for r in export["records"]},
        "versions": {v["event_id"] for r in export["records"] for v in r["versions"]},
        "batches": {v["batch_id"] for r in export["records"] for v in r["versions"]},
        "furnishers": {r["furnisher"] for r in export["records"]},
    }


def _validate(export: dict[str, Any]) -> None:
    schema = json.loads((ROOT / SCHEMA_PATH).read_text(encoding="utf-8"))
    jsonschema_rs.validator_for(schema, validate_formats=True).validate(export)


def _export_cli(service: Service, ws: Path, *args: str) -> Any:
    return CliRunner().invoke(
        cli, ["export-file", *args, "-w", str(ws), "--store", service.store_url]
    )


def test_the_schema_in_docs_is_the_one_the_code_makes() -> None:
    assert (ROOT / SCHEMA_PATH).read_text(encoding="utf-8") == schema_text(), (
        "regenerate it: python -m openbureau.service.export_schema"
    )


def test_my_export_holds_every_record_of_my_file_and_the_schema_validates_it(
    service: Service,
) -> None:
    person = service.served.person
    r = service.client.get("/api/v1/me/export", headers=service.api("pat"))
    assert r.status_code == 200, r.text
    export = r.json()
    _validate(export)
    assert export["person"]["person_id"] == person
    # every record and every version of the file, with its batch, as the ledger holds them
    assert _exported(export) == _ledger(service.served.ws, person)
    assert export["counts"]["records"] == len(export["records"]) > 10
    assert len(_exported(export)["furnishers"]) >= 2
    version = export["records"][0]["versions"][0]
    assert version["batch_id"] and version["loaded_at"] and version["fields"]
    # the links and why, scores over time with reasons, and the three snapshots
    assert export["identity"]["records"]
    assert len(export["identity"]["records"]) == 1 or export["identity"]["links"]
    assert [s["as_of"] for s in export["scores"]] == ["2025-06-30", "2025-09-30", "2025-12-31"]
    assert any(s["reasons"] for s in export["scores"])
    assert export["disputes"] == [] and export["consents"] == []
    # key order is the schema's, stable
    assert list(export)[:6] == ["format", "version", "generated_at", "bureau", "source", "person"]


def test_a_person_exports_only_their_own_file(service: Service) -> None:
    pat = service.client.get(
        "/api/v1/me/export", params={"person_id": service.served.other}, headers=service.api("pat")
    )
    assert pat.json()["person"]["person_id"] == service.served.person  # (no other file)
    quinn = service.client.get("/api/v1/me/export", headers=service.api("quinn")).json()
    assert quinn["person"]["person_id"] == service.served.other
    assert not _exported(quinn)["records"] & _exported(pat.json())["records"]
    # no route exports someone else's file, and other roles have no /me file to export
    other = service.client.get(
        f"/api/v1/persons/{service.served.other}/export", headers=service.api("pat")
    )
    assert other.status_code == 404
    for user in ("lena", "audrey"):
        refused = service.client.get("/api/v1/me/export", headers=service.api(user))
        assert refused.status_code == 403, refused.text


def test_my_export_is_logged_as_my_read_and_lists_itself(service: Service) -> None:
    first = service.client.get("/api/v1/me/export", headers=service.api("pat")).json()
    mine = [e for e in first["reads"] if e["action"] == "export file"]
    assert mine and mine[0]["actor"] == "pat" and mine[0]["purpose"] == "consumer_request"
    log = service.client.get(
        "/api/v1/audit",
        params={"subject": service.served.person, "action": "export file"},
        headers=service.api("audrey"),
    ).json()
    assert [(e["actor"], e["detail"].split(";")[0]) for e in log] == [("pat", "as json")]


def test_the_printable_page_and_the_button(service: Service) -> None:
    browser = service.login("pat")
    home = browser.get("/me")
    assert 'id="export-button" href="/me/export"' in home.text
    page = browser.get("/me/export")
    assert page.status_code == 200
    export = browser.get("/api/v1/me/export").json()
    assert page.text.count('<tr class="record"') == export["counts"]["records"]
    assert f'id="count-records">{export["counts"]["records"]:,}<' in page.text
    assert "@media print" not in page.text and "/static/print.css" in page.text
    lender = service.login("lena").get("/me/export", follow_redirects=False)
    assert lender.status_code in (303, 403)


def test_the_command_line_exports_from_the_warehouse_and_the_person_sees_the_read(
    service: Service, tmp_path: Path
) -> None:
    ws, person = service.served.ws, service.served.person
    out = tmp_path / "export.json"
    res = _export_cli(service, ws, person.lower(), "--purpose", "consumer_request", "-o", str(out))
    assert res.exit_code == 0, res.output
    export = json.loads(out.read_text(encoding="utf-8"))
    _validate(export)
    assert export["source"]["kind"] == "warehouse"
    assert _exported(export) == _ledger(ws, person)
    # in the person's access log: the operator, the purpose
    access = service.client.get("/api/v1/me/access", headers=service.api("pat")).json()
    read = [e for e in access["entries"] if e["action"] == "export file"]
    assert read and read[0]["actor_role"] == "operator" and "@" in read[0]["actor"]
    assert read[0]["purpose"] == "consumer_request"
    # as a printable page on its own (styles inline)
    page = tmp_path / "export.html"
    res = _export_cli(
        service, ws, person, "--purpose", "legal_order", "--format", "html", "-o", str(page)
    )
    assert res.exit_code == 0, res.output
    html = page.read_text(encoding="utf-8")
    assert "@media print" in html and html.count('<tr class="record"') == len(export["records"])


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([], "give the person ID"),
        (["P000NOSUCH1", "--purpose", "consumer_request"], "no such person ID"),
        (["{person}"], "--purpose: state one of"),
        (["{person}", "--purpose", "curiosity"], "--purpose: state one of"),
        (["{person}", "--purpose", "legal_order", "--format", "pdf"], "--format 'pdf'"),
    ],
)
def test_the_command_line_refuses_in_one_line(service: Service, args: list[str], says: str) -> None:
    res = _export_cli(
        service, service.served.ws, *(a.format(person=service.served.person) for a in args)
    )
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], res.stderr
    assert not res.stdout


def test_a_refused_export_is_in_the_persons_access_log(service: Service) -> None:
    _export_cli(service, service.served.ws, service.served.person, "--purpose", "curiosity")
    access = service.client.get(
        "/api/v1/me/access", params={"show": "refusals"}, headers=service.api("pat")
    ).json()
    assert [e["action"] for e in access["entries"]] == ["export file"]
    assert access["entries"][0]["outcome"] == "denied"


def test_corrections_suppressions_and_aged_off_records_are_in_the_export(
    service: Service, tmp_path: Path
) -> None:
    ws = Path(shutil.copytree(service.served.ws, tmp_path / "ws", symlinks=False))
    person = service.served.person
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        first, second = (
            r[0]
            for r in con.execute(
                """SELECT record_id FROM ledger_account_status WHERE person_id = ?
                   AND is_current ORDER BY record_id LIMIT 2""",
                [person],
            ).fetchall()
        )
    with Workspace.open(ws).engine() as engine:
        corrected = correct_record(engine, first, {"balance": 12.5}, "furnisher's letter")
        suppress_record(engine, second, "aged_off", "past seven years")
    out = tmp_path / "export.json"
    res = _export_cli(service, ws, person, "--purpose", "dispute_investigation", "-o", str(out))
    assert res.exit_code == 0, res.output
    export = json.loads(out.read_text(encoding="utf-8"))
    _validate(export)
    assert _exported(export) == _ledger(ws, person)
    by_id = {r["record_id"]: r for r in export["records"]}
    versions = by_id[first]["versions"]
    assert [v["event_id"] for v in versions][-1] == corrected
    assert versions[-1]["correction_reason"] == "furnisher's letter"
    assert versions[-1]["fields"]["balance"] == 12.5 and versions[-1]["is_current"]
    assert not versions[-2]["is_current"]
    assert by_id[second]["standing"] == "no_longer_reported"
    assert by_id[second]["suppressions"][0]["reason"] == "aged_off"
    assert by_id[first]["standing"] == "counts"
