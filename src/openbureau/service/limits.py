"""Limits that keep one caller from crowding out the others.

- :class:`LookupQuota`: a lender's lookups a minute, counted in the store, so the quota holds
  across every service process on one store.
- :class:`LookupPool`: identity searches run on threads of their own, never on the thread pool
  that serves other requests, with at most a few of one lender's at a time (per process); the
  others wait on the event loop, holding no thread.
- :class:`AddressLimit`: anonymous calls (score verification) a minute, per client address and
  for all addresses together, in this process.

Every window is a calendar minute (UTC): at most the limit in any one minute, so up to twice it
across a minute's end. That is coarser than a sliding window, and costs one row a lender a
minute in the store.
"""

from __future__ import annotations

import asyncio
import functools
import math
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from openbureau.service.store import Account, LookupWindow

T = TypeVar("T")
WINDOW = 60  # seconds


def _wait(now: float) -> int:
    """Whole seconds until the current window ends (at least 1)."""
    return max(1, math.ceil((math.floor(now / WINDOW) + 1) * WINDOW - now))


class LookupQuota:
    """Each lender's lookups a minute, counted in the store (``lookup_windows``): one upsert per
    lookup, atomic on SQLite and PostgreSQL, so concurrent lookups from several processes
    cannot all slip under the quota. Refused lookups count too."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        default_per_minute: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.factory = factory
        self.default_per_minute = default_per_minute
        self.clock = clock
        postgres = factory.kw["bind"].dialect.name == "postgresql"
        self._insert = (postgresql.insert if postgres else sqlite.insert)(LookupWindow)

    def take(self, account_id: int) -> tuple[int, int]:
        """Count one lookup for the account: (seconds to wait, 0 when within its quota; the
        quota)."""
        now = self.clock()
        minute = int(now // WINDOW)
        with self.factory() as session:
            own = session.execute(
                select(Account.lookups_per_minute).where(Account.id == account_id)
            ).scalar()
            quota = self.default_per_minute if own is None else own
            used = session.execute(
                self._insert.values(account_id=account_id, window_minute=minute, used=1)
                .on_conflict_do_update(
                    index_elements=["account_id", "window_minute"],
                    set_={"used": LookupWindow.used + 1},
                )
                .returning(LookupWindow.used)
            ).scalar_one()
            if used == 1:  # the account's first lookup this minute: forget its older minutes
                session.execute(
                    delete(LookupWindow).where(
                        LookupWindow.account_id == account_id, LookupWindow.window_minute < minute
                    )
                )
            session.commit()
        return (0 if used <= quota else _wait(now)), quota


class LookupPool:
    """Identity searches on ``threads`` threads of their own, at most ``per_lender`` of one
    lender's at a time; a lender's further lookups wait their turn on the event loop."""

    def __init__(self, threads: int, per_lender: int) -> None:
        self.per_lender = per_lender
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="lookup")
        # a semaphore belongs to one event loop (a test client may run several)
        self._slots: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[int, asyncio.Semaphore]
        ] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def _slot(self, account_id: int) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        with self._lock:
            slots = self._slots.setdefault(loop, {})
            if account_id not in slots:
                slots[account_id] = asyncio.Semaphore(self.per_lender)
            return slots[account_id]

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """``fn(*args)`` on a lookup thread, not waited for (work ahead of lookups)."""
        self._executor.submit(fn, *args)

    async def run(self, account_id: int, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a lookup thread, once one of the lender's slots is free."""
        async with self._slot(account_id):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))


class AddressLimit:
    """Calls a minute from one client address, and from all addresses together, counted in
    this process. A refusal is worth an audit entry only the first time this minute for its
    address (or, once all addresses together are over, the first time at all): logging every
    refusal would let anyone grow the log without bound again. So at most ``overall`` calls,
    ``overall / per_address`` address refusals and one overall refusal are logged a minute."""

    def __init__(
        self, per_address: int, overall: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.per_address = per_address
        self.overall = overall
        self.clock = clock
        self._minute = -1
        self._counts: dict[str, int] = {}  # (only addresses let through: at most ``overall``)
        self._total = 0
        self._refused: set[str] = set()
        self._lock = threading.Lock()

    def check(self, address: str) -> tuple[int, bool]:
        """(seconds to wait, 0 when the call may go ahead; whether to log its refusal)."""
        now = self.clock()
        with self._lock:
            minute = int(now // WINDOW)
            if minute != self._minute:
                self._minute, self._counts, self._total, self._refused = minute, {}, 0, set()
            used = self._counts.get(address, 0)
            if used >= self.per_address:
                key = address
            elif self._total >= self.overall:
                key = "*"
            else:
                self._counts[address] = used + 1
                self._total += 1
                return 0, False
            first = key not in self._refused
            self._refused.add(key)
            return _wait(now), first
