"""In a real browser (Playwright driving Debian's chromium): a person sees the score and its
reasons and runs a what-if; a lender looks someone up; a person is refused another's file.

Screenshots of the main pages go to $OPENBUREAU_SCREENSHOTS (``make screenshots`` sets it to
docs/screenshots), else to the test's temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import PASSWORD, Service

pytestmark = pytest.mark.slow


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("OPENBUREAU_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def site(service: Service, live_server: Callable[[Any], str]) -> str:
    return live_server(service.client.app)


def _login(page: Any, site: str, username: str) -> None:
    page.goto(f"{site}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_person_sees_score_and_reasons_and_runs_a_what_if(
    page: Any, site: str, service: Service, shots: Path
) -> None:
    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(site)
    page.screenshot(path=str(shots / "landing.png"))
    _login(page, site, "pat")
    assert page.url.endswith("/me")
    score = int(page.text_content("#score") or "0")
    expected = service.client.get("/api/v1/me/score", headers=service.api("pat")).json()
    assert score == expected["score"]
    reasons = page.locator("details.reason")
    assert reasons.count() == len(expected["reasons"])
    first = reasons.nth(0)
    assert not first.locator("ul").is_visible()
    first.locator("summary").click()
    assert first.locator("ul li").first.is_visible()  # the records behind the reason
    page.screenshot(path=str(shots / "person.png"), full_page=True)

    page.fill("#utilisation", "5")
    page.click("#what-if button[type=submit]")
    page.wait_for_selector("#whatif-result")
    new = int(page.text_content("#whatif-score") or "0")
    assert new > score
    page.locator("#what-if").screenshot(path=str(shots / "what-if.png"))

    page.goto(f"{site}/me/file")
    assert page.locator(".card.furnisher").count() >= 1
    assert page.locator("#identity tr").count() >= 3  # a header and two identities or more
    page.locator("#file-history summary").click()
    assert page.locator("#file-history li").first.is_visible()
    page.screenshot(path=str(shots / "file.png"), full_page=True)


def test_lender_looks_someone_up_and_sees_a_decision_with_reasons(
    page: Any, site: str, service: Service, shots: Path
) -> None:
    page.set_viewport_size({"width": 1200, "height": 900})
    identity = service.identity(service.served.person)
    _login(page, site, "lena")
    assert page.url.endswith("/lender")
    page.select_option("#purpose", "credit_application")
    for name, value in identity.items():
        page.fill(f"#{name}", value)
    page.fill("#cutoff", "850")
    page.click("#lookup-form button[type=submit]")
    page.wait_for_selector("#decision")
    assert (page.text_content("#decision") or "").strip() == "decline"
    items = page.locator("#adverse-reasons li")
    assert 1 <= items.count() <= 5  # (four, and inquiries where they are one)
    page.screenshot(path=str(shots / "lender.png"), full_page=True)

    # the person sees the lookup under "who looked"
    page.context.clear_cookies()
    _login(page, site, "pat")
    assert "lena" in (page.text_content("#who-looked") or "")
    assert "which the bureau signs" in (page.text_content("#log-head") or "")


def test_a_person_writes_a_statement_a_lender_declines_and_the_notice_prints(
    page: Any, site: str, service: Service, shots: Path
) -> None:
    page.set_viewport_size({"width": 1200, "height": 900})
    service.client.app.state.ctx.config.bureau_contact = "PO Box 1000, Springfield; 555-0100"
    _login(page, site, "pat")
    page.fill("#statement-text", "My card was late while I was in hospital. <b>Ask me.</b>")
    page.click("#statement button[value=write]")
    page.wait_for_selector("#statement-shown")
    assert "<b>Ask me.</b>" in (page.text_content("#statement-shown") or "")  # as text

    page.context.clear_cookies()
    _login(page, site, "lena")
    page.select_option("#purpose", "credit_application")
    for name, value in service.identity(service.served.person).items():
        page.fill(f"#{name}", value)
    page.fill("#cutoff", "850")
    page.click("#lookup-form button[type=submit]")
    page.wait_for_selector("#person-statement")
    assert "in hospital. <b>Ask me.</b>" in (page.text_content("#person-statement") or "")
    page.fill("#reference", "APP 2026-001")
    page.click("#decline-form button[type=submit]")
    page.wait_for_selector("#notice")
    assert "did not make this decision" in (page.text_content("#did-not-decide") or "")
    assert page.locator("#key-factors li").count() >= 1

    page.context.clear_cookies()
    _login(page, site, "pat")
    page.click("#adverse-actions a:has-text('printable')")
    page.wait_for_selector("#notice")
    assert "within 60 days" in (page.text_content("#free-copy") or "")
    page.emulate_media(media="print")
    assert page.locator(".no-print").is_hidden()
    page.screenshot(path=str(shots / "notice.png"), full_page=True)


def test_a_person_is_refused_another_persons_file(page: Any, site: str, service: Service) -> None:
    _login(page, site, "pat")
    other = service.served.other
    response = page.goto(f"{site}/api/v1/persons/{other}/score")
    assert response is not None and response.status == 403
    assert "you may read only your own file" in (page.text_content("body") or "")
    response = page.goto(f"{site}/lender")
    assert response is not None and response.status == 403
    assert "Not allowed" in (page.text_content("h1") or "")
    denied = service.client.get(
        "/api/v1/audit", params={"actor": "pat", "outcome": "denied"}, headers=service.api("audrey")
    ).json()
    assert {e["subject"] for e in denied} >= {other}


def test_auditor_and_verify_pages(page: Any, site: str, service: Service, shots: Path) -> None:
    page.set_viewport_size({"width": 1200, "height": 900})
    token = service.client.post(
        "/api/v1/me/attestations",
        headers=service.api("pat"),
        json={"days": 14, "audience": "Oak Street Lettings"},
    ).json()["token"]
    page.goto(f"{site}/verify")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_selector("#verify-result")
    assert "Valid." in (page.text_content("#verify-result") or "")
    page.screenshot(path=str(shots / "verify.png"), full_page=True)
    _login(page, site, "audrey")
    assert "not been checked yet" in (page.text_content("#chain") or "")
    page.click("text=Check the whole log now")
    page.wait_for_selector("#chain")
    assert "Audit log intact at the last check" in (page.text_content("#chain") or "")
    page.screenshot(path=str(shots / "auditor.png"))


def test_api_docs_render_in_a_browser_under_the_csp(page: Any, site: str) -> None:
    """Swagger UI draws the spec, and the browser reports no CSP violation (FastAPI's own
    page, from a CDN with an inline script, draws nothing under this CSP)."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    response = page.goto(f"{site}/api/docs")
    assert response is not None and response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    assert "credit bureau API" in (page.text_content(".swagger-ui .info .title") or "")
    page.wait_for_selector("#operations-lender-lender_lookup_api_v1_lookups_post")
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems


