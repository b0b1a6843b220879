"""The operational store: accounts, API keys, sessions, failed logins, lender lookups and
their quota windows, attestations, persons' statements and consents, adverse-action notices,
disputes (with their steps, attachments and the person-level rescores they caused), audit log
(a transparency log: entries, tree nodes, signed heads).

SQLAlchemy models on a SQLite file by default (``service/store.sqlite`` in the workspace) or
PostgreSQL when ``[service] store_url`` is set. The schema is created and changed only by the
Alembic migrations in ``migrations/``; :func:`open_store` upgrades to the newest on start.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    create_engine,
    event,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from openbureau.errors import UserError

# (a furnisher account's ``organisation`` names the furnisher(s) it answers disputes for, as in
# the ledger's furnisher column, comma-separated)
ROLES = ("person", "lender", "auditor", "admin", "furnisher")
STORE_FILE = "service/store.sqlite"
# the locks of :func:`take_lock` (PostgreSQL advisory lock keys: any fixed numbers)
LOCKS = {"logins to a file": 0x6F62_0001, "login attempts": 0x6F62_0002}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str | None] = mapped_column(String(256))
    # a person account sees this file only; a lender account names its organisation
    person_id: Mapped[str | None] = mapped_column(String(32), index=True)
    organisation: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # who made it: an admin's username, or the OS user@host of an operator at the command line
    # (role "operator"); None for an account made before this was recorded
    created_by: Mapped[str | None] = mapped_column(String(128))
    created_by_role: Mapped[str | None] = mapped_column(String(16))
    # a further login to a person's file (or a further admin) works only once an admin other
    # than its creator approves it (service/bindings.py)
    pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # who made it wait, whom the approver must not be: its creator, or who enabled it again
    # while another account was bound to its file; None: its creator (before this was kept)
    pending_by: Mapped[str | None] = mapped_column(String(128))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # a lender's lookups a minute; None: the workspace's [service] lookups_per_minute
    lookups_per_minute: Mapped[int | None] = mapped_column(Integer)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # shown, to tell keys apart
    key_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_by: Mapped[str | None] = mapped_column(String(128))  # as for accounts
    created_by_role: Mapped[str | None] = mapped_column(String(16))
    pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # to the minute


class WebSession(Base):
    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class LoginFailure(Base):
    """A failed login, counted against the account and against the client address (one row
    each), for as long as the throttle's window (service/login_guard.py)."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(8))  # account | address
    key: Mapped[str] = mapped_column(String(128))
    at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    __table_args__ = (Index("ix_login_failures_scope_key_at", "scope", "key", "at"),)


class Lookup(Base):
    """A lender's lookup: who asked for whose score, why, and what was decided."""

    __tablename__ = "lookups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    person_id: Mapped[str | None] = mapped_column(String(32), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    snapshot_id: Mapped[str | None] = mapped_column(String(32))
    score: Mapped[int | None] = mapped_column(Integer)
    cutoff: Mapped[int | None] = mapped_column(Integer)
    decision: Mapped[str | None] = mapped_column(String(16))


class LookupWindow(Base):
    """A lender's lookups in one minute (``window_minute``: minutes since 1970, UTC), counted
    here so that every service process on the store draws on the same quota."""

    __tablename__ = "lookup_windows"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    window_minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    used: Mapped[int] = mapped_column(Integer)


class Attestation(Base):
    """A shared score: only its id and facts, never the token itself."""

    __tablename__ = "attestations"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    snapshot_id: Mapped[str] = mapped_column(String(32))
    score: Mapped[int] = mapped_column(Integer)
    audience: Mapped[str | None] = mapped_column(String(128))


class PersonStatement(Base):
    """One version of a person's statement on their file (up to 100 words, in their own
    words, shown to every lender that reads the file). Never changed or deleted: an edit is a
    new row, a removal a row without ``text``; the newest row of a file is its state."""

    __tablename__ = "person_statements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    text: Mapped[str | None] = mapped_column(Text)  # None: the statement was removed
    actor: Mapped[str] = mapped_column(String(64))  # the username that wrote it


