"""Attacks on the audit log that once went unseen (issue 17): a store whose log was renamed or
migrated down and up, rewritten whole; a head signed for every request; a person's entries read
through the log itself; a read pushed out of the person's reach by refusals."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from openbureau.cli import app as cli
from openbureau.service import audit
from openbureau.service.audit_heads import HEADS_FILE, verify_head
from openbureau.service.audit_signing import HeadSigner
from openbureau.service.merkle import leaf_hash, verify_inclusion
from openbureau.service.store import (
    AuditEntry,
    AuditHead,
    default_url,
    downgrade,
    open_store,
)
from openbureau.service.workspace_log import LOG_FILE
from openbureau.workspace import Workspace
from tests.service.conftest import Service
from tests.service.test_translog import _rewrite_without


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    from openbureau import cli as cli_module

    monkeypatch.setattr(cli_module.console, "width", 2000)
    monkeypatch.setattr(cli_module.err_console, "width", 2000)


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _verify(root: Path, *more: str) -> tuple[int, list[str]]:
    res = _run("audit", "verify", "-w", str(root), *more)
    return res.exit_code, [" ".join(line.split()) for line in res.output.splitlines()]


def _problems(lines: list[str]) -> list[str]:
    return [line.removeprefix("- ") for line in lines if line.startswith("- ")]


def _lena_reads(service: Service) -> None:
    r = service.client.get(
        f"/api/v1/persons/{service.served.person}/score",
        params={"purpose": "credit_application"},
        headers=service.api("lena"),
    )
    assert r.status_code == 200, r.text


def _access(service: Service, who: str, **params: Any) -> dict[str, Any]:
    r = service.client.get("/api/v1/me/access", params=params, headers=service.api(who))
    assert r.status_code == 200, r.text
    return dict(r.json())


def _included(proof: dict[str, Any] | None, head: Any) -> bool:
    return proof is not None and verify_inclusion(
        proof["leaf_index"],
        head.tree_size,
        bytes.fromhex(proof["leaf_hash"]),
        [bytes.fromhex(h) for h in proof["audit_path"]],
        head.root_hash,
    )


@pytest.fixture
def signed(ws: Workspace) -> tuple[Path, sessionmaker[Session]]:
    """A workspace whose log holds 30 entries, a lender's read of P1 among them, signed at 30."""
    store = open_store(default_url(ws.root))
    for i in range(30):
        audit.record(
            store,
            actor="lena" if i == 7 else f"lender{i % 3}",
            actor_role="lender",
            action="read score",
            subject="P1" if i == 7 else f"P{i + 100}",
            purpose="credit_application",
            detail=f"lookup {i}",
        )
    res = _run("audit", "sign", "-w", str(ws.root))
    assert res.exit_code == 0, res.output
    return ws.root, store


# --- 1. the store's log id is not the workspace's -------------------------------------------


def test_the_workspace_records_its_log_at_the_first_head_over_entries(
    signed: tuple[Path, sessionmaker[Session]],
) -> None:
    root, store = signed
    with store() as s:
        lid = s.execute(text("SELECT log_id FROM transparency_log")).scalar()
    recorded = json.loads((root / LOG_FILE).read_text())
    assert recorded["log_id"] == lid and recorded["retired"] == []


def test_a_rewrite_under_a_new_log_id_fails_verify_and_is_not_signed(
    signed: tuple[Path, sessionmaker[Session]],
) -> None:
    """The attack: rename the store's log, remove the lender's read, renumber and rehash every
    entry after it, rebuild the tree. Once, verify found the log intact against no head."""
    root, store = signed
    with store.kw["bind"].begin() as con:
        con.execute(text("UPDATE transparency_log SET log_id = :x"), {"x": secrets.token_hex(16)})
    _rewrite_without(store, 7)
    code, lines = _verify(root)
    problems = _problems(lines)
    assert code == 1, lines
    assert any(
        p.startswith("the store's audit log is ") and "not this workspace's log" in p
        for p in problems
    ), problems
    # the workspace's heads are still checked against what the store holds
    assert any(
        p.startswith("the log holds 29 entries, fewer than the signed head (size 30")
        for p in problems
    ), problems
    refused = _run("audit", "sign", "-w", str(root))
    assert refused.exit_code == 1 and "not signed" in refused.output, refused.output
    assert "this workspace's is" in " ".join(refused.output.split())


