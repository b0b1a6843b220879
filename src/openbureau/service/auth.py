"""Accounts, passwords, API keys and sessions.

Passwords are argon2id hashes. API keys and session tokens are random 256-bit secrets, so a
plain SHA-256 of them is enough to store (nothing to brute-force); only the hash is kept, and a
key's short prefix is shown to tell keys apart. A session carries its own CSRF token, which
every form post must echo.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from openbureau.errors import UserError
from openbureau.service.store import ROLES, Account, ApiKey, WebSession, utcnow

_hasher = PasswordHasher()
KEY_PREFIX = "obk_"
# verified against when the username is unknown, so both paths take the same time
_DUMMY_HASH = _hasher.hash("not-a-password")


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


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise UserError("password: at least 10 characters")
    return _hasher.hash(password)


def create_account(session: Session, *, username: str, role: str, password: str | None,
                   display_name: str = "", person_id: str | None = None,
                   organisation: str | None = None) -> Account:
    """Add an account (committed by the caller).

    Raises:
        UserError: unknown role, a person account without a person, or a taken username.
    """
    if role not in ROLES:
        raise UserError(f"role: {role!r} is not one of {', '.join(ROLES)}")
    # (as person IDs are written: the file reads compare them exactly)
    person_id = (person_id or "").strip().upper() or None
    if role == "person" and not person_id:
        raise UserError("person_id: a person account must name the person whose file it sees")
    if not username or len(username) > 64 or not username.replace(".", "").replace(
            "-", "").replace("_", "").isalnum():
        raise UserError(f"username: {username!r}: 1-64 letters, digits, '.', '-' or '_'")
    if session.execute(select(Account.id).where(Account.username == username)).first():
        raise UserError(f"username: {username!r} is taken")
    account = Account(username=username, role=role, display_name=display_name or username,
                      password_hash=hash_password(password) if password else None,
                      person_id=person_id if role == "person" else None,
                      organisation=organisation)
    session.add(account)
    session.flush()
    return account


def check_password(session: Session, username: str, password: str) -> Account | None:
    account = session.execute(select(Account).where(Account.username == username)).scalar()
    stored = account.password_hash if account and account.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if account is None or account.disabled or not account.password_hash:
        return None
    return account


def issue_api_key(session: Session, account: Account, label: str = "") -> str:
    """A new key for ``account``; the clear key is returned once and never stored."""
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    session.add(ApiKey(account_id=account.id, prefix=prefix, key_hash=_sha256(key), label=label))
    session.flush()
    return key


def account_for_api_key(session: Session, key: str) -> Account | None:
    parts = key.split("_")
    if not key.startswith(KEY_PREFIX) or len(parts) < 3:
        return None
    row = session.execute(select(ApiKey).where(ApiKey.prefix == parts[1])).scalar()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, _sha256(key)):
        return None
    account = session.get(Account, row.account_id)
    return None if account is None or account.disabled else account


def start_session(session: Session, account: Account, minutes: int) -> tuple[str, str]:
    """A new login session: returns (cookie token, CSRF token)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    session.add(WebSession(token_hash=_sha256(token), account_id=account.id, csrf_token=csrf,
                           expires_at=utcnow() + dt.timedelta(minutes=minutes)))
    session.flush()
    return token, csrf


def session_principal(session: Session, token: str) -> Principal | None:
    row = session.get(WebSession, _sha256(token))
    if row is None or row.expires_at <= utcnow():
        return None
    account = session.get(Account, row.account_id)
    if account is None or account.disabled:
        return None
    return principal(account, "session", row.csrf_token)


def end_session(session: Session, token: str) -> None:
    row = session.get(WebSession, _sha256(token))
    if row is not None:
        session.delete(row)


def principal(account: Account, via: str, csrf: str | None = None) -> Principal:
    return Principal(account.id, account.username, account.role, account.person_id,
                     account.organisation, via, csrf)
