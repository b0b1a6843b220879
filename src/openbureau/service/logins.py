"""What a person sees of the logins to their file, and what the admins see waiting for approval.

A login to a file is an account bound to it (to its person ID, or an ID merged into it) with a
password, or one of that account's API keys. The person sees each, and the audit log entries of
every read made through any of them but the one they are using (:func:`own_reads` says which
entries their access log leaves out).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, not_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from openbureau.service import audit
from openbureau.service.auth import PASSWORD_LOGIN, Principal
from openbureau.service.store import Account, ApiKey, AuditEntry

VIA = "via "  # a person's entries end "via password login" or "via API key <prefix>"


def status(row: Account | ApiKey) -> str:
    """active, pending (waiting for approval), disabled (an account) or revoked (a key)."""
    if isinstance(row, Account) and row.disabled:
        return "disabled"
    if isinstance(row, ApiKey) and row.revoked_at is not None:
        return "revoked"
    return "pending" if row.pending else "active"


def _utc(t: dt.datetime | None) -> dt.datetime | None:
    return t.replace(tzinfo=dt.UTC) if t is not None else None


def _made(store: sessionmaker[Session], person_ids: Sequence[str]) -> set[tuple[str, str]]:
    """(action, username or key prefix) of each account and key whose making the audit log
    holds for the file (entries read "<username> (<role>)..." and "key <prefix> for ...")."""
    made = set()
    for action in ("create account", "issue API key"):
        for e in audit.query(
            store, subject=list(person_ids), action=action, outcome="allowed", limit=10_000
        ):
            detail = e["detail"].removeprefix("key " if action == "issue API key" else "")
            made.add((action, detail.split(" ")[0]))
    return made


def _made_by(row: Account | ApiKey) -> dict[str, Any]:
    return {
        "status": status(row),
        "created_at": _utc(row.created_at),
        "created_by": row.created_by,
        "created_by_role": row.created_by_role,
        "approved_by": row.approved_by,
        "approved_at": _utc(row.approved_at),
    }


def logins_to_file(
    store: sessionmaker[Session], person_ids: Sequence[str], viewer: Principal | None = None
) -> list[dict[str, Any]]:
    """Every account bound to the file with its keys: who made each and when, who approved
    it, its state and last use, whether ``viewer`` is using it, and whether the audit log
    holds its making (an account put straight into the store does not show there)."""
    with store() as session:
        accounts = list(
            session.execute(
                select(Account).where(Account.person_id.in_(list(person_ids))).order_by(Account.id)
            ).scalars()
        )
        keys = list(
            session.execute(
                select(ApiKey)
                .where(ApiKey.account_id.in_([a.id for a in accounts]))
                .order_by(ApiKey.id)
            ).scalars()
        )
    made = _made(store, person_ids)
    using = viewer.credential if viewer is not None else None
    out = []
    for a in accounts:
        mine = viewer is not None and viewer.account_id == a.id
        out.append(
            {
                "username": a.username,
                "person_id": a.person_id,
                **_made_by(a),
                "password": a.password_hash is not None,
                "last_login_at": _utc(a.last_login_at),
                "in_audit_log": ("create account", a.username) in made,
                "this_login": mine and using == PASSWORD_LOGIN,
                "keys": [
                    {
                        "prefix": k.prefix,
                        "label": k.label,
                        **_made_by(k),
                        "last_used_at": _utc(k.last_used_at),
                        "revoked_at": _utc(k.revoked_at),
                        "in_audit_log": ("issue API key", k.prefix) in made,
                        "this_login": mine and using == f"API key {k.prefix}",
                    }
                    for k in keys
                    if k.account_id == a.id
                ],
            }
        )
    return out


def waiting(store: sessionmaker[Session]) -> dict[str, list[dict[str, Any]]]:
    """Accounts and keys waiting for approval, for the admins."""
    with store() as session:
        accounts = session.execute(
            select(Account).where(Account.pending, Account.disabled.is_(False)).order_by(Account.id)
        ).scalars()
        keys = session.execute(
            select(ApiKey, Account.username, Account.role, Account.person_id)
            .join(Account)
            .where(ApiKey.pending, ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.id)
        ).all()
        return {
            "accounts": [
                {
                    "username": a.username,
                    "role": a.role,
                    "person_id": a.person_id,
                    "created_by": a.created_by,
                    "created_at": _utc(a.created_at),
                    # who made it wait (its creator, or who enabled it again): not its approver
                    "asked_by": a.pending_by or a.created_by,
                }
                for a in accounts
            ],
            "keys": [
                {
                    "username": u,
                    "role": r,
                    "person_id": p,
                    "prefix": k.prefix,
                    "created_by": k.created_by,
                    "created_at": _utc(k.created_at),
                    "asked_by": k.created_by,
                }
                for k, u, r, p in keys
            ],
        }


def own_reads(viewer: Principal, own: Sequence[str]) -> ColumnElement[bool]:
    """The audit entries a person's access log leaves out: their reads through the very login
    they use now (their password, or the one key), and their reads logged before logins were
    named; also a person's reads of another file (one that held the viewer's records for a
    while: that is the other person's business). Everything else shows: reads through another
    account bound to the file, or through another key of their own, included."""
    unnamed = not_(
        or_(
            AuditEntry.detail.endswith(f"{VIA}{PASSWORD_LOGIN}", autoescape=True),
            AuditEntry.detail.contains(f"{VIA}API key ", autoescape=True),
        )
    )
    return and_(
        AuditEntry.actor_role == "person",
        or_(
            AuditEntry.subject.not_in(list(own)),
            and_(
                AuditEntry.actor == viewer.username,
                or_(
                    AuditEntry.detail.endswith(f"{VIA}{viewer.credential}", autoescape=True),
                    unnamed,
                ),
            ),
        ),
    )
