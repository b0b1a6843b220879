"""The audit log as a transparency log: tampering with the store is found and located by
`openbureau audit verify`, a person's access log carries a signed head and inclusion proofs that
verify (and fail for a tampered entry), `openbureau audit prove` checks a saved head, and a
forged head is refused."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from openbureau.cli import app as cli
from openbureau.service import audit
from openbureau.service.audit import FIELDS, leaf_bytes
from openbureau.service.audit_heads import HEADS_FILE, log_keys, verify_head
from openbureau.service.audit_signing import HeadSigner
from openbureau.service.merkle import Frontier, leaf_hash, verify_inclusion
from openbureau.service.store import AuditEntry, AuditHead, AuditTreeNode, default_url, open_store
from openbureau.workspace import Workspace
from tests.service.conftest import Service

HEADS = (50, 100, 150, 200)


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    from openbureau import cli as cli_module

    # one problem a line: wide enough that Rich does not fold them
    monkeypatch.setattr(cli_module.console, "width", 2000)
    monkeypatch.setattr(cli_module.err_console, "width", 2000)


@pytest.fixture
def logged(ws: Workspace) -> tuple[Path, sessionmaker[Session]]:
    """A workspace whose audit log holds 200 entries, with heads signed at 50, 100, 150 and
    200 entries (the last by `openbureau audit sign`)."""
    store = open_store(default_url(ws.root))
    signer = HeadSigner(store, ws.root)
    for i in range(200):
        audit.record(
            store,
            actor=f"lender{i % 3}",
            actor_role="lender",
            action="read score",
            subject=f"P{i % 7:012d}",
            purpose="credit_application",
            detail=f"lookup {i}",
        )
        if i + 1 in HEADS[:-1]:
            signer.sign()
    res = _run("audit", "sign", "-w", str(ws.root))
    assert res.exit_code == 0 and "size 200" in res.output, res.output
    return ws.root, store


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _verify(root: Path) -> tuple[int, list[str]]:
    res = _run("audit", "verify", "-w", str(root))
    return res.exit_code, [" ".join(line.split()) for line in res.output.splitlines()]


def _sql(store: sessionmaker[Session], *statements: str) -> None:
    with store.kw["bind"].begin() as con:
        for s in statements:
            con.execute(text(s))


def _swap(a: int, b: int) -> list[str]:
    return [
        f"UPDATE audit_log SET leaf_index = -1 WHERE leaf_index = {a}",
        f"UPDATE audit_log SET leaf_index = {a} WHERE leaf_index = {b}",
        f"UPDATE audit_log SET leaf_index = {b} WHERE leaf_index = -1",
    ]


def test_an_intact_log_checks_out(logged: tuple[Path, sessionmaker[Session]]) -> None:
    code, lines = _verify(logged[0])
    assert code == 0, lines
    assert lines[-1].startswith("Audit log intact: 200 entries, consistent with 4 signed heads")
    assert len((logged[0] / HEADS_FILE).read_text().splitlines()) == 4


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (
            ["DELETE FROM audit_log WHERE leaf_index >= 180"],
            [
                "the log holds 180 entries, fewer than the signed head (size 200, signed *): "
                "the newest 20 entries (from position 180 on) were removed"
            ],
        ),
        (
            ["DELETE FROM audit_log WHERE leaf_index >= 100"],
            [
                "the log holds 100 entries, fewer than the signed head (size 200, signed *): "
                "the newest 100 entries (from position 100 on) were removed"
            ],
        ),
        (
            ["DELETE FROM audit_log"],
            [
                "the log holds 0 entries, fewer than the signed head (size 200, signed *): all 200 "
                "entries were removed"
            ],
        ),
        # ... the tree and the store's heads too: the heads file still holds them
        (
            ["DELETE FROM audit_log", "DELETE FROM audit_tree", "DELETE FROM audit_heads"],
            [
                "the log holds 0 entries, fewer than the signed head (size 200, signed *): all 200 "
                "entries were removed"
            ],
        ),
        (
            ["DELETE FROM audit_log WHERE leaf_index = 77"],
            ["position 77: no entry (removed from the log)"],
        ),
        (
            ["UPDATE audit_log SET purpose = 'account_review' WHERE leaf_index = 42"],
            [
                "entry #43 at position 42 was changed after it was written (its fields do not "
                "give its hash)"
            ],
        ),
        (_swap(60, 61), ["entries #62 and #61 at positions 60 and 61 were swapped (reordered)"]),
        # an entry's time moved back
        (
            ["UPDATE audit_log SET at = '2020-01-01 00:00:00.000000' WHERE leaf_index = 9"],
            [
                "entry #10 at position 9 was changed after it was written (its fields do not "
                "give its hash)"
            ],
        ),
    ],
)
def test_tampering_is_found_and_located(
    logged: tuple[Path, sessionmaker[Session]], tamper: list[str], expected: list[str]
) -> None:
    root, store = logged
    _sql(store, *tamper)
    code, lines = _verify(root)
    assert code == 1, lines
    problems = [line.removeprefix("- ") for line in lines if line.startswith("- ")]
    assert len(problems) == len(expected), problems
    for got, want in zip(problems, expected, strict=True):
        head, _, tail = want.partition("*")
        assert got.startswith(head) and got.endswith(tail.split(")", 1)[-1]), (got, want)


def _rewrite_without(store: sessionmaker[Session], position: int) -> None:
    """What whoever can write the store can do: remove an entry, give every later entry its new
    position with its hash recomputed, rebuild the tree, and drop the store's signed heads."""
    with store() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.leaf_index == position))
        later = (
            s.execute(
                select(AuditEntry)
                .where(AuditEntry.leaf_index > position)
                .order_by(AuditEntry.leaf_index)
            )
            .scalars()
            .all()
        )
        for e in later:
            e.leaf_index -= 1
            fields = {f: getattr(e, f) for f in FIELDS}
            e.hash = leaf_hash(leaf_bytes(e.leaf_index, fields, e.nonce)).hex()
            s.flush()
        s.execute(delete(AuditTreeNode))
        s.execute(delete(AuditHead))
        front, nodes = Frontier(), []
        for (h,) in s.execute(select(AuditEntry.hash).order_by(AuditEntry.leaf_index)):
            nodes += [
                {"level": lv, "idx": i, "hash": d} for (lv, i), d in front.append(bytes.fromhex(h))
            ]
        s.execute(insert(AuditTreeNode), nodes)
        s.commit()


