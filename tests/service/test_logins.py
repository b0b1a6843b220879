"""Logins to a person's file: an admin cannot read a file as its person unseen.

The attack (issue 17, item 7): an admin makes a second person account for someone's person ID,
or a new key for their account, and reads ``/me/file``; those reads were logged as the person's
own and never shown to them. Now a further login waits for a second admin's approval, every step
is in the person's access log, the person sees every login bound to their file, and every read
through any login but the one they use.
"""

from __future__ import annotations

import getpass
import re
import socket
from typing import Any

from fastapi.testclient import TestClient

from openbureau.service.auth import create_account, issue_api_key
from openbureau.service.store import open_store
from tests.service.conftest import PASSWORD, Service, post_login


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "page has no CSRF token"
    return found.group(1)


def _second_admin(service: Service, username: str = "bea") -> None:
    """Another admin, as the bureau set it up (straight into the store, like the others)."""
    with open_store(service.store_url)() as session:
        account = create_account(session, username=username, role="admin", password=PASSWORD)
        account.pending = False  # (the fixture's second admin: approved long ago)
        service.keys[username] = issue_api_key(session, account, with_account=True)
        session.commit()


def _post(service: Service, who: str, path: str, **body: Any) -> Any:
    return service.client.post(f"/api/v1{path}", headers=service.api(who), json=body or None)


def _get(service: Service, who: str, path: str) -> Any:
    r = service.client.get(f"/api/v1{path}", headers=service.api(who))
    assert r.status_code == 200, r.text
    return r.json()


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_one_admin_alone_cannot_get_a_working_second_login_to_a_persons_file(
    service: Service,
) -> None:
    pid = service.served.person
    # a second account for pat's person ID, with a key
    r = _post(
        service,
        "ada",
        "/accounts",
        username="pat2",
        role="person",
        person_id=pid,
        password="another long pw",
    )
    assert r.status_code == 201, r.text
    assert r.json()["pending"] is True and r.json()["created_by"] == "ada"
    key = _post(service, "ada", "/accounts/pat2/keys").json()["key"]
    assert service.client.get("/api/v1/me/file", headers=_bearer(key)).status_code == 401
    assert (
        post_login(
            TestClient(service.client.app, base_url="https://testserver"), "pat2", "another long pw"
        ).status_code
        == 403
    )
    # ... a new key for pat's own account
    issued = _post(service, "ada", "/accounts/pat/keys")
    assert issued.status_code == 201 and issued.json()["pending"] is True
    assert (
        service.client.get("/api/v1/me/file", headers=_bearer(issued.json()["key"])).status_code
        == 401
    )
    # ... approving either herself
    for path in ("/accounts/pat2/approve", f"/accounts/pat/keys/{issued.json()['prefix']}/approve"):
        refused = _post(service, "ada", path)
        assert refused.status_code == 403, refused.text
        assert "another admin must approve" in refused.json()["error"]["message"]
    # ... or a second admin of her own making to approve them
    assert (
        _post(
            service, "ada", "/accounts", username="ada2", role="admin", password="yet another pw"
        ).json()["pending"]
        is True
    )
    ada2 = _post(service, "ada", "/accounts/ada2/keys").json()["key"]
    assert _post(service, "ada", "/accounts/ada2/approve").status_code == 403
    assert (
        service.client.post("/api/v1/accounts/pat2/approve", headers=_bearer(ada2)).status_code
        == 401
    )
    # ... or a key for another admin's account
    _second_admin(service)
    bea = _post(service, "ada", "/accounts/bea/keys").json()
    assert bea["pending"] is True
    assert (
        service.client.post(
            "/api/v1/accounts/pat2/approve", headers=_bearer(bea["key"])
        ).status_code
        == 401
    )
    # the person sees all of it waiting
    logins = {a["username"]: a for a in _get(service, "pat", "/me/logins")}
    assert logins["pat2"]["status"] == "pending" and logins["pat2"]["created_by"] == "ada"
    assert {k["status"] for k in logins["pat"]["keys"]} == {"active", "pending"}
    # refused attempts at a login that waits show in the person's access log too
    refused_logins = [
        e
        for e in _get(service, "pat", "/me/access")["entries"]
        if e["action"] == "login" and e["outcome"] == "denied"
    ]
    assert [e["actor"] for e in refused_logins] == ["pat2"]