class PersonConsent(Base):
    """One consent change of a person: to their utility, telecom and rent payments counting in
    their score (service/consent.py). Never changed, except ``erased_at`` once an erasure asked
    for with a withdrawal is carried out; the newest row of a file is its state."""

    __tablename__ = "person_consents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    given: Mapped[bool] = mapped_column(Boolean)  # opted in (True) or withdrawn (False)
    erase: Mapped[bool] = mapped_column(Boolean, default=False)  # withdrawal: erase the data
    erased_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(128))  # username, or an operator's user@host
    actor_role: Mapped[str] = mapped_column(String(16))


class AdverseActionNotice(Base):
    """A lender's decline and the notice it owes the person (service/notices.py): who, whose,
    on which score, and the notice as issued (``body``, JSON), kept as it was then."""

    __tablename__ = "adverse_action_notices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    person_id: Mapped[str] = mapped_column(String(32), index=True)
    reference: Mapped[str] = mapped_column(String(64))  # the lender's own reference
    purpose: Mapped[str] = mapped_column(String(32))  # that of the read it relied on
    snapshot_id: Mapped[str] = mapped_column(String(32))
    score: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)


class Dispute(Base):
    """A person's dispute of a record on their file (or of a link: records that are not theirs),
    and where it stands (service/disputes/, its rules in rules.py there)."""

    __tablename__ = "disputes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # record | link
    reason: Mapped[str] = mapped_column(String(16))
    statement: Mapped[str] = mapped_column(Text)
    furnisher: Mapped[str | None] = mapped_column(String(128), index=True)  # None: a link
    item_kind: Mapped[str | None] = mapped_column(String(16))
    item_id: Mapped[str | None] = mapped_column(String(128))
    item_title: Mapped[str | None] = mapped_column(String(128))
    record_id: Mapped[str] = mapped_column(String(64))  # the record named (a correction's)
    record_ids: Mapped[str] = mapped_column(Text)  # JSON list: every record it covers
    snapshot_id: Mapped[str] = mapped_column(String(32))  # the snapshot the file was read on
    filed_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    due_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), index=True)  # open | verified | ...
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    answer_note: Mapped[str | None] = mapped_column(Text)
    changes: Mapped[str | None] = mapped_column(Text)  # JSON: a correction's fields
    # the warehouse change made (a new version's event id, suppression ids), when made
    applied_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    ledger_change: Mapped[str | None] = mapped_column(Text)
    score_before: Mapped[int | None] = mapped_column(Integer)
    score_after: Mapped[int | None] = mapped_column(Integer)


class DisputeStep(Base):
    """One step of a dispute (filed, information added, answered, expired, applied to the
    ledger, rescored, file split): what the person's page lists. Never changed."""

    __tablename__ = "dispute_steps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(16))
    step: Mapped[str] = mapped_column(String(24))
    detail: Mapped[str] = mapped_column(Text, default="")


class DisputeAttachment(Base):
    """A file the person sent with a dispute (PDF, PNG or JPEG by its content, at most 2 MB),
    held in the store, never on a path the sender chose."""

    __tablename__ = "dispute_attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    filename: Mapped[str] = mapped_column(String(128))  # as sent, cleaned: shown only
    media_type: Mapped[str] = mapped_column(String(32))  # from the content, not the sender
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class PersonRescore(Base):
    """A person's score computed again after a dispute's resolution changed the ledger: the
    same scorecard and as-of date as ``snapshot_id``, as known at ``known_at``. While that
    snapshot is served, the newest of these is the person's score (service/disputes/)."""

    __tablename__ = "person_rescores"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32), index=True)
    snapshot_id: Mapped[str] = mapped_column(String(32), index=True)
    dispute_id: Mapped[int | None] = mapped_column(ForeignKey("disputes.id"))
    known_at: Mapped[dt.datetime] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    row: Mapped[str] = mapped_column(Text)  # JSON: the scores row, as a snapshot's


