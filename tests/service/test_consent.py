"""A person's consent to alternative data: opting in serves the better of the core score and
the score with alternative data, to the person and to every lender, at once; withdrawing
returns the core score at once; every change is kept and audited; a withdrawal can erase the
alternative data, leaving a tombstone."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import duckdb

from openbureau.service.auth import create_account, issue_api_key
from openbureau.service.store import open_store
from tests.service.conftest import PASSWORD, Service

URL = "/api/v1/me/consent"


def _lender_score(service: Service) -> int | None:
    r = service.client.get(
        f"/api/v1/persons/{service.served.person}/score",
        params={"purpose": "credit_application"},
        headers=service.api("lena"),
    )
    assert r.status_code == 200, r.text
    return r.json()["score"]


def _put(service: Service, **body: Any) -> dict[str, Any]:
    r = service.client.put(URL, json=body, headers=service.api("pat"))
    assert r.status_code == 200, r.text
    return r.json()


def test_opting_in_serves_the_better_score_and_opting_out_returns_the_core_one(
    service: Service,
) -> None:
    pat = service.api("pat")
    before = service.client.get(URL, headers=pat).json()
    core, alt = before["core_score"], before["alternative_score"]
    assert before["given"] is False and before["changes"] == []
    assert before["score"] == core and before["served_from"] == "core"
    assert service.client.get("/api/v1/me/score", headers=pat).json()["score"] == core
    assert _lender_score(service) == core

    after = _put(service, given=True)
    best = max(s for s in (core, alt) if s is not None)
    assert after["given"] is True and after["score"] == best
    assert after["served_from"] == ("alternative" if alt is not None and alt > core else "core")
    assert service.client.get("/api/v1/me/score", headers=pat).json()["score"] == best
    assert _lender_score(service) == best  # a lender sees it at once
    history = service.client.get("/api/v1/me/history", headers=pat).json()
    assert history[-1]["score"] == best

    back = _put(service, given=False)
    assert back["score"] == core and back["served_from"] == "core"
    assert _lender_score(service) == core
    assert [c["change"] for c in back["changes"]] == ["withdrawn", "opted in"]
    audit = service.client.get(
        "/api/v1/audit", params={"limit": 1000}, headers=service.api("audrey")
    ).json()
    actions = [e["action"] for e in audit if e["subject"] == service.served.person]
    assert "give consent" in actions and "withdraw consent" in actions


def test_the_snapshot_holds_persons_whose_score_rises_with_consent(service: Service) -> None:
    pub = service.client.app.state.ctx.published()
    cur = pub.cursor()
    try:
        rises, falls, _no_alt_data = cur.execute(
            """SELECT count(*) FILTER (alt_score > score), count(*) FILTER (alt_score < score),
                      count(*) FILTER (score IS NOT NULL AND alt_score IS NULL)
               FROM scores WHERE snapshot_id = ?""",
            [pub.snapshot_id],
        ).fetchone()
    finally:
        cur.close()
    assert rises > 0 and falls > 0  # so "the better of the two" is a real choice
    # reasons with alternative data are looked up only where that score can be served
    cur = pub.cursor()
    try:
        unservable_with_reasons, servable_with_reasons = cur.execute(
            """SELECT count(*) FILTER (alt_score <= score AND alt_reasons IS NOT NULL),
                      count(*) FILTER (alt_score > score AND len(alt_reasons) > 0)
               FROM scores WHERE snapshot_id = ?""",
            [pub.snapshot_id],
        ).fetchone()
    finally:
        cur.close()
    assert unservable_with_reasons == 0 and servable_with_reasons > 0


def test_erase_needs_a_withdrawal(service: Service) -> None:
    r = service.client.put(URL, json={"given": True, "erase": True}, headers=service.api("pat"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "erase_needs_withdrawal"
    assert service.client.get(URL, headers=service.api("pat")).json()["changes"] == []


def test_the_page_shows_consent_and_changes_it(service: Service) -> None:
    c = service.login("pat")
    page = c.get("/me").text
    assert 'id="consent-give"' in page and "You have not opted in" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    r = c.post("/me/consent", data={"csrf_token": token, "change": "give"}, follow_redirects=False)
    assert r.status_code == 303
    page = c.get("/me").text
    assert "You have opted in" in page and 'id="consent-withdraw"' in page
    assert "opted in by you" in page


def _own_warehouse(service: Service) -> Path:
    """The test's own copy of the warehouse (the served one is shared), which it may erase."""
    wh = service.served.ws / "warehouse.duckdb"
    shutil.copyfile(wh.resolve(), wh.with_suffix(".copy"))
    wh.unlink()
    wh.with_suffix(".copy").rename(wh)
    return wh


