"""What keeps one caller from finding people it cannot name, or from crowding out the others:
the minimum identity, a lender's lookup quota, the lookup pool, the anonymous verification
limit, and which client address the service believes."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from typer.testing import CliRunner

from openbureau.cli import app as cli
from openbureau.service.app import create_app
from tests.service.conftest import Service

runner = CliRunner()
LOOKUPS = "/api/v1/lookups"
MINUTE = 60 * 31_700_000.0  # a minute's start (2030-04-10): the limits count calendar minutes


def _audit(service: Service, **filters: Any) -> list[dict[str, Any]]:
    r = service.client.get(
        "/api/v1/audit", params={"limit": 1000, **filters}, headers=service.api("audrey")
    )
    assert r.status_code == 200, r.text
    return list(r.json())


def _lookups_logged(service: Service, outcome: str) -> list[dict[str, Any]]:
    return [e for e in _audit(service, actor="lena", outcome=outcome) if e["action"] == "lookup"]


def test_a_surname_and_birth_date_sweep_is_refused_and_logged(service: Service) -> None:
    """The attack: a common surname and one birth date after another. Each try answers 422
    not_enough_to_identify, names nobody, and is in the audit log."""
    pid = service.served.person
    who = service.identity(pid)
    born = dt.date.fromisoformat(who["dob"])
    for day in range(-3, 4):
        r = service.client.post(
            LOOKUPS,
            headers=service.api("lena"),
            json={
                "purpose": "credit_application",
                "identity": {
                    "last_name": who["last_name"],
                    "dob": (born + dt.timedelta(days=day)).isoformat(),
                },
            },
        )
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert (error["code"], error["field"]) == ("not_enough_to_identify", "identity")
        assert "the first name" in error["message"] and pid not in r.text
    refused = _lookups_logged(service, "denied")
    assert len(refused) == 7
    assert all(
        e["subject"] is None
        and e["purpose"] == "credit_application"
        and "not enough to identify" in e["detail"]
        for e in refused
    )
    assert not _lookups_logged(service, "allowed") and not _lookups_logged(service, "not_found")
    # ... while the minimum identity finds the person
    found = service.client.post(
        LOOKUPS,
        headers=service.api("lena"),
        json={"purpose": "credit_application", "identity": who},
    )
    assert found.status_code == 200 and found.json()["person_id"] == pid


def test_a_real_name_and_birth_date_with_a_made_up_address_or_national_id_finds_no_one(
    service: Service,
) -> None:
    """The attack a check for presence let through: the person's own name and birth date with
    an address or national ID of no one's. Each answers not_found, says nothing of the person,
    and is logged naming nobody; a first initial is refused. The person's own address, as a
    lender writes it (ZIP+4, title case), finds them."""
    pid = service.served.person
    who = service.identity(pid)
    named = {k: who[k] for k in ("first_name", "last_name", "dob")}

    def look(identity: dict[str, str]) -> Any:
        return service.client.post(
            LOOKUPS,
            headers=service.api("lena"),
            json={"purpose": "credit_application", "identity": identity},
        )

    for tie in (
        {"address_line1": "x", "postcode": "90210"},
        {"address_line1": "x", "postcode": who["postcode"]},
        {"national_id": "00000"},
    ):
        r = look({**named, **tie})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["match"] == "not_found" and body["decision"] == "no_file", (tie, body)
        assert body["person_id"] is None and body["match_probability"] is None
        assert body["score"] is None and body["file_summary"] is None and pid not in r.text
    for initial in ("J", who["first_name"][0] + "."):
        r = look({**who, "first_name": initial})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "not_enough_to_identify"
        assert "a full first name (not an initial)" in r.json()["error"]["message"]
    assert [e["subject"] for e in _lookups_logged(service, "not_found")] == [None] * 3
    assert [e["subject"] for e in _lookups_logged(service, "denied")] == [None] * 2
    looked = service.client.get("/api/v1/me/access", headers=service.api("pat")).json()["entries"]
    assert not [e for e in looked if e["action"] == "lookup"]
    written = {
        **who,
        "last_name": who["last_name"].title(),
        "address_line1": who["address_line1"].title(),
        "postcode": who["postcode"] + "-1234",
    }
    found = look(written)
    assert found.status_code == 200 and found.json()["person_id"] == pid, found.text


@pytest.mark.parametrize("purpose", [None, "curiosity", "dispute_investigation"])
def test_a_lookup_without_a_permissible_purpose_is_refused_and_logged(
    service: Service, purpose: str | None
) -> None:
    pid = service.served.person
    by_id = {"person_id": pid.lower()}
    by_identity = {"identity": service.identity(pid)}
    for body in (by_id, by_identity):
        r = service.client.post(
            LOOKUPS,
            headers=service.api("lena"),
            json={**body, **({"purpose": purpose} if purpose else {})},
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "purpose_required"
        assert r.json()["error"]["field"] == "purpose"
    refused = _lookups_logged(service, "denied")
    assert [(e["subject"], e["purpose"], e["detail"]) for e in refused] == [
        (None, purpose, "no permissible purpose stated"),  # by identity: nobody searched
        (pid, purpose, "no permissible purpose stated"),
    ]  # by ID: the person's to see
    looked = service.client.get("/api/v1/me/access", headers=service.api("pat")).json()["entries"]
    assert [(e["actor"], e["outcome"]) for e in looked if e["action"] == "lookup"] == [
        ("lena", "denied")
    ]


def _quota(service: Service, username: str, *args: str) -> None:
    done = runner.invoke(
        cli,
        [
            "accounts",
            "quota",
            username,
            *args,
            "-w",
            str(service.served.ws),
            "--store",
            service.store_url,
        ],
    )
    assert done.exit_code == 0, done.output


def test_a_lender_over_its_quota_gets_429_logged_until_the_minute_is_over(service: Service) -> None:
    ctx = service.client.app.state.ctx
    now = [MINUTE]
    ctx.lookup_quota.clock = lambda: now[0]
    _quota(service, "lena", "--lookups-per-minute", "3")
    body = {"purpose": "account_review", "person_id": service.served.person}

    def look() -> Any:
        return service.client.post(LOOKUPS, headers=service.api("lena"), json=body)

    assert [look().status_code for _ in range(3)] == [200, 200, 200]
    now[0] += 20
    over = look()
    assert over.status_code == 429, over.text
    assert over.json()["error"]["code"] == "quota_exceeded"
    assert over.headers["retry-after"] == "40"
    # a flood beyond the quota: every one refused, every one logged
    with ThreadPoolExecutor(8) as pool:
        flood = list(pool.map(lambda _: look().status_code, range(16)))
    assert flood == [429] * 16
    refused = _lookups_logged(service, "denied")
    assert len(refused) == 17
    assert {e["detail"] for e in refused} == {"over the lookup quota of 3 a minute"}
    assert len(_lookups_logged(service, "allowed")) == 3
    # the lender page says so too, with its code, and keeps the form
    page = service.login("lena")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get("/lender").text)
    assert csrf is not None
    refused = page.post(
        "/lender",
        data={
            "csrf_token": csrf.group(1),
            "purpose": "account_review",
            **service.identity(service.served.person),
        },
    )
    assert refused.status_code == 429 and refused.headers["retry-after"] == "40"
    assert 'data-code="quota_exceeded"' in refused.text
    assert str(escape(service.identity(service.served.person)["address_line1"])) in refused.text
    now[0] += 40  # the next minute
    assert look().status_code == 200
    # back to the workspace's default (60 a minute)
    _quota(service, "lena", "--default")
    assert [look().status_code for _ in range(5)] == [200] * 5


def test_the_quota_holds_across_service_processes_on_one_store(service: Service) -> None:
    """Two services on one store (as two worker processes would be) draw on one count."""
    _quota(service, "lena", "--lookups-per-minute", "4")
    other = create_app(service.served.ws, store_url=service.store_url)
    body = {"purpose": "account_review", "person_id": service.served.person}
    with TestClient(other, base_url="https://testserver") as second:
        clients = [service.client, second] * 4
        now = [MINUTE]
        for c in (service.client, second):
            c.app.state.ctx.lookup_quota.clock = lambda: now[0]  # type: ignore[attr-defined]
        answers = [
            c.post(LOOKUPS, headers=service.api("lena"), json=body).status_code for c in clients
        ]
    assert answers == [200] * 4 + [429] * 4


def test_the_quota_is_set_only_on_a_lender_account(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["-w", str(service.served.ws), "--store", service.store_url]
    monkeypatch.setenv("OPENBUREAU_PASSWORD", "a long password")
    added = runner.invoke(
        cli, ["accounts", "add", "bank2", "--role", "lender", "--lookups-per-minute", "5", *base]
    )
    assert added.exit_code == 0, added.output
    person = runner.invoke(
        cli,
        [
            "accounts",
            "add",
            "p2",
            "--role",
            "person",
            "--person",
            service.served.other,
            "--lookups-per-minute",
            "5",
            *base,
        ],
    )
    assert person.exit_code == 2 and "only a lender account" in person.output
    for args, message in (
        (["quota", "pat", "--lookups-per-minute", "5"], "not a lender"),
        (["quota", "nobody", "--lookups-per-minute", "5"], "no account"),
        (["quota", "lena"], "--lookups-per-minute N or --default"),
        (["quota", "lena", "--lookups-per-minute", "-1"], "Invalid value"),
    ):
        bad = runner.invoke(cli, ["accounts", *args, *base])
        assert bad.exit_code == 2, (args, bad.output)
        assert message in bad.output and "Traceback" not in bad.output
    listed = runner.invoke(cli, ["accounts", "list", *base])
    assert "default" in listed.output
    assert (
        next(line for line in listed.output.splitlines() if "bank2" in line)
        .rstrip(" │")
        .endswith("5")
    )
    _quota(service, "lena", "--lookups-per-minute", "7")
    listed = runner.invoke(cli, ["accounts", "list", *base])
    assert (
        next(line for line in listed.output.splitlines() if "lena" in line)
        .rstrip(" │")
        .endswith("7")
    )


@pytest.fixture
def blocked_search(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Identity searches that wait until released; how many ran at once is counted."""
    from openbureau.identity import lookup as identity_lookup
    from openbureau.identity.lookup import LookupResult

    state: dict[str, Any] = {
        "running": 0,
        "most": 0,
        "entered": threading.Event(),
        "release": threading.Event(),
        "lock": threading.Lock(),
    }

    def find_person(*args: Any, **kwargs: Any) -> LookupResult:
        with state["lock"]:
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
        state["entered"].set()
        state["release"].wait(60)
        with state["lock"]:
            state["running"] -= 1
        return LookupResult("not_found", None, [])

    monkeypatch.setattr(identity_lookup, "find_person", find_person)
    try:
        yield state
    finally:
        state["release"].set()


