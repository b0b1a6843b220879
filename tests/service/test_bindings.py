"""Four eyes on logins to a person's file: the ways around it a review found, each closed.

The rule (docs/service.md, "What an admin can and cannot do unseen"): no admin alone adds a
working login to a file that has one. An account bound to a file counts as a login (a key for it
is one call away), whatever its state; a key for an admin's account issued by another admin is a
second self; enabling an account again adds a login as much as making one; and two changes made
at the same moment must not both get through. Every refused change is in the audit log, with the
person as its subject.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from openbureau.cli import app
from openbureau.errors import UserError
from openbureau.service import audit, bindings
from openbureau.service.auth import create_account, issue_api_key
from openbureau.service.store import Account, ApiKey, open_store
from tests.service.conftest import PASSWORD, Service, post_login


def _second_admin(service: Service, username: str = "bea") -> None:
    with open_store(service.store_url)() as session:
        account = create_account(session, username=username, role="admin", password=PASSWORD)
        account.pending = False  # (approved long ago)
        service.keys[username] = issue_api_key(session, account, with_account=True)
        session.commit()


def _post(service: Service, who: str, path: str, **body: Any) -> Any:
    return service.client.post(f"/api/v1{path}", headers=service.api(who), json=body or None)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _file_read(service: Service, key: str) -> int:
    return int(service.client.get("/api/v1/me/file", headers=_bearer(key)).status_code)


def _fresh_files(service: Service) -> list[str]:
    """Scored persons no account is bound to."""
    pub = service.client.app.state.ctx.published()  # type: ignore[attr-defined]
    return sorted(set(pub.index) - {service.served.person, service.served.other})


def test_a_key_for_an_account_without_a_login_waits_once_the_file_has_another_account(
    service: Service,
) -> None:
    """The review's attack: ada makes a login-less account for a file (its first, so it works),
    the person's own account is made and approved by bea; then ada alone gave the first one a
    key, which worked at once, and read the file as the person."""
    _second_admin(service)
    pid, lone = _fresh_files(service)[:2]
    shadow = _post(service, "ada", "/accounts", username="shadow", role="person", person_id=pid)
    assert shadow.status_code == 201 and shadow.json()["pending"] is False  # the first
    owner = _post(
        service,
        "ada",
        "/accounts",
        username="owner",
        role="person",
        person_id=pid,
        password="owners password 1",
    )
    assert owner.json()["pending"] is True
    assert _post(service, "bea", "/accounts/owner/approve").status_code == 200
    key = _post(service, "ada", "/accounts/shadow/keys").json()
    assert key["pending"] is True
    assert _file_read(service, key["key"]) == 401
    assert (
        _post(service, "ada", f"/accounts/shadow/keys/{key['prefix']}/approve").status_code == 403
    )
    # the same with an account a second admin approved as harmless, having no login: on pat's
    # file, which has pat's account
    assert (
        _post(
            service,
            "ada",
            "/accounts",
            username="helper",
            role="person",
            person_id=service.served.person,
        ).json()["pending"]
        is True
    )
    assert _post(service, "bea", "/accounts/helper/approve").status_code == 200
    helper = _post(service, "ada", "/accounts/helper/keys").json()
    assert helper["pending"] is True and _file_read(service, helper["key"]) == 401
    # with a second admin's approval, each works; and a key for the only account bound to a
    # file, with no login yet, is that file's first login: it works at once
    assert _post(service, "bea", f"/accounts/helper/keys/{helper['prefix']}/approve").json()[
        "approved_by"
    ] == ("bea")
    assert _file_read(service, helper["key"]) == 200
    _post(service, "ada", "/accounts", username="lone", role="person", person_id=lone)
    first = _post(service, "ada", "/accounts/lone/keys").json()
    assert first["pending"] is False and _file_read(service, first["key"]) == 200


def test_an_admin_approved_without_a_login_is_no_second_self(service: Service) -> None:
    """ada makes an admin with no password (it waits), bea approves it as harmless, ada gives
    it a key: that would be a second admin of ada's to approve her own logins with."""
    _second_admin(service)
    made = _post(service, "ada", "/accounts", username="ada2", role="admin")
    assert made.json()["pending"] is True
    assert _post(service, "bea", "/accounts/ada2/approve").status_code == 200
    key = _post(service, "ada", "/accounts/ada2/keys").json()
    assert key["pending"] is True
    _post(
        service,
        "ada",
        "/accounts",
        username="pat2",
        role="person",
        person_id=service.served.person,
        password="another long pw",
    )
    assert (
        service.client.post(
            "/api/v1/accounts/pat2/approve", headers=_bearer(key["key"])
        ).status_code
        == 401
    )
    # an admin's own new key is no second login of anyone else's
    assert _post(service, "ada", "/accounts/ada/keys").json()["pending"] is False


