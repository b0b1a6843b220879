"""The operational store on SQLite and on a real PostgreSQL server: migrations, accounts,
keys, sessions, and the audit log's tree under concurrent writers."""

from __future__ import annotations

import datetime as dt
import threading
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text, update
from sqlalchemy.orm import Session, sessionmaker

from openbureau.errors import UserError
from openbureau.service import audit
from openbureau.service.audit_check import verify_log
from openbureau.service.auth import (
    account_for_api_key,
    check_password,
    create_account,
    issue_api_key,
    session_principal,
    start_session,
)
from openbureau.service.store import (
    Account,
    ApiKey,
    AuditEntry,
    Base,
    Lookup,
    LookupWindow,
    WebSession,
    downgrade,
    migrate,
    open_store,
)

TABLES = {
    "accounts",
    "api_keys",
    "sessions",
    "login_failures",
    "lookups",
    "lookup_windows",
    "attestations",
    "person_statements",
    "adverse_action_notices",
    "disputes",
    "dispute_steps",
    "dispute_attachments",
    "person_rescores",
    "person_consents",
    "audit_log",
    "audit_tree",
    "audit_heads",
    "audit_checks",
    "transparency_log",
    "alembic_version",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> sessionmaker[Session]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_db_url")
    return open_store(url)


def test_migrations_build_exactly_the_models_and_run_both_ways(
    store: sessionmaker[Session],
) -> None:
    engine = store.kw["bind"]
    assert set(inspect(engine).get_table_names()) == TABLES
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    downgrade(engine, "base")  # removes every table
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(engine)
    assert set(inspect(engine).get_table_names()) == TABLES
    open_store(str(engine.url.render_as_string(hide_password=False)))  # idempotent


def test_accounts_passwords_keys_and_sessions(store: sessionmaker[Session]) -> None:
    with store() as s:
        lender = create_account(
            s, username="bank", role="lender", password="long password 1", organisation="Bank"
        )
        key = issue_api_key(s, lender)
        s.commit()
    with store() as s:
        assert check_password(s, "bank", "long password 1") is not None
        assert check_password(s, "bank", "long password 2") is None
        assert check_password(s, "nobody", "long password 1") is None
        assert account_for_api_key(s, key).username == "bank"
        assert account_for_api_key(s, key[:-1] + ("A" if key[-1] != "A" else "B")) is None
        stored = s.query(ApiKey).one()
        assert key not in (stored.key_hash, stored.prefix)  # only the hash is kept
        token, csrf = start_session(s, lender, minutes=5)
        s.commit()
        who = session_principal(s, token)
        assert who is not None and who.csrf_token == csrf and who.role == "lender"
        s.execute(update(WebSession).values(expires_at=dt.datetime(2000, 1, 1)))
        s.commit()
        assert session_principal(s, token) is None
        s.execute(update(ApiKey).values(revoked_at=dt.datetime(2020, 1, 1)))
        s.commit()
        assert account_for_api_key(s, key) is None
        with pytest.raises(UserError, match="is taken"):
            create_account(s, username="bank", role="lender", password="long password 1")
        with pytest.raises(UserError, match="role"):
            create_account(s, username="x", role="root", password="long password 1")


def _rows(engine: Any, tables: tuple[str, ...]) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in tables}


