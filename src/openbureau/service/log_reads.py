"""Reads of the audit log by auditors and admins, each in the log with the persons it showed.

An entry of the log says who read whose file, when, why and what came of it ("lookup 1: found,
decision decline"): a person's lookups, their credit applications. So a read of the log is a read
of every person its entries name, and is logged as such, one entry per person, with that person
as its subject: it is then in their access log like any other read of their file.

- Filtered on a person (``subject``): the ID is resolved as everywhere in the service (a retired
  ID to the file it was merged into), the entries of every ID of that file are returned, and the
  read is logged with the file's ID as its subject, even when nothing is found.
- Otherwise (no filter, or by actor, action, outcome, time): each person named by an entry
  returned is a subject of the read. An entry that records a read of the log itself does not
  count: it says only that the log held entries about someone, and counting it would have
  every read re-log the persons of the one before, without end. A read that names no one is
  one entry without a subject.

The page leaves the log's own reads out unless asked (else an auditor's every view would fill
the next one with itself); the API returns them unless asked not to.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from openbureau.service import audit, views
from openbureau.service.auth import Principal
from openbureau.service.context import ServiceContext
from openbureau.service.store import AuditEntry

#: The actions that record a read of the audit log itself.
LOG_READS = ("read audit log", "read audit log page")
ASKED = "asked for "


def read_audit_log(
    ctx: ServiceContext,
    who: Principal,
    action: str,
    *,
    actor: str | None = None,
    subject: str | None = None,
    of_action: str | None = None,
    outcome: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 100,
    offset: int = 0,
    log_reads: bool = True,
) -> list[dict[str, Any]]:
    """Entries of the log, newest first, filtered; the read logged (as ``action``) with each
    person it shows as its subject, before they are returned."""
    filters = {"actor": actor, "subject": subject, "action": of_action, "outcome": outcome}
    said = " ".join(
        f"{k}={v.isoformat() if isinstance(v, dt.datetime) else v}"
        for k, v in {**filters, "since": since, "until": until}.items()
        if v
    )
    rest = f"filters {said}" if said else "no filters"
    typed = (subject or "").strip()
    asked = typed.upper()  # (as person IDs are written)
    pub = ctx.published()
    pid = views.own_id(pub, asked) if asked else None
    where = [] if log_reads or of_action else [AuditEntry.action.not_in(LOG_READS)]
    entries = audit.query(
        ctx.store,
        actor=actor,
        # (and what was typed, as typed: a refused caller's subject is logged so)
        subject=list(dict.fromkeys([typed, *views.merged_into(pub, pid)])) if pid else None,
        action=of_action,
        outcome=outcome,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
        where=where,
    )
    shown = f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} shown"
    if pid:
        # (the ID asked for first, as every read's detail has it: the access log reads it)
        asked_for = f"{ASKED}{asked}; " if pid != asked else ""
        ctx.audit_many(who, action, [(pid, f"{asked_for}{shown}; {rest}")])
        return entries
    named: dict[str, int] = {}
    for e in entries:
        if e["subject"] is not None and e["action"] not in LOG_READS:
            named[e["subject"]] = named.get(e["subject"], 0) + 1
    ctx.audit_many(
        who,
        action,
        [(s, f"{shown}, {n} about this person; {rest}") for s, n in named.items()]
        or [(None, f"{shown}; {rest}")],
    )
    return entries
