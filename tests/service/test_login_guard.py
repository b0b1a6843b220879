"""The login form: failed-login limits kept in the store (a restart, or another process on the
same store, does not reset them), and a CSRF token before there is a session."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from openbureau.service.app import create_app
from openbureau.service.deps import SESSION_COOKIE
from openbureau.service.login_guard import LOGIN_COOKIE, LoginThrottle
from openbureau.service.store import open_store
from tests.service.conftest import PASSWORD, Service, post_login


def _client(service: Service) -> TestClient:
    return TestClient(service.client.app, base_url="https://testserver")


def test_a_lockout_survives_a_restart_and_holds_in_every_process_on_the_store(
    service: Service,
) -> None:
    first = service.client
    assert [post_login(first, "pat", "wrong-guess").status_code for _ in range(3)] == [401] * 3
    # another process on the same store counts the same failures
    with TestClient(
        create_app(service.served.ws, store_url=service.store_url), base_url="https://testserver"
    ) as second:
        assert [post_login(second, "pat", "wrong-guess").status_code for _ in range(2)] == [401] * 2
        assert post_login(second, "pat", PASSWORD).status_code == 429
    assert post_login(first, "pat", PASSWORD).status_code == 429
    # a restart: a new app on the same store still refuses the right password
    with TestClient(
        create_app(service.served.ws, store_url=service.store_url), base_url="https://testserver"
    ) as restarted:
        r = post_login(restarted, "PAT", PASSWORD)
        assert r.status_code == 429 and "Too many failed logins" in r.text
        assert post_login(restarted, "quinn", PASSWORD).status_code == 303


def test_a_cross_site_login_post_without_the_token_is_refused(service: Service) -> None:
    """Login CSRF: another site posts the form with its own account's password, to log the
    visitor in as someone else (and see what they then enter)."""
    forged = {"username": "pat", "password": PASSWORD}
    for client, data in (
        (_client(service), forged),  # no token, no cookie
        (_client(service), {**forged, "csrf_token": "x" * 43}),  # a made-up token
    ):
        r = client.post("/login", data=data, follow_redirects=False)
        assert r.status_code == 403 and "did not come from this site" in r.text
        assert SESSION_COOKIE not in r.cookies
    # a token the attacker got from the form on their own visit: not this browser's cookie
    theirs = _client(service)
    token = re.search(r'name="csrf_token" value="([^"]+)"', theirs.get("/login").text)
    assert token is not None
    victim = _client(service)
    victim.get("/login")  # (the victim has a login cookie of their own)
    r = victim.post("/login", data={**forged, "csrf_token": token.group(1)}, follow_redirects=False)
    assert r.status_code == 403 and SESSION_COOKIE not in r.cookies
    # the refused posts were no attempts: the account is not locked
    assert post_login(_client(service), "pat", PASSWORD).status_code == 303


def test_the_login_cookie_is_scoped_and_the_form_works_with_it(service: Service) -> None:
    c = _client(service)
    form = c.get("/login")
    cookie = next(
        h for h in form.headers.get_list("set-cookie") if h.startswith(f"{LOGIN_COOKIE}=")
    ).lower()
    assert "httponly" in cookie and "secure" in cookie and "path=/login" in cookie
    assert "samesite=lax" in cookie
    # a second open form (another tab) keeps the same token
    assert re.findall(r'name="csrf_token" value="([^"]+)"', form.text) == re.findall(
        r'name="csrf_token" value="([^"]+)"', c.get("/login").text
    )
    wrong = post_login(c, "pat", "wrong-guess")
    assert wrong.status_code == 401 and 'name="csrf_token"' in wrong.text  # try again


def test_every_post_form_of_the_pages_carries_a_csrf_token(service: Service) -> None:
    """Each role's pages: every form that posts carries a token (the public verify form
    changes nothing and needs no login: the API takes the same post without one)."""
    pages = {
        "pat": ["/me", "/me/file"],
        "lena": ["/lender"],
        "audrey": ["/auditor"],
        "ada": ["/admin"],
    }
    forms = []
    for user, paths in pages.items():
        c = service.login(user)
        for path in paths:
            forms += re.findall(
                r'<form[^>]*method="post"[^>]*>.*?</form>', c.get(path).text, flags=re.S
            )
    forms += re.findall(
        r'<form[^>]*method="post"[^>]*>.*?</form>', _client(service).get("/login").text, flags=re.S
    )
    actions = {re.search(r'action="([^"]+)"', f).group(1) for f in forms}  # type: ignore[union-attr]
    assert {
        "/login",
        "/logout",
        "/me/what-if",
        "/me/share",
        "/lender",
        "/admin/accounts",
        "/admin/accounts/pat/disable",
    } <= actions
    for form in forms:
        assert 'name="csrf_token" value="' in form, form[:120]
    # and a post without it is refused
    ada = service.login("ada")
    for action in ("/admin/accounts/quinn/disable", "/admin/accounts", "/logout"):
        assert (
            ada.post(
                action, data={"username": "x", "role": "lender", "password": "long enough pw"}
            ).status_code
            == 403
        )


def _at_once(n: int, call: Callable[[int], Any]) -> list[Any]:
    """``call(0..n-1)``, each on its own thread, all let go at the same moment."""
    start = threading.Barrier(n)

    def run(i: int) -> Any:
        start.wait()
        return call(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def _guesser(service: Service) -> Callable[[str, str], int]:
    """Posts the login form (its token fetched once, as a script would) and gives the status;
    an exception (a stalled store) is a failure."""
    client = _client(service)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token is not None

    def post(username: str, password: str) -> int:
        r = client.post(
            "/login",
            follow_redirects=False,
            data={"username": username, "password": password, "csrf_token": token.group(1)},
        )
        return int(r.status_code)

    return post


def test_guesses_sent_at_once_are_counted_before_any_is_tried(service: Service) -> None:
    """Twelve wrong passwords at once for one account (limit 5): all twelve were checked
    before the first refusal, as the count was read before any was written."""
    guess = _guesser(service)
    codes = _at_once(12, lambda i: guess("pat", f"wrong guess {i:04d}"))
    assert sorted(codes) == [401] * 5 + [429] * 7
    assert guess("pat", PASSWORD) == 429  # the right one too, now


def test_a_burst_of_wrong_logins_larger_than_the_stores_pool_stalls_no_other_request(
    service: Service,
) -> None:
    """Forty unauthenticated wrong logins at once (the store's pool holds 15 connections): each
    held a connection while taking two more, so the pool ran dry, everything waited 30 s and
    then failed with 500, a lender's score read included. Now each takes one at a time."""
    guess = _guesser(service)
    person = service.served.person

    def one(i: int) -> int:
        if i == 0:  # a lender's read, in the middle of the burst
            r = service.client.get(
                f"/api/v1/persons/{person}/score",
                params={"purpose": "credit_application"},
                headers=service.api("lena"),
            )
            return -int(r.status_code)
        return guess(f"nobody{i % 10}", f"wrong guess {i:04d}")

    codes = _at_once(41, one)
    assert codes[0] == -200
    # (the client address's limit, 20, is what stops the burst: every guess is for an
    # unknown account, each account's limit not reached)
    assert sorted(codes[1:]) == [401] * 20 + [429] * 20


def test_logins_that_succeed_do_not_count_against_the_address(service: Service) -> None:
    """A login's attempt is counted before its password is checked; a right password takes it
    back, so an office behind one address can log in more than the address's limit."""
    client = _client(service)
    assert [post_login(client, "quinn", PASSWORD).status_code for _ in range(22)] == [303] * 22
    assert post_login(client, "pat", "wrong-guess").status_code == 401


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> sessionmaker[Session]:
    if request.param == "sqlite":
        return open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    return open_store(request.getfixturevalue("postgres_db_url"))


def test_the_limit_holds_for_attempts_at_once_on_every_store(store: sessionmaker[Session]) -> None:
    """Two service processes (two throttles on one store) let through no more than the limit
    between them, however many attempts come at once."""
    a, b = (LoginThrottle(store, 5, 100, 15) for _ in range(2))
    attempts = _at_once(16, lambda i: (a, b)[i % 2].attempt("pat", "10.0.0.1"))
    assert sorted(x.wait == 0 for x in attempts) == [False] * 11 + [True] * 5
    # a right password takes its attempt back: the account starts again from nothing
    a.succeeded("pat", next(x for x in attempts if x.wait == 0))
    assert a.attempt("PAT ", "10.0.0.2").wait == 0
