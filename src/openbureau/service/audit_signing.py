"""When the bureau signs its audit log: the service's :class:`HeadSigner` (every N entries, and
on demand for a reader, at most once every few seconds), and :func:`start_log`, an operator's
start of a new log on purpose (``openbureau audit sign --new-log REASON``).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from openbureau.errors import UserError
from openbureau.service import audit
from openbureau.service.attest import _public_part
from openbureau.service.audit_heads import (
    HEADS_FILE,
    SignedHead,
    ensure_log_key,
    latest_head,
    log_id,
    other_logs_in_file,
    sign_head,
)
from openbureau.service.workspace_log import LOG_FILE, read_log, start_new_log


class HeadSigner:
    """Signs one store's log for the service: every ``every`` entries (0: never by count), and
    on demand when a reader is shown entries the latest head does not cover, at most once every
    ``interval`` seconds (else the newer entries' proofs are pending: whoever can make requests
    could otherwise have a head signed, an fsync'd line and a row, for each one)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        ws_root: Path,
        every: int = 0,
        interval: float = 10.0,
    ) -> None:
        self.factory = factory
        self.ws_root = Path(ws_root)
        self.every = every
        self.interval = interval
        self._lock = threading.Lock()
        self._key: dict[str, Any] | None = None

    def sign(self) -> SignedHead:
        with self._lock:
            return self._sign()

    def _sign(self) -> SignedHead:
        if self._key is None:
            self._key = ensure_log_key(self.ws_root)
        return sign_head(self.factory, self.ws_root, self._key)

    def covering(self, size: int) -> SignedHead:
        """The head to prove the first ``size`` leaves against: the latest, if it covers them
        or was signed less than ``interval`` seconds ago (it may then cover fewer); else a new
        one.

        Raises:
            LogInconsistent: a head was needed, and the log cannot be signed.
        """
        with self._lock:  # (two readers at once: one head, not two)
            with self.factory() as session:
                last = latest_head(session)
            own = read_log(self.ws_root)
            if last is not None and (own is None or own.log_id == last.log_id):
                recent = time.time() * 1000 - last.timestamp < self.interval * 1000
                if last.tree_size >= size or recent:
                    return last
            return self._sign()

    def after_append(self, before: int, after: int) -> None:
        """Sign when an append crossed a multiple of ``every`` entries."""
        if self.every and after // self.every > before // self.every:
            self.sign()


def start_log(
    factory: sessionmaker[Session],
    ws_root: Path,
    actor: str,
    reason: str,
    acknowledge: str | None = None,
) -> SignedHead:
    """Make the store's log the workspace's on purpose (a store replaced: moved to another
    database, restored, rebuilt), retiring the log recorded and any other whose heads the heads
    file holds: written first to the new log itself, as done by ``actor``, then recorded in
    ``public/audit-log.json``; then a head is signed.

    The retired logs' heads are checked against the store first. When the store holds the
    entries they signed, they go on being checked by ``audit verify``. When it does not (the
    store rewritten, cut short, or another), the new log would stop verify from finding that,
    so it is refused unless the operator ``acknowledge``s it, in words written with the problems
    to the log and ``public/audit-log.json``; verify then says the retired log is not vouched for.

    Raises:
        UserError: no reason given, nothing to retire (the store's log is the workspace's
            already, or no other log was ever signed), or problems not acknowledged.
    """
    from openbureau.service.audit_check import verify_log  # (it imports what this module does)

    if not reason.strip():
        raise UserError("--new-log: give the reason (who replaced the store, and why)")
    private = ensure_log_key(ws_root)
    with factory() as session:
        lid = log_id(session)
    own = read_log(ws_root)
    if own is not None and own.log_id == lid:
        raise UserError(
            f"--new-log: the store's log {lid} is this workspace's already ({LOG_FILE}); "
            "sign without --new-log"
        )
    others = other_logs_in_file(ws_root, lid, {"keys": [_public_part(private)]})
    old = list(dict.fromkeys([*([own.log_id] if own else []), *others]))
    if not old:
        raise UserError(
            f"--new-log: no other log to retire ({HEADS_FILE} holds no head of another log "
            "over any entry); sign without --new-log"
        )
    found = verify_log(factory, ws_root, retiring=old).problems
    if found and not (acknowledge or "").strip():
        raise UserError(
            f"--new-log: the store does not hold the entries the heads of {', '.join(old)} "
            f"signed ({len(found)} problem(s), the first: {found[0]}); a new log would keep "
            "`openbureau audit verify` from reporting them: if that loss is known, say what "
            "happened with --acknowledge TEXT (written to the log and public/audit-log.json)"
        )
    acknowledged = (
        f"{acknowledge.strip()} ({len(found)} problem(s), the first: {found[0]})"
        if found and acknowledge
        else None
    )
    what = ", ".join(
        f"{x} (its heads up to size {others[x]:,} stay in {HEADS_FILE})" if x in others else x
        for x in old
    )
    audit.record(
        factory,
        actor=actor,
        actor_role="operator",
        action="start audit log",
        detail=f"this workspace's audit log was {what}; from here on it is {lid}: {reason}"
        + (
            f"; retired despite problems, acknowledged: {acknowledged}"
            if acknowledged
            else "; the store holds the entries its heads signed: they are still checked"
        ),
    )
    start_new_log(ws_root, lid, actor, reason.strip(), old, acknowledged)
    return sign_head(factory, ws_root, private)