def test_withdrawing_with_erasure_deletes_the_rows_and_leaves_a_tombstone(
    service: Service,
) -> None:
    wh = _own_warehouse(service)
    pid = service.served.person
    con = duckdb.connect(str(wh), read_only=True)
    held = con.execute("SELECT count(*) FROM ledger_payments WHERE person_id = ?", [pid]).fetchone()
    con.close()
    _put(service, given=True)
    state = _put(service, given=False, erase=True)
    assert state["changes"][0]["erase"] is True and state["changes"][0]["erased_at"] is not None
    con = duckdb.connect(str(wh), read_only=True)
    try:
        left = con.execute(
            "SELECT count(*) FROM ledger_payments WHERE person_id = ?", [pid]
        ).fetchone()
        stone = con.execute(
            "SELECT person_ids, records, rows_deleted FROM alternative_erasures"
        ).fetchall()
    finally:
        con.close()
    assert left == (0,)
    assert len(stone) == 1 and stone[0][0] == [pid]
    assert f'"ledger_payments": {held[0]}' in stone[0][2]  # counts, never values
    audit = service.client.get(
        "/api/v1/audit", params={"limit": 1000}, headers=service.api("audrey")
    ).json()
    erased = [e for e in audit if e["action"] == "erase alternative data"]
    assert erased and erased[0]["subject"] == pid and "records" in erased[0]["detail"]


def _riser(service: Service) -> tuple[str, dict[str, str]]:
    """A person with bills on file whose score with them is higher than their core score,
    and the API key of an account ``rhea`` for them."""
    pub = service.client.app.state.ctx.published()
    cur = pub.cursor()
    try:
        pid = cur.execute(
            """SELECT s.person_id FROM scores s WHERE snapshot_id = ? AND alt_score > score
                 AND EXISTS (SELECT 1 FROM file_items i WHERE i.person_id = s.person_id
                             AND i.kind = 'bill')
               ORDER BY md5(s.person_id) LIMIT 1""",
            [pub.snapshot_id],
        ).fetchone()[0]
    finally:
        cur.close()
    with open_store(service.store_url)() as session:
        account = create_account(
            session, username="rhea", role="person", password=PASSWORD, person_id=pid
        )
        key = issue_api_key(session, account, with_account=True)
        session.commit()
    return str(pid), {"Authorization": f"Bearer {key}"}


def _bills(service: Service, headers: dict[str, str]) -> list[dict[str, Any]]:
    file = service.client.get("/api/v1/me/file", headers=headers).json()
    return [i for items in file["furnishers"].values() for i in items if i["kind"] == "bill"]


def test_erased_bills_and_the_score_with_them_are_not_shown_until_the_next_snapshot(
    service: Service,
) -> None:
    """The published copy still holds the erased bills and the score with them: neither is
    shown to the person or a lender, even if the person opts in again."""
    _own_warehouse(service)
    pid, rhea = _riser(service)
    lena = service.api("lena")

    def lender() -> tuple[int, int]:
        r = service.client.post(
            "/api/v1/lookups",
            headers=lena,
            json={"purpose": "credit_application", "person_id": pid, "cutoff": 300},
        )
        assert r.status_code == 200, r.text
        return r.json()["score"], r.json()["file_summary"]["bill_accounts"]

    assert _bills(service, rhea) and lender()[1] > 0
    given = service.client.put(URL, json={"given": True}, headers=rhea).json()
    core, alt = given["core_score"], given["alternative_score"]
    assert given["score"] == alt > core and lender()[0] == alt
    gone = service.client.put(URL, json={"given": False, "erase": True}, headers=rhea).json()
    assert gone["changes"][0]["erased_at"] is not None

    again = service.client.put(URL, json={"given": True}, headers=rhea).json()
    assert again["given"] is True and again["score"] == core and again["served_from"] == "core"
    assert again["alternative_score"] is None
    assert lender() == (core, 0)
    assert _bills(service, rhea) == []
    history = service.client.get("/api/v1/me/history", headers=rhea).json()
    assert history[-1]["score"] == core