def _answers_while(call: Callable[[], Any], timeout: float) -> Any:
    """The answer of ``call`` made on a thread of its own, or None if none came in
    ``timeout`` seconds (a liveness bound, not a timing)."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(call()), daemon=True)
    thread.start()
    thread.join(timeout)
    return out[0] if out else None


def test_health_and_score_reads_answer_while_a_lender_floods_lookups(
    service: Service, blocked_search: dict[str, Any]
) -> None:
    """48 identity lookups from one key, all stuck in the search: the service still answers
    /health and a score read, and searches no more than two of that lender's at once."""
    identity = service.identity(service.served.person)
    body = {"purpose": "credit_application", "identity": identity}
    pool = ThreadPoolExecutor(48)
    try:
        flood = [
            pool.submit(service.client.post, LOOKUPS, headers=service.api("lena"), json=body)
            for _ in range(48)
        ]
        assert blocked_search["entered"].wait(60)
        health = _answers_while(lambda: service.client.get("/api/v1/health"), 30)
        score = _answers_while(
            lambda: service.client.get(
                f"/api/v1/persons/{service.served.other}/score",
                params={"purpose": "account_review"},
                headers=service.api("lena"),
            ),
            30,
        )
        page = _answers_while(
            lambda: service.client.get("/api/v1/me", headers=service.api("pat")), 30
        )
        assert health is not None and health.status_code == 200
        assert score is not None and score.status_code == 200
        assert page is not None and page.status_code == 200
        assert not any(f.done() for f in flood)  # the lookups were in flight all along
    finally:
        blocked_search["release"].set()
        answers = [f.result(60) for f in flood]
        pool.shutdown()
    assert [a.status_code for a in answers] == [200] * 48
    assert blocked_search["most"] == 2  # [service] lookups_at_once_per_lender


