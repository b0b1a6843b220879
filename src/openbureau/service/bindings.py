"""Who can read a person's file as that person: the accounts and API keys bound to it.

Adding, approving, enabling or disabling an account, and issuing a key, are written to the
audit log *before* they take effect, with the person as the subject when the account is a
person's, so the step shows in that person's access log. Who did it: an admin account (through
the API or the pages), or an operator at the command line (``user@host``, role ``operator``).

The four-eyes rule itself is decided where accounts and keys are made (:mod:`auth`); approving
is here: an admin other than the one who made the account or key wait. Each change is decided,
logged, then decided again under a lock (:func:`store.take_lock`) as it is written: two changes
made at once (two first accounts for one file, say) cannot both work; the later is refused,
and that too is logged. A refused change is logged as ``denied``, with the person as subject.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from openbureau.errors import UserError
from openbureau.service import audit
from openbureau.service.auth import (
    Principal,
    account_waits,
    file_is_bound,
    key_waits,
    new_account,
    new_api_key,
)
from openbureau.service.store import Account, ApiKey, take_lock, utcnow
from openbureau.warehouse.identity import PERSON_IDS

# log(actor=, actor_role=, action=, subject=, detail=, outcome=): audit.record bound to a store,
# or the service's AuditWriter.record
Log = Callable[..., None]
# the IDs that stand for the file of a person ID (the ID it resolves to, and the IDs merged
# into that): from the service's published snapshot, or the workspace's (:func:`file_ids`)
FileIds = Callable[[str], Collection[str]]
WAITS = "waits for approval by another admin"
BINDINGS_LOCK = "logins to a file"


class BindingError(UserError):
    """A refused account change: one line, with the HTTP status the API answers."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Actor:
    """Who changes an account: an admin account, or an operator at the command line."""

    name: str
    role: str  # admin | operator


def operator() -> Actor:
    """The OS user and host running the command line, as the audit log names them."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # (no passwd entry and no LOGNAME/USER: a bare container)
        user = f"uid{os.getuid()}"
    return Actor(f"{user}@{socket.gethostname()}", "operator")


def admin(who: Principal) -> Actor:
    return Actor(who.username, who.role)


def store_log(store: sessionmaker[Session]) -> Log:
    """Write entries straight to the store's audit log (for the command line)."""

    def log(**entry: Any) -> None:
        audit.record(store, **entry)

    return log


def describe(account: Account) -> str:
    """An account as its audit entries name it (starts "<username> (<role>)")."""
    text = f"{account.username} ({account.role})"
    if account.person_id:
        text += f", bound to person {account.person_id}"
    return text + (f"; {WAITS}" if account.pending else "")


@dataclass
class Added:
    account: Account
    key: str | None = None  # the clear key, shown once
    key_row: ApiKey | None = None


@dataclass
class _Attempt:
    subject: str | None = None  # the person, once known


@contextmanager
def _refusal_logged(log: Log, by: Actor, action: str) -> Iterator[_Attempt]:
    """A refused change (a :class:`UserError`: an unknown account, a rule that says no, a
    login to the file made meanwhile) goes to the audit log as ``denied``, with the person as
    the subject once known (set ``subject`` on what this yields), so that the person sees
    an attempt on their file that did not happen too."""
    attempt = _Attempt()
    try:
        yield attempt
    except UserError as exc:
        log(
            actor=by.name,
            actor_role=by.role,
            action=action,
            subject=attempt.subject,
            outcome="denied",
            detail=str(exc),
        )
        raise


def _meanwhile(what: str) -> BindingError:
    return BindingError(
        409,
        "conflict",
        f"{what}: a login to the same file (or another admin) was added meanwhile, so it would "
        "wait for approval; nothing was changed, try again",
    )


