"""Applying a resolved dispute to the warehouse and rescoring the person (or waiting)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from openbureau.errors import UserError
from openbureau.scoring.alternative import served
from openbureau.service import consent
from openbureau.service.disputes import rules
from openbureau.service.disputes._book import json_value
from openbureau.service.disputes._store import Desk, add_step
from openbureau.service.serving import Published
from openbureau.service.store import Dispute, PersonRescore, utcnow

log = logging.getLogger(__name__)
# (a single lock: two resolutions in one process do not open the warehouse at once)
_WAREHOUSE = threading.Lock()


class WarehouseBusy(Exception):
    """Another process holds the warehouse (a ``score`` or ``link`` running)."""


@contextmanager
def warehouse(workspace: Path) -> Iterator[Any]:
    """The warehouse, open for writing (one at a time in this process).

    Raises:
        WarehouseBusy: another process holds it.
    """
    import duckdb

    from openbureau.workspace import Workspace

    with _WAREHOUSE:
        try:
            engine = Workspace.open(workspace).engine()
        except duckdb.IOException as exc:
            raise WarehouseBusy(str(exc).splitlines()[0]) from None
        with engine:
            yield engine


def apply(desk: Desk, pub: Published | None, dispute_id: int) -> bool:
    """Make a resolved dispute's outcome true in the warehouse and rescore the person; False
    (and a step saying so) when the warehouse is busy, no snapshot is served or a step fails.

    The ledger change is made once, all or nothing, and recorded at once (``ledger_change``
    and the ``applied`` step); a retry (``openbureau disputes apply``) then only rescores."""
    with desk.store() as session:
        d = session.get(Dispute, dispute_id)
        if d is None or d.state == "open" or d.applied_at is not None:
            return True
        person_id, record_id, record_ids = d.person_id, d.record_id, json.loads(d.record_ids)
        kind, done = d.kind, d.ledger_change  # (done: the ledger change, once made)
        outcome, changes = d.state, json.loads(d.changes) if d.changes else None
    if pub is None:
        _wait(desk, dispute_id, "no score snapshot is published yet")
        return False
    before = pub.score_row(person_id)
    pid = pub.moved.get(person_id, person_id)
    split = kind == "link" and outcome in ("split", "expired")
    try:
        with warehouse(desk.workspace) as engine:
            if done is None:
                if split:
                    rules.split_file(engine, desk.workspace, pid, record_ids)
                    done = f"split off the file: {', '.join(record_ids)} (now in another file)"
                elif kind == "link":
                    done = "nothing changed: the file stands"
                else:
                    done = rules.apply_outcome(
                        engine, dispute_id, outcome, record_id, record_ids, changes, pid
                    )
                _changed(desk, dispute_id, done)
            others: list[str] = []
            if split:
                now_in = rules.files_of(engine, record_ids)
                others = sorted({now_in[i] for i in record_ids if now_in.get(i, pid) != pid})
            started = time.perf_counter()
            known_at, rows = rules.rescore_persons(
                engine, pub.card, pub.as_of, pub.snapshot_id, [pid, *others], with_features=True
            )
            took = time.perf_counter() - started
            if split:  # (the identity tables served, and with them the access log, follow)
                from openbureau.service.serving import republish

                republish(engine, desk.workspace, pub.snapshot_id)
    except WarehouseBusy as exc:
        _wait(desk, dispute_id, f"the warehouse is busy ({exc})")
        return False
    except UserError as exc:
        _wait(desk, dispute_id, f"not applied: {exc}")
        return False
    except Exception as exc:  # (the resolution stands: `disputes apply` finishes it later)
        log.exception("dispute %s: applying it failed", dispute_id)
        first = (str(exc).splitlines() or [""])[0]
        _wait(desk, dispute_id, f"not applied: {type(exc).__name__}: {first}")
        return False
    rescored = {r["person_id"]: r for r in rows}
    rows = [rescored[p] for p in [pid, *others] if p in rescored]
    row = rows[0] if rows else None
    # (the scores served to the person: with consent, the better of core and alternative)
    allowed = consent.serves_alternative(desk.store, [pid, *pub.merged.get(pid, [])], pub.made_at)
    score_before = served(before, allowed)["score"] if before else None
    score_after = served(row, allowed)["score"] if row else None
    with desk.store() as session:
        d = session.get(Dispute, dispute_id)
        assert d is not None
        d.applied_at = utcnow()
        d.score_before, d.score_after = score_before, score_after
        for r in rows:  # (a split: the person's file and the part split off)
            session.add(
                PersonRescore(
                    person_id=r["person_id"],
                    snapshot_id=pub.snapshot_id,
                    dispute_id=dispute_id,
                    known_at=known_at,
                    row=json.dumps(r, default=json_value),
                )
            )
        add_step(
            session,
            dispute_id,
            "bureau",
            "bureau",
            "rescored",
            f"score before {_shown(score_before)}, after {_shown(score_after)} "
            f"(scorecard {pub.card.version}, as of {pub.as_of}, in {took:.2f} s)",
        )
        session.commit()
    desk.audit(
        "bureau",
        "bureau",
        "rescore person",
        subject=pid,
        detail=f"dispute {dispute_id}: {_shown(score_before)} -> {_shown(score_after)}",
    )
    if desk.book is not None:
        desk.book.refresh()
    return True


def apply_waiting(desk: Desk, pub: Published | None) -> list[int]:
    """Apply every resolved dispute the warehouse has not taken yet; the ids applied."""
    with desk.store() as session:
        waiting = list(
            session.execute(
                select(Dispute.id)
                .where(Dispute.state != "open", Dispute.applied_at.is_(None))
                .order_by(Dispute.id)
            ).scalars()
        )
    return [d for d in waiting if apply(desk, pub, d)]


def _changed(desk: Desk, dispute_id: int, done: str) -> None:
    """Record that the dispute's ledger change is made (a retry does not make it again)."""
    with desk.store() as session:
        d = session.get(Dispute, dispute_id)
        assert d is not None
        d.ledger_change = done
        add_step(session, dispute_id, "bureau", "bureau", "applied", done)
        session.commit()


def _wait(desk: Desk, dispute_id: int, why: str) -> None:
    with desk.store() as session:
        add_step(
            session,
            dispute_id,
            "bureau",
            "bureau",
            "waiting",
            f"{why}: applied by `openbureau disputes apply` or the next resolution",
        )
        session.commit()


def _shown(score: int | None) -> str:
    return "no score" if score is None else str(score)