def test_anonymous_verifications_are_limited_per_address(service: Service) -> None:
    """Anyone may verify a shared score, and each verification is logged: 30 a minute from one
    address (the default), then 429 with Retry-After, and only the first refusal is logged, so
    no caller can grow the audit log without bound. Naming another address in
    X-Forwarded-For changes nothing without --proxy-headers."""
    ctx = service.client.app.state.ctx
    now = [MINUTE]
    ctx.verifications.clock = lambda: now[0]
    answers = [
        service.client.post(
            "/api/v1/verify",
            json={"token": "not.a.token"},
            headers={"x-forwarded-for": f"198.51.100.{i}"},
        )
        for i in range(40)
    ]
    assert [a.status_code for a in answers] == [200] * 30 + [429] * 10
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    assert answers[-1].headers["retry-after"] == "60"
    entries = _audit(service, action="verify attestation")
    assert len(entries) == 31
    assert "over the limit" in entries[0]["detail"] and "from testclient" in entries[0]["detail"]
    page = service.client.post("/verify", data={"token": "x"}, headers={"accept": "text/html"})
    assert page.status_code == 429 and page.headers["retry-after"] == "60"
    now[0] += 60
    assert service.client.post("/api/v1/verify", json={"token": "x"}).status_code == 200


def _verified_from(client: TestClient, service: Service) -> str:
    r = client.post(
        "/api/v1/verify", json={"token": "not.a.token"}, headers={"x-forwarded-for": "203.0.113.7"}
    )
    assert r.status_code == 200, r.text
    return str(_audit(service, action="verify attestation")[0]["detail"])


