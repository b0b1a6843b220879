"""The login form: failed-login limits kept in the store (a restart, or another process on the
same store, does not reset them), and a CSRF token before there is a session."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from openbureau.service.app import create_app
from openbureau.service.deps import SESSION_COOKIE
from openbureau.service.login_guard import LOGIN_COOKIE
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
