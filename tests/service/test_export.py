"""A person's file export: everything held on them (every record from every furnisher with its
versions and batches, the links, scores over time, statements, notices, every read), as JSON
that docs/export.schema.json validates and as a printable page; from `GET /api/v1/me/export`,
`/me/export` and `openbureau export-file`; only one's own; each export in the logs."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import jsonschema_rs
import pytest
from typer.testing import CliRunner

from openbureau.cli import app as cli
from openbureau.ledger import build_ledger, correct_record, lift_suppression, suppress_record
from openbureau.ledger._schema import EVENTS
from openbureau.ledger.records import records_stamp
from openbureau.service.export_schema import SCHEMA_PATH, schema_text
from openbureau.workspace import Workspace
from tests.service.conftest import Served, Service, serve

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


def _records_files(ws: Path) -> dict[str, tuple[int, int]]:
    """The records files beside the serving copies: name -> (mtime in ns, inode)."""
    return {
        p.name: (p.stat().st_mtime_ns, p.stat().st_ino)
        for p in (ws / "serving" / "records").glob("*")
    }


def _named_by_current(ws: Path) -> str:
    current = ws / "serving" / (ws / "serving" / "CURRENT").read_text(encoding="utf-8").strip()
    with duckdb.connect(str(current), read_only=True) as con:
        return str(con.execute("SELECT records_file FROM meta").fetchone()[0])


def _run(*args: str | Path) -> None:
    res = CliRunner().invoke(cli, [str(a) for a in args])
    assert res.exit_code == 0, res.output


def test_a_publish_writes_the_records_file_only_when_the_ledger_changed(
    served: Served, linked_population: tuple[Path, Path], tmp_path: Path
) -> None:
    """A publish with the ledger unchanged writes no records file (the copy names the one
    there); after a new batch it writes one, and the export shows the batch's versions."""
    ws = Path(shutil.copytree(served.ws, tmp_path / "ws", symlinks=False))
    feed = "northbank_accounts"
    _run("publish", "-w", ws)
    first = _records_files(ws)
    assert list(first) == [_named_by_current(ws)]
    _run("publish", "-w", ws)
    assert _records_files(ws) == first  # the same file, not written again
    assert _named_by_current(ws) == next(iter(first))

    # a new batch: the furnisher reports new balances on two of a person's accounts
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            f"""SELECT e.person_id, s.line_no FROM src_{feed} s
                JOIN ledger_account_status e USING (record_id)
                WHERE e.is_current AND e.person_id <> ? ORDER BY s.line_no LIMIT 2""",
            [served.other],
        ).fetchall()
    person = rows[0][0]
    pop = linked_population[1]
    text = (pop / "northbank" / "accounts.csv").read_bytes().split(b"\n")
    header = text[0].decode().split(",")
    revised = io.StringIO()
    writer = csv.writer(revised, lineterminator="\n")
    writer.writerow(header)
    for _, line_no in rows:
        cells = dict(zip(header, next(csv.reader([text[line_no - 1].decode()])), strict=True))
        writer.writerow({**cells, "CUR_BAL": "4321.00"}.values())
    (tmp_path / "revised.csv").write_text(revised.getvalue(), encoding="utf-8")
    _run("ingest", pop / "specs" / f"{feed}.yaml", tmp_path / "revised.csv", "-w", ws)
    _run("link", "-w", ws)
    _run("ledger", "-w", ws)
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        batch = con.execute("SELECT max(batch_id) FROM ledger_batches").fetchone()[0]

    _run("publish", "-w", ws)
    after = _records_files(ws)
    new = _named_by_current(ws)
    assert new not in first and set(after) == {*first, new}  # (the previous copy names the old)
    with serve(Served(ws, person, served.other), f"sqlite:///{tmp_path / 's.sqlite'}") as service:
        export = service.client.get("/api/v1/me/export", headers=service.api("pat")).json()
    assert export["person"]["person_id"] == person
    assert _exported(export) == _ledger(ws, person)
    assert batch in _exported(export)["batches"]
    # once no kept copy names the old file, it goes
    _run("publish", "-w", ws)
    assert _records_files(ws) == {new: after[new]}


