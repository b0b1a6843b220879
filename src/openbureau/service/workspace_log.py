"""Which audit log is this workspace's: ``public/audit-log.json``.

The store names its log (``transparency_log``), but whoever can write the store can rename it
(or migrate the store down and up, which mints a new name): heads selected by that name would
then all be "another log's", and a rewritten log would check out against none. So the workspace
records the log its heads are of, at the first head signed over a non-empty log, and it is not
replaced but on purpose (``openbureau audit sign --new-log REASON``, itself in the audit log):
signing refuses a store whose log is another, and ``openbureau audit verify`` checks the
workspace's log's heads against whatever the store holds and reports the mismatch. Logs retired
that way are listed with who retired them and why, so that their heads in the heads file are
known for what they are.

A log retired while the store still held the entries its heads signed (``"acknowledged":
null``: the store moved, or migrated down and up) goes on being checked: its heads are checked
against the store as the workspace's own, so a rewrite of those entries is found as before. A
log retired despite problems (the store rewritten, cut short or replaced by another) names them
and the operator's acknowledgement (``"acknowledged": "..."``): its heads can no longer be
checked against the store, and verify says that the entries before the new log are not vouched
for. (A record written before retirements were checked has no such key: its heads are noted,
not checked.)

::

    {"log_id": "...", "since": "2026-12-07T09:30:00Z",
     "retired": [{"log_id": "...", "until": "...", "by": "ops@host", "reason": "...",
                  "acknowledged": null}]}

(A head of size 0 covers no entry: heads signed at publications before any entry was written,
of a store since left for another, bind nothing.)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openbureau.errors import UserError

LOG_FILE = Path("public") / "audit-log.json"


@dataclass(frozen=True)
class Retired:
    """A log this workspace's heads were of before it started another."""

    log_id: str
    until: str
    by: str
    reason: str
    #: None: retired with the store holding its entries (its heads are still checked); else the
    #: problems acknowledged when it was retired ("" for a record from before they were kept)
    acknowledged: str | None = ""


@dataclass(frozen=True)
class WorkspaceLog:
    """The workspace's audit log (its id), since when, and the logs it retired."""

    log_id: str
    since: str
    retired: tuple[Retired, ...] = ()

    def retired_log(self, lid: str) -> Retired | None:
        return next((r for r in self.retired if r.log_id == lid), None)

    def describe(self) -> str:
        return f"{self.log_id} ({LOG_FILE}, since {self.since[:19].replace('T', ' ')} UTC)"

    def as_json(self) -> dict[str, Any]:
        return {
            "log_id": self.log_id,
            "since": self.since,
            "retired": [r.__dict__ for r in self.retired],
        }


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def read_log(ws_root: Path) -> WorkspaceLog | None:
    """The workspace's record of its log; None before the first head of a non-empty log.

    Raises:
        UserError: the file is there but is not such a record (it is never taken as absent).
    """
    path = Path(ws_root) / LOG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError):
        raise UserError(f"{path}: not a JSON record of the audit log") from None
    try:
        if not isinstance(data, dict) or not isinstance(data.get("retired", []), list):
            raise TypeError
        retired = tuple(
            Retired(
                str(r["log_id"]),
                str(r["until"]),
                str(r["by"]),
                str(r.get("reason", "")),
                None if r.get("acknowledged", "") is None else str(r.get("acknowledged", "")),
            )
            for r in data.get("retired", [])
        )
        if not isinstance(data["log_id"], str) or not data["log_id"]:
            raise TypeError
        return WorkspaceLog(data["log_id"], str(data["since"]), retired)
    except (KeyError, TypeError):
        raise UserError(
            f'{path}: not a record of the audit log (expected {{"log_id", "since", "retired"}})'
        ) from None


def _write(path: Path, record: WorkspaceLog, *, replace: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record.as_json(), indent=2) + "\n", encoding="utf-8")
    try:
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # (never over one there: FileExistsError)
    finally:
        tmp.unlink(missing_ok=True)


def record_log(ws_root: Path, log_id: str) -> WorkspaceLog:
    """Record ``log_id`` as the workspace's log, unless one is recorded already; returns the
    record as it then stands (which may name another log, written meanwhile by another
    process: the caller compares)."""
    path = Path(ws_root) / LOG_FILE
    if (found := read_log(ws_root)) is not None:
        return found
    with contextlib.suppress(FileExistsError):  # (another process wrote it first)
        _write(path, WorkspaceLog(log_id, _now()), replace=False)
    found = read_log(ws_root)
    assert found is not None
    return found


def start_new_log(
    ws_root: Path,
    log_id: str,
    by: str,
    reason: str,
    old: Iterable[str],
    acknowledged: str | None = None,
) -> None:
    """Make ``log_id`` the workspace's log, retiring the one recorded (and ``old``: other logs
    whose heads the heads file holds), each with who did it and why, and the problems
    ``acknowledged`` (None: the store held their entries, and their heads are still checked)."""
    path = Path(ws_root) / LOG_FILE
    current = read_log(ws_root)
    until = _now()
    retired = list(current.retired if current else ())
    known = {r.log_id for r in retired}
    for lid in [*([current.log_id] if current else []), *old]:
        if lid != log_id and lid not in known:
            retired.append(Retired(lid, until, by, reason, acknowledged))
            known.add(lid)
    _write(path, WorkspaceLog(log_id, until, tuple(retired)), replace=True)
