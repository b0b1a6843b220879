"""Adverse-action notices: a lender's decline on a score it read issues the notice the person is
owed (as JSON, a page and a printable page), listed on the person's file; refused for a person
the lender did not read, an unknown one, or a snapshot or score that was not theirs; seen by the
person, the lender that issued it and auditors with a purpose, no one else."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from openbureau.service.app import service_config
from openbureau.service.auth import create_account, issue_api_key
from openbureau.service.store import open_store
from openbureau.workspace import Workspace
from tests.service.conftest import PASSWORD, Service

CONTACT = "Consumer relations, PO Box 1000, Springfield IL 62701; 1-800-555-0100"


@pytest.fixture
def bureau(service: Service) -> Service:
    """The service with the bureau's contact set (as ``[bureau] contact`` sets it)."""
    service.client.app.state.ctx.config.bureau_contact = CONTACT
    return service


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "page has no CSRF token"
    return found.group(1)


def _declined(service: Service, person: str) -> dict[str, Any]:
    r = service.client.post(
        "/api/v1/lookups",
        headers=service.api("lena"),
        json={"purpose": "credit_application", "person_id": person, "cutoff": 850},
    )
    assert r.status_code == 200 and r.json()["decision"] == "decline", r.text
    return r.json()


def _decline(service: Service, person: str, user: str = "lena", **body: Any) -> Any:
    return service.client.post(
        f"/api/v1/persons/{person}/adverse-action", json=body, headers=service.api(user)
    )


def _add_lender(service: Service, username: str, organisation: str, role: str = "lender") -> None:
    with open_store(service.store_url)() as session:
        account = create_account(
            session,
            username=username,
            role=role,
            password=PASSWORD,
            organisation=organisation,
        )
        service.keys[username] = issue_api_key(session, account, with_account=True)
        session.commit()


def test_a_decline_issues_the_notice_the_person_sees_on_their_file(bureau: Service) -> None:
    service, pid = bureau, bureau.served.person
    looked = _declined(service, pid)
    r = _decline(
        service, pid, snapshot_id=looked["snapshot_id"], score=looked["score"], reference="APP-7"
    )
    assert r.status_code == 201, r.text
    notice = r.json()
    assert notice["person_id"] == pid and notice["decision"] == "decline"
    assert notice["purpose"] == "credit_application"
    assert notice["lender"] == {"name": "Northwind Bank", "account": "lena", "reference": "APP-7"}
    assert notice["score"]["value"] == looked["score"]
    assert notice["score"]["as_of"] == looked["as_of"]
    assert (notice["score"]["lowest"], notice["score"]["highest"]) == (300, 850)
    # the snapshot's reasons, as ranked: up to four, and inquiries where they are one
    factors = notice["key_factors"]
    assert [f["code"] for f in factors] == [x["code"] for x in looked["reasons"]]
    assert 1 <= len([f for f in factors if not f["inquiries"]]) <= 4
    inquiry = [x["code"] for x in looked["reasons"] if x["factor"].startswith("inquiries_")]
    assert [f["code"] for f in factors if f["inquiries"]] == inquiry
    name = service.client.app.state.ctx.config.bureau_name
    assert notice["bureau"] == {"name": name, "contact": CONTACT}
    assert "did not make this decision and cannot explain why" in notice["bureau_did_not_decide"]
    issued = dt.datetime.fromisoformat(notice["issued_at"]).date()
    assert notice["free_copy_until"] == (issued + dt.timedelta(days=60)).isoformat()
    assert "free copy of your file" in notice["free_copy"] and "60 days" in notice["free_copy"]
    assert "dispute" in notice["dispute"] and "accuracy" in notice["dispute"]

    pat = service.api("pat")
    mine = service.client.get("/api/v1/me/notices", headers=pat).json()
    assert mine == [notice]
    assert service.client.get(notice["api_url"], headers=pat).json() == notice
    file = service.client.get("/api/v1/me/file", headers=pat).json()
    assert [(n["notice_id"], n["lender"], n["reference"]) for n in file["notices"]] == [
        (notice["notice_id"], "Northwind Bank", "APP-7")
    ]
    access = service.client.get("/api/v1/me/access", headers=pat).json()["entries"]
    issued_entry = [e for e in access if e["action"] == "adverse action notice"]
    assert [(e["actor"], e["outcome"], e["purpose"]) for e in issued_entry] == [
        ("lena", "allowed", "credit_application")
    ]
    # (and the other person's file has none)
    assert service.client.get("/api/v1/me/notices", headers=service.api("quinn")).json() == []

    c = service.login("pat")
    page = c.get(notice["url"])
    assert page.status_code == 200
    for text in (
        CONTACT,
        "did not make this decision",
        "APP-7",
        *[f["statement"] for f in factors],
    ):
        assert text.replace("'", "&#39;") in page.text, text
    assert 'id="print-link"' in page.text
    printable = c.get(notice["print_url"])
    assert printable.status_code == 200 and "/static/print.css" in printable.text
    assert 'class="top"' not in printable.text  # (no navigation on paper)
    assert CONTACT in printable.text and 'id="free-copy"' in printable.text
    assert "@media print" in c.get("/static/print.css").text
    assert f">Notice {notice['notice_id']}</a>" in c.get("/me").text
    assert f">Notice {notice['notice_id']}</a>" in c.get("/me/file").text