def add_account(
    store: sessionmaker[Session],
    log: Log,
    by: Actor,
    *,
    username: str,
    role: str,
    password: str | None,
    display_name: str = "",
    person_id: str | None = None,
    organisation: str | None = None,
    same_file: Collection[str] = (),
    api_key: bool = False,
    lookups_per_minute: int | None = None,
) -> Added:
    """Make an account (and a first key), logged before it exists.

    Raises:
        UserError: as :func:`auth.new_account`; or a login to the file was made meanwhile.
    """
    with _refusal_logged(log, by, "create account") as attempt:
        if role == "person":
            attempt.subject = (person_id or "").strip().upper() or None
        with store() as session:
            account = new_account(
                session,
                username=username,
                role=role,
                password=password,
                display_name=display_name,
                person_id=person_id,
                organisation=organisation,
                created_by=by.name,
                created_by_role=by.role,
                same_file=same_file,
            )
            account.lookups_per_minute = lookups_per_minute
            row, key = (
                new_api_key(
                    session,
                    account,
                    "issued at creation",
                    created_by=by.name,
                    created_by_role=by.role,
                    with_account=True,
                )
                if api_key
                else (None, None)
            )
        log(
            actor=by.name,
            actor_role=by.role,
            action="create account",
            subject=account.person_id,
            detail=describe(account),
        )
        if row is not None:
            log(
                actor=by.name,
                actor_role=by.role,
                action="issue API key",
                subject=account.person_id,
                detail=f"key {row.prefix} for {username}, with the account",
            )
        with store() as session:
            take_lock(session, BINDINGS_LOCK)
            ids = [account.person_id, *same_file] if account.person_id else []
            if not account.pending and account_waits(session, account.role, ids):
                raise _meanwhile(f"account {username!r}")
            try:
                session.add(account)
                session.flush()
                if row is not None:
                    row.account_id = account.id
                    session.add(row)
                session.commit()
            except IntegrityError:  # (the same username, made a moment ago by someone else)
                session.rollback()
                raise UserError(f"username: {username!r} is taken") from None
    return Added(account, key, row)


def _account(session: Session, username: str) -> Account:
    account = session.execute(select(Account).where(Account.username == username)).scalar()
    if account is None:
        raise BindingError(404, "not_found", f"no account {username!r}")
    return account


def add_key(
    store: sessionmaker[Session], log: Log, by: Actor, username: str, file_of: FileIds
) -> tuple[ApiKey, str]:
    """Issue a key for an existing account, logged before it exists; the clear key is
    returned once. A key that adds a login to a person's file waits for approval
    (:func:`auth.key_waits`; ``file_of``: the IDs that stand for a person ID's file)."""
    with _refusal_logged(log, by, "issue API key") as attempt:
        with store() as session:
            account = _account(session, username)
            attempt.subject = account.person_id
            same = file_of(account.person_id) if account.person_id else ()
            row, key = new_api_key(
                session,
                account,
                f"issued by {by.name}",
                created_by=by.name,
                created_by_role=by.role,
                same_file=same,
            )
        detail = f"key {row.prefix} for {username}" + (f"; {WAITS}" if row.pending else "")
        log(
            actor=by.name,
            actor_role=by.role,
            action="issue API key",
            subject=account.person_id,
            detail=detail,
        )
        with store() as session:
            take_lock(session, BINDINGS_LOCK)
            if not row.pending and key_waits(session, account, by.name, same):
                raise _meanwhile(f"key {row.prefix} for {username!r}")
            session.add(row)
            session.commit()
    return row, key


def approve_account(store: sessionmaker[Session], log: Log, by: Actor, username: str) -> Account:
    """Let a waiting account work: by an admin other than the one who made it wait."""
    with _refusal_logged(log, by, "approve account") as attempt:
        with store() as session:
            account = _account(session, username)
        attempt.subject = account.person_id
        asker = account.pending_by or account.created_by
        _may_approve(by, account.pending, asker, f"account {username!r}")
    log(
        actor=by.name,
        actor_role=by.role,
        action="approve account",
        subject=account.person_id,
        detail=f"{account.username} ({account.role}), created by "
        f"{account.created_by or 'an unrecorded creator'}"
        + (f", enabled again by {asker}" if asker != account.created_by else ""),
    )
    with store() as session:
        session.execute(
            update(Account)
            .where(Account.id == account.id)
            .values(pending=False, pending_by=None, approved_by=by.name, approved_at=utcnow())
        )
        session.commit()
        return _account(session, username)


def approve_key(
    store: sessionmaker[Session], log: Log, by: Actor, username: str, prefix: str
) -> ApiKey:
    """Let a waiting key work: by an admin other than the one who issued it."""
    with _refusal_logged(log, by, "approve API key") as attempt:
        with store() as session:
            account = _account(session, username)
            attempt.subject = account.person_id
            row = session.execute(
                select(ApiKey).where(ApiKey.account_id == account.id, ApiKey.prefix == prefix)
            ).scalar()
            if row is None:
                raise BindingError(404, "not_found", f"account {username!r} has no key {prefix!r}")
        _may_approve(by, row.pending and row.revoked_at is None, row.created_by, f"key {prefix!r}")
    log(
        actor=by.name,
        actor_role=by.role,
        action="approve API key",
        subject=account.person_id,
        detail=f"key {prefix} for {username}, issued by {row.created_by or 'an unrecorded issuer'}",
    )
    with store() as session:
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == row.id)
            .values(pending=False, approved_by=by.name, approved_at=utcnow())
        )
        session.commit()
        approved = session.get(ApiKey, row.id)
        assert approved is not None
        return approved