def test_an_account_enabled_again_waits_when_its_file_has_another_account(
    service: Service,
) -> None:
    """ada makes the first login to a file and disables it; the person's own account is made
    and approved; ada enabling hers again would be a second login to the file by her alone."""
    _second_admin(service)
    pid = _fresh_files(service)[0]
    _post(
        service,
        "ada",
        "/accounts",
        username="shadow",
        role="person",
        person_id=pid,
        password="shadows password",
    )
    assert _post(service, "ada", "/accounts/shadow/disable").status_code == 200
    _post(
        service,
        "ada",
        "/accounts",
        username="owner",
        role="person",
        person_id=pid,
        password="owners password 1",
    )
    assert _post(service, "bea", "/accounts/owner/approve").status_code == 200
    enabled = _post(service, "ada", "/accounts/shadow/enable")
    assert enabled.status_code == 200, enabled.text
    assert enabled.json() | {"pending": True, "disabled": False, "pending_by": "ada"} == (
        enabled.json()
    )
    browser = TestClient(service.client.app, base_url="https://testserver")
    assert post_login(browser, "shadow", "shadows password").status_code == 403
    # not by ada, who enabled it; an admin who did not (here bea, who did not create it either)
    refused = _post(service, "ada", "/accounts/shadow/approve")
    assert refused.status_code == 403 and "created or enabled" in refused.text
    waiting = service.client.get("/api/v1/accounts/waiting", headers=service.api("bea")).json()
    assert [(a["username"], a["asked_by"]) for a in waiting["accounts"]] == [("shadow", "ada")]
    assert _post(service, "bea", "/accounts/shadow/approve").status_code == 200
    assert post_login(browser, "shadow", "shadows password").status_code == 303
    # every step is in the person's access log, from their own account
    owner = TestClient(service.client.app, base_url="https://testserver")
    assert post_login(owner, "owner", "owners password 1").status_code == 303
    steps = [
        (e["actor"], e["action"], e["outcome"])
        for e in owner.get("/api/v1/me/access").json()["entries"]
        if e["action"].endswith("account")
    ]
    assert steps[:3] == [
        ("bea", "approve account", "allowed"),
        ("ada", "approve account", "denied"),
        ("ada", "enable account", "allowed"),
    ]
    # the command line obeys the same rule (and an operator cannot approve)
    assert _post(service, "bea", "/accounts/shadow/disable").status_code == 200
    base = ["-w", str(service.served.ws), "--store", service.store_url]
    cli = CliRunner().invoke(app, ["accounts", "enable", "shadow", *base])
    assert cli.exit_code == 0 and "waits for an admin's approval" in cli.output, cli.output
    assert post_login(browser, "shadow", "shadows password").status_code == 403
    # an account that is the only one bound to its file is enabled at once
    assert _post(service, "ada", "/accounts/quinn/disable").status_code == 200
    assert _post(service, "ada", "/accounts/quinn/enable").json()["pending"] is False


def test_refused_approvals_and_account_changes_are_in_the_persons_access_log(
    service: Service,
) -> None:
    """ada approving her own second login to pat's file got a 403 and left no trace."""
    pid = service.served.person
    _post(
        service,
        "ada",
        "/accounts",
        username="second",
        role="person",
        person_id=pid,
        password="0123456789ab",
    )
    refused = _post(service, "ada", "/accounts/second/approve")
    assert refused.status_code == 403
    key = _post(service, "ada", "/accounts/pat/keys").json()
    assert _post(service, "ada", f"/accounts/pat/keys/{key['prefix']}/approve").status_code == 403
    assert _post(service, "ada", "/accounts/pat/enable").status_code == 409  # (not disabled)
    assert _post(service, "ada", "/accounts/nobody/approve").status_code == 404
    denied = [
        (e["actor"], e["action"], e["subject"], e["detail"])
        for e in audit.query(service.client.app.state.ctx.store, outcome="denied")  # type: ignore[attr-defined]
    ]
    assert denied == [
        ("ada", "approve account", None, "no account 'nobody'"),
        ("ada", "enable account", pid, "account 'pat' is already enabled"),
        (
            "ada",
            "approve API key",
            pid,
            f"key {key['prefix']!r}: another admin must approve what you created or enabled",
        ),
        (
            "ada",
            "approve account",
            pid,
            "account 'second': another admin must approve what you created or enabled",
        ),
    ]
    seen = service.client.get("/api/v1/me/access", headers=service.api("pat")).json()["entries"]
    assert [(e["action"], e["outcome"]) for e in seen if e["outcome"] == "denied"] == [
        ("enable account", "denied"),
        ("approve API key", "denied"),
        ("approve account", "denied"),
    ]
    # and on the admin page, the same
    ada = service.login("ada")
    page = ada.get("/admin").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert ada.post("/admin/accounts/ada/disable", data={"csrf_token": token}).status_code == 409
    [last] = audit.query(service.client.app.state.ctx.store, limit=1)  # type: ignore[attr-defined]
    assert (last["action"], last["outcome"], last["detail"]) == (
        "disable account",
        "denied",
        "an admin cannot disable their own account",
    )


