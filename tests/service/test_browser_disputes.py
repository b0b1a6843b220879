"""In a real browser (Playwright driving Debian's chromium): a person disputes a record from
their file, the furnisher corrects it and the person sees the new score; a dispute left
unanswered expires in the person's favour.

Screenshots go to $OPENBUREAU_SCREENSHOTS (``make screenshots``), else to the test's folder.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openbureau.service.auth import create_account
from openbureau.service.store import open_store
from tests.service.conftest import PASSWORD, Service
from tests.service.test_disputes import _record, disputed  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("OPENBUREAU_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def site(disputed: Service, live_server: Callable[[Any], str]) -> str:  # noqa: F811
    return live_server(disputed.client.app)


def _login(page: Any, site: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{site}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def _dispute_from_file(page: Any, site: str, record_id: str, reason: str, text: str) -> None:
    page.goto(f"{site}/me/file")
    form = page.locator(f"form.dispute-form:has(input[name=record_id][value='{record_id}'])")
    form.locator("xpath=ancestor::details").locator("summary").click()
    form.locator("select[name=reason]").select_option(reason)
    form.locator("textarea[name=statement]").fill(text)
    form.locator("input[type=file]").set_input_files(
        {"name": "letter.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF\n"}
    )
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#disputes details.dispute")


def test_a_person_disputes_a_record_the_furnisher_corrects_it_the_person_sees_the_new_score(
    page: Any,
    site: str,
    disputed: Service,  # noqa: F811
    shots: Path,
) -> None:
    service = disputed
    page.set_viewport_size({"width": 1200, "height": 900})
    rid, furnisher = _record(service, "account")
    with open_store(service.store_url)() as session:
        create_account(
            session, username="acme", role="furnisher", password=PASSWORD, organisation=furnisher
        )
        session.commit()
    _login(page, site, "pat")
    before = int(page.text_content("#score") or "0")
    _dispute_from_file(page, site, rid, "wrong_value", "The card was paid off in full.")
    assert (page.text_content("#disputes .dispute-state") or "") == "open"
    page.goto(f"{site}/me/file")
    assert page.locator(".disputed").count() == 1
    page.goto(f"{site}/me")
    page.locator("#disputes").screenshot(path=str(shots / "dispute-open.png"))

    _login(page, site, "acme")
    assert page.url.endswith("/furnisher")
    answer = page.locator("form.answer").first
    answer.locator("select[name=outcome]").select_option("corrected")
    answer.locator("textarea[name=changes]").fill("payment_status=current\nbalance=0")
    answer.locator("input[name=note]").fill("Our mistake: paid in full.")
    page.screenshot(path=str(shots / "furnisher.png"), full_page=True)
    answer.locator("button[type=submit]").click()
    page.wait_for_selector("#closed-disputes details.dispute")
    assert "corrected" in (page.text_content("#closed-disputes .dispute-state") or "")

    _login(page, site, "pat")
    after = int(page.text_content("#score") or "0")
    api = service.client.get("/api/v1/me/disputes", headers=service.api("pat")).json()[0]
    assert api["state"] == "corrected" and api["score_before"] == before
    assert int(page.text_content("#disputes .score-before") or "-1") == before
    assert int(page.text_content("#disputes .score-after") or "-1") == after == api["score_after"]
    steps = page.locator("#disputes .dispute-steps li")
    assert steps.count() == 4  # filed, corrected, applied, rescored
    page.locator("#disputes").screenshot(path=str(shots / "dispute-resolved.png"))


def test_a_dispute_left_unanswered_expires_in_the_persons_favour(
    page: Any,
    site: str,
    disputed: Service,  # noqa: F811
) -> None:
    service = disputed
    rid, _ = _record(service, "inquiry")
    _login(page, site, "pat")
    _dispute_from_file(page, site, rid, "not_mine", "I never applied for this.")
    due = page.text_content("#disputes .dispute-due") or ""
    ctx = service.client.app.state.ctx
    ctx.clock = lambda: dt.datetime.fromisoformat(due) + dt.timedelta(days=1)
    page.goto(f"{site}/me")
    assert (page.text_content("#disputes .dispute-state") or "") == "expired"
    assert "in your favour" in (page.text_content("#disputes details.dispute") or "")
    after = int(page.text_content("#score") or "0")
    assert int(page.text_content("#disputes .score-after") or "-1") == after
    reasons = service.client.get("/api/v1/me/score", headers=service.api("pat")).json()["reasons"]
    assert rid not in {r for reason in reasons for r in reason["record_ids"]}


def test_a_person_disputes_a_link_and_the_file_splits(
    page: Any,
    site: str,
    disputed: Service,  # noqa: F811
    shots: Path,
) -> None:
    page.set_viewport_size({"width": 1200, "height": 900})
    _login(page, site, "pat")
    page.goto(f"{site}/me/file")
    boxes = page.locator("#identity input[name=identity_ids]")
    before = boxes.count()
    assert before >= 2
    taken = boxes.nth(before - 1).get_attribute("value")
    boxes.nth(before - 1).check()
    page.locator("#link-dispute summary").click()
    page.fill("#link-dispute-form textarea[name=statement]", "I have never lived there.")
    page.click("#link-dispute-form button[type=submit]")
    page.wait_for_selector("#disputes details.dispute")
    assert (page.text_content("#disputes .dispute-state") or "") == "open"

    _login(page, site, "audrey")
    page.click("#link-disputes")
    page.wait_for_selector("#open-disputes form.answer")
    page.select_option("#open-disputes select[name=outcome]", "split")
    page.screenshot(path=str(shots / "link-dispute.png"), full_page=True)
    page.click("#open-disputes form.answer button[type=submit]")
    page.wait_for_selector("#closed-disputes details.dispute")
    assert "split" in (page.text_content("#closed-disputes .dispute-state") or "")

    _login(page, site, "pat")
    assert (page.text_content("#disputes .dispute-state") or "") == "split"
    page.goto(f"{site}/me/file")
    left = page.locator("#identity input[name=identity_ids]")
    assert left.count() == before - 1
    assert taken not in [left.nth(i).get_attribute("value") for i in range(left.count())]
    assert "split off" in (page.text_content("#file-history") or "")
