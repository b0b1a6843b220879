"""What guards the login form: failed-login limits kept in the store, and a pre-login CSRF token.

Failed logins are rows of the store's ``login_failures`` (one for the account, one for the client
address), so a restart does not forget them and every service process on the same store counts
the same failures. A login form carries a random token that must match the ``ob_login`` cookie
set with the form (a double-submit token): another site can make a browser post the form, but
it can neither read the token nor set the cookie, so it cannot log a visitor in to an account of
its choosing (login CSRF).
"""

from __future__ import annotations

import datetime as dt
import hmac
import math
import re
import secrets
import time
from collections.abc import Callable

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from openbureau.service.store import LoginFailure

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


class LoginThrottle:
    """Failed logins counted per account and per client address over a sliding window. Once
    either passes its limit, logins for it are refused until enough failures have aged out,
    a right password included (otherwise guessing simply goes on). A login that succeeds
    clears its account's count. Kept in the store: shared by every process on it, and kept
    over a restart. (Two processes checking at the same moment may each let one more guess
    through: the limit holds to within the number of processes.)"""

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

    def retry_after(self, username: str, address: str) -> int:
        """Seconds until a login for ``username`` from ``address`` may be tried; 0: now."""
        now = self.clock()
        wait = 0.0
        with self.store() as session:
            for scope, key in self._keys(username, address):
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

    def failed(self, username: str, address: str) -> None:
        now = self.clock()
        with self.store() as session:
            # (what has aged out goes: the table holds one window of failures at most)
            session.execute(
                delete(LoginFailure).where(LoginFailure.at <= self._at(now - self.window))
            )
            session.execute(
                insert(LoginFailure),
                [
                    {"scope": scope, "key": key, "at": self._at(now)}
                    for scope, key in self._keys(username, address)
                ],
            )
            session.commit()

    def succeeded(self, username: str) -> None:
        scope, key = self._keys(username, "")[0]
        with self.store() as session:
            session.execute(
                delete(LoginFailure).where(LoginFailure.scope == scope, LoginFailure.key == key)
            )
            session.commit()