# -- two changes at once ---------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> sessionmaker[Session]:
    if request.param == "sqlite":
        return open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    return open_store(request.getfixturevalue("postgres_db_url"))


def _log_then(store: sessionmaker[Session], meanwhile: Any) -> bindings.Log:
    """The audit log, with another admin's change made while the first entry is written:
    the moment between deciding a change and writing it."""
    done: list[bool] = []

    def log(**entry: Any) -> None:
        audit.record(store, **entry)
        if not done:
            done.append(True)
            meanwhile()

    return log


def test_two_first_logins_to_a_file_made_at_once_do_not_both_work(
    store: sessionmaker[Session],
) -> None:
    ada, bea = bindings.Actor("ada", "admin"), bindings.Actor("bea", "admin")
    plain = bindings.store_log(store)

    def bea_adds(username: str, person_id: str) -> None:
        bindings.add_account(
            store, plain, bea, username=username, role="person", password=None, person_id=person_id
        )

    with pytest.raises(UserError, match="added meanwhile") as refused:
        bindings.add_account(
            store,
            _log_then(store, lambda: bea_adds("b1", "P1")),
            ada,
            username="a1",
            role="person",
            password=None,
            person_id="P1",
            same_file=["P1"],
        )
    assert isinstance(refused.value, bindings.BindingError) and refused.value.status == 409
    with store() as s:
        assert [(a.username, a.pending) for a in s.query(Account)] == [("b1", False)]
    # a key for the file's only account, while another admin binds a second account to it
    with pytest.raises(UserError, match="added meanwhile"):
        bindings.add_key(store, _log_then(store, lambda: bea_adds("b2", "P1")), ada, "b1", one)
    with store() as s:
        assert s.query(ApiKey).count() == 0
    # enabling again the only account bound to a file, while another admin binds one to it
    bea_adds("c1", "P2")
    bindings.set_disabled(store, plain, ada, "c1", True, one)
    with pytest.raises(UserError, match="added meanwhile"):
        bindings.set_disabled(
            store, _log_then(store, lambda: bea_adds("c2", "P2")), ada, "c1", False, one
        )
    with store() as s:
        assert s.query(Account).filter(Account.username == "c1").one().disabled
    denied = [e for e in audit.query(store, outcome="denied") if e["actor"] == "ada"]
    assert [(e["action"], e["subject"]) for e in denied] == [
        ("enable account", "P2"),
        ("issue API key", "P1"),
        ("create account", "P1"),
    ]


def one(person_id: str) -> list[str]:
    return [person_id]


def test_an_account_bound_to_an_id_merged_into_the_file_counts_as_bound_to_it(
    store: sessionmaker[Session],
) -> None:
    """A key for an account holding a retired ID waits when the surviving file has another
    account, and the other way round; so does enabling one of them again."""
    ada = bindings.Actor("ada", "admin")
    plain = bindings.store_log(store)
    for username, pid in (("old", "P9"), ("pat", "P1")):  # (made before the merge: both first)
        bindings.add_account(
            store, plain, ada, username=username, role="person", password=None, person_id=pid
        )

    def merged(person_id: str) -> list[str]:
        return ["P1", "P9"]

    # as P1's only account, pat's first key works; old's, with the files merged, waits
    assert not bindings.add_key(store, plain, ada, "pat", one)[0].pending
    assert bindings.add_key(store, plain, ada, "old", merged)[0].pending
    bindings.set_disabled(store, plain, ada, "old", True, merged)
    assert bindings.set_disabled(store, plain, ada, "old", False, merged).pending