def test_a_rewrite_with_recomputed_hashes_is_inconsistent_with_a_signed_head(
    logged: tuple[Path, sessionmaker[Session]],
) -> None:
    root, store = logged
    _rewrite_without(store, 120)
    code, lines = _verify(root)
    assert code == 1, lines
    problems = [line for line in lines if line.startswith("- ")]
    # the entries are each as their hashes say: only the heads tell
    assert not any("changed" in p or "no entry" in p or "tree node" in p for p in problems)
    assert any(
        p.startswith("- the log is inconsistent with the signed head (size 150, signed")
        and "those up to position 99 match the head (size 100" in p
        for p in problems
    ), problems
    # and the bureau refuses to sign it
    refused = _run("audit", "sign", "-w", str(root))
    assert refused.exit_code == 1 and "not signed" in refused.output


def test_an_append_after_the_newest_entries_were_cut_says_so_in_the_log(
    logged: tuple[Path, sessionmaker[Session]],
) -> None:
    root, store = logged
    _sql(store, "DELETE FROM audit_log WHERE leaf_index >= 181")
    audit.record(store, actor="lender0", actor_role="lender", action="read score")
    notice = audit.query(store, actor="openbureau", limit=5)
    assert [e["action"] for e in notice] == ["audit log cut short"]
    assert notice[0]["leaf_index"] == 181
    code, lines = _verify(root)
    assert code == 1 and any("fewer than the signed head (size 200" in x for x in lines), lines