def test_a_store_in_use_migrates_down_and_up_with_its_accounts_and_keys(
    store: sessionmaker[Session],
) -> None:
    """Downgrading failed on SQLite once an account had a key: a migration that changes
    ``accounts`` copies it and drops the old table, which foreign keys refused while
    ``api_keys`` referred to it (the failed step had dropped a table already)."""
    engine = store.kw["bind"]
    with store() as s:
        lender = create_account(
            s, username="bank", role="lender", password="long password 1", organisation="Bank"
        )
        person = create_account(s, username="pat", role="person", password=None, person_id="P1")
        key = issue_api_key(s, lender)
        issue_api_key(s, person)
        start_session(s, lender, minutes=5)
        s.add(Lookup(account_id=lender.id, person_id="P1", purpose="credit_application"))
        s.add(LookupWindow(account_id=lender.id, window_minute=1, used=1))
        s.commit()
    kept = ("accounts", "api_keys", "sessions", "lookups")
    downgrade(engine, "0001")
    assert _rows(engine, kept) == dict.fromkeys(kept, 1) | {"accounts": 2, "api_keys": 2}
    migrate(engine)
    assert _rows(engine, kept) == dict.fromkeys(kept, 1) | {"accounts": 2, "api_keys": 2}
    with store() as s:
        assert account_for_api_key(s, key).username == "bank"  # type: ignore[union-attr]
    if engine.dialect.name == "sqlite":  # and foreign keys are on again for the service
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}


def test_a_migration_that_fails_changes_nothing(tmp_path: Path) -> None:
    """SQLite's driver begins a transaction only before a data change, so a migration's
    dropped table stayed dropped when a later step failed; now all steps go in one."""
    import sqlite3

    path = tmp_path / "store.sqlite"
    store = open_store(f"sqlite:///{path}")
    version = "SELECT version_num FROM alembic_version"
    with store.kw["bind"].connect() as conn:
        head = conn.execute(text(version)).scalar()
    raw = sqlite3.connect(path)  # (foreign keys off: a row referring to no account)
    raw.execute(
        "INSERT INTO api_keys (account_id, prefix, key_hash, label, created_at, pending) "
        "VALUES (99, 'p', 'h', '', '2026-01-01', 0)"
    )
    raw.commit()
    raw.close()
    tables = set(inspect(store.kw["bind"]).get_table_names())
    with pytest.raises(UserError, match=r"api_keys row 1, to accounts\).*nothing was changed"):
        downgrade(store.kw["bind"], "0001")
    assert set(inspect(store.kw["bind"]).get_table_names()) == tables
    with store.kw["bind"].connect() as conn:
        assert conn.execute(text(version)).scalar() == head


def test_accounts_made_before_approval_existed_stay_active(store: sessionmaker[Session]) -> None:
    """Migration 0003e: an account and key that were there before are active, their maker
    unrecorded; failed logins get their table."""
    engine = store.kw["bind"]
    downgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO accounts (username, role, display_name, person_id, "
                "created_at, disabled) VALUES ('old', 'person', 'old', 'P1', "
                "'2026-01-01 00:00:00', false)"
            )
        )
    migrate(engine)
    with store() as s:
        old = s.query(Account).one()
        assert (old.pending, old.created_by, old.disabled) == (False, None, False)
        # a further account for the same file waits; one for a file merged into it too
        again = create_account(s, username="again", role="person", password=None, person_id="p1")
        merged = create_account(
            s,
            username="merged",
            role="person",
            password=None,
            person_id="P9",
            same_file=["P1", "P9"],
        )
        other = create_account(s, username="other", role="person", password=None, person_id="P2")
        assert (again.pending, merged.pending, other.pending) == (True, True, False)


def test_audit_tree_holds_under_concurrent_writers_and_detects_edits(
    store: sessionmaker[Session], tmp_path: Path
) -> None:
    def write(n: int) -> None:
        for i in range(15):
            audit.record(
                store,
                actor=f"user{n}",
                actor_role="lender",
                action="read score",
                subject=f"P{i}",
                purpose="account_review",
            )

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check = verify_log(store, tmp_path)
    assert (check.ok, check.entries, check.tree_size) == (True, 90, 90), check.problems
    rows = audit.query(store, actor="user1", limit=500)
    assert len(rows) == 15 and all(r["actor"] == "user1" for r in rows)
    with store() as s:  # sequences may skip numbers (a lost race uses one up); positions not
        seqs = [r[0] for r in s.execute(text("SELECT seq FROM audit_log ORDER BY leaf_index"))]
        s.execute(update(AuditEntry).where(AuditEntry.leaf_index == 40).values(detail="edited"))
        s.commit()
    broken = verify_log(store, tmp_path)
    assert broken.problems == [
        f"entry #{seqs[40]} at position 40 was changed after it was "
        "written (its fields do not give its hash)"
    ]
    with store() as s:
        s.execute(update(AuditEntry).where(AuditEntry.leaf_index == 40).values(detail=""))
        s.execute(text("DELETE FROM audit_log WHERE leaf_index = 41"))
        s.commit()
    removed = verify_log(store, tmp_path)
    assert removed.problems == ["position 41: no entry (removed from the log)"]


