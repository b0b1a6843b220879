"""Accuracy checks: each rule hits the hand-made rows it should and misses the others, a rule
the feed cannot feed is not applicable (never passed), findings only report, and the CLI."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openbureau.ingest import accuracy, parse_spec
from openbureau.ingest.accuracy import AccuracyReport, Finding
from openbureau.ingest.load import BatchReport, ingest_file
from openbureau.workspace import Workspace

# A feed carrying every target a rule reads, its columns named after them. (Real feeds carry
# a part; the rules go by targets, whatever the feed.)
_AMOUNTS = ("balance", "credit_limit", "original_amount", "amount_past_due", "charge_off_amount")
_DATES = (
    "reported_date",
    "opened_date",
    "closed_date",
    "first_delinquency_date",
    "last_payment_date",
    "inquiry_date",
    "due_date",
    "paid_date",
    "filed_date",
    "satisfied_date",
)
_STATUSES = ("current", "dpd30", "dpd60", "dpd90", "dpd120", "dpd150", "chargeoff", "closed")
_PRODUCTS = ("card", "auto_loan", "personal_loan", "mortgage")


def _field(target: str) -> dict[str, Any]:
    f: dict[str, Any] = {"column": target, "target": target, "category": "credit"}
    if target in ("account_id", "period"):
        f |= {"category": "reference", "required": True}
    if target == "period":
        f["type"] = "month"
    elif target in _AMOUNTS or target in ("amount_due", "amount_paid"):
        f["type"] = "amount"
    elif target in _DATES:
        f["type"] = "date"
    elif target in ("days_past_due", "days_late"):
        f["type"] = "integer"
    elif target in ("payment_status", "payment_rating"):
        f |= {"type": "code", "codes": {s: s for s in _STATUSES}}
    elif target in ("product", "inquiry_type"):
        f |= {"type": "code", "codes": {p: p for p in _PRODUCTS}, "category": "credit"}
    elif target == "dob":
        f |= {"type": "date", "category": "identity"}
    elif target == "national_id":
        f["category"] = "identity"
    return f


TARGETS = (
    "account_id",
    "period",
    "payment_status",
    "payment_rating",
    "days_past_due",
    "product",
    *_AMOUNTS,
    *_DATES,
    "amount_paid",
    "days_late",
    "inquiry_type",
    "dob",
    "national_id",
    "payment_history_profile",
)


def _spec(targets: tuple[str, ...] = TARGETS, keyed: bool = True) -> dict[str, Any]:
    fields = [_field(t) for t in targets]
    if not keyed:  # (an account number a row may lack)
        fields[0]["required"] = False
    return {
        "name": "sink_accounts",
        "furnisher": "Sink Bank",
        "feed": "accounts",
        "format": "csv",
        "record_key": ["account_id", "period"] if keyed else [],
        "fields": fields,
        "ledger": {"event": "account_status", "event_date": "period"},
    }


# A clean row: every rule passes it. A case's rows override some of its values.
BASE = {
    "period": "2024-03",
    "reported_date": "2024-04-05",
    "payment_status": "current",
    "days_past_due": "0",
    "product": "card",
    "balance": "100.00",
    "credit_limit": "1000.00",
    "opened_date": "2020-01-10",
    "dob": "1980-01-01",
    "national_id": "111-22-3333",
}
LATE = {"payment_status": "dpd30", "days_past_due": "35", "first_delinquency_date": "2024-02-10"}
CLOSED = {"payment_status": "closed", "balance": "0", "closed_date": "2024-03-10"}
CHARGED_OFF = {
    "payment_status": "chargeoff",
    "days_past_due": "200",
    "first_delinquency_date": "2023-08-10",
    "charge_off_amount": "900.00",
    "amount_past_due": "100.00",
}
FEB = {"period": "2024-02"}
LOAN = {"product": "auto_loan", "credit_limit": "", "original_amount": "5000.00"}
IN_TEN_DAYS = (dt.date.today() + dt.timedelta(days=10)).isoformat()

HIT, MISS = True, False
# rule -> rows (values over BASE, True when the rule must flag the row). Rows get accounts
# A1, A2... unless they name one (a case's history is one account's months).
CASES: dict[str, list[tuple[dict[str, str], bool]]] = {
    "dofd-missing": [
        (LATE | {"first_delinquency_date": ""}, HIT),
        (CHARGED_OFF | {"first_delinquency_date": ""}, HIT),
        (LATE, MISS),
        ({}, MISS),
    ],
    "history-code-unknown": [
        ({"payment_history_profile": "00000X000000000000000000"}, HIT),
        ({"payment_history_profile": "0000000000000000000000a0"}, HIT),
        ({"payment_history_profile": "0123456BDEGHJKL000000000"}, MISS),
        ({"payment_history_profile": "000000                  "}, MISS),
        ({}, MISS),
    ],
    "history-contradicts-report": [
        # the account's February report says 30 days late; March's profile says February
        # was current: a contradiction; the same with the profile saying 1 (30-59) is none
        (LATE | FEB | {"account_id": "H1"}, MISS),
        ({"account_id": "H1", "payment_history_profile": "0" * 24}, HIT),
        (LATE | FEB | {"account_id": "H2"}, MISS),
        ({"account_id": "H2", "payment_history_profile": "1" + "0" * 23}, MISS),
        # not the month before (January): nothing to compare
        (LATE | {"account_id": "H3", "period": "2024-01"}, MISS),
        ({"account_id": "H3", "payment_history_profile": "0" * 24}, MISS),
    ],
    "dofd-on-current": [({"first_delinquency_date": "2024-01-01"}, HIT), ({}, MISS), (LATE, MISS)],
    "dofd-after-report": [
        (LATE | {"first_delinquency_date": "2024-04-20"}, HIT),
        (LATE | {"first_delinquency_date": "2024-04-05"}, MISS),
    ],
    "dofd-before-open": [
        (LATE | {"first_delinquency_date": "2019-12-01"}, HIT),
        (LATE, MISS),
    ],
    "dofd-moved": [
        (LATE | FEB | {"account_id": "X", "first_delinquency_date": "2024-01-15"}, MISS),
        (LATE | {"account_id": "X", "payment_status": "dpd60", "days_past_due": "65"}, HIT),
        (LATE | FEB | {"account_id": "Y"}, MISS),
        (LATE | {"account_id": "Y", "payment_status": "dpd60", "days_past_due": "65"}, MISS),
        (LATE | {"account_id": "Z", "period": "2024-01", "first_delinquency_date": ""}, MISS),
        (LATE | {"account_id": "Z"}, MISS),  # (two months apart: it may have been cured)
        (LATE | FEB | {"account_id": "W"}, MISS),
        (LATE | {"account_id": "W", "first_delinquency_date": "2024-01-15"}, HIT),  # (earlier)
    ],
    "days-contradict-status": [
        ({"days_past_due": "45"}, HIT),
        (LATE | {"payment_status": "dpd60", "days_past_due": "10"}, HIT),
        (LATE | {"payment_status": "dpd150", "days_past_due": "149"}, HIT),
        (LATE | {"payment_status": "dpd60", "days_past_due": "89"}, MISS),
        (CHARGED_OFF | {"days_past_due": "20"}, MISS),
        ({"days_past_due": "29"}, MISS),
    ],
    "rating-contradicts-status": [
        (CLOSED | {"payment_rating": "dpd60"}, HIT),
        (LATE | {"payment_rating": "current"}, HIT),
        (CLOSED | {"payment_rating": "current"}, MISS),
        (LATE | {"payment_rating": "dpd30"}, MISS),
        (CLOSED, MISS),
    ],
    "status-jump": [
        (FEB | {"account_id": "X"}, MISS),
        (LATE | {"account_id": "X", "payment_status": "dpd60", "days_past_due": "65"}, HIT),
        (LATE | FEB | {"account_id": "Y"}, MISS),
        (LATE | {"account_id": "Y", "payment_status": "dpd60", "days_past_due": "65"}, MISS),
        ({"account_id": "Z", "period": "2024-01"}, MISS),
        (LATE | {"account_id": "Z", "payment_status": "dpd90", "days_past_due": "95"}, MISS),
    ],
    "open-after-chargeoff": [
        (CHARGED_OFF | FEB | {"account_id": "X"}, MISS),
        ({"account_id": "X"}, HIT),
        (CHARGED_OFF | FEB | {"account_id": "Y"}, MISS),
        (CHARGED_OFF | {"account_id": "Y"}, MISS),
        (CHARGED_OFF | FEB | {"account_id": "Z"}, MISS),
        (CLOSED | {"account_id": "Z"}, MISS),
    ],
    "open-after-closed": [
        (CLOSED | FEB | {"account_id": "X", "closed_date": "2024-02-10"}, MISS),
        (LATE | {"account_id": "X"}, HIT),
        (CLOSED | FEB | {"account_id": "Y", "closed_date": "2024-02-10"}, MISS),
        (CLOSED | {"account_id": "Y", "closed_date": "2024-02-10"}, MISS),
    ],
    "balance-on-closed": [(CLOSED | {"balance": "50.00"}, HIT), (CLOSED, MISS), ({}, MISS)],
    "no-balance-delinquent": [
        (LATE | {"balance": "0"}, HIT),
        (LATE | {"balance": "-5.00"}, HIT),
        (LATE, MISS),
        ({"balance": "0"}, MISS),
    ],
    "past-due-on-current": [
        ({"amount_past_due": "20.00"}, HIT),
        (CLOSED | {"amount_past_due": "20.00"}, HIT),
        ({"amount_past_due": "0"}, MISS),
        (LATE | {"amount_past_due": "20.00"}, MISS),
    ],
    "no-past-due-delinquent": [
        (LATE | {"amount_past_due": "0"}, HIT),
        (CHARGED_OFF | {"amount_past_due": ""}, HIT),
        (LATE | {"amount_past_due": "25.00"}, MISS),
        ({}, MISS),
    ],
    "past-due-over-balance": [
        (LATE | {"amount_past_due": "200.00"}, HIT),
        (LATE | {"amount_past_due": "50.00"}, MISS),
    ],
    "chargeoff-no-amount": [
        (CHARGED_OFF | {"charge_off_amount": ""}, HIT),
        (CHARGED_OFF, MISS),
    ],
    "chargeoff-amount-on-open": [
        ({"charge_off_amount": "500.00"}, HIT),
        (LATE | {"charge_off_amount": "500.00"}, HIT),
        (CHARGED_OFF, MISS),
        (CLOSED | {"charge_off_amount": "500.00"}, MISS),
    ],
    "card-without-limit": [({"credit_limit": ""}, HIT), ({}, MISS), (LOAN, MISS)],
    "loan-without-amount": [(LOAN | {"original_amount": ""}, HIT), (LOAN, MISS), ({}, MISS)],
    "balance-far-over-limit": [
        ({"balance": "2500.00"}, HIT),
        ({"balance": "1500.00"}, MISS),
        (LOAN | {"balance": "9000.00"}, MISS),
    ],
    "closed-without-date": [(CLOSED | {"closed_date": ""}, HIT), (CLOSED, MISS), ({}, MISS)],
    "closed-before-open": [({"closed_date": "2019-05-01"}, HIT), (CLOSED, MISS)],
    "closed-after-report": [({"closed_date": "2024-04-20"}, HIT), (CLOSED, MISS)],
    "opened-after-report": [
        ({"opened_date": "2024-04-10"}, HIT),
        ({"opened_date": "2024-03-10"}, MISS),
        ({"opened_date": "2024-04-01", "reported_date": ""}, HIT),  # (after March's end)
    ],
    "last-payment-after-report": [
        ({"last_payment_date": "2024-04-10"}, HIT),
        ({"last_payment_date": "2024-03-10"}, MISS),
    ],
    "last-payment-before-open": [
        ({"last_payment_date": "2019-05-01"}, HIT),
        ({"last_payment_date": "2024-03-01"}, MISS),
    ],
    "reported-before-period": [
        ({"reported_date": "2024-02-20"}, HIT),
        ({"reported_date": "2024-03-01"}, MISS),
    ],
    "opened-date-changed": [
        (FEB | {"account_id": "X"}, MISS),
        ({"account_id": "X", "opened_date": "2020-02-10"}, HIT),
        (FEB | {"account_id": "Y"}, MISS),
        ({"account_id": "Y"}, MISS),
    ],
    "product-changed": [
        (FEB | {"account_id": "X"}, MISS),
        (LOAN | {"account_id": "X"}, HIT),
        (LOAN | FEB | {"account_id": "Y"}, MISS),
        (LOAN | {"account_id": "Y"}, MISS),
    ],
    "original-amount-changed": [
        (LOAN | FEB | {"account_id": "X"}, MISS),
        (LOAN | {"account_id": "X", "original_amount": "6000.00"}, HIT),
        (LOAN | FEB | {"account_id": "Y"}, MISS),
        (LOAN | {"account_id": "Y"}, MISS),
    ],
    "account-several-consumers": [
        (FEB | {"account_id": "X"}, HIT),
        ({"account_id": "X", "national_id": "222-33-4444"}, HIT),
        (FEB | {"account_id": "Y"}, MISS),
        ({"account_id": "Y"}, MISS),
        (FEB | {"account_id": "Z"}, MISS),
        ({"account_id": "Z", "national_id": ""}, MISS),
    ],
    "account-several-birth-dates": [
        (FEB | {"account_id": "X"}, HIT),
        ({"account_id": "X", "dob": "1981-01-01"}, HIT),
        (FEB | {"account_id": "Y"}, MISS),
        ({"account_id": "Y"}, MISS),
    ],
    "born-after-report": [({"dob": "2024-05-01"}, HIT), ({}, MISS)],
    "inquiry-after-report": [
        ({"inquiry_date": "2024-04-10"}, HIT),
        ({"inquiry_date": "2024-03-10"}, MISS),
    ],
    "inquiry-repeated": [
        ({"inquiry_date": "2024-03-10", "inquiry_type": "card"}, HIT),
        ({"inquiry_date": "2024-03-10", "inquiry_type": "card"}, HIT),
        ({"inquiry_date": "2024-03-10", "inquiry_type": "auto_loan"}, MISS),
        (
            {"inquiry_date": "2024-03-10", "inquiry_type": "card", "national_id": "999-88-7777"},
            MISS,
        ),
        ({"inquiry_date": "2024-03-11", "inquiry_type": "card"}, MISS),
    ],
    "days-late-contradict-dates": [
        ({"due_date": "2024-03-10", "paid_date": "2024-03-20", "days_late": "0"}, HIT),
        ({"due_date": "2024-03-10", "paid_date": "2024-03-05", "days_late": "5"}, HIT),
        ({"due_date": "2024-03-10", "paid_date": "2024-03-20", "days_late": "10"}, MISS),
        ({"due_date": "2024-03-10", "paid_date": "2024-03-05", "days_late": "0"}, MISS),
        ({"due_date": "2024-03-10", "days_late": "25"}, MISS),  # (unpaid: late so far)
    ],
    "paid-without-date": [
        ({"amount_paid": "50.00"}, HIT),
        ({"amount_paid": "50.00", "paid_date": "2024-03-05"}, MISS),
        ({"amount_paid": "0"}, MISS),
    ],
    "paid-after-loading": [
        ({"paid_date": IN_TEN_DAYS}, HIT),
        ({"paid_date": "2024-03-05"}, MISS),
    ],
    "resolved-before-filed": [
        ({"filed_date": "2024-03-10", "satisfied_date": "2024-02-01"}, HIT),
        ({"filed_date": "2024-03-10", "satisfied_date": "2024-03-20"}, MISS),
        ({"filed_date": "2024-03-10"}, MISS),
    ],
    "filed-after-report": [
        ({"filed_date": "2024-04-10"}, HIT),
        ({"filed_date": "2024-03-10"}, MISS),
    ],
}


def _csv(rows: list[dict[str, str]], targets: tuple[str, ...] = TARGETS) -> str:
    lines = [",".join(targets)]
    for i, row in enumerate(rows, start=1):
        values = {"account_id": f"A{i}"} | BASE | row
        lines.append(",".join(values.get(t, "") for t in targets))
    return "\n".join(lines) + "\n"


Ingest = Callable[..., BatchReport]


@pytest.fixture
def ingest(ws: Workspace, tmp_path: Path) -> Ingest:
    """Load rows (values over BASE) as a batch of a feed with ``targets``."""

    def load(
        rows: list[dict[str, str]], targets: tuple[str, ...] = TARGETS, keyed: bool = True
    ) -> BatchReport:
        n = len(list(tmp_path.glob("batch*.csv")))
        path = tmp_path / f"batch{n}.csv"
        path.write_text(_csv(rows, targets), encoding="utf-8")
        spec = parse_spec(_spec(targets, keyed))
        with ws.engine() as engine:
            return ingest_file(engine, spec, path, key=ws.national_id_key())

    return load


def _finding(report: AccuracyReport | None, rule_id: str) -> Finding:
    assert report is not None
    return next(f for f in report.findings if f.rule.id == rule_id)


def test_every_rule_has_a_case_and_there_are_at_least_25() -> None:
    assert set(CASES) == set(accuracy.BY_ID)
    assert len(accuracy.RULES) >= 25


@pytest.mark.parametrize("rule_id", list(CASES))
def test_a_rule_flags_its_bad_rows_and_no_other(
    rule_id: str, ingest: Ingest, ws: Workspace
) -> None:
    rows = CASES[rule_id]
    report = ingest([r for r, _ in rows])
    assert (report.read, report.loaded) == (len(rows), len(rows))  # nothing blocked or dropped
    hits = {i + 2 for i, (_, hit) in enumerate(rows) if hit}  # (line 1 is the header)
    found = _finding(report.accuracy, rule_id)
    assert found.applicable and found.not_applicable is None
    assert found.offending == len(hits)
    assert {e.line_no for e in found.examples} == hits
    assert found.checked is not None and found.checked >= len(hits)
    with ws.engine(read_only=True) as engine:
        flagged = accuracy.flagged_lines(engine, report.batch_id, rule_id, 100)
        stored = accuracy.read_report(engine, report.batch_id)
        in_feed = engine.scalar("SELECT count(*) FROM src_sink_accounts")
    assert {line for _, line in flagged} == hits
    assert {r for r, _ in flagged} == {f"{report.batch_id}.{line}" for line in hits}
    assert _finding(stored, rule_id) == found
    assert in_feed == len(rows)


def test_a_rule_the_feed_cannot_feed_is_not_applicable_never_passed(ingest: Ingest) -> None:
    few = ("account_id", "period", "payment_status")
    report = ingest([LATE, {}], targets=few)
    assert report.accuracy is not None
    for f in report.accuracy.findings:
        missing = f.rule.missing(few)
        assert f.applicable is not missing, f.rule.id
        if missing:
            assert f.checked is None and f.offending is None
            assert f.not_applicable == "the feed has no " + ", ".join(
                m.replace("|", " or ") for m in missing
            )
    assert _finding(report.accuracy, "open-after-closed").applicable
    assert report.accuracy.not_applicable == sum(bool(r.missing(few)) for r in accuracy.RULES)
    assert "not applicable to the feed's fields" in report.accuracy.line()


def test_a_target_loaded_as_text_makes_its_rules_not_applicable(
    ingest: Ingest, ws: Workspace
) -> None:
    report = ingest([LATE | {"first_delinquency_date": ""}])
    assert _finding(report.accuracy, "dofd-missing").offending == 1
    with ws.engine() as engine:  # as a batch loaded before the target's type was fixed
        engine.execute("ALTER TABLE src_sink_accounts ALTER first_delinquency_date TYPE VARCHAR")
        as_text = accuracy.check_batch(engine, report.batch_id)
        engine.execute(
            "UPDATE ingest_batches SET spec_yaml = replace(spec_yaml, "
            "'target: first_delinquency_date\n  type: date', "
            "'target: first_delinquency_date\n  type: string')"
        )
        declared_text = accuracy.check_batch(engine, report.batch_id)
    for again, why in (
        (as_text, "loaded as VARCHAR by an earlier version"),
        (declared_text, "has type string"),
    ):
        found = _finding(again, "dofd-missing")
        assert not found.applicable and found.offending is None
        assert found.not_applicable == f"the feed has no first_delinquency_date ({why})"
        assert _finding(again, "balance-on-closed").applicable


def test_history_is_the_feed_as_it_stood_when_the_batch_was_loaded(
    ingest: Ingest, ws: Workspace
) -> None:
    first = ingest([LATE | FEB | {"account_id": "X", "first_delinquency_date": "2024-01-15"}])
    second = ingest([LATE | {"account_id": "X"}])
    assert _finding(first.accuracy, "dofd-moved").checked == 0  # (no month before it)
    moved = _finding(second.accuracy, "dofd-moved")
    assert (moved.checked, moved.offending) == (1, 1)
    assert moved.examples[0].shown == (
        "prev_first_delinquency_date=2024-01-15, first_delinquency_date=2024-02-10"
    )
    # the furnisher corrects February: March now agrees with the month before it
    ingest([LATE | FEB | {"account_id": "X", "reported_date": "2024-04-06"}])
    with ws.engine() as engine:
        rechecked = accuracy.check_batch(engine, second.batch_id)
        assert _finding(rechecked, "dofd-moved").offending == 1  # (as it was loaded)
        flags = engine.scalar(
            "SELECT count(*) FROM accuracy_flags WHERE batch_id = ?", [second.batch_id]
        )
        rows = engine.scalar(
            "SELECT count(*) FROM accuracy_findings WHERE batch_id = ?", [second.batch_id]
        )
    # (published whole, not added to)
    assert (flags, rows) == (sum(f.offending or 0 for f in rechecked.findings), len(accuracy.RULES))


def test_rows_without_an_account_are_checked_but_have_no_history(ingest: Ingest) -> None:
    report = ingest(
        [
            CLOSED | FEB | {"account_id": "", "closed_date": "2024-02-10"},
            LATE | {"account_id": "", "first_delinquency_date": ""},
            {"account_id": "", "national_id": "222-33-4444"},
        ],
        keyed=False,
    )
    assert report.accuracy is not None and report.accuracy.rows == 3
    assert _finding(report.accuracy, "dofd-missing").offending == 1
    for rule_id in ("open-after-closed", "status-jump", "account-several-consumers"):
        assert _finding(report.accuracy, rule_id).offending == 0, rule_id


def test_the_cli_shows_findings_lines_and_writes_the_furnishers_report(
    ingest: Ingest, ws: Workspace, cli, tmp_path: Path
) -> None:
    report = ingest([LATE | {"first_delinquency_date": ""}, {}, CLOSED | {"balance": "9.00"}])
    b = report.batch_id
    listed = cli("accuracy", "-w", str(ws.root))
    assert listed.exit_code == 0 and b in listed.output and "sink_accounts" in listed.output
    shown = cli("accuracy", b, "-w", str(ws.root))
    assert shown.exit_code == 0
    assert "dofd-missing" in shown.output and "balance-on-closed" in shown.output
    assert "balance=9.00" in shown.output and "Not applicable" not in shown.output
    lines = cli("accuracy", b, "--rule", "dofd-missing", "-w", str(ws.root))
    assert lines.exit_code == 0 and f"{b}.2" in lines.output and "Harm:" in lines.output
    out = tmp_path / "report.json"
    written = cli("accuracy", b, "--json", str(out), "-w", str(ws.root))
    assert written.exit_code == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["batch_id"] == b and len(data["rules"]) == len(accuracy.RULES)
    missing = next(r for r in data["rules"] if r["id"] == "dofd-missing")
    assert (missing["status"], missing["rows_offending"]) == ("checked", 1)
    assert missing["examples"][0]["line_no"] == 2 and missing["harm"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--rule", "dofd-missing"), "need a batch"),
        (("B000001", "--rule", "nope"), "no rule 'nope'"),
        (("B000099",), "no batch B000099"),
    ],
)
def test_cli_mistakes_are_one_line(ingest: Ingest, ws: Workspace, cli, args, message) -> None:
    ingest([{}])
    result = cli("accuracy", *args, "-w", str(ws.root))
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_batch_loaded_before_the_checks_is_checked_on_request(
    ingest: Ingest, ws: Workspace, cli
) -> None:
    b = ingest([LATE | {"first_delinquency_date": ""}]).batch_id
    with ws.engine() as engine:
        engine.execute("DELETE FROM accuracy_findings; DELETE FROM accuracy_flags")
    before = cli("accuracy", b, "-w", str(ws.root))
    assert before.exit_code == 2 and f"openbureau accuracy {b} --recheck" in before.output
    after = cli("accuracy", b, "--recheck", "-w", str(ws.root))
    assert after.exit_code == 0 and "dofd-missing" in after.output


def test_the_rules_table_in_the_docs_matches_the_code() -> None:
    from openbureau.ingest import docgen

    doc = Path(__file__).resolve().parents[2] / "docs" / "accuracy.md"
    text = doc.read_text(encoding="utf-8")
    assert docgen.render(text, accuracy.DOC_BLOCKS) == text, (
        "docs/accuracy.md differs from the code: run python -m openbureau.ingest.accuracy"
    )
    for r in accuracy.RULES:
        assert f"| `{r.id}` |" in text


BILLS_SPEC = """\
name: sink_bills
furnisher: Sink Power
feed: bills
format: csv
record_key: [account_id, due_date]
fields:
  - {column: ACCT, target: account_id, category: reference, required: true}
  - {column: FIRST, target: first_name, category: identity}
  - {column: LAST, target: last_name, category: identity}
  - {column: DOB, target: dob, type: date, category: identity}
  - {column: DUE, target: due_date, type: date, category: payment, required: true}
  - {column: PAID, target: paid_date, type: date, category: payment}
  - {column: LATE, target: days_late, type: integer, category: payment}
  - {column: AMOUNT, target: amount_due, type: amount, category: payment}