def test_a_head_is_signed_every_n_entries_by_the_group_commit_writer(ws: Workspace) -> None:
    store = open_store(default_url(ws.root))
    writer = audit.AuditWriter(store, on_append=HeadSigner(store, ws.root, every=10).after_append)
    threads = [
        threading.Thread(
            target=lambda n=n: [
                writer.record(actor=f"u{n}", actor_role="lender", action="read score")
                for _ in range(6)
            ]
        )
        for n in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with store() as s:
        sizes = sorted(s.execute(select(AuditHead.tree_size)).scalars())
    assert len(sizes) == 2 and 10 <= sizes[0] < 20 <= sizes[1] <= 24, sizes
    assert _verify(ws.root)[0] == 0


# --- through the service ------------------------------------------------------------------


def _lena_reads(service: Service) -> None:
    r = service.client.get(
        f"/api/v1/persons/{service.served.person}/score",
        params={"purpose": "account_review"},
        headers=service.api("lena"),
    )
    assert r.status_code == 200, r.text


def _access(service: Service) -> dict[str, Any]:
    r = service.client.get("/api/v1/me/access", headers=service.api("pat"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def _checks(
    log: dict[str, Any], keys: dict[str, Any]
) -> Callable[[dict[str, Any]], tuple[bool, bool]]:
    """What a person can check of an entry, with the bureau's public key and nothing else:
    (is it in the signed log, does what it says give its hash)."""
    head = verify_head(log["signed_head"], keys)

    def check(e: dict[str, Any]) -> tuple[bool, bool]:
        p = e["proof"]
        included = p["tree_size"] == head.tree_size and verify_inclusion(
            p["leaf_index"],
            head.tree_size,
            bytes.fromhex(p["leaf_hash"]),
            [bytes.fromhex(h) for h in p["audit_path"]],
            head.root_hash,
        )
        leaf = p["leaf"]
        says = (
            leaf is not None
            and hashlib.sha256(b"\x00" + leaf.encode()).hexdigest() == p["leaf_hash"]
        )
        if says:
            body = json.loads(leaf)
            says = (
                all(body[f] == e[f] for f in FIELDS if f != "at")
                and body["at"][:19] == e["at"][:19]
            )
        return included, says

    return check


def test_a_persons_access_log_carries_a_signed_head_and_proofs(service: Service) -> None:
    _lena_reads(service)
    log = _access(service)
    keys = service.client.get("/.well-known/audit-log-keys.json").json()
    check = _checks(log, keys)
    looked = [e for e in log["entries"] if e["actor"] == "lena"]
    assert looked and all(check(e) == (True, True) for e in log["entries"])
    assert all("nonce" not in e for e in log["entries"])
    # an entry changed in the store: the person's check of what it says fails ...
    store = open_store(service.store_url)
    position = looked[0]["proof"]["leaf_index"]
    with store() as s:
        s.execute(
            update(AuditEntry).where(AuditEntry.leaf_index == position).values(purpose="collection")
        )
        s.commit()
    edited = next(e for e in _access(service)["entries"] if e["actor"] == "lena")
    assert edited["purpose"] == "collection" and edited["proof"]["leaf"] is not None
    assert check(edited) == (True, False)
    # ... and with its hash recomputed to fit, its inclusion in the signed head fails
    with store() as s:
        e = s.execute(select(AuditEntry).where(AuditEntry.leaf_index == position)).scalar_one()
        e.hash = leaf_hash(leaf_bytes(position, {f: getattr(e, f) for f in FIELDS}, e.nonce)).hex()
        s.commit()
    again = _access(service)
    rewritten = next(e for e in again["entries"] if e["actor"] == "lena")
    assert again["signed_head"] == log["signed_head"]  # (it still covers the entry)
    assert check(rewritten) == (False, True)


def _signs_at_once(service: Service) -> None:
    """Heads signed whenever a reader needs one (not at most once every few seconds)."""
    service.client.app.state.ctx.heads.interval = 0


def test_the_persons_page_carries_a_signed_head_and_proofs(service: Service) -> None:
    """What the page shows can be checked as the API's answer can (on the page, through the
    password login, the API key's reads are another login's, so its head may be newer)."""
    _signs_at_once(service)
    _lena_reads(service)
    log = _access(service)
    keys = service.client.get("/.well-known/audit-log-keys.json").json()
    page = service.login("pat").get("/me").text
    shown = re.search(r'id="log-proofs".*?<code class="token small">(.*?)</code>', page, re.S)
    assert shown is not None
    on_page = json.loads(html.unescape(shown.group(1)))
    assert on_page["signed_head"]["tree_size"] >= log["signed_head"]["tree_size"]
    check_page = _checks(on_page, keys)
    assert any(e["actor"] == "lena" for e in on_page["entries"])
    assert all(check_page(e) == (True, True) for e in on_page["entries"])


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_audit_prove_checks_a_saved_head_and_refuses_a_forged_one(
    service: Service, tmp_path: Path
) -> None:
    _lena_reads(service)
    log = _access(service)
    saved = _write(tmp_path / "head.json", log["signed_head"])
    lena = next(e for e in log["entries"] if e["actor"] == "lena")["proof"]["leaf_index"]
    for _ in range(3):  # the log grows after the head was saved
        _lena_reads(service)
    where = ["-w", str(service.served.ws), "--store", service.store_url]
    ok = _run("audit", "prove", str(saved), "--entry", str(lena), *where)
    assert ok.exit_code == 0, ok.output
    assert "signature valid" in ok.output and "it extends the head" in ok.output
    assert f"Entry {lena} is in the head" in ok.output
    # the whole access log, as saved from the API, does too; and with the published key alone
    keys = _write(tmp_path / "keys.json", log_keys(service.served.ws))
    whole = _run(
        "audit", "prove", str(_write(tmp_path / "log.json", log)), "--keys", str(keys), *where
    )
    assert whole.exit_code == 0, whole.output

    # forged heads are refused: a changed field, a changed signed claim, another key
    head = log["signed_head"]
    bigger = _run(
        "audit",
        "prove",
        str(_write(tmp_path / "f1.json", {**head, "tree_size": head["tree_size"] + 5})),
        *where,
    )
    assert bigger.exit_code == 1 and "is not what is signed" in bigger.output
    h, claims, sig = head["signature"].split(".")
    body = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    body["tree_size"] += 5
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    resigned = _run(
        "audit",
        "prove",
        str(_write(tmp_path / "f2.json", {"signature": f"{h}.{forged}.{sig}"})),
        *where,
    )
    assert resigned.exit_code == 1 and "signature does not match" in resigned.output
    stranger = _run(
        "audit",
        "prove",
        str(saved),
        "--keys",
        str(_write(tmp_path / "k.json", {"keys": []})),
        *where,
    )
    assert stranger.exit_code == 1 and "not in the log's key set" in stranger.output

    # the log rewritten before the saved head's size: no longer proved
    _rewrite_without(open_store(service.store_url), lena)
    bad = _run("audit", "prove", str(saved), *where)
    assert bad.exit_code == 1 and "not consistent with the head" in bad.output, bad.output


def test_a_saved_head_is_checked_later_through_a_consistency_proof(service: Service) -> None:
    """A person keeps a head; later, with a consistency proof from the service and the public
    key, they check that the newer log still starts with theirs."""
    from openbureau.service.merkle import verify_consistency

    _signs_at_once(service)
    _lena_reads(service)
    old = _access(service)["signed_head"]
    _lena_reads(service)
    new_log = _access(service)  # (a new head: it covers lena's newer read)
    keys = service.client.get("/.well-known/audit-log-keys.json").json()
    first, second = verify_head(old, keys), verify_head(new_log["signed_head"], keys)
    assert second.tree_size > first.tree_size
    r = service.client.get(
        "/api/v1/log/consistency",
        params={"first": first.tree_size, "second": second.tree_size},
        headers=service.api("pat"),
    )
    assert r.status_code == 200, r.text
    proof = [bytes.fromhex(h) for h in r.json()["proof"]]
    assert verify_consistency(
        first.tree_size, second.tree_size, first.root_hash, second.root_hash, proof
    )
    assert not verify_consistency(
        first.tree_size, second.tree_size, second.root_hash, first.root_hash, proof
    )
    too_far = service.client.get(
        "/api/v1/log/consistency", params={"first": 0, "second": 10**9}, headers=service.api("pat")
    )
    assert too_far.status_code == 422


def test_the_auditor_page_shows_the_last_check_and_checks_when_asked(service: Service) -> None:
    c = service.login("audrey")
    page = c.get("/auditor").text
    assert "has not been checked yet" in page
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    checked = c.post("/auditor/verify", data={"csrf_token": csrf})
    assert checked.status_code == 200 and "Audit log intact at the last check" in checked.text
    _sql(
        open_store(service.store_url), "UPDATE audit_log SET detail = 'edited' WHERE leaf_index = 0"
    )
    # a view shows the last check, and does not read the whole log again
    assert "Audit log intact at the last check" in c.get("/auditor").text
    found = c.post("/auditor/verify", data={"csrf_token": csrf}).text
    assert "found 1 problem(s)" in found and "at position 0 was changed" in found


def test_each_publication_signs_a_head(served: Any) -> None:
    """`openbureau score` published three snapshots for the served workspace: each signed a
    head of the workspace's store's log, in the store and the heads file."""
    from tests.service.conftest import SCORE_DATES

    store = open_store(default_url(served.ws))
    with store() as s:
        heads = s.execute(select(AuditHead)).scalars().all()
    assert len(heads) >= len(SCORE_DATES)
    keys = log_keys(served.ws)
    assert all(verify_head(h.jws, keys).tree_size == h.tree_size for h in heads)
    in_file = {
        json.loads(line)["signature"] for line in (served.ws / HEADS_FILE).read_text().splitlines()
    }
    assert {h.jws for h in heads} <= in_file