def _may_approve(by: Actor, waiting: bool, asker: str | None, what: str) -> None:
    if by.role != "admin":
        # (an operator at the command line is no one in particular: approval is an admin's
        # login, through the API or the admin page)
        raise BindingError(
            403, "forbidden", "approval needs an admin account, through the API or the admin page"
        )
    if not waiting:
        raise BindingError(409, "conflict", f"{what} is not waiting for approval")
    if asker == by.name:
        raise BindingError(
            403, "forbidden", f"{what}: another admin must approve what you created or enabled"
        )


def set_disabled(
    store: sessionmaker[Session],
    log: Log,
    by: Actor,
    username: str,
    disabled: bool,
    file_of: FileIds,
) -> Account:
    """Disable an account (its sessions and keys stop at once) or enable it again. A person's
    account enabled while another account is bound to its file waits for an admin other than
    the one who enabled it (``file_of``: the IDs that stand for a person ID's file): it is a
    further login to the file again."""
    action = "disable account" if disabled else "enable account"
    with _refusal_logged(log, by, action) as attempt:
        with store() as session:
            account = _account(session, username)
            attempt.subject = account.person_id
            same = list(file_of(account.person_id)) if account.person_id else []
            waits = not disabled and _enabled_waits(session, account, same)
        if disabled and by.role == "admin" and account.username == by.name:
            raise BindingError(409, "conflict", "an admin cannot disable their own account")
        if account.disabled == disabled:
            raise BindingError(
                409,
                "conflict",
                f"account {username!r} is already {'disabled' if disabled else 'enabled'}",
            )
        log(
            actor=by.name,
            actor_role=by.role,
            action=action,
            subject=account.person_id,
            detail=describe(account) + (f"; {WAITS}" if waits and not account.pending else ""),
        )
        with store() as session:
            take_lock(session, BINDINGS_LOCK)
            if not disabled and not waits and _enabled_waits(session, account, same):
                raise _meanwhile(f"account {username!r}")
            change: dict[str, Any] = {"disabled": disabled}
            if waits and not account.pending:  # (one waiting already keeps who made it wait)
                change |= {"pending": True, "pending_by": by.name}
            session.execute(update(Account).where(Account.id == account.id).values(**change))
            session.commit()
            return _account(session, username)


def _enabled_waits(session: Session, account: Account, file_ids: Sequence[str]) -> bool:
    """Whether a person's account, enabled now, would be a further login to its file."""
    return (
        account.role == "person"
        and account.person_id is not None
        and file_is_bound(session, [account.person_id, *file_ids], but=account.id)
    )


def file_ids(workspace: Path, person_id: str) -> list[str]:
    """The IDs that stand for ``person_id``'s file in the published snapshot: the ID it
    resolves to and every ID merged into that (for the command line, which does not load
    the snapshot; the service asks its loaded one). Just the ID before a first publish."""
    from openbureau.service.serving import POINTER, SERVING_DIR

    pid = person_id.strip().upper()
    folder = workspace / SERVING_DIR
    try:
        path = folder / (folder / POINTER).read_text(encoding="utf-8").strip()
        con = duckdb.connect(str(path), read_only=True)
    except (OSError, duckdb.Error):
        return [pid]
    try:
        if not con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [PERSON_IDS.name]
        ).fetchone()[0]:  # type: ignore[index]
            return [pid]
        retired = (
            f"FROM {PERSON_IDS.name} WHERE resolves_to IS NOT NULL AND resolves_to <> person_id"
        )
        found = con.execute(f"SELECT resolves_to {retired} AND person_id = ?", [pid]).fetchone()
        own = found[0] if found else pid
        merged = [
            r
            for (r,) in con.execute(
                f"SELECT person_id {retired} AND resolves_to = ? ORDER BY person_id", [own]
            ).fetchall()
        ]
        return [own, *merged]
    finally:
        con.close()
