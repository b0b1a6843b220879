"""A person's consent to their utility, telecom and rent payments counting in their score.

Every change is kept (``person_consents``): opting in, withdrawing, and whether the withdrawal
asked to erase the alternative data (GDPR Art. 17); the newest row of a file (under any of its
IDs) is its state; no row is consent withheld. Consent takes effect at read time: the
published snapshot holds each person's core score and their score with alternative data, and
:func:`openbureau.scoring.alternative.served` picks the one served, so opting in or out needs
no new snapshot. Score reads are the hot path, so the states are held in memory
(:class:`ConsentBook`, like the statements' book: rows are only added, refreshed at most every
``ttl`` seconds, at once in the process that wrote them).

Erasure deletes the rows in the warehouse (``ledger.erasure``), which one process at a time may
write: the service tries at once; when the warehouse is busy (a ``score`` running) the request
stays pending (``erased_at`` NULL) and ``openbureau consent erase-pending`` carries it out.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openbureau.service.store import PersonConsent, utcnow


def change_json(row: PersonConsent) -> dict[str, Any]:
    return {
        "at": row.at,
        "given": row.given,
        "change": "opted in" if row.given else "withdrawn",
        "erase": row.erase,
        "erased_at": row.erased_at,
        "by": "you" if row.actor_role == "person" else row.actor_role,
    }


def changes(store: sessionmaker[Session], person_ids: list[str]) -> list[dict[str, Any]]:
    """Every consent change of the file (under any of ``person_ids``), newest first."""
    with store() as session:
        rows = session.execute(
            select(PersonConsent)
            .where(PersonConsent.person_id.in_(person_ids))
            .order_by(PersonConsent.id.desc())
        ).scalars()
        return [change_json(r) for r in rows]


def state(store: sessionmaker[Session], person_ids: list[str]) -> dict[str, Any]:
    """``{"given": bool, "since": time or None, "changes": newest first}``."""
    found = changes(store, person_ids)
    return {
        "given": bool(found and found[0]["given"]),
        "since": found[0]["at"] if found else None,
        "changes": found,
    }


def serves_alternative(
    store: sessionmaker[Session], person_ids: list[str], made_at: dt.datetime | None
) -> bool:
    """Whether a score with alternative data computed by ``made_at`` may be served to the file
    now, read from the store (as :class:`ConsentBook` and ``ServiceContext.consent`` decide
    it): consent given, and no erasure asked since, pending or carried out after ``made_at``."""
    found = changes(store, person_ids)
    return bool(found and found[0]["given"]) and not erased_since(found, made_at)


def erased_since(found: list[dict[str, Any]], made_at: dt.datetime | None) -> bool:
    """Whether the file's alternative data was erased at its request (``found``: its
    :func:`changes`) after a snapshot made at ``made_at``, or is to be (pending): that
    snapshot's score with alternative data still counts them, and is not the person's."""
    erased = [c["erased_at"] for c in found if c["erase"]]
    if not erased:
        return False
    if None in erased or made_at is None:
        return True
    return made_at <= max(erased)


def record(
    store: sessionmaker[Session],
    person_id: str,
    given: bool,
    actor: str,
    actor_role: str,
    *,
    erase: bool = False,
) -> int:
    """Add a change; returns its id. ``erase`` only with a withdrawal.

    Raises:
        ValueError: erase asked with an opt-in.
    """
    if erase and given:
        raise ValueError("erase: only a withdrawal can erase the alternative data")
    with store() as session:
        row = PersonConsent(
            person_id=person_id, given=given, erase=erase, actor=actor, actor_role=actor_role
        )
        session.add(row)
        session.commit()
        return row.id


def pending_erasures(store: sessionmaker[Session]) -> list[tuple[int, str, str]]:
    """(change id, person id, actor) of every erasure asked for and not yet carried out."""
    with store() as session:
        rows = session.execute(
            select(PersonConsent)
            .where(PersonConsent.erase.is_(True), PersonConsent.erased_at.is_(None))
            .order_by(PersonConsent.id)
        ).scalars()
        return [(r.id, r.person_id, r.actor) for r in rows]


def carry_out_erasure(
    store: sessionmaker[Session],
    workspace: Path,
    change_id: int,
    person_ids: list[str],
) -> dict[str, Any] | None:
    """Erase the person's alternative data for consent change ``change_id`` and mark it done;
    None when the warehouse is busy (the change stays pending).

    The tombstone is written with the rows' deletion, in the warehouse's transaction; the
    change is marked after it: a crash between the two leaves it pending, and doing it again
    erases nothing more (and leaves a tombstone of zero rows)."""
    from openbureau.engine._duckdb import WarehouseBusy
    from openbureau.ledger.erasure import erase_alternative_data
    from openbureau.workspace import Workspace

    with store() as session:
        row = session.get(PersonConsent, change_id)
        if row is None or row.erased_at is not None:
            return None
        asked_at, actor = row.at, row.actor
    try:
        with Workspace.open(workspace).engine() as engine:
            done = erase_alternative_data(
                engine, person_ids, requested_by=actor, requested_at=asked_at
            )
    except WarehouseBusy:
        return None  # (the warehouse is open for writing elsewhere: stays pending)
    with store() as session:
        row = session.get(PersonConsent, change_id)
        if row is not None:
            row.erased_at = utcnow()
            session.commit()
    return {
        "erasure_id": done.erasure_id,
        "feeds": done.feeds,
        "records": done.records,
        "rows": done.total_rows,
    }


class ConsentBook:
    """The consent state of every file that has one, in memory, for the score reads."""

    def __init__(self, store: sessionmaker[Session], ttl: float = 2.0) -> None:
        self.store = store
        self.ttl = ttl
        self._latest: dict[str, tuple[int, bool]] = {}  # person_id -> (row id, given)
        # erasures asked for: person_id -> {row id: carried out at, None while pending}
        self._erasures: dict[str, dict[int, dt.datetime | None]] = {}
        self._pending: dict[int, str] = {}  # row id -> person_id, while pending
        self._last_id = 0
        self._checked = -float("inf")
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Read the changes added since the last refresh (blocks: off the event loop)."""
        with self._lock:
            checked = time.monotonic()
            with self.store() as session:
                cols = (
                    PersonConsent.id,
                    PersonConsent.person_id,
                    PersonConsent.given,
                    PersonConsent.erase,
                    PersonConsent.erased_at,
                )
                rows = list(
                    session.execute(
                        select(*cols)
                        .where(PersonConsent.id > self._last_id)
                        .order_by(PersonConsent.id)
                    ).all()
                )
                if self._pending:  # (carried out since? only erased_at changes on a row)
                    rows += session.execute(
                        select(*cols).where(PersonConsent.id.in_(list(self._pending)))
                    ).all()
                for rid, pid, given, erase, erased_at in rows:
                    if rid > self._last_id:
                        self._latest[pid] = (rid, bool(given))
                        self._last_id = rid
                    if erase:
                        self._erasures.setdefault(pid, {})[rid] = erased_at
                        if erased_at is None:
                            self._pending[rid] = pid
                        else:
                            self._pending.pop(rid, None)
            self._checked = checked

    def given(self, person_ids: list[str]) -> bool:
        """Whether the file consents now (the newest change under any of its IDs),
        refreshed first when stale (blocks: not on the event loop)."""
        if time.monotonic() - self._checked > self.ttl:
            self.refresh()
        found = [self._latest[p] for p in person_ids if p in self._latest]
        return bool(found) and max(found)[1]

    def erased_until(self, person_ids: list[str]) -> dt.datetime | None:
        """When the file's alternative data was last erased at its request (under any of its
        IDs): a snapshot made before then still holds it, so neither its bills nor its score
        with alternative data may be shown; ``datetime.max`` while an erasure is pending;
        None when the file has asked for none (refreshed first when stale)."""
        if time.monotonic() - self._checked > self.ttl:
            self.refresh()
        found = [at for p in person_ids for at in self._erasures.get(p, {}).values()]
        if not found:
            return None
        return dt.datetime.max if None in found else max(a for a in found if a is not None)