ledger: {event: payment, kind: utility, alternative: true, event_date: due_date}
"""


def test_erasing_a_persons_bills_erases_their_flags_and_examples(
    ws: Workspace, cli, tmp_path: Path
) -> None:
    from openbureau.ledger.erasure import erase_alternative_data

    spec = tmp_path / "sink_bills.yaml"
    spec.write_text(BILLS_SPEC, encoding="utf-8")
    bills = tmp_path / "bills.csv"
    bills.write_text(
        "ACCT,FIRST,LAST,DOB,DUE,PAID,LATE,AMOUNT\n"
        "7,Ann,Lee,1990-05-06,2024-03-10,2024-03-20,0,80.00\n"
        "7,Ann,Lee,1990-05-06,2024-04-10,2024-04-10,0,80.00\n"
        "8,Bob,Ray,1970-01-02,2024-03-10,2024-03-25,0,60.00\n",
        encoding="utf-8",
    )
    assert cli("ingest", str(spec), str(bills), "-w", str(ws.root)).exit_code == 0
    assert cli("link", "--model", "default", "-w", str(ws.root)).exit_code == 0
    assert cli("ledger", "-w", str(ws.root)).exit_code == 0
    with ws.engine() as engine:
        ann = engine.scalar(
            "SELECT person_id FROM ledger_payments WHERE loaded_record_id = 'B000001.2'"
        )
        erase_alternative_data(engine, [ann], requested_by="test")
        flags = engine.query("SELECT record_id FROM accuracy_flags ORDER BY record_id")
        report = accuracy.read_report(engine, "B000001")
        stone = engine.scalar("SELECT rows_deleted FROM alternative_erasures")
    found = _finding(report, "days-late-contradict-dates")
    assert flags == [("B000001.4",)]  # Bob's stays
    assert found.offending == 2 and [e.record_id for e in found.examples] == ["B000001.4"]
    assert '"accuracy_flags": 1' in stone
