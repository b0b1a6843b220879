"""A person's statement on their file: up to 100 words in their own words, shown to every
lender that reads their score (after FCRA s.611(b): a consumer's statement of dispute).

Every version is kept (``person_statements``): an edit is a new version, a removal a version
without text, so nothing is ever deleted silently. The newest version of a file (under any of
its IDs) is its statement. Lenders' score reads are the service's hot path, so the statements
are held in memory (:class:`StatementBook`): rows are only ever added, so keeping up is reading
the rows after the last one seen, at most every ``ttl`` seconds (a statement written through
another service process shows within that; one written through this process at once).
"""

from __future__ import annotations

import threading
import time
import unicodedata
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openbureau.service.store import PersonStatement

MAX_WORDS = 100
MAX_CHARS = 1000  # (100 words of ten letters, and room: a bound on one long "word")


def check_statement(text: str) -> str:
    """The statement as it will be kept: line ends made ``\\n``, Unicode NFC, outer space
    stripped.

    Raises:
        ValueError: empty, over :data:`MAX_WORDS` words or :data:`MAX_CHARS` characters, or
            holding a control or formatting character (a line break is fine); the message
            says which and where.
    """
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not text:
        raise ValueError("the statement is empty (to take it off your file, remove it)")
    for i, ch in enumerate(text):
        if ch != "\n" and unicodedata.category(ch).startswith("C"):
            raise ValueError(
                f"the statement holds a control or formatting character (U+{ord(ch):04X}) "
                f"at position {i + 1}: use plain text"
            )
    words = len(text.split())
    if words > MAX_WORDS:
        raise ValueError(f"the statement has {words} words: at most {MAX_WORDS}")
    if len(text) > MAX_CHARS:
        raise ValueError(f"the statement has {len(text)} characters: at most {MAX_CHARS}")
    return text


def version_json(row: PersonStatement) -> dict[str, Any]:
    return {
        "at": row.at,
        "text": row.text,
        "change": "removed" if row.text is None else "written",
        "words": len(row.text.split()) if row.text is not None else 0,
    }


def versions(store: sessionmaker[Session], person_ids: list[str]) -> list[dict[str, Any]]:
    """Every version of the file's statement (under any of ``person_ids``), newest first."""
    with store() as session:
        rows = session.execute(
            select(PersonStatement)
            .where(PersonStatement.person_id.in_(person_ids))
            .order_by(PersonStatement.id.desc())
        ).scalars()
        return [version_json(r) for r in rows]


def state(store: sessionmaker[Session], person_ids: list[str]) -> dict[str, Any]:
    """``{"shown": the statement lenders are shown, or None, "versions": every version,
    newest first}``."""
    found = versions(store, person_ids)
    current = found[0] if found and found[0]["text"] is not None else None
    return {"shown": current, "versions": found}


def write(store: sessionmaker[Session], person_id: str, text: str | None, actor: str) -> None:
    """Add a version: ``text`` (checked with :func:`check_statement`), or None to remove."""
    with store() as session:
        session.add(PersonStatement(person_id=person_id, text=text, actor=actor))
        session.commit()


class StatementBook:
    """The current statement of every file that has one, in memory, for the score reads."""

    def __init__(self, store: sessionmaker[Session], ttl: float = 2.0) -> None:
        self.store = store
        self.ttl = ttl
        self._latest: dict[str, tuple[int, dict[str, Any]]] = {}  # person_id -> (row id, version)
        self._last_id = 0
        self._checked = -float("inf")
        self._lock = threading.Lock()

    def stale(self) -> bool:
        return time.monotonic() - self._checked > self.ttl

    def refresh(self) -> None:
        """Read the versions added since the last refresh (blocks: off the event loop)."""
        with self._lock:
            checked = time.monotonic()
            with self.store() as session:
                rows = session.execute(
                    select(PersonStatement)
                    .where(PersonStatement.id > self._last_id)
                    .order_by(PersonStatement.id)
                ).scalars()
                for r in rows:
                    self._latest[r.person_id] = (r.id, version_json(r))
                    self._last_id = r.id
            self._checked = checked

    def current(self, person_ids: list[str]) -> dict[str, Any] | None:
        """The file's statement (the newest version under any of its IDs), None if none."""
        found = [self._latest[p] for p in person_ids if p in self._latest]
        if not found:
            return None
        newest = max(found, key=lambda hit: hit[0])[1]
        return newest if newest["text"] is not None else None

    def current_fresh(self, person_ids: list[str]) -> dict[str, Any] | None:
        """:meth:`current`, refreshed first when stale (blocks: not on the event loop)."""
        if self.stale():
            self.refresh()
        return self.current(person_ids)