def test_the_records_stamp_changes_with_each_write_to_the_ledger_and_only_then(
    copy_population: tuple[Path, Path],
) -> None:
    """A records file is written again when its stamp changes: a correction, a suppression and
    its lifting each change it; a ledger build with nothing new does not."""
    ws, _ = copy_population
    with Workspace.open(ws).engine() as engine:
        stamps = [records_stamp(engine)]
        build_ledger(engine)
        assert records_stamp(engine) == stamps[0]
        first, second = (
            r
            for (r,) in engine.query(
                "SELECT record_id FROM ledger_account_status WHERE is_current "
                "ORDER BY record_id LIMIT 2"
            )
        )
        correct_record(engine, first, {"balance": 1.0}, "furnisher's letter")
        stamps.append(records_stamp(engine))
        suppression = suppress_record(engine, second, "disputed", "not mine")
        stamps.append(records_stamp(engine))
        lift_suppression(engine, suppression, "verified")
        stamps.append(records_stamp(engine))
        assert records_stamp(engine) == stamps[-1]
    assert len(set(stamps)) == len(stamps) == 4


def test_records_aged_off_and_erasures_are_in_the_export_from_the_copy_and_the_warehouse(
    served: Served, tmp_path: Path
) -> None:
    """A record past its period under the snapshot's ageing rules is no longer reported, with
    no suppression stored; an erasure of alternative data is listed by its counts."""
    from openbureau.ledger.erasure import erase_alternative_data
    from tests.ledger.test_ageing import SPEC, cu_file

    ws = Path(shutil.copytree(served.ws, tmp_path / "ws", ignore=shutil.ignore_patterns("service")))
    spec = tmp_path / "valley_cu_accounts.yaml"
    spec.write_text(SPEC)
    _run("ingest", spec, cu_file(tmp_path / "cu.csv"), "-w", ws)
    _run("link", "-w", ws, "--model", ws / "models" / "linkage-model.json")
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        payer = con.execute(
            "SELECT min(person_id) FROM ledger_payments WHERE person_id IS NOT NULL"
        ).fetchone()[0]
    with Workspace.open(ws).engine() as engine:
        erased = erase_alternative_data(engine, [payer], requested_by="pat")
    assert erased.records > 0
    _run("score", "--as-of", "2025-12-31", "-w", ws)  # (and publishes)
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        alpha, snapshot = con.execute(
            """SELECT any_value(person_id), (SELECT max(snapshot_id) FROM score_snapshots)
               FROM ledger_account_status WHERE account_id = 'Valley Credit Union:A1'"""
        ).fetchone()
        accounts = dict(
            con.execute(
                """SELECT account_id, list(record_id) FROM ledger_account_status
                   WHERE person_id = ? GROUP BY account_id""",
                [alpha],
            ).fetchall()
        )
    aged, kept = accounts["Valley Credit Union:A1"], accounts["Valley Credit Union:A2"]

    def check(export: dict[str, Any]) -> None:
        _validate(export)
        assert export["source"]["aged_off_by"] == {"snapshot_id": snapshot, "as_of": "2025-12-31"}
        by_id = {r["record_id"]: r for r in export["records"]}
        for rid in aged:
            assert by_id[rid]["standing"] == "no_longer_reported", by_id[rid]
            assert by_id[rid]["aged_off_on"] == "2024-01-10" and not by_id[rid]["suppressions"]
        assert {(by_id[r]["standing"], by_id[r]["aged_off_on"]) for r in kept} == {("counts", None)}

    with serve(Served(ws, alpha, payer), f"sqlite:///{tmp_path / 's.sqlite'}") as service:
        mine = service.client.get("/api/v1/me/export", headers=service.api("pat")).json()
        check(mine)
        assert mine["erasures"] == []
        page = service.client.get("/me/export", headers=service.api("pat")).text
        assert "past its reporting period since 2024-01-10" in page
        theirs = service.client.get("/api/v1/me/export", headers=service.api("quinn")).json()
        _validate(theirs)
        out = tmp_path / "alpha.json"
        res = _export_cli(service, ws, alpha, "--purpose", "consumer_request", "-o", str(out))
        assert res.exit_code == 0, res.output
        check(json.loads(out.read_text(encoding="utf-8")))
    # the erasure, from the copy (published after it): when, feeds, rows; never a value
    (stone,) = theirs["erasures"]
    assert (stone["erasure_id"], stone["feeds"], stone["records"]) == (
        erased.erasure_id,
        erased.feeds,
        erased.records,
    )
    assert stone["rows"] == erased.rows and stone["erased_at"] and stone["note"] is None
    assert theirs["counts"]["erasures"] == 1