def test_a_person_whose_score_rises_with_consent_gets_it_at_once_and_loses_it_at_once(
    service: Service,
) -> None:
    pid, rhea = _riser(service)

    def lender() -> int:
        r = service.client.get(
            f"/api/v1/persons/{pid}/score",
            params={"purpose": "credit_application"},
            headers=service.api("lena"),
        )
        assert r.status_code == 200, r.text
        return int(r.json()["score"])

    before = service.client.get(URL, headers=rhea).json()
    core, alt = before["core_score"], before["alternative_score"]
    assert alt > core and before["score"] == core and lender() == core
    assert service.client.get("/api/v1/me/history", headers=rhea).json()[-1]["score"] == core

    given = service.client.put(URL, json={"given": True}, headers=rhea).json()
    assert given["score"] == alt and given["served_from"] == "alternative"
    assert lender() == alt
    assert service.client.get("/api/v1/me/score", headers=rhea).json()["score"] == alt
    assert service.client.get("/api/v1/me/history", headers=rhea).json()[-1]["score"] == alt

    back = service.client.put(URL, json={"given": False}, headers=rhea).json()
    assert back["score"] == core and lender() == core
    assert service.client.get("/api/v1/me/history", headers=rhea).json()[-1]["score"] == core


def test_an_operator_records_a_consent_the_person_asked_for(service: Service) -> None:
    from typer.testing import CliRunner

    from openbureau.cli import app

    runner = CliRunner()
    where = ["-w", str(service.served.ws), "--store", service.store_url]
    pid = service.served.person
    for args, words in (
        (["P-NOBODY", "--give"], "person P-NOBODY: not in the published snapshot"),
        ([pid, "--give", "--erase"], "only a withdrawal can erase"),
    ):
        res = runner.invoke(app, ["consent", "set", *args, *where])
        assert res.exit_code == 2 and words in res.stderr, res.output
        assert len(res.stderr.strip().splitlines()) == 1
    assert service.client.get(URL, headers=service.api("pat")).json()["changes"] == []
    res = runner.invoke(app, ["consent", "set", pid, "--give", *where])
    assert res.exit_code == 0, res.output
    state = service.client.get(URL, headers=service.api("pat")).json()
    assert state["given"] is True and state["changes"][0]["by"] != "you"
    audit = service.client.get(
        "/api/v1/audit", params={"limit": 1000}, headers=service.api("audrey")
    ).json()
    assert any(e["action"] == "give consent" and e["subject"] == pid for e in audit)


def test_the_persons_export_holds_every_consent_change(service: Service) -> None:
    from tests.service.test_export import _validate

    _, rhea = _riser(service)
    service.client.put(URL, json={"given": True}, headers=rhea)
    service.client.put(URL, json={"given": False}, headers=rhea)
    export = service.client.get("/api/v1/me/export", headers=rhea).json()
    _validate(export)
    changes = service.client.get(URL, headers=rhea).json()["changes"]
    assert [c["change"] for c in export["consents"]] == [c["change"] for c in changes]
    assert [c["change"] for c in export["consents"]][:2] == ["withdrawn", "opted in"]
    assert export["counts"]["consents"] == len(changes)
    page = service.client.get("/me/export", headers=rhea).text
    assert 'id="consents"' in page and "opted in" in page