def test_the_person_sees_a_second_login_every_step_of_it_and_its_reads(service: Service) -> None:
    """The attack end to end, once a second admin has approved: nothing of it is unseen."""
    pid = service.served.person
    _second_admin(service)
    _post(
        service,
        "ada",
        "/accounts",
        username="pat2",
        role="person",
        person_id=pid,
        password="another long pw",
    )
    pat2 = _post(service, "ada", "/accounts/pat2/keys").json()
    pat2_key = pat2["key"]
    new = _post(service, "ada", "/accounts/pat/keys").json()
    assert _post(service, "bea", "/accounts/pat2/approve").status_code == 200
    # (pat2 has a password: a key is a further login to it, and waits on its own)
    assert service.client.get("/api/v1/me", headers=_bearer(pat2_key)).status_code == 401
    assert _post(service, "bea", f"/accounts/pat2/keys/{pat2['prefix']}/approve").status_code == 200
    assert (
        _post(service, "bea", f"/accounts/pat/keys/{new['prefix']}/approve").json()["approved_by"]
        == "bea"
    )
    # both logins now read the file, as the person
    for key in (pat2_key, new["key"]):
        r = service.client.get("/api/v1/me/file", headers=_bearer(key))
        assert r.status_code == 200 and r.json()["person_id"] == pid

    pat = service.login("pat")
    assert pat.get("/api/v1/me/file").status_code == 200  # the person's own read
    log = pat.get("/api/v1/me/access").json()["entries"]
    steps = {(e["actor"], e["action"]) for e in log}
    assert {
        ("ada", "create account"),
        ("ada", "issue API key"),
        ("bea", "approve account"),
        ("bea", "approve API key"),
    } <= steps
    reads = [e for e in log if e["action"] == "read file"]
    # pat2's read, and the read through the new key of pat's own account: not pat's own
    # read through this login
    assert {(e["actor"], e["detail"]) for e in reads} == {
        ("pat2", f"via API key {pat2_key.split('_')[1]}"),
        ("pat", f"via API key {new['prefix']}"),
    }
    # through its first key, pat sees the read made through the password login as well
    via_key = _get(service, "pat", "/me/access")["entries"]
    assert ("pat", "via password login") in {
        (e["actor"], e["detail"]) for e in via_key if e["action"] == "read file"
    }
    assert not [
        e
        for e in via_key
        if e["actor"] == "pat"
        and e["detail"].endswith(f"via API key {service.keys['pat'].split('_')[1]}")
    ]

    logins = {a["username"]: a for a in pat.get("/api/v1/me/logins").json()}
    assert set(logins) == {"pat", "pat2"}  # quinn's account is another file's
    assert logins["pat2"] | {"keys": None} == logins["pat2"] | {
        "status": "active",
        "created_by": "ada",
        "created_by_role": "admin",
        "approved_by": "bea",
        "in_audit_log": True,
        "password": True,
        "this_login": False,
        "keys": None,
    }
    assert logins["pat"]["this_login"] is True and logins["pat"]["in_audit_log"] is False
    keys = {k["prefix"]: k for k in logins["pat"]["keys"]}
    assert (
        keys[new["prefix"]]["created_by"] == "ada"
        and keys[new["prefix"]]["approved_by"] == "bea"
        and keys[new["prefix"]]["last_used_at"] is not None
    )
    # and on the person's page
    page = pat.get("/me").text
    logins_card = page[page.index('id="logins"') :]
    assert "pat2, password" in logins_card and f"pat, API key {new['prefix']}" in logins_card
    assert "pat2 (a login to your file)" in page


def test_admins_approve_enable_and_disable_through_the_page(service: Service) -> None:
    _second_admin(service)
    ada, bea = service.login("ada"), service.login("bea")
    page = ada.get("/admin").text
    r = ada.post(
        "/admin/accounts",
        data={
            "csrf_token": _csrf(page),
            "username": "pat2",
            "role": "person",
            "person_id": service.served.person,
            "password": "another long pw",
        },
    )
    assert r.status_code == 200 and "waits for another admin" in r.text
    assert "another admin must approve" in r.text  # no button for the creator
    own = ada.post("/admin/accounts/pat2/approve", data={"csrf_token": _csrf(page)})
    assert own.status_code == 403
    bea_page = bea.get("/admin").text
    assert 'action="/admin/accounts/pat2/approve"' in bea_page
    assert (
        bea.post("/admin/accounts/pat2/approve", data={"csrf_token": _csrf(bea_page)}).status_code
        == 200
    )
    assert (
        post_login(
            TestClient(service.client.app, base_url="https://testserver"), "pat2", "another long pw"
        ).status_code
        == 303
    )
    for change, status in (("disable", 200), ("disable", 409), ("enable", 200)):
        r = bea.post(f"/admin/accounts/quinn/{change}", data={"csrf_token": _csrf(bea_page)})
        assert r.status_code == status, (change, r.text)
    actions = [e["action"] for e in _get(service, "quinn", "/me/access")["entries"]]
    assert actions[:2] == ["enable account", "disable account"]