def test_a_downgrade_and_upgrade_of_the_store_is_not_a_new_log(
    signed: tuple[Path, sessionmaker[Session]],
) -> None:
    """The same through the migrations: down to the hash chain (which drops the log's id and
    heads), the lender's read removed and the chain recomputed, up again (a new id)."""
    root = signed[0]
    url = default_url(root)
    engine = create_engine(url)
    downgrade(engine, "0001")
    with engine.begin() as con:
        con.execute(text("DELETE FROM audit_log WHERE actor = 'lena'"))
        prev = "0" * 64
        rows = con.execute(
            text(
                "SELECT seq, at, actor, actor_role, subject, purpose, action, outcome, detail "
                "FROM audit_log ORDER BY seq"
            )
        ).all()
        for seq, at, *fields in rows:
            at = at if isinstance(at, dt.datetime) else dt.datetime.fromisoformat(at)
            body = json.dumps(
                [prev, at.isoformat(timespec="microseconds"), *fields],
                separators=(",", ":"),
                ensure_ascii=False,
            )
            digest = hashlib.sha256(body.encode()).hexdigest()
            con.execute(
                text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE seq = :s"),
                {"p": prev, "h": digest, "s": seq},
            )
            prev = digest
    engine.dispose()
    open_store(url)  # (any command, or the service, upgrades it again)
    code, lines = _verify(root)
    problems = _problems(lines)
    assert code == 1, lines
    assert any("not this workspace's log" in p for p in problems), problems
    assert any(
        p.startswith("the log is inconsistent with the signed head (size 30") for p in problems
    )
    assert _run("audit", "sign", "-w", str(root)).exit_code == 1


def test_a_store_replaced_on_purpose_starts_a_new_log_in_the_open(
    signed: tuple[Path, sessionmaker[Session]], tmp_path: Path
) -> None:
    root, _ = signed
    other = f"sqlite:///{tmp_path / 'moved.sqlite'}"
    store = open_store(other)
    audit.record(store, actor="lena", actor_role="lender", action="read score", subject="P1")
    where = ["-w", str(root), "--store", other]
    refused = _run("audit", "sign", *where)
    assert refused.exit_code == 1 and "--new-log" in refused.output, refused.output
    assert _verify(root, "--store", other)[0] == 1
    # an explicit start, with a reason, written to the new log as done by the operator
    bare = _run("audit", "sign", "--new-log", " ", *where)
    assert bare.exit_code == 2 and "give the reason" in bare.output
    # (this store holds none of the 30 entries signed: that loss is acknowledged, or refused)
    unsaid = _run("audit", "sign", "--new-log", "moved to the new database", *where)
    assert unsaid.exit_code == 2 and "--acknowledge" in unsaid.output, unsaid.output
    started = _run(
        "audit",
        "sign",
        "--new-log",
        "moved to the new database",
        "--acknowledge",
        "a new store",
        *where,
    )
    assert started.exit_code == 0, started.output
    entry = audit.query(store, action="start audit log")
    assert len(entry) == 1 and entry[0]["actor_role"] == "operator"
    assert "moved to the new database" in entry[0]["detail"]
    recorded = json.loads((root / LOG_FILE).read_text())
    assert len(recorded["retired"]) == 1 and recorded["retired"][0]["by"] == entry[0]["actor"]
    code, lines = _verify(root, "--store", other)
    assert code == 0, lines
    assert any("was retired on" in line and "not vouched for" in line for line in lines), lines
    # nothing to start twice
    again = _run("audit", "sign", "--new-log", "again", *where)
    assert again.exit_code == 2 and "already" in again.output