def test_group_commit_writer_appends_concurrent_requests(
    store: sessionmaker[Session], tmp_path: Path
) -> None:
    writer = audit.AuditWriter(store)
    unseen: list[tuple[int, int]] = []

    def request(n: int) -> None:
        for i in range(20):
            writer.record(
                actor=f"u{n}",
                actor_role="person",
                action="read score",
                subject=f"P{n}",
                detail=str(i),
            )
            # returning means committed: a fresh reader sees the entry
            if audit.query(store, actor=f"u{n}", limit=100)[0]["detail"] != str(i):
                unseen.append((n, i))

    threads = [threading.Thread(target=request, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert unseen == []
    audit.record(store, actor="cli", actor_role="admin", action="direct")
    check = verify_log(store, tmp_path)
    assert (check.ok, check.entries, check.tree_size) == (True, 161, 161), check.problems


def test_async_waiters_are_woken_after_their_entry_is_committed(
    store: sessionmaker[Session], tmp_path: Path
) -> None:
    import asyncio

    writer = audit.AuditWriter(store)

    async def many() -> None:
        await asyncio.gather(
            *(
                writer.record_async(actor=f"a{i}", actor_role="lender", action="read score")
                for i in range(50)
            )
        )

    # a loop of its own, in its own thread: the session's browser keeps one in this thread
    runner = threading.Thread(target=asyncio.run, args=(many(),))
    runner.start()
    runner.join()
    check = verify_log(store, tmp_path)
    assert (check.ok, check.entries) == (True, 50), check.problems


def test_one_bad_entry_fails_only_its_own_request(
    store: sessionmaker[Session], tmp_path: Path
) -> None:
    import asyncio

    writer = audit.AuditWriter(store)
    results: list[object] = []

    async def many() -> None:
        calls = [
            writer.record_async(
                actor=f"a{i}",
                actor_role="lender",
                action="read score",
                purpose="x" * 100 if i == 3 else "credit_application",
            )
            for i in range(20)
        ]
        # no actor: the database refuses it, whichever batch it lands in
        calls.insert(
            7,
            writer.record_async(
                actor=None,
                actor_role="lender",  # type: ignore
                action="read score",
            ),
        )
        results.extend(await asyncio.gather(*calls, return_exceptions=True))

    runner = threading.Thread(target=asyncio.run, args=(many(),))
    runner.start()
    runner.join()
    failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert failed == [7]
    check = verify_log(store, tmp_path)
    assert (check.ok, check.entries) == (True, 20), check.problems
    # a value longer than its column is cut to fit, and kept whole in the detail
    long = audit.query(store, actor="a3", limit=5)[0]
    assert long["purpose"] == "x" * 32 and "purpose in full: " + "x" * 100 in long["detail"]


def test_the_lookup_quota_is_one_count_for_concurrent_writers(store: sessionmaker[Session]) -> None:
    """Eight threads, each with its own quota counter on the store (as separate service
    processes have), take 40 lookups for one lender in one minute: exactly its 25 pass."""
    from openbureau.service.limits import LookupQuota
    from openbureau.service.store import LookupWindow

    with store() as s:
        lender = create_account(s, username="bank", role="lender", password=None)
        lender.lookups_per_minute = 25
        other = create_account(s, username="other", role="lender", password=None)
        s.commit()
    minute = 60 * 31_700_000.0
    waits: list[int] = []

    def lookups() -> None:
        quota = LookupQuota(store, default_per_minute=1000, clock=lambda: minute + 5)
        waits.extend(quota.take(lender.id)[0] for _ in range(5))

    threads = [threading.Thread(target=lookups) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == [0] * 25 + [55] * 15
    # another lender counts apart, on the workspace's default; a new minute starts afresh and
    # forgets the account's older ones
    assert LookupQuota(store, 1, clock=lambda: minute).take(other.id) == (0, 1)
    assert LookupQuota(store, 1, clock=lambda: minute).take(other.id) == (60, 1)
    assert LookupQuota(store, 1000, clock=lambda: minute + 60).take(lender.id) == (0, 25)
    with store() as s:
        rows = s.query(LookupWindow).order_by(LookupWindow.account_id).all()
        assert [(r.account_id, r.used) for r in rows] == [(lender.id, 1), (other.id, 2)]


def _chain_entries(conn: object, n: int) -> None:
    """``n`` entries as the hash chain of revision 0001 wrote them."""
    import hashlib
    import json

    prev = "0" * 64
    for i in range(n):
        at = dt.datetime(2026, 11, 1, 9, 0, i, 1234 * i)
        fields = [
            f"lender{i}",
            "lender",
            f"P{i:012d}",
            "credit_application",
            "read score",
            "allowed",
            "",
        ]
        body = json.dumps(
            [prev, at.isoformat(timespec="microseconds"), *fields],
            separators=(",", ":"),
            ensure_ascii=False,
        )
        digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
        conn.execute(
            text(  # type: ignore[attr-defined]
                "INSERT INTO audit_log (at, actor, actor_role, subject, purpose, action, outcome, "
                "detail, prev_hash, hash) VALUES (:at, :a, :r, :s, :p, :act, :o, :d, :prev, :h)"
            ),
            dict(
                zip(("a", "r", "s", "p", "act", "o", "d"), fields, strict=True),
                at=at,
                prev=prev,
                h=digest,
            ),
        )
        prev = digest


@pytest.mark.parametrize("broken", [False, True])
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_hash_chain_log_becomes_the_first_leaves_of_the_tree(
    backend: str, broken: bool, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Migrating a store written as a hash chain: its entries become positions 0..n-1, in
    order, checkable as leaves; an entry after them says how the chain stood, so an entry
    changed before the conversion stays visible after it."""
    from sqlalchemy import create_engine

    url = (
        f"sqlite:///{tmp_path / 'old.sqlite'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_db_url")
    )
    engine = create_engine(url)
    migrate(engine, "0001")
    with engine.begin() as conn:
        _chain_entries(conn, 40)
        if broken:
            conn.execute(text("UPDATE audit_log SET detail = 'edited' WHERE seq = 7"))
    engine.dispose()
    store = open_store(url)
    check = verify_log(store, tmp_path)
    assert (check.ok, check.entries, check.tree_size) == (True, 41, 41), check.problems
    rows = audit.query(store, limit=100)
    assert [r["actor"] for r in rows[1:]] == [f"lender{i}" for i in reversed(range(40))]
    assert [r["leaf_index"] for r in rows] == list(reversed(range(41)))
    assert rows[1]["at"] == dt.datetime(2026, 11, 1, 9, 0, 39, 1234 * 39, tzinfo=dt.UTC)
    note = rows[0]
    assert (note["actor"], note["action"]) == ("openbureau", "convert audit log")
    assert ("broken at entry #7" in note["detail"]) == broken
    assert ("the chain checked out" in note["detail"]) == (not broken)
    audit.record(store, actor="after", actor_role="lender", action="read score")
    assert verify_log(store, tmp_path).ok
    downgrade(store.kw["bind"], "0001")  # and back: the chain recomputed in the tree's order
    with store.kw["bind"].connect() as conn:
        chained = conn.execute(text("SELECT prev_hash, hash FROM audit_log ORDER BY seq")).all()
    assert chained[0][0] == "0" * 64
    assert all(a[1] == b[0] for a, b in pairwise(chained))