class AuditEntry(Base):
    """One read or change of a person's data: a leaf of the audit log's Merkle tree
    (``leaf_index``, from 0). ``hash`` is its leaf hash, over its fields, its index and a random
    ``nonce`` (audit.py ``leaf_bytes``); the tree's complete subtrees are in ``audit_tree``."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    # unique: two writers that read the same tree size cannot both append at it
    leaf_index: Mapped[int] = mapped_column(BigInteger, unique=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)  # username, or "anonymous"
    actor_role: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str | None] = mapped_column(String(32), index=True)  # whose data
    purpose: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # allowed | denied
    detail: Mapped[str] = mapped_column(Text, default="")
    nonce: Mapped[str] = mapped_column(String(32))  # hex; hides the fields behind the hash
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditTreeNode(Base):
    """The hash of a complete subtree of the audit log's tree: leaves ``[idx << level,
    (idx + 1) << level)``, level 1 and up (level 0 is ``audit_log.hash``). Written with the
    entries that complete it; proofs are built from these, not from every leaf."""

    __tablename__ = "audit_tree"
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class TransparencyLog(Base):
    """The log's identity (one row): signed tree heads name it, so heads of another store's
    log (a store replaced, or another one of the same workspace) are told apart."""

    __tablename__ = "transparency_log"
    log_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AuditHead(Base):
    """A signed tree head (the compact JWS in ``jws``; the rest repeats its claims to query
    by). Also appended to ``public/audit-heads.jsonl`` in the workspace."""

    __tablename__ = "audit_heads"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log_id: Mapped[str] = mapped_column(String(32))
    tree_size: Mapped[int] = mapped_column(BigInteger, index=True)
    root_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[dt.datetime] = mapped_column(DateTime)
    key_id: Mapped[str] = mapped_column(String(64))
    jws: Mapped[str] = mapped_column(Text)


class AuditCheck(Base):
    """The outcome of a full check of the log (``openbureau audit verify``, or an auditor's
    "verify now"): what the auditor page shows instead of checking on every view."""

    __tablename__ = "audit_checks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(BigInteger)
    heads: Mapped[int] = mapped_column(Integer)
    ok: Mapped[bool] = mapped_column(Boolean)
    problems: Mapped[str] = mapped_column(Text, default="")  # one a line


def default_url(workspace: Path) -> str:
    return f"sqlite:///{(workspace / STORE_FILE).resolve()}"


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # WAL lets page reads go on during an audit write; NORMAL sync is durable at checkpoints
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def _alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "openbureau.service:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the store's schema to ``revision`` (the newest by default)."""
    _run_migrations(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the store's schema back to ``revision`` (``"base"``: nothing)."""
    _run_migrations(engine, command.downgrade, revision)


def _run_migrations(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    """Run the migrations to ``revision`` in one transaction: all of them, or none.

    On SQLite, a migration that changes a table copies it, drops the old one and renames the
    copy (Alembic's batch mode); with foreign keys on, dropping ``accounts`` fails once a key
    refers to it. So foreign keys are off while the migrations run (they can be switched only
    outside a transaction) and every reference is checked before the commit. The driver
    begins a transaction only before a data change, so the transaction is begun here: a
    failed migration leaves no table dropped behind it.
    """
    cfg = _alembic_config(str(engine.url))
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.exec_driver_sql("BEGIN")
        try:
            cfg.attributes["connection"] = conn
            step(cfg, revision)
            if sqlite:
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    table, row, parent = broken[0][0], broken[0][1], broken[0][2]
                    raise UserError(
                        f"service store: migrating to {revision} would leave {len(broken)} "
                        f"row(s) referring to rows that do not exist (first: {table} row {row}, "
                        f"to {parent}); nothing was changed"
                    )
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")


def take_lock(session: Session, name: str) -> None:
    """Serialise a check-then-write with every other holder of the lock ``name``, in any
    process on this store, until the session's transaction ends. Call it first in the
    transaction, then read what to check: it is then what the previous holder committed.

    PostgreSQL: a transaction-level advisory lock. SQLite: the database's write lock (``BEGIN
    IMMEDIATE``; SQLite has one writer at a time, whatever the name).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCKS[name]})
    else:
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")


def open_store(url: str) -> sessionmaker:
    """Connect to the store, apply pending migrations, and return a session factory.

    Raises:
        UserError: the URL is malformed or the database cannot be reached.
    """
    try:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        migrate(engine)
    except Exception as exc:  # driver errors differ; the user needs the URL and the cause
        from sqlalchemy.exc import ArgumentError, OperationalError

        if isinstance(exc, ArgumentError | OperationalError | ModuleNotFoundError):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"service store {_safe(url)}: {first}") from None
        raise
    return sessionmaker(engine, expire_on_commit=False)


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"