def test_a_new_log_does_not_turn_a_rewrite_into_an_intact_log(
    signed: tuple[Path, sessionmaker[Session]],
) -> None:
    """The attack of the test above, then `audit sign --new-log`: once, the rewritten log's
    heads became a retired log's, noted, and verify said "intact". The start is refused while
    the store does not hold the entries the heads signed; acknowledged, it is in the log and the
    workspace's record, and verify says the retired log is not vouched for."""
    root, store = signed
    with store.kw["bind"].begin() as con:
        con.execute(text("UPDATE transparency_log SET log_id = :x"), {"x": secrets.token_hex(16)})
    _rewrite_without(store, 7)
    refused = _run("audit", "sign", "--new-log", "moved the store", "-w", str(root))
    said = " ".join(refused.output.split())
    assert refused.exit_code == 2 and len(refused.output.strip().splitlines()) == 1, said
    assert "does not hold the entries" in said and "the log holds 29 entries" in said, said
    assert "--acknowledge" in said
    assert audit.query(store, action="start audit log") == []
    assert json.loads((root / LOG_FILE).read_text())["retired"] == []
    code, lines = _verify(root)
    assert code == 1 and any("the log holds 29 entries" in p for p in _problems(lines)), lines
    # acknowledged: recorded in the log and the workspace's record; never "intact"
    started = _run(
        "audit", "sign", "--new-log", "rebuilt", "--acknowledge", "lost a backup", "-w", str(root)
    )
    assert started.exit_code == 0, started.output
    entry = audit.query(store, action="start audit log")
    assert len(entry) == 1 and "acknowledged: lost a backup (" in entry[0]["detail"]
    retired = json.loads((root / LOG_FILE).read_text())["retired"]
    assert len(retired) == 1 and retired[0]["acknowledged"].startswith("lost a backup (")
    code, lines = _verify(root)
    said = " ".join(lines)
    assert code == 0 and "intact" not in said, lines
    assert "not vouched for" in said and "despite problems" in said, lines


def test_a_new_log_over_the_same_entries_still_checks_them(
    signed: tuple[Path, sessionmaker[Session]],
) -> None:
    """The store's log renamed (as by a move, or the migrations down and up) over the same
    entries: a new log starts without acknowledgement, and its old heads are still checked, so
    a rewrite after it is found."""
    root, store = signed
    with store.kw["bind"].begin() as con:
        con.execute(text("UPDATE transparency_log SET log_id = :x"), {"x": secrets.token_hex(16)})
    assert _verify(root)[0] == 1
    started = _run("audit", "sign", "--new-log", "moved the store", "-w", str(root))
    assert started.exit_code == 0, started.output
    retired = json.loads((root / LOG_FILE).read_text())["retired"]
    assert len(retired) == 1 and retired[0]["acknowledged"] is None
    code, lines = _verify(root)
    assert code == 0 and any(line.startswith("Audit log intact") for line in lines), lines
    _rewrite_without(store, 7)
    code, lines = _verify(root)
    assert code == 1, lines
    assert any(
        p.startswith("the log is inconsistent with the signed head (size 30")
        for p in _problems(lines)
    ), lines
    assert not any(line.startswith("Audit log intact") for line in lines)


def test_heads_of_another_log_are_a_problem_before_the_workspace_records_its_own(
    signed: tuple[Path, sessionmaker[Session]], tmp_path: Path
) -> None:
    """A workspace from before the record (its heads file only): heads over entries of a log
    that is not the store's are a problem, and no head is signed."""
    root, _ = signed
    (root / LOG_FILE).unlink(missing_ok=True)  # (as before the record was kept)
    other = f"sqlite:///{tmp_path / 'other.sqlite'}"
    audit.record(open_store(other), actor="x", actor_role="lender", action="read score")
    code, lines = _verify(root, "--store", other)
    assert code == 1, lines
    assert any(
        "signed head(s) of log" in p
        and "up to size 30" in p
        and "neither this workspace's log" in p
        for p in _problems(lines)
    ), lines
    assert _run("audit", "sign", "-w", str(root), "--store", other).exit_code == 1
    assert not (root / LOG_FILE).exists()