def _what_if(service: Service, headers: dict[str, str], months: int = 6) -> dict[str, Any]:
    body = {"scenarios": [{"kind": "add_on_time_months", "months": months}]}
    r = service.client.post("/api/v1/me/what-if", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_consenting_persons_what_if_starts_from_the_score_they_are_served(
    service: Service,
) -> None:
    """Before and after are each served as the score is: for a person who consents, the better
    of the core score and the score with alternative data."""
    from openbureau.scoring.alternative import better
    from openbureau.scoring.whatif import AddOnTimeMonths, what_if
    from openbureau.service import views

    pid, rhea = _riser(service)
    core = _what_if(service, rhea)
    own = service.client.get("/api/v1/me/score", headers=rhea).json()["score"]
    assert core["before"]["score"] == own and core["before"]["served_from"] == "core"

    given = service.client.put(URL, json={"given": True}, headers=rhea).json()
    assert given["served_from"] == "alternative"
    mine = _what_if(service, rhea)
    own = service.client.get("/api/v1/me/score", headers=rhea).json()["score"]
    assert mine["before"]["score"] == own == given["alternative_score"] > given["core_score"]
    assert mine["before"]["served_from"] == "alternative"
    assert any("you consented" in n for n in mine["notes"])
    # after: the better of the two scorecards' scores after the change
    pub = service.client.app.state.ctx.published()
    features = views.features(pub, pid)
    assert features is not None and pub.alt_card is not None
    on_core, on_alt = (
        what_if(card, features, [AddOnTimeMonths(months=6)]).after
        for card in (pub.card, pub.alt_card)
    )
    served = on_alt if better(on_alt.score, on_core.score) else on_core
    assert (mine["after"]["score"], mine["after"]["served_from"]) == (
        served.score,
        "alternative" if served is on_alt else "core",
    )
    # withdrawn: the core score again
    service.client.put(URL, json={"given": False}, headers=rhea)
    assert _what_if(service, rhea)["before"] == core["before"]


def test_the_export_shows_both_scores_and_which_one_is_served_and_why(service: Service) -> None:
    from tests.service.test_export import _validate

    _, rhea = _riser(service)
    state = service.client.get(URL, headers=rhea).json()

    def latest() -> dict[str, Any]:
        export = service.client.get("/api/v1/me/export", headers=rhea).json()
        _validate(export)
        return export["scores"][-1]

    before = latest()
    assert before["score"] == state["core_score"]
    assert before["alternative"]["score"] == state["alternative_score"]
    assert before["served_from"] == "core" and "not consented" in before["served_why"]
    service.client.put(URL, json={"given": True}, headers=rhea)
    after = latest()
    assert after["served_from"] == "alternative" and after["alternative"]["reasons"]
    assert (
        after["alternative"]["score"]
        == service.client.get("/api/v1/me/score", headers=rhea).json()["score"]
    )
    assert "above the core score" in after["served_why"]
    page = service.client.get("/me/export", headers=rhea).text
    assert "With utility, telecom and rent payments" in page
    assert after["served_why"] in page


def test_the_export_lists_an_erasure_by_its_counts_never_its_values(service: Service) -> None:
    """From the warehouse: the tombstone (when, feeds, rows per table); from the copy published
    before it: the erasure, said to be listed in full from the next snapshot."""
    from tests.service.test_export import _export_cli, _validate

    wh = _own_warehouse(service)
    pid, rhea = _riser(service)
    service.client.put(URL, json={"given": True}, headers=rhea)
    service.client.put(URL, json={"given": False, "erase": True}, headers=rhea)
    mine = service.client.get("/api/v1/me/export", headers=rhea).json()
    _validate(mine)
    (shown,) = mine["erasures"]
    assert shown["erasure_id"] is None and shown["erased_at"] and shown["rows"] is None
    assert "next snapshot" in shown["note"] and mine["counts"]["erasures"] == 1
    assert 'id="erasures"' in service.client.get("/me/export", headers=rhea).text
    # the operator's export reads the warehouse: the tombstone, once
    out = wh.parent / "export.json"
    ws = service.served.ws
    res = _export_cli(service, ws, pid, "--purpose", "consumer_request", "-o", str(out))
    assert res.exit_code == 0, res.output
    export = json.loads(out.read_text(encoding="utf-8"))
    _validate(export)
    con = duckdb.connect(str(wh), read_only=True)
    try:
        erasure_id, feeds, records = con.execute(
            "SELECT erasure_id, feeds, records FROM alternative_erasures"
        ).fetchone()
    finally:
        con.close()
    (stone,) = export["erasures"]
    assert (stone["erasure_id"], stone["feeds"], stone["records"]) == (erasure_id, feeds, records)
    assert stone["rows"]["ledger_payments"] >= records > 0 and stone["note"] is None
    assert stone["erased_at"] and stone["requested_at"] == export["consents"][0]["at"]