def test_a_decline_is_refused_without_a_read_for_an_unknown_person_or_a_wrong_score(
    bureau: Service,
) -> None:
    service, other = bureau, bureau.served.other
    looked = _declined(service, service.served.person)
    good = {"snapshot_id": looked["snapshot_id"], "score": looked["score"], "reference": "R1"}
    # a read refused for want of a purpose is no read
    assert (
        service.client.get(
            f"/api/v1/persons/{other}/score", headers=service.api("lena")
        ).status_code
        == 422
    )
    r = _decline(service, other, **good)
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_looked_up", r.text
    unknown = _decline(service, "P0000000000", **good)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "no_file"
    refusals = service.client.get(
        "/api/v1/me/access", params={"show": "refusals"}, headers=service.api("quinn")
    ).json()["entries"]
    assert [e["action"] for e in refusals if e["actor"] == "lena"] == [
        "adverse action notice",
        "read score",
    ]

    # a score read with a lender's purpose is a read: then only the score must be theirs
    read = service.client.get(
        f"/api/v1/persons/{other}/score",
        params={"purpose": "account_review"},
        headers=service.api("lena"),
    ).json()
    theirs = {"snapshot_id": read["snapshot_id"], "score": read["score"], "reference": "R2"}
    wrong_snapshot = _decline(service, other, **(theirs | {"snapshot_id": "S-nope"}))
    assert wrong_snapshot.status_code == 422
    assert wrong_snapshot.json()["error"]["code"] == "unknown_snapshot"
    assert wrong_snapshot.json()["error"]["field"] == "snapshot_id"
    wrong_score = _decline(service, other, **(theirs | {"score": (read["score"] or 0) + 1}))
    assert wrong_score.status_code == 422 and wrong_score.json()["error"]["field"] == "score"
    for bad in ({"reference": ""}, {"reference": "<b>x</b>"}, {"reference": "x" * 65}):
        r = _decline(service, other, **(theirs | bad))
        assert r.status_code == 422 and r.json()["error"]["field"] == "reference", bad
    for user in ("pat", "audrey", "ada"):
        assert _decline(service, other, user, **theirs).status_code == 403, user
    ok = _decline(service, other, **theirs)
    assert ok.status_code == 201, ok.text
    assert ok.json()["purpose"] == "account_review"

    service.client.app.state.ctx.config.bureau_contact = ""
    unset = _decline(service, other, **theirs)
    assert unset.status_code == 503 and unset.json()["error"]["code"] == "no_bureau_contact"
    assert len(service.client.get("/api/v1/me/notices", headers=service.api("quinn")).json()) == 1