def _riser(service: Service) -> str:
    """A scored person of the published snapshot whose score with alternative data is higher
    than their core score, given an account ``rhea``."""
    from openbureau.service.auth import create_account
    from openbureau.service.store import open_store

    pub = service.client.app.state.ctx.published()
    cur = pub.cursor()
    try:
        pid = cur.execute(
            """SELECT person_id FROM scores WHERE snapshot_id = ? AND score IS NOT NULL
                 AND alt_score > score + 5 ORDER BY md5(person_id) LIMIT 1""",
            [pub.snapshot_id],
        ).fetchone()[0]
    finally:
        cur.close()
    with open_store(service.store_url)() as session:
        create_account(session, username="rhea", role="person", password=PASSWORD, person_id=pid)
        session.commit()
    return str(pid)


def test_a_person_opts_in_the_score_rises_opts_out_and_it_returns(
    page: Any, site: str, service: Service, shots: Path
) -> None:
    page.set_viewport_size({"width": 1200, "height": 900})
    pid = _riser(service)
    _login(page, site, "rhea")
    core = int(page.text_content("#score") or "0")
    assert "You have not opted in" in (page.text_content("#consent-state") or "")
    page.click("#consent-give")
    page.wait_for_selector("#consent-withdraw")
    risen = int(page.text_content("#score") or "0")
    assert risen > core
    assert int(page.text_content("#consent-score") or "0") == risen
    page.locator("#consent").screenshot(path=str(shots / "consent.png"))

    lender = service.client.get(
        f"/api/v1/persons/{pid}/score",
        params={"purpose": "credit_application"},
        headers=service.api("lena"),
    ).json()
    assert lender["score"] == risen  # a lender reads the served score at once

    page.click("#consent-withdraw")
    page.wait_for_selector("#consent-give")
    assert int(page.text_content("#score") or "0") == core
    assert "You have not opted in" in (page.text_content("#consent-state") or "")
    page.locator("#consent-history summary").click()
    assert page.locator("#consent-history li").count() == 2


