"""The DisputeBook (rescores and open disputes in memory) and score rows marked disputed."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openbureau.service.disputes import rules
from openbureau.service.store import Dispute, PersonRescore


def json_value(value: Any) -> Any:
    """A scores row's value in JSON: a decimal as a number, a date as its ISO text."""
    if isinstance(value, Decimal):
        return float(value)
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def row_from_json(text: str) -> dict[str, Any]:
    """A rescored row (``person_rescores.row``) as the ``scores`` row it was."""
    row: dict[str, Any] = json.loads(text)
    row["as_of"] = dt.date.fromisoformat(str(row["as_of"])[:10])
    return row


@dataclass
class DisputeBook:
    """In memory, for the score reads: persons' rescores (per snapshot) and the records under
    an open dispute. Rescores are only added, read after the last one seen; open disputes are
    read whole. At most every ``ttl`` seconds, and at once after a change in this process."""

    store: sessionmaker[Session]
    ttl: float = 2.0
    rescores: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # per snapshot, person -> the features their rescore used (None: not kept, an older one)
    features: dict[str, dict[str, dict[str, Any] | None]] = field(default_factory=dict)
    open_records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    _last_id: int = 0
    _checked: float = -float("inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def stale(self) -> bool:
        return time.monotonic() - self._checked > self.ttl

    def overlay(self, snapshot_id: str) -> dict[str, dict[str, Any]]:
        """The rescored rows laid over ``snapshot_id`` (updated in place by refresh)."""
        return self.rescores.setdefault(snapshot_id, {})

    def refresh(self) -> None:
        with self._lock:
            checked = time.monotonic()
            with self.store() as session:
                for r in session.execute(
                    select(PersonRescore)
                    .where(PersonRescore.id > self._last_id)
                    .order_by(PersonRescore.id)
                ).scalars():
                    row = row_from_json(r.row)
                    used = row.pop(rules.RESCORE_FEATURES, None)
                    self.features.setdefault(r.snapshot_id, {})[r.person_id] = used
                    self.overlay(r.snapshot_id)[r.person_id] = row
                    self._last_id = r.id
                opened: dict[str, dict[str, dict[str, Any]]] = {}
                for d in session.execute(select(Dispute).where(Dispute.state == "open")).scalars():
                    note = {
                        "dispute_id": d.id,
                        "furnisher": d.furnisher,
                        "item_kind": d.item_kind,
                        "item_title": d.item_title,
                        "reason": d.reason,
                        "filed_at": d.filed_at,
                    }
                    for rid in json.loads(d.record_ids):
                        opened.setdefault(d.person_id, {})[rid] = note
                self.open_records = opened
            self._checked = checked

    def rescored_features(self, snapshot_id: str, person_id: str) -> tuple[bool, Any]:
        """Whether the person was rescored on ``snapshot_id``, and the features the newest
        rescore used (None: not kept, a rescore stored before they were)."""
        used = self.features.get(snapshot_id, {})
        return person_id in used, used.get(person_id)

    def fresh(self) -> DisputeBook:
        if self.stale():
            self.refresh()
        return self

    def disputed(self, person_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Record id -> its open dispute, over the file's IDs."""
        out: dict[str, dict[str, Any]] = {}
        for p in person_ids:
            out.update(self.open_records.get(p, {}))
        return out


def mark_disputed(row: dict[str, Any], disputed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A score row with each reason marked when a record behind it is disputed, and the
    file's open disputes listed (``disputes``): what every reader of the score is told."""
    for r in row.get("reasons") or []:
        r["disputed"] = any(rid in disputed for rid in r.get("record_ids") or [])
    seen: dict[int, dict[str, Any]] = {}
    for note in disputed.values():
        seen.setdefault(
            note["dispute_id"],
            {**note, "text": f"disputed by the consumer: {rules.REASONS[note['reason']]}"},
        )
    row["disputes"] = sorted(seen.values(), key=lambda n: n["dispute_id"])
    return row
