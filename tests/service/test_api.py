"""The JSON API: roles, purposes, audit, errors, snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.service.conftest import Service


def test_person_reads_own_score_with_reasons_and_records(service: Service) -> None:
    r = service.client.get("/api/v1/me/score", headers=service.api("pat"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["person_id"] == service.served.person
    assert 300 <= body["score"] <= 850
    assert len(body["reasons"]) >= 3
    assert any(reason["record_ids"] for reason in body["reasons"])


def _audit(service: Service, **filters: str) -> list[dict]:
    r = service.client.get(
        "/api/v1/audit", params={"limit": 1000, **filters}, headers=service.api("audrey")
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_a_person_may_not_read_another_persons_file_and_the_attempt_is_logged(
    service: Service,
) -> None:
    other = service.served.other
    r = service.client.get(f"/api/v1/persons/{other}/score", headers=service.api("pat"))
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    denied = _audit(service, actor="pat", outcome="denied")
    assert [e["subject"] for e in denied] == [other]
    # the same id as their own is fine
    own = service.client.get(
        f"/api/v1/persons/{service.served.person}/score", headers=service.api("pat")
    )
    assert own.status_code == 200


def test_every_role_is_held_to_its_endpoints(service: Service) -> None:
    pid = service.served.person
    matrix = [  # (method, path, json, allowed roles)
        ("GET", "/api/v1/me/score", None, {"pat"}),
        ("GET", "/api/v1/me/history", None, {"pat"}),
        ("GET", "/api/v1/me/file", None, {"pat"}),
        ("GET", "/api/v1/me/access", None, {"pat"}),
        ("POST", "/api/v1/lookups", {"purpose": "account_review", "person_id": pid}, {"lena"}),
        ("GET", "/api/v1/audit", None, {"audrey", "ada"}),
        ("GET", "/api/v1/audit/verify", None, {"audrey", "ada"}),
        ("GET", "/api/v1/model", None, {"audrey", "ada"}),
        (
            "GET",
            f"/api/v1/persons/{pid}/file?purpose=dispute_investigation",
            None,
            {"audrey", "ada"},
        ),
        ("GET", "/api/v1/accounts", None, {"ada"}),
        ("POST", "/api/v1/accounts/lena/keys", None, {"ada"}),
    ]
    for method, path, body, allowed in matrix:
        for user in ("ada", "audrey", "lena", "pat"):
            r = service.client.request(method, path, json=body, headers=service.api(user))
            want = {200, 201} if user in allowed else {403}
            assert r.status_code in want, (user, path, r.status_code, r.text)
        anon = service.client.request(method, path, json=body)
        assert anon.status_code == 401, (path, anon.text)
        assert anon.json()["error"]["code"] == "not_authenticated"


def test_a_lender_must_state_a_permissible_purpose(service: Service) -> None:
    pid = service.served.person
    url = f"/api/v1/persons/{pid}/score"
    for purpose in (None, "curiosity", "dispute_investigation"):
        r = service.client.get(
            url, params={"purpose": purpose} if purpose else {}, headers=service.api("lena")
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"] == {
            "code": "purpose_required",
            "field": "purpose",
            "message": r.json()["error"]["message"],
        }
    ok = service.client.get(
        url, params={"purpose": "credit_application"}, headers=service.api("lena")
    )
    assert ok.status_code == 200
    entries = _audit(service, actor="lena", subject=pid)
    assert [(e["outcome"], e["purpose"]) for e in reversed(entries)] == [
        ("denied", None),
        ("denied", "curiosity"),
        ("denied", "dispute_investigation"),
        ("allowed", "credit_application"),
    ]
    # an auditor sees no one's file without an auditor's purpose
    assert service.client.get(url, headers=service.api("audrey")).status_code == 422
    assert (
        service.client.get(
            url, params={"purpose": "dispute_investigation"}, headers=service.api("audrey")
        ).status_code
        == 200
    )


def test_lender_decision_against_the_cutoff_with_adverse_action_reasons(service: Service) -> None:
    pid = service.served.person
    score = service.client.get("/api/v1/me/score", headers=service.api("pat")).json()
    for cutoff, decision in ((score["score"], "approve"), (score["score"] + 1, "decline")):
        r = service.client.post(
            "/api/v1/lookups",
            headers=service.api("lena"),
            json={"purpose": "credit_application", "person_id": pid, "cutoff": cutoff},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["decision"], body["score"]) == (decision, score["score"])
        if decision == "decline":
            assert body["adverse_action"] == [
                {"code": x["code"], "statement": x["statement"]} for x in score["reasons"]
            ]
        else:
            assert body["adverse_action"] == []
        assert body["file_summary"]["accounts"] >= 1
    # the person sees who looked
    looked = service.client.get("/api/v1/me/access", headers=service.api("pat")).json()["entries"]
    assert {(e["actor"], e["purpose"]) for e in looked} >= {("lena", "credit_application")}


def test_lender_finds_a_file_by_identity_through_the_linker(service: Service) -> None:
    pid = service.served.person
    pub = service.client.app.state.ctx.published()
    r = service.client.post(
        "/api/v1/lookups",
        headers=service.api("lena"),
        json={"purpose": "credit_application", "cutoff": 300, "identity": service.identity(pid)},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["match"], body["person_id"], body["decision"]) == ("found", pid, "approve")
    assert body["match_probability"] >= 0.9
    nobody = service.client.post(
        "/api/v1/lookups",
        headers=service.api("lena"),
        json={
            "purpose": "credit_application",
            "identity": {
                "first_name": "Zebulon",
                "last_name": "Quixotic-Nonesuch",
                "dob": "1901-01-01",
                "address_line1": "1 Nowhere Lane",
                "postcode": "00001",
            },
        },
    )
    assert nobody.status_code == 200
    assert (nobody.json()["match"], nobody.json()["decision"]) == ("not_found", "no_file")
    too_little = service.client.post(
        "/api/v1/lookups",
        headers=service.api("lena"),
        json={"purpose": "credit_application", "identity": {"last_name": "Smith"}},
    )
    assert too_little.status_code == 422
    assert too_little.json()["error"]["code"] == "not_enough_to_identify"
    # the search wrote nothing to the serving copy it read (a clear national ID included)
    mtime = pub.path.stat().st_mtime_ns
    by_id = service.client.post(
        "/api/v1/lookups",
        headers=service.api("lena"),
        json={
            "purpose": "credit_application",
            "identity": {
                "first_name": "Ann",
                "last_name": "Lee",
                "dob": "1980-01-02",
                "national_id": "123-45-6789",
            },
        },
    )
    assert by_id.status_code == 200, by_id.text
    assert pub.path.stat().st_mtime_ns == mtime
    assert b"123-45-6789" not in pub.path.read_bytes()
    # ... nor to the store: the lookup is logged (its search written down), the ID is not
    store = Path(service.store_url.removeprefix("sqlite:///"))
    written = b"".join(f.read_bytes() for f in store.parent.glob(store.name + "*"))
    assert b"lookup" in written and b"credit_application" in written
    assert b"123-45-6789" not in written and b"123456789" not in written


def test_invalid_input_is_a_422_naming_the_field(service: Service) -> None:
    cases = [
        ({"purpose": "credit_application"}, None),  # neither id nor identity
        ({"purpose": "credit_application", "person_id": "P1", "cutoff": 900}, "cutoff"),
        ({"purpose": "credit_application", "person_id": "P1", "extra": 1}, "extra"),
        ({"purpose": "credit_application", "identity": {"dob": "31/12/1980"}}, "identity.dob"),
    ]
    for body, field in cases:
        r = service.client.post("/api/v1/lookups", json=body, headers=service.api("lena"))
        assert r.status_code == 422, (body, r.text)
        err = r.json()["error"]
        assert err["code"] == "invalid_input"
        assert err["field"] == field, (body, err)
    # (a purpose from outside the list is refused by the lookup itself, and logged)
    gossip = service.client.post(
        "/api/v1/lookups",
        headers=service.api("lena"),
        json={"purpose": "gossip", "person_id": "P1"},
    )
    assert gossip.status_code == 422
    assert gossip.json()["error"]["code"] == "purpose_required"
    assert gossip.json()["error"]["field"] == "purpose"
    r = service.client.post(
        "/api/v1/lookups",
        content=b"{not json",
        headers={**service.api("lena"), "content-type": "application/json"},
    )
    assert r.status_code == 422


def test_audit_log_check_through_the_api_and_the_cli_finds_an_edit(service: Service) -> None:
    import sqlite3

    from typer.testing import CliRunner

    from openbureau.cli import app

    for _ in range(3):
        service.client.get("/api/v1/me/score", headers=service.api("pat"))
    runner = CliRunner()
    where = ["-w", str(service.served.ws), "--store", service.store_url]
    assert runner.invoke(app, ["audit", "sign", *where]).exit_code == 0
    check = service.client.get("/api/v1/audit/verify", headers=service.api("audrey")).json()
    assert check["ok"] and check["entries"] >= 4 and check["signed_heads"] == 1, check
    ok = runner.invoke(app, ["audit", "verify", *where])
    assert ok.exit_code == 0 and "intact" in ok.output
    db = sqlite3.connect(service.store_url.removeprefix("sqlite:///"))
    db.execute("UPDATE audit_log SET subject = 'P-someone-else' WHERE leaf_index = 1")
    db.commit()
    db.close()
    bad = runner.invoke(app, ["audit", "verify", *where])
    assert bad.exit_code == 1
    assert "at position 1 was changed" in " ".join(bad.output.split())
    check = service.client.get("/api/v1/audit/verify", headers=service.api("audrey")).json()
    assert not check["ok"] and any("position 1" in p for p in check["problems"])


def test_the_score_the_what_if_and_the_lender_give_the_same_reasons(service: Service) -> None:
    """One reason rule (scoring/reasons.py): the snapshot's reasons, the what-if's reasons
    before any change, and a declined lender's adverse-action reasons are the same list."""
    pid = service.served.person
    score = service.client.get("/api/v1/me/score", headers=service.api("pat")).json()
    before = service.client.post(
        "/api/v1/me/what-if",
        headers=service.api("pat"),
        json={"scenarios": [{"kind": "pay_down", "target_percent": 5}]},
    ).json()["before"]
    lender = service.client.post(
        "/api/v1/lookups",
        headers=service.api("lena"),
        json={"purpose": "credit_application", "person_id": pid, "cutoff": 850},
    ).json()
    assert score["score"] < 850 and lender["decision"] == "decline"

    def listed(reasons: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
        return [tuple(r[k] for k in keys) for r in reasons]

    keys = ("rank", "code", "factor", "statement", "points_lost")
    assert len(score["reasons"]) >= 3
    assert listed(before["reasons"], *keys) == listed(score["reasons"], *keys)
    assert listed(lender["reasons"], *keys) == listed(score["reasons"], *keys)
    assert listed(lender["adverse_action"], "code", "statement") == listed(
        score["reasons"], "code", "statement"
    )


def test_what_if_moves_the_score_with_the_real_scorecard(service: Service) -> None:
    r = service.client.post(
        "/api/v1/me/what-if",
        headers=service.api("pat"),
        json={
            "scenarios": [
                {"kind": "pay_down", "target_percent": 5},
                {"kind": "remove_inquiry", "count": 1},
            ]
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    own = service.client.get("/api/v1/me/score", headers=service.api("pat")).json()
    assert body["before"]["score"] == own["score"]
    assert body["after"]["score"] > body["before"]["score"]
    assert {c["name"] for c in body["features_changed"]} >= {"revolving_utilisation"}
    bad = service.client.post(
        "/api/v1/me/what-if",
        headers=service.api("pat"),
        json={"scenarios": [{"kind": "pay_down", "target_percent": 140}]},
    )
    assert bad.status_code == 422
    assert "target_percent" in bad.json()["error"]["field"]
    none = service.client.post(
        "/api/v1/me/what-if", headers=service.api("pat"), json={"scenarios": []}
    )
    assert none.status_code == 422


def test_shared_score_verifies_and_tampering_is_named(service: Service) -> None:
    r = service.client.post(
        "/api/v1/me/attestations",
        headers=service.api("pat"),
        json={"days": 7, "audience": "Oak Street Lettings"},
    )
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    ok = service.client.post("/api/v1/verify", json={"token": token}).json()
    score = service.client.get("/api/v1/me/score", headers=service.api("pat")).json()
    assert ok["valid"] and ok["score"] == score["score"] and ok["audience"] == "Oak Street Lettings"
    head, payload, sig = token.split(".")
    forged = ".".join([head, payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB"), sig])
    bad = service.client.post("/api/v1/verify", json={"token": forged}).json()
    assert not bad["valid"] and bad["reason"] in ("tampered", "malformed")
    jwks = service.client.get("/.well-known/jwks.json").json()
    assert jwks["keys"] and all("d" not in k for k in jwks["keys"])


def test_session_changes_need_the_csrf_token(service: Service) -> None:
    c = service.login("pat")
    body = {"scenarios": [{"kind": "pay_down", "target_percent": 5}]}
    assert c.post("/api/v1/me/what-if", json=body).status_code == 403
    page = c.get("/me").text  # the session's token is in the page's forms
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert (
        c.post("/api/v1/me/what-if", json=body, headers={"X-CSRF-Token": token}).status_code == 200
    )
    forged = c.post("/me/what-if", data={"utilisation": "5", "csrf_token": "guess"})
    assert forged.status_code == 403


def test_errors_are_json_with_a_stable_code(service: Service) -> None:
    r = service.client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = service.client.get("/api/v1/me", headers={"Authorization": "Bearer obk_x_y"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_authenticated"
    r = service.client.get(
        "/api/v1/persons/P-nobody/score",
        params={"purpose": "account_review"},
        headers=service.api("lena"),
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_file"


def test_admin_disables_an_account_and_its_key_stops_working(service: Service) -> None:
    assert service.client.get("/api/v1/me", headers=service.api("quinn")).status_code == 200
    r = service.client.post("/api/v1/accounts/quinn/disable", headers=service.api("ada"))
    assert r.status_code == 200, r.text
    assert service.client.get("/api/v1/me", headers=service.api("quinn")).status_code == 401
    self_disable = service.client.post("/api/v1/accounts/ada/disable", headers=service.api("ada"))
    assert self_disable.status_code == 409
    assert (
        service.client.post(
            "/api/v1/accounts/nobody/disable", headers=service.api("ada")
        ).status_code
        == 404
    )


def test_a_what_if_that_does_not_apply_names_no_field(service: Service) -> None:
    r = service.client.post(
        "/api/v1/me/what-if",
        headers=service.api("pat"),
        json={"scenarios": [{"kind": "remove_inquiry", "count": 1000}]},
    )
    assert r.status_code == 422, r.text
    assert "cannot remove 1000" in r.json()["error"]["message"]
    assert r.json()["error"]["field"] is None  # a sentence before the colon, not a field


def test_a_retired_person_id_reads_the_file_it_was_merged_into(
    service: Service, tmp_path: Path
) -> None:
    """A merge of files retires an ID (person_ids.resolves_to). Lenders asking for it, and a
    person whose account still holds it, reach the surviving file; the reads are the
    survivor's in its access log."""
    import shutil

    import duckdb
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from openbureau.cli import app as cli
    from openbureau.service import bindings
    from openbureau.service.app import create_app
    from openbureau.service.auth import create_account, issue_api_key
    from openbureau.service.store import open_store

    survivor, retired = service.served.person, "P0RETIRED0001"
    ws = Path(shutil.copytree(service.served.ws, tmp_path / "ws"))
    with duckdb.connect(str(ws / "warehouse.duckdb")) as con:  # as a merge leaves it
        con.execute(
            """INSERT INTO person_ids SELECT ?, 'retired', ?, max(created_seq) + 1,
                       max(created_run), max(created_run) FROM person_ids""",
            [retired, survivor],
        )
    res = CliRunner().invoke(
        cli, ["score", "--as-of", "2025-12-31", "-w", str(ws)], catch_exceptions=False
    )
    assert res.exit_code == 0, res.output
    # (the command line finds the IDs of a file in the published snapshot, as the service)
    assert (
        bindings.file_ids(ws, retired.lower())
        == bindings.file_ids(ws, survivor)
        == [survivor, retired]
    )
    url = f"sqlite:///{tmp_path / 'own-store.sqlite'}"
    keys = {}
    with open_store(url)() as session:
        for username, role, pid in (
            ("lee", "lender", None),
            ("old", "person", retired),
            ("now", "person", survivor),
            ("aud", "auditor", None),
        ):
            account = create_account(
                session,
                username=username,
                role=role,
                password=None,
                person_id=pid,
                organisation="Bank" if pid is None else None,
            )
            keys[username] = issue_api_key(session, account, with_account=True)
        session.commit()
    with TestClient(create_app(ws, store_url=url), base_url="https://testserver") as client:

        def get(path: str, who: str, **params: str) -> Any:
            r = client.get(path, params=params, headers={"Authorization": f"Bearer {keys[who]}"})
            assert r.status_code == 200, r.text
            return r.json()

        assert (
            get(f"/api/v1/persons/{retired}/score", "lee", purpose="account_review")["person_id"]
            == survivor
        )
        assert get("/api/v1/me/score", "old")["person_id"] == survivor
        assert get(f"/api/v1/persons/{survivor}/score", "old")["person_id"] == survivor
        assert len(get("/api/v1/me/history", "old")) == len(get("/api/v1/me/history", "now")) > 0
        assert (
            get("/api/v1/me/file", "old")["furnishers"]
            == get("/api/v1/me/file", "now")["furnishers"]
        )
        assert get("/api/v1/me/file", "old")["identity"]["former_ids"] == [retired]
        looked = [e for e in get("/api/v1/me/access", "now")["entries"] if e["actor"] == "lee"]
        assert len(looked) == 1 and looked[0]["subject"] == survivor
        assert retired in looked[0]["detail"]
        # the two accounts see the same reads by others, and each sees the other's reads
        # (two logins to one file), never its own
        # (the proofs differ: each read of the access log is itself a new leaf of the log)
        old_log, now_log = (
            [
                {k: v for k, v in e.items() if k not in ("proof", "pending")}
                for e in get("/api/v1/me/access", who)["entries"]
            ]
            for who in ("old", "now")
        )
        assert [e for e in old_log if e["actor_role"] != "person"] == [
            e for e in now_log if e["actor_role"] != "person"
        ]
        assert {e["actor"] for e in old_log if e["actor_role"] == "person"} == {"now"}
        assert {e["actor"] for e in now_log if e["actor_role"] == "person"} == {"old"}
        # the audit log read by the retired ID: the file's entries under each of its IDs, and
        # the read in the person's access log, as a read of their file
        found = get("/api/v1/audit", "aud", subject=retired.lower(), log_reads="false")
        assert {e["subject"] for e in found} == {survivor}
        assert {e["actor"] for e in found} >= {"lee", "old", "now"}
        seen = [e for e in get("/api/v1/me/access", "now")["entries"] if e["actor"] == "aud"]
        assert [(e["action"], e["subject"]) for e in seen] == [("read audit log", survivor)]
        assert seen[0]["detail"].startswith(f"asked for {retired}; ")
        r = client.get(
            "/api/v1/persons/P0NOBODY00001/score",
            params={"purpose": "account_review"},
            headers={"Authorization": f"Bearer {keys['lee']}"},
        )
        assert r.status_code == 404
