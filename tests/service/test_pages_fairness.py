"""The auditor's fairness view of the current snapshot (service/pages_fairness.py)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from openbureau.governance.fairness import NOT_LOADED, PURPOSE
from openbureau.governance.protected_attributes import (
    READ_ACTION,
    load_attributes,
    read_attributes,
)
from openbureau.scoring.evaluate import attributes_from_truth
from openbureau.service.audit import workspace_log
from openbureau.workspace import Workspace
from tests.service.conftest import Served, Service, own_workspace, serve


def _audit(service: Service, **params: str) -> list[dict]:
    return service.client.get("/api/v1/audit", params=params, headers=service.api("ada")).json()


def test_without_attributes_the_page_and_the_report_say_why_not(service: Service) -> None:
    c = service.login("audrey")
    assert 'href="/auditor/fairness"' in c.get("/auditor").text
    page = c.get("/auditor/fairness")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "The fairness analysis was not run" in text and NOT_LOADED in text
    assert "No outcomes exist yet for a current snapshot" in text
    assert 'href="/auditor/report#fairness"' in page.text
    cutoffs = re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td></tr>", page.text)
    assert [c for c, _ in cutoffs] == ["670", "730", "760"]
    assert all("configured" in why for _, why in cutoffs)
    assert _audit(service, action=READ_ACTION) == []  # nothing loaded: nothing read
    # the model report of the same workspace, trained without attributes, says so too
    report = html.unescape(c.get("/auditor/report").text)
    section = re.search(r'<section id="fairness">.*?</section>', report, re.S)
    assert section and "not run" in section.group(0) and NOT_LOADED in section.group(0)


@pytest.fixture
def with_attributes(
    served: Served, linked_population: tuple[Path, Path], store_url: str, tmp_path: Path
) -> Iterator[Service]:
    """The served workspace with the truth's protected attributes loaded in its own store."""
    mine = own_workspace(served, tmp_path)
    audit = mine.ws / "audit"
    if audit.is_symlink():
        audit.unlink()
    ws = Workspace.open(mine.ws)
    csv = tmp_path / "attributes.csv"
    attributes_from_truth(ws, linked_population[1] / "truth", csv)
    load_attributes(ws, csv, actor="loader@test", log=workspace_log(ws))
    with serve(mine, store_url) as running:
        yield running


def test_the_page_shows_approval_and_adverse_impact_at_the_cutoffs_in_use(
    with_attributes: Service,
) -> None:
    service = with_attributes
    decided = service.client.post(
        "/api/v1/lookups",
        headers=service.api("lena"),
        json={"purpose": "account_review", "person_id": service.served.person, "cutoff": 705},
    )
    assert decided.status_code == 200, decided.text
    for user in ("lena", "pat"):
        assert service.login(user).get("/auditor/fairness").status_code == 403
    page = service.login("audrey").get("/auditor/fairness")
    assert page.status_code == 200, page.text
    cutoffs = dict(re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td></tr>", page.text))
    assert list(cutoffs) == ["670", "705", "730", "760"]
    assert cutoffs["705"] == "used in 1 lender decision(s)"
    assert "Score \u2265 705" in page.text and "not run" not in page.text
    assert "AUC" not in page.text.split('id="fairness"')[1]  # no outcomes: no AUC
    # the page's approval rates by sex at 730, against a computation of our own
    ws = Workspace.open(service.served.ws)
    pub = service.client.app.state.ctx.published()
    scores = pub.scores.select(["person_id", "score"]).to_pandas().set_index("person_id")
    sex = read_attributes(ws, actor="test", purpose="check", log=workspace_log(ws))["sex"]
    groups = sex.reindex(scores.index).fillna("(unknown)")
    expected = (scores["score"].astype(float) >= 730).groupby(groups).mean()
    block = page.text.split("<h3>sex</h3>")[1].split("<h3>")[0]
    rows = re.findall(r"<tr><td[^>]*>([^<]+)</td>((?:<td[^>]*>[^<]*</td>)+)</tr>", block)
    # after the group: persons, [scorecard], scored, then approval and AIR per cut-off
    at_730 = 5 + 2 if '<th rowspan="2">Scorecard</th>' in block else 4 + 2
    checked = 0
    for group, cells in rows:
        values = re.findall(r"<td[^>]*>([^<]*)</td>", cells)
        name = html.unescape(group)
        if name in expected.index:
            assert values[at_730] == f"{expected[name]:.1%}", name
            checked += 1
    assert checked == len(expected) >= 2
    # the read is in the audit log, as done by the auditor, with the purpose
    (read,) = [e for e in _audit(service, action=READ_ACTION) if e["actor"] == "audrey"]
    assert read["actor_role"] == "auditor" and read["purpose"] == PURPOSE
    assert "persons (all asked)" in read["detail"]