def test_a_new_workspace_with_a_publication_head_of_another_store_checks_out(
    ws: Workspace, tmp_path: Path
) -> None:
    """The normal case: heads signed at publications over an empty store, then the service on
    another: those heads cover no entry, and say so; the service's log is recorded."""
    HeadSigner(open_store(default_url(ws.root)), ws.root).sign()  # (as a publication does)
    other = f"sqlite:///{tmp_path / 'service.sqlite'}"
    store = open_store(other)
    audit.record(store, actor="lena", actor_role="lender", action="read score", subject="P1")
    assert _run("audit", "sign", "-w", str(ws.root), "--store", other).exit_code == 0
    code, lines = _verify(ws.root, "--store", other)
    assert code == 0, lines
    notes = [line for line in lines if line.startswith("note:")]
    assert len(notes) == 1 and "while it was empty" in notes[0] and "cover no entry" in notes[0]
    assert "other stores of this workspace" not in " ".join(lines)


# --- 2. heads signed on demand, at most once every few seconds ------------------------------


def test_one_person_cannot_make_every_request_sign_a_head(service: Service) -> None:
    """Alternating the password and the key, each read of the access log shows the other's:
    once, each one signed a head (a line fsync'd, a row, a head for verify to check)."""
    service.client.app.state.ctx.heads.interval = 3600  # (no time passes, however slow)
    store = open_store(service.store_url)
    heads_file = service.served.ws / HEADS_FILE
    lines = len(heads_file.read_text().splitlines())
    page = service.login("pat")
    _lena_reads(service)
    for _ in range(10):
        assert service.client.get("/api/v1/me/access", headers=service.api("pat")).is_success
        assert page.get("/api/v1/me/access").is_success
    with store() as s:
        heads = s.execute(select(AuditHead)).scalars().all()
    assert len(heads) == 1, len(heads)
    assert len(heads_file.read_text().splitlines()) == lines + 1
    # the entries newer than the head: proof pending, with their leaf hash and leaf
    log = page.get("/api/v1/me/access").json()
    pending = [e for e in log["entries"] if e["pending"] is not None]
    assert pending and all(e["proof"] is None for e in pending)
    assert any(e["pending"]["leaf"] is not None for e in pending)
    with store() as s:
        for e in pending:
            p = e["pending"]
            assert p["leaf_index"] >= log["signed_head"]["tree_size"]
            row = s.execute(
                select(AuditEntry).where(AuditEntry.leaf_index == p["leaf_index"])
            ).scalar_one()
            assert p["leaf_hash"] == row.hash
            if p["leaf"] is not None:
                assert leaf_hash(p["leaf"].encode()).hex() == row.hash
    assert "(proof pending)" in page.get("/me").text
    # once the wait is over, the next reader gets a head that proves them
    service.client.app.state.ctx.heads.interval = 0
    later = page.get("/api/v1/me/access").json()
    keys = service.client.get("/.well-known/audit-log-keys.json").json()
    head = verify_head(later["signed_head"], keys)
    assert all(e["pending"] is None for e in later["entries"])
    assert all(_included(e["proof"], head) for e in later["entries"])


# --- 3. a read of the log is a read of the persons it shows ---------------------------------


def _log_reads_seen(service: Service, who: str) -> list[dict[str, Any]]:
    entries = _access(service, who)["entries"]
    return [e for e in entries if e["action"].startswith("read audit log")]


