"""What guards the login form: failed-login limits kept in the store, and a pre-login CSRF token.

Failed logins are rows of the store's ``login_failures`` (one for the account, one for the client
address), written before the password is checked, so a restart does not forget them, every
service process on the same store counts the same failures, and guesses sent at once are counted
before any of them is tried.

A login form carries a random token that must match the ``ob_login`` cookie set with the form (a
double-submit token): another site can make a browser post the form, but it can neither read
the token nor set the cookie, so it cannot log a visitor in to an account of its choosing
(login CSRF).
"""

from __future__ import annotations

import datetime as dt
import hmac
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session, sessionmaker

from openbureau.service.store import LoginFailure, take_lock

LOGIN_COOKIE = "ob_login"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


def login_token(cookie: str | None) -> str:
    """The token for a login form: the browser's own when it has one (two open login tabs
    both work), else a new one."""
    return cookie if cookie and _TOKEN.fullmatch(cookie) else secrets.token_urlsafe(32)


def login_token_ok(cookie: str | None, sent: str | None) -> bool:
    """Whether the form's token is the one in the browser's cookie."""
    return bool(
        cookie
        and sent
        and _TOKEN.fullmatch(cookie)
        and hmac.compare_digest(cookie.encode(), sent.encode())
    )


@dataclass(frozen=True)
class Attempt:
    """A login attempt the throttle let through (``wait`` 0; ``rows``: its failure rows,
    removed if it succeeds), or one refused for ``wait`` seconds."""

    wait: int
    rows: tuple[int, ...] = ()


class LoginThrottle:
    """Login attempts counted per account and per client address over a sliding window. An
    attempt counts as failed from before its password is checked, in one step with the check of
    the limits (under the store's lock), so of any number of guesses at once no more than the
    limit are tried; an attempt that succeeds is taken back, and clears its account's count.
    Once either count reaches its limit, logins for it are refused until enough failures have
    aged out, a right password included (otherwise guessing simply goes on). Kept in the store:
    shared by every process on it, and kept over a restart."""

    def __init__(
        self,
        store: sessionmaker[Session],
        per_account: int,
        per_address: int,
        window_minutes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.limits = {"account": per_account, "address": per_address}
        self.window = window_minutes * 60.0
        self.clock = clock  # seconds since the epoch

    @staticmethod
    def _at(seconds: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)

    @staticmethod
    def _keys(username: str, address: str) -> list[tuple[str, str]]:
        return [("account", username.strip().casefold()[:128]), ("address", address[:128])]

    def attempt(self, username: str, address: str) -> Attempt:
        """Let a login for ``username`` from ``address`` be tried, counted as failed until
        :meth:`succeeded` says otherwise; or say how many seconds to wait."""
        now = self.clock()
        keys = self._keys(username, address)
        with self.store() as session:
            take_lock(session, "login attempts")
            # (what has aged out goes: the table holds one window of failures at most)
            session.execute(
                delete(LoginFailure).where(LoginFailure.at <= self._at(now - self.window))
            )
            wait = self._wait(session, keys, now)
            rows = [] if wait else [LoginFailure(scope=s, key=k, at=self._at(now)) for s, k in keys]
            session.add_all(rows)
            session.commit()
        return Attempt(wait, tuple(r.id for r in rows))

    def _wait(self, session: Session, keys: list[tuple[str, str]], now: float) -> int:
        """Seconds until one more attempt is within both limits; 0: now."""
        wait = 0.0
        for scope, key in keys:
            times = [
                (t.replace(tzinfo=dt.UTC)).timestamp()
                for t in session.execute(
                    select(LoginFailure.at)
                    .where(
                        LoginFailure.scope == scope,
                        LoginFailure.key == key,
                        LoginFailure.at > self._at(now - self.window),
                    )
                    .order_by(LoginFailure.at)
                ).scalars()
            ]
            excess = len(times) - self.limits[scope] + 1
            if excess > 0:  # wait until that many have aged out
                wait = max(wait, times[excess - 1] + self.window - now)
        return math.ceil(wait)

    def succeeded(self, username: str, attempt: Attempt) -> None:
        """The attempt had the right password: it was no failure, and its account's count
        starts again."""
        scope, key = self._keys(username, "")[0]
        with self.store() as session:
            session.execute(
                delete(LoginFailure).where(
                    or_(
                        and_(LoginFailure.scope == scope, LoginFailure.key == key),
                        LoginFailure.id.in_(attempt.rows),
                    )
                )
            )
            session.commit()
