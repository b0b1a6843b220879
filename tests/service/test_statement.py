"""A person's statement on their file: written, edited and removed by the person (every version
kept), shown to every lender that reads their score, refused when too long, empty or holding
control characters, escaped on every page."""

from __future__ import annotations

import re
from typing import Any

from tests.service.conftest import Service

URL = "/api/v1/me/statement"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "page has no CSRF token"
    return found.group(1)


def _lender_score(service: Service) -> dict[str, Any]:
    r = service.client.get(
        f"/api/v1/persons/{service.served.person}/score",
        params={"purpose": "credit_application"},
        headers=service.api("lena"),
    )
    assert r.status_code == 200, r.text
    return r.json()


def _audit(service: Service, **filters: str) -> list[dict[str, Any]]:
    r = service.client.get(
        "/api/v1/audit", params={"limit": 1000, **filters}, headers=service.api("audrey")
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_a_person_writes_edits_and_removes_a_statement_every_lender_sees_it(
    service: Service,
) -> None:
    pat = service.api("pat")
    assert service.client.get(URL, headers=pat).json() == {"shown": None, "versions": []}
    assert _lender_score(service)["statement"] is None

    first = "The late payments on my card in 2024 were during a hospital stay."
    r = service.client.put(URL, json={"text": f"  {first}\r\n"}, headers=pat)
    assert r.status_code == 200, r.text
    assert r.json()["shown"]["text"] == first and r.json()["shown"]["words"] == 13
    assert _lender_score(service)["statement"]["text"] == first
    lookup = service.client.post(
        "/api/v1/lookups",
        headers=service.api("lena"),
        json={"purpose": "credit_application", "person_id": service.served.person},
    ).json()
    assert lookup["statement"]["text"] == first
    file = service.client.get(
        f"/api/v1/persons/{service.served.person}/file",
        params={"purpose": "dispute_investigation"},
        headers=service.api("audrey"),
    ).json()
    assert file["statement"]["text"] == first

    second = "The card is paid off now.\nAsk me about it."
    assert service.client.put(URL, json={"text": second}, headers=pat).status_code == 200
    assert _lender_score(service)["statement"]["text"] == second
    removed = service.client.delete(URL, headers=pat)
    assert removed.status_code == 200, removed.text
    assert removed.json()["shown"] is None
    assert [(v["change"], v["text"]) for v in removed.json()["versions"]] == [
        ("removed", None),
        ("written", second),
        ("written", first),
    ]
    assert _lender_score(service)["statement"] is None
    again = service.client.delete(URL, headers=pat)
    assert again.status_code == 404 and again.json()["error"]["code"] == "no_statement"

    # the other person's file has none of it
    assert service.client.get(URL, headers=service.api("quinn")).json()["shown"] is None
    mine = _audit(service, actor="pat", subject=service.served.person)
    assert [e["action"] for e in reversed(mine) if "statement" in e["action"]] == [
        "read statement",
        "write statement",
        "write statement",
        "remove statement",
    ]


def test_a_statement_too_long_empty_or_with_control_characters_is_refused(
    service: Service,
) -> None:
    pat = service.api("pat")
    bad = {
        " ".join(["word"] * 101): "101 words: at most 100",
        "   ": "empty",
        "fine words\x07 and a bell": "control or formatting character (U+0007)",
        "hidden \u202e reversal": "U+202E",
        "x" * 1001: "1001 characters: at most 1000",
    }
    for text, why in bad.items():
        r = service.client.put(URL, json={"text": text}, headers=pat)
        assert r.status_code == 422, (text, r.text)
        assert r.json()["error"]["field"] == "text"
        assert why in r.json()["error"]["message"], r.json()
    assert service.client.put(URL, json={}, headers=pat).status_code == 422
    just = " ".join(["word"] * 100)
    assert service.client.put(URL, json={"text": just}, headers=pat).status_code == 200
    # only the person writes their statement
    for user in ("lena", "audrey", "ada"):
        r = service.client.put(URL, json={"text": "mine"}, headers=service.api(user))
        assert r.status_code == 403, user
    assert service.client.get(URL, headers=pat).json()["shown"]["text"] == just


def test_the_statement_is_escaped_on_the_person_and_lender_pages(service: Service) -> None:
    c = service.login("pat")
    page = c.get("/me")
    r = c.post(
        "/me/statement",
        data={"csrf_token": _csrf(page.text), "text": XSS, "change": "write"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    mine = c.get("/me").text
    assert 'id="statement-shown">&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;' in mine
    assert "<script>alert" not in mine and "<img src=x" not in mine

    lender = service.login("lena")
    form = lender.get("/lender").text
    result = lender.post(
        "/lender",
        data={
            "csrf_token": _csrf(form),
            "purpose": "credit_application",
            **service.identity(service.served.person),
        },
    )
    assert result.status_code == 200, result.text
    assert 'id="person-statement"' in result.text and "own words" in result.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img" in result.text
    assert "<script>alert" not in result.text and "<img src=x" not in result.text
    assert service.client.get(URL, headers=service.api("pat")).json()["shown"]["text"] == XSS


def test_the_statement_form_shows_a_refusal_and_keeps_what_was_typed(service: Service) -> None:
    c = service.login("pat")
    token = _csrf(c.get("/me").text)
    long = " ".join(["many"] * 120)
    r = c.post("/me/statement", data={"csrf_token": token, "text": long, "change": "write"})
    assert r.status_code == 422
    assert 'id="statement-error"' in r.text and "120 words: at most 100" in r.text
    assert long in r.text  # (kept in the box to shorten)
    nothing = c.post("/me/statement", data={"csrf_token": token, "change": "remove"})
    assert nothing.status_code == 404 and "no statement on your file" in nothing.text
    forged = c.post("/me/statement", data={"text": "from elsewhere", "change": "write"})
    assert forged.status_code == 403
    assert service.client.get(URL, headers=service.api("pat")).json()["versions"] == []
    ok = c.post(
        "/me/statement",
        data={"csrf_token": token, "text": "My own words.", "change": "write"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    removed = c.post(
        "/me/statement", data={"csrf_token": token, "change": "remove"}, follow_redirects=False
    )
    assert removed.status_code == 303
    page = c.get("/me").text
    assert 'id="statement-none"' in page and "<em>removed</em>" in page