def test_a_read_of_the_log_filtered_on_a_person_is_in_their_access_log(service: Service) -> None:
    _lena_reads(service)
    r = service.client.get(
        "/api/v1/audit", params={"subject": service.served.person}, headers=service.api("ada")
    )
    assert r.status_code == 200 and any(e["actor"] == "lena" for e in r.json())
    seen = _log_reads_seen(service, "pat")
    assert [(e["actor"], e["actor_role"]) for e in seen] == [("ada", "admin")]
    assert "entry shown" in seen[0]["detail"] or "entries shown" in seen[0]["detail"]
    assert _log_reads_seen(service, "quinn") == []
    # the auditor's page too
    page = service.login("audrey").get("/auditor", params={"subject": service.served.person})
    assert page.status_code == 200 and "lena" in page.text
    assert [e["actor"] for e in _log_reads_seen(service, "pat")] == ["audrey", "ada"]


def test_an_unfiltered_read_of_the_log_is_in_the_access_log_of_each_person_it_shows(
    service: Service,
) -> None:
    _lena_reads(service)
    r = service.client.get("/api/v1/audit", params={"actor": "lena"}, headers=service.api("ada"))
    assert {e["subject"] for e in r.json()} == {service.served.person}
    seen = _log_reads_seen(service, "pat")
    assert len(seen) == 1 and "1 about this person" in seen[0]["detail"]
    assert _log_reads_seen(service, "quinn") == []
    # a read that shows the log's own reads does not log their persons again
    again = service.client.get(
        "/api/v1/audit", params={"action": "read audit log"}, headers=service.api("ada")
    )
    assert any(e["subject"] == service.served.person for e in again.json())
    assert len(_log_reads_seen(service, "pat")) == 1
    # the page leaves them out unless asked, and says so
    c = service.login("audrey")
    page = c.get("/auditor").text
    assert "Reads of the log itself" in page
    table = page.split('id="audit-table"')[1]
    assert "read audit log" not in table and "lena" in table
    assert (
        "read audit log"
        in c.get("/auditor", params={"log_reads": "1"}).text.split('id="audit-table"')[1]
    )


# --- 4. every entry within a person's reach --------------------------------------------------


def test_refusals_do_not_push_a_read_out_of_the_persons_reach(service: Service) -> None:
    """An auditor reads the whole file, then is refused 60 times: the read stays on /me
    (reads are listed apart from refusals), and every entry is reached a page at a time, each
    page with proofs that verify."""
    service.client.app.state.ctx.heads.interval = 0
    pid, auditor = service.served.person, service.api("audrey")
    r = service.client.get(
        f"/api/v1/persons/{pid}/file", params={"purpose": "legal_order"}, headers=auditor
    )
    assert r.status_code == 200
    for _ in range(60):
        assert service.client.get(f"/api/v1/persons/{pid}/file", headers=auditor).status_code == 422
    # the API: reads apart, and everything a page at a time (before the person's page is
    # read through the password login: those reads would show here, as another login's)
    reads = _access(service, "pat", show="reads")["entries"]
    assert [(e["actor"], e["outcome"]) for e in reads] == [("audrey", "allowed")]
    keys = service.client.get("/.well-known/audit-log-keys.json").json()
    seen: list[dict[str, Any]] = []
    before: int | None = None
    while True:
        params = {"limit": 25, **({"before": before} if before is not None else {})}
        log = _access(service, "pat", **params)
        head = verify_head(log["signed_head"], keys)
        assert all(_included(e["proof"], head) for e in log["entries"])
        seen += log["entries"]
        if log["older"] is None:
            break
        before = log["older"]
    assert len(seen) == 61 and len({e["proof"]["leaf_index"] for e in seen}) == 61
    assert [e["outcome"] for e in seen].count("allowed") == 1
    # the page: the read among the reads; the refusals apart, the older ones a link away
    c = service.login("pat")
    html = c.get("/me").text
    looked = html.split('id="who-looked"')[1].split('id="refused"')[0]
    assert "legal_order" in looked and "audrey" in looked
    refusals = 0
    while True:
        refusals += html.split('id="who-looked"')[1].count("<td>denied</td>")
        found = re.search(r'class="older" href="(/me/access\?show=refusals[^"]+)"', html)
        if not found:
            break
        html = c.get(found.group(1).replace("&amp;", "&")).text
    assert refusals == 60