def test_an_account_is_enabled_again_through_the_api(service: Service) -> None:
    assert _post(service, "ada", "/accounts/quinn/disable").status_code == 200
    assert service.client.get("/api/v1/me", headers=service.api("quinn")).status_code == 401
    r = _post(service, "ada", "/accounts/quinn/enable")
    assert r.status_code == 200 and r.json()["disabled"] is False
    assert service.client.get("/api/v1/me", headers=service.api("quinn")).status_code == 200
    assert _post(service, "ada", "/accounts/quinn/enable").status_code == 409
    assert _post(service, "ada", "/accounts/nobody/enable").status_code == 404
    assert _post(service, "lena", "/accounts/quinn/enable").status_code == 403
    seen = [
        (e["actor"], e["action"], e["outcome"])
        for e in _get(service, "quinn", "/me/access")["entries"]
    ]
    assert seen[:3] == [  # (the refused second enabling too)
        ("ada", "enable account", "denied"),
        ("ada", "enable account", "allowed"),
        ("ada", "disable account", "allowed"),
    ]


def _operator() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def test_the_command_line_is_audited_as_its_os_user_and_host(
    service: Service, monkeypatch: Any
) -> None:
    from typer.testing import CliRunner

    from openbureau.cli import app as cli

    runner = CliRunner()
    base = ["-w", str(service.served.ws), "--store", service.store_url]
    monkeypatch.setenv("OPENBUREAU_PASSWORD", "a long password")
    lender = runner.invoke(
        cli, ["accounts", "add", "bank9", "--role", "lender", "--api-key", *base]
    )
    assert lender.exit_code == 0, lender.output
    prefix = re.search(r"obk_([0-9a-f]+)_", lender.output).group(1)  # type: ignore[union-attr]
    second = runner.invoke(
        cli,
        [
            "accounts",
            "add",
            "pat3",
            "--role",
            "person",
            "--person",
            service.served.person.lower(),
            *base,
        ],
    )
    assert second.exit_code == 0 and "waits for an admin's approval" in second.output
    for change in ("disable", "enable"):
        done = runner.invoke(cli, ["accounts", change, "quinn", *base])
        assert done.exit_code == 0 and f"quinn {change}d" in done.output
    again = runner.invoke(cli, ["accounts", "enable", "quinn", *base])
    assert again.exit_code == 2 and "already enabled" in again.output
    assert "Traceback" not in again.output
    listed = runner.invoke(cli, ["accounts", "list", *base])
    assert re.search(r"pat3 .* pending", listed.output), listed.output

    entries = _get(service, "audrey", "/audit?limit=100")
    by_cli = [
        (e["actor"], e["actor_role"], e["action"], e["subject"], e["outcome"])
        for e in entries
        if e["actor_role"] == "operator"
    ]
    me = _operator()
    assert by_cli[::-1] == [
        (me, "operator", "create account", None, "allowed"),
        (me, "operator", "issue API key", None, "allowed"),
        (me, "operator", "create account", service.served.person, "allowed"),
        (me, "operator", "disable account", service.served.other, "allowed"),
        (me, "operator", "enable account", service.served.other, "allowed"),
        (me, "operator", "enable account", service.served.other, "denied"),  # (already)
    ]
    assert any(e["detail"].startswith(f"key {prefix} for bank9") for e in entries)
    # the person whose file got a second account sees who made it, from where
    log = _get(service, "pat", "/me/access")["entries"]
    assert (me, "create account") in {(e["actor"], e["action"]) for e in log}
    # and no operator approves at the command line: an admin other than the creator does
    assert _post(service, "ada", "/accounts/pat3/approve").status_code == 200


def test_keys_rotate_is_audited(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from openbureau.cli import app as cli
    from openbureau.service import audit
    from openbureau.service.attest import ensure_signing_key
    from openbureau.workspace import init_workspace

    root = tmp_path / "ws"
    init_workspace(root)
    old = ensure_signing_key(root)
    store = f"sqlite:///{tmp_path / 'store.sqlite'}"
    res = CliRunner().invoke(cli, ["keys", "rotate", "-w", str(root), "--store", store])
    assert res.exit_code == 0, res.output
    new = ensure_signing_key(root)
    [entry] = audit.query(open_store(store), action="rotate signing key")
    assert (entry["actor"], entry["actor_role"]) == (_operator(), "operator")
    assert new in entry["detail"] and old in entry["detail"]
    # a store that cannot be reached stops the rotation before it happens
    bad = CliRunner().invoke(
        cli,
        [
            "keys",
            "rotate",
            "-w",
            str(root),
            "--store",
            "postgresql+psycopg://nobody@127.0.0.1:1/none",
        ],
    )
    assert bad.exit_code == 2 and ensure_signing_key(root) == new