def test_x_forwarded_for_is_believed_only_with_proxy_headers(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _verified_from(service.client, service).endswith("from testclient")
    behind = create_app(
        service.served.ws,
        store_url=service.store_url,
        proxy_headers=True,
        forwarded_allow_ips="testclient",
    )
    with TestClient(behind, base_url="https://testserver") as client:
        assert _verified_from(client, service).endswith("from 203.0.113.7")
    # `serve` turns uvicorn's own reading off (on by default for 127.0.0.1), and reads the
    # header only when told to
    import uvicorn

    served: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append((app, kw)))
    base = ["serve", "-w", str(service.served.ws), "--store", service.store_url]
    for extra in ([], ["--proxy-headers", "--forwarded-allow-ips", "10.0.0.1, testclient"]):
        done = runner.invoke(cli, [*base, *extra])
        assert done.exit_code == 0, done.output
    (plain, plain_kw), (proxied, proxied_kw) = served
    assert plain_kw["proxy_headers"] is False and proxied_kw["proxy_headers"] is False
    with TestClient(plain, base_url="https://testserver") as client:
        assert _verified_from(client, service).endswith("from testclient")
    with TestClient(proxied, base_url="https://testserver") as client:
        assert _verified_from(client, service).endswith("from 203.0.113.7")


def test_api_docs_load_under_the_csp(service: Service) -> None:
    """/api/docs: Swagger UI's script and styles from this site, no inline script, the
    same CSP as every page (FastAPI's own page takes them from a CDN, with an inline
    script: the CSP refuses both)."""
    import re

    r = service.client.get("/api/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "default-src 'self'" in csp
    scripts = re.findall(r"<script([^>]*)>", r.text)
    assert scripts and all('src="/' in attrs for attrs in scripts)  # none inline
    assets = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert len(assets) == 3 and all(a.startswith("/") for a in assets)
    for url in assets:
        got = service.client.get(url)
        assert got.status_code == 200, url
        assert got.headers["content-type"].split(";")[0] in (
            "text/javascript",
            "application/javascript",
            "text/css",
        ), url
    assert "SwaggerUIBundle" in service.client.get(assets[1]).text
    spec = re.search(r'data-openapi-url="([^"]+)"', r.text)
    assert spec and service.client.get(spec.group(1)).json()["openapi"].startswith("3.")


def test_the_spec_documents_the_400s_429s_and_required_purposes(service: Service) -> None:
    spec = service.client.get("/api/v1/openapi.json").json()
    paths = spec["paths"]
    for path, method in (
        ("/api/v1/lookups", "post"),
        ("/api/v1/verify", "post"),
        ("/api/v1/me/attestations", "post"),
        ("/api/v1/me/what-if", "post"),
    ):
        assert "400" in paths[path][method]["responses"], path
    for path in ("/api/v1/lookups", "/api/v1/verify"):
        assert "Retry-After" in paths[path]["post"]["responses"]["429"]["headers"]
    lookup_in = spec["components"]["schemas"]["LookupIn"]
    assert "purpose" in lookup_in["required"]
    assert "credit_application" in lookup_in["properties"]["purpose"]["enum"]
    (purpose,) = [
        p
        for p in paths["/api/v1/persons/{person_id}/file"]["get"]["parameters"]
        if p["name"] == "purpose"
    ]
    assert purpose["required"] is True and "legal_order" in purpose["schema"]["enum"]
    # ... and a 400 is what the spec says it is
    r = service.client.post(
        LOOKUPS,
        content=b'{"purpose": "\xff"}',
        headers={**service.api("lena"), "content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