def test_only_the_person_the_issuing_lender_and_auditors_see_a_notice(bureau: Service) -> None:
    service, pid = bureau, bureau.served.person
    _add_lender(service, "lars", "Southwind Credit")
    _add_lender(service, "fern", "Northbank", role="furnisher")
    looked = _declined(service, pid)
    made = _decline(
        service, pid, snapshot_id=looked["snapshot_id"], score=looked["score"], reference="Q-1"
    ).json()
    url = made["api_url"]
    allowed = {"pat", "lena", "audrey", "ada"}
    for user in ("pat", "quinn", "lena", "lars", "fern", "audrey", "ada"):
        # (a furnisher stating an auditor's purpose is still no auditor)
        params = {"purpose": "dispute_investigation"} if user in ("fern", "audrey", "ada") else {}
        r = service.client.get(url, params=params, headers=service.api(user))
        assert r.status_code == (200 if user in allowed else 403), (user, r.text)
    assert service.client.get(url, headers=service.api("audrey")).status_code == 422
    assert service.client.get(url).status_code == 401
    assert (
        service.client.get("/api/v1/notices/999999", headers=service.api("pat")).status_code == 404
    )
    assert [
        n["notice_id"]
        for n in service.client.get("/api/v1/notices", headers=service.api("lena")).json()
    ] == [made["notice_id"]]
    assert service.client.get("/api/v1/notices", headers=service.api("lars")).json() == []
    assert service.client.get("/api/v1/notices", headers=service.api("pat")).status_code == 403

    lars = service.login("lars")
    assert lars.get(made["url"], headers={"accept": "text/html"}).status_code == 403
    assert lars.get(made["print_url"], headers={"accept": "text/html"}).status_code == 403
    auditor = service.login("audrey")
    assert auditor.get(made["url"], headers={"accept": "text/html"}).status_code == 422
    seen = auditor.get(made["print_url"], params={"purpose": "dispute_investigation"})
    assert seen.status_code == 200 and "Q-1" in seen.text
    file = auditor.get(
        "/auditor/file", params={"person_id": pid, "purpose": "dispute_investigation"}
    ).text
    assert f'href="{made["url"]}?purpose=dispute_investigation"' in file

    log = service.client.get("/api/v1/me/access", headers=service.api("pat")).json()["entries"]
    reads = [(e["actor"], e["outcome"]) for e in log if e["action"] == "read adverse action notice"]
    assert ("lars", "denied") in reads and ("audrey", "allowed") in reads
    assert ("fern", "denied") in reads
    assert ("lena", "allowed") in reads and ("audrey", "denied") in reads


def test_the_lender_page_records_a_decline_and_shows_the_notice(bureau: Service) -> None:
    service = bureau
    c = service.login("lena")
    form = c.get("/lender").text
    result = c.post(
        "/lender",
        data={
            "csrf_token": _csrf(form),
            "purpose": "credit_application",
            **service.identity(service.served.person),
            "cutoff": "850",
        },
    )
    assert result.status_code == 200 and 'id="decline-form"' in result.text
    fields = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', result.text))
    bad = c.post("/lender/adverse-action", data={**fields, "reference": "no <tags>"})
    assert bad.status_code == 422 and "reference" in bad.text
    forged = c.post("/lender/adverse-action", data={**fields, "csrf_token": "x", "reference": "A"})
    assert forged.status_code == 403
    made = c.post(
        "/lender/adverse-action", data={**fields, "reference": "WEB-9"}, follow_redirects=False
    )
    assert made.status_code == 303, made.text
    page = c.get(made.headers["location"])
    assert page.status_code == 200 and "WEB-9" in page.text and CONTACT in page.text
    other = c.post(
        "/lender/adverse-action",
        data={**fields, "person_id": service.served.other, "reference": "WEB-10"},
    )
    assert other.status_code == 403 and "not read the score" in other.text
    mine = service.client.get("/api/v1/me/notices", headers=service.api("pat")).json()
    assert [n["lender"]["reference"] for n in mine] == ["WEB-9"]


def test_the_bureau_contact_comes_from_bureau_toml_and_is_checked(
    service: Service, tmp_path: Path
) -> None:
    from openbureau.config import parse_settings
    from openbureau.errors import ConfigError

    toml = service.served.ws / "bureau.toml"
    text = toml.read_text()
    toml.unlink()  # (a link to the shared workspace's file: this test's own copy instead)
    toml.write_text(text.replace("[bureau]", f'[bureau]\ncontact = "  {CONTACT} "', 1))
    assert service_config(Workspace.open(service.served.ws)).bureau_contact == CONTACT
    with pytest.raises(ConfigError, match=r"bureau\.contact: .*control character \(U\+0007\)"):
        parse_settings({"bureau": {"contact": "call\x07us"}})
    with pytest.raises(ConfigError, match=r"bureau\.contact: .*300 characters"):
        parse_settings({"bureau": {"contact": "x" * 301}})
    assert parse_settings({}).bureau.contact == ""