def test_a_person_exports_their_file_and_it_holds_every_record(
    page: Any, site: str, service: Service, shots: Path
) -> None:
    import duckdb

    from openbureau.ledger._schema import EVENTS

    page.set_viewport_size({"width": 1200, "height": 900})
    _login(page, site, "pat")
    page.click("#export-button")
    page.wait_for_selector("#export-counts")
    assert page.url.endswith("/me/export")
    union = " UNION ALL ".join(
        f"SELECT record_id FROM {t.table} WHERE person_id = $1" for t in EVENTS.values()
    )
    with duckdb.connect(str(service.served.ws / "warehouse.duckdb"), read_only=True) as con:
        held = {r[0] for r in con.execute(union, [service.served.person]).fetchall()}
    shown = page.locator("tr.record")
    assert (
        shown.count()
        == len(held)
        == int((page.text_content("#count-records") or "0").replace(",", ""))
    )
    ids = page.eval_on_selector_all("tr.record", "rows => rows.map(r => r.dataset.recordId)")
    assert set(ids) == held
    assert "export file" in (page.text_content("#reads") or "")  # (this read, listed)
    page.screenshot(path=str(shots / "export.png"))


def test_the_model_report_shows_scale_calibration_stability_and_fairness(
    page: Any, copy_population: tuple[Path, Path], cli: Any, shots: Path
) -> None:
    """Trained with the audit store's protected attributes loaded, as the demo is: every model
    risk section has figures, none says it was not run."""
    ws, pop = copy_population
    csv = ws.parent / "attributes.csv"
    for args in (
        ["audit-attributes", "from-truth", pop / "truth", csv],
        ["audit-attributes", "load", csv],
        ["train", "--as-of", "2024-12-31"],
    ):
        res = cli(*args, "-w", ws)
        assert res.exit_code == 0, res.output
    report = sorted((ws / "reports").glob("model-openbureau-alternative-*.html"))[-1]
    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(report.as_uri())
    headings = page.locator("h2").all_inner_texts()
    for section in (
        "Scale",
        "Calibration",
        "Population stability",
        "Characteristic stability",
        "Out-of-time validation",
        "Fairness",
        "Proxy test (factors against protected attributes)",
    ):
        assert section in headings, headings
    text = page.locator("body").inner_text()
    assert "not run" not in text.lower(), "a model risk section was not run"
    assert "Adverse impact" in text or "adverse impact" in text
    # (the picture for the docs leaves out the long per-factor bin tables)
    page.evaluate(
        """() => document.querySelectorAll('section').forEach(s => {
            const h = s.querySelector('h2');
            if (h && ['Factors', 'Excluded factors'].includes(h.innerText)) s.remove();
        })"""
    )
    page.screenshot(path=str(shots / "model-report.png"), full_page=True)
