"""Accounts, passwords, API keys and sessions.

Passwords are argon2id hashes. API keys and session tokens are random 256-bit secrets, so a
plain SHA-256 of them is enough to store (nothing to brute-force); only the hash is kept, and a
key's short prefix is shown to tell keys apart. A session carries its own CSRF token, which
every form post must echo.

Four eyes (docs/service.md, "What an admin can and cannot do unseen"): the first account bound to
a person's file, and the first admin, work at once; every further account bound to that file,
every further admin, a new key for a person's account when the account has a login already or
another account is bound to its file, and a key issued to an admin's account by anyone but that
admin wait for an admin other than their creator to approve them. So no admin alone adds a
working login to a file that has one (an account bound to it is as good as a login: a key for
it is one call away).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Collection
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import exists, select, true, update
from sqlalchemy.orm import Session, sessionmaker

from openbureau.errors import UserError
from openbureau.service.store import ROLES, Account, ApiKey, WebSession, utcnow

_hasher = PasswordHasher()
KEY_PREFIX = "obk_"
# verified against when the username is unknown, so both paths take the same time
_DUMMY_HASH = _hasher.hash("not-a-password")
# a key's last use is written at most this often (a busy lender's key: not per request)
LAST_USED_STEP = dt.timedelta(minutes=1)
PASSWORD_LOGIN = "password login"


@dataclass(frozen=True)
class Principal:
    """Who is asking: an account, and how it authenticated."""

    account_id: int
    username: str
    role: str
    person_id: str | None
    organisation: str | None
    via: str  # "session" | "api_key"
    csrf_token: str | None = None
    # which login: "password login" (any session of the account), or "API key <prefix>"
    credential: str = ""


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise UserError("password: at least 10 characters")
    return _hasher.hash(password)


def new_account(
    session: Session,
    *,
    username: str,
    role: str,
    password: str | None,
    display_name: str = "",
    person_id: str | None = None,
    organisation: str | None = None,
    created_by: str | None = None,
    created_by_role: str | None = None,
    same_file: Collection[str] = (),
) -> Account:
    """A checked account, not yet added to ``session``; ``pending`` when it waits for approval.

    ``same_file``: other person IDs that stand for the same file (IDs merged into it), so that
    an account bound to a retired ID counts as one bound to the file.

    Raises:
        UserError: unknown role, a person account without a person, or a taken username.
    """
    if role not in ROLES:
        raise UserError(f"role: {role!r} is not one of {', '.join(ROLES)}")
    # (as person IDs are written: the file reads compare them exactly)
    person_id = (person_id or "").strip().upper() or None
    if role == "person" and not person_id:
        raise UserError("person_id: a person account must name the person whose file it sees")
    if (
        not username
        or len(username) > 64
        or not username.replace(".", "").replace("-", "").replace("_", "").isalnum()
    ):
        raise UserError(f"username: {username!r}: 1-64 letters, digits, '.', '-' or '_'")
    if session.execute(select(Account.id).where(Account.username == username)).first():
        raise UserError(f"username: {username!r} is taken")
    person_id = person_id if role == "person" else None
    pending = account_waits(session, role, [person_id, *same_file] if person_id else [])
    return Account(
        username=username,
        role=role,
        display_name=display_name or username,
        password_hash=hash_password(password) if password else None,
        person_id=person_id,
        organisation=organisation,
        created_at=utcnow(),
        disabled=False,
        created_by=created_by,
        created_by_role=created_by_role,
        pending=bool(pending),
        pending_by=created_by if pending else None,
    )


def account_waits(session: Session, role: str, file_ids: Collection[str]) -> bool:
    """Whether a new account waits for another admin: a person's, when an account is bound to
    its file already (``file_ids``: the IDs that stand for it); an admin, when there is one."""
    if role == "person":
        return file_is_bound(session, file_ids)
    return role == "admin" and bool(
        session.execute(select(exists().where(Account.role == "admin"))).scalar()
    )


def file_is_bound(session: Session, file_ids: Collection[str], but: int | None = None) -> bool:
    """Whether an account (in any state: waiting or disabled too) is bound to the file whose
    IDs are ``file_ids``, other than the account with id ``but``."""
    others = Account.id != but if but is not None else true()
    return bool(
        session.execute(
            select(exists().where(Account.person_id.in_(list(file_ids)), others))
        ).scalar()
    )


def create_account(
    session: Session,
    *,
    username: str,
    role: str,
    password: str | None,
    display_name: str = "",
    person_id: str | None = None,
    organisation: str | None = None,
    created_by: str | None = None,
    created_by_role: str | None = None,
    same_file: Collection[str] = (),
) -> Account:
    """Add an account (committed by the caller): :func:`new_account`, added.

    Raises:
        UserError: unknown role, a person account without a person, or a taken username.
    """
    account = new_account(
        session,
        username=username,
        role=role,
        password=password,
        display_name=display_name,
        person_id=person_id,
        organisation=organisation,
        created_by=created_by,
        created_by_role=created_by_role,
        same_file=same_file,
    )
    session.add(account)
    session.flush()
    return account


def check_password(
    session: Session, username: str, password: str, *, waiting_ok: bool = False
) -> Account | None:
    """The account if the password is right and it may log in; an account waiting for
    approval too when ``waiting_ok`` (to tell its user so)."""
    account = session.execute(select(Account).where(Account.username == username)).scalar()
    return _verified(account, password, waiting_ok)


def password_login(store: sessionmaker[Session], username: str, password: str) -> Account | None:
    """:func:`check_password` (an account waiting for approval included) holding no store
    connection while the hash is checked: a burst of logins must not hold the store's pool
    while they compute."""
    with store() as session:
        account = session.execute(select(Account).where(Account.username == username)).scalar()
    return _verified(account, password, waiting_ok=True)


def _verified(account: Account | None, password: str, waiting_ok: bool) -> Account | None:
    stored = account.password_hash if account and account.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if account is None or account.disabled or not account.password_hash:
        return None
    if account.pending and not waiting_ok:
        return None
    return account


def has_login(session: Session, account: Account) -> bool:
    """Whether the account can be used already: a password, or a key not revoked."""
    return bool(account.password_hash) or bool(
        session.execute(
            select(exists().where(ApiKey.account_id == account.id, ApiKey.revoked_at.is_(None)))
        ).scalar()
    )


def new_api_key(
    session: Session,
    account: Account,
    label: str = "",
    *,
    created_by: str | None = None,
    created_by_role: str | None = None,
    with_account: bool = False,
    same_file: Collection[str] = (),
) -> tuple[ApiKey, str]:
    """A new key for ``account``, not yet added to ``session``, and the clear key (returned
    once, never stored). ``with_account``: issued with a new account, it goes with the
    account's approval; else it waits (:func:`key_waits`).

    ``same_file``: for a person's account, the IDs that stand for its file (as for
    :func:`new_account`)."""
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    pending = not with_account and key_waits(session, account, created_by, same_file)
    row = ApiKey(
        account_id=account.id,
        prefix=prefix,
        key_hash=_sha256(key),
        label=label,
        created_at=utcnow(),
        created_by=created_by,
        created_by_role=created_by_role,
        pending=pending,
    )
    return row, key


def key_waits(
    session: Session, account: Account, issuer: str | None, same_file: Collection[str] = ()
) -> bool:
    """Whether a new key for ``account`` waits for another admin: for a person's account, when
    the account can log in already or another account is bound to its file (each could be
    someone else's: a second login to the file); for an admin's, when someone else issues it
    (an admin approved without a login is no second self for the one who would hold its key).
    """
    if account.role == "admin":
        return issuer != account.username
    if account.role != "person" or account.person_id is None:
        return False
    return has_login(session, account) or file_is_bound(
        session, [account.person_id, *same_file], but=account.id
    )


def issue_api_key(
    session: Session,
    account: Account,
    label: str = "",
    *,
    created_by: str | None = None,
    created_by_role: str | None = None,
    with_account: bool = False,
    same_file: Collection[str] = (),
) -> str:
    """A new key for ``account`` (:func:`new_api_key`), added; the clear key is returned
    once."""
    row, key = new_api_key(
        session,
        account,
        label,
        created_by=created_by,
        created_by_role=created_by_role,
        with_account=with_account,
        same_file=same_file,
    )
    session.add(row)
    session.flush()
    return key


def account_for_api_key(session: Session, key: str) -> Account | None:
    """The account the key logs in as, or None; notes the key's use (to the minute)."""
    parts = key.split("_")
    if not key.startswith(KEY_PREFIX) or len(parts) < 3:
        return None
    row = session.execute(select(ApiKey).where(ApiKey.prefix == parts[1])).scalar()
    if row is None or row.revoked_at is not None or row.pending:
        return None
    if not hmac.compare_digest(row.key_hash, _sha256(key)):
        return None
    account = session.get(Account, row.account_id)
    if account is None or account.disabled or account.pending:
        return None
    now = utcnow()
    if row.last_used_at is None or row.last_used_at < now - LAST_USED_STEP:
        session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
        session.commit()
    return account


def key_prefix(key: str) -> str:
    """The shown part of a key, that tells it apart."""
    return key.split("_")[1] if key.count("_") >= 2 else ""


def start_session(session: Session, account: Account, minutes: int) -> tuple[str, str]:
    """A new login session: returns (cookie token, CSRF token)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    session.add(
        WebSession(
            token_hash=_sha256(token),
            account_id=account.id,
            csrf_token=csrf,
            expires_at=utcnow() + dt.timedelta(minutes=minutes),
        )
    )
    session.flush()
    return token, csrf


def session_principal(session: Session, token: str) -> Principal | None:
    row = session.get(WebSession, _sha256(token))
    if row is None or row.expires_at <= utcnow():
        return None
    account = session.get(Account, row.account_id)
    if account is None or account.disabled or account.pending:
        return None
    return principal(account, "session", row.csrf_token, PASSWORD_LOGIN)


def end_session(session: Session, token: str) -> None:
    row = session.get(WebSession, _sha256(token))
    if row is not None:
        session.delete(row)


def audit_detail(who: Principal | None, detail: str) -> str:
    """A person's entry names the login it came through ("via password login", "via API key
    <prefix>"), so that their access log can show reads through any other login."""
    if who is None or who.role != "person" or not who.credential:
        return detail
    return f"{detail}; via {who.credential}" if detail else f"via {who.credential}"


def principal(
    account: Account, via: str, csrf: str | None = None, credential: str = ""
) -> Principal:
    return Principal(
        account.id,
        account.username,
        account.role,
        account.person_id,
        account.organisation,
        via,
        csrf,
        credential,
    )
