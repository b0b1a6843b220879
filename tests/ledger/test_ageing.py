"""Ageing-off: negative items stop counting after their legal period, counted from the date of
first delinquency (furnished, or derived from the status history and flagged)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openbureau.config import AgeingSection
from openbureau.ledger import compute_features
from openbureau.ledger.ageing import delinquency_sql
from openbureau.workspace import Workspace

SPEC = """\
name: valley_cu_accounts
furnisher: Valley Credit Union
feed: accounts
format: csv
record_key: [account_id, period]
require_one_of: [[national_id], [last_name, dob]]
fields:
  - {column: ACCT, target: account_id, category: reference, required: true}
  - {column: FIRST, target: first_name, category: identity}
  - {column: LAST, target: last_name, category: identity}
  - {column: DOB, target: dob, type: date, category: identity}
  - {column: SSN, target: national_id, category: identity}
  - {column: PERIOD, target: period, type: month, category: credit, required: true}
  - {column: OPENED, target: opened_date, type: date, category: credit}
  - {column: TYPE, target: product, type: code, category: credit,
     codes: {P: personal_loan, C: card}}
  - {column: BAL, target: balance, type: amount, category: credit}
  - {column: STATUS, target: payment_status, type: code, category: credit, required: true,
     codes: {C: current, "1": dpd30, "2": dpd60, "3": dpd90, "4": dpd120, "5": dpd150,
             L: chargeoff}}
  - {column: DOFD, target: first_delinquency_date, type: date, category: credit}
ledger: {event: account_status, event_date: period, report_lag_days: 15}
"""
# Three persons of their own (no one in the synthetic population is called Quillfeather).
ALPHA = ("Alba", "Quillfeather", "1961-02-03", "900-11-0001")  # a charge-off, DOFD furnished
BETA = ("Bruno", "Quillfeather", "1962-03-04", "900-11-0002")  # a charge-off, no DOFD sent
GAMMA = ("Greta", "Quillfeather", "1963-04-05", "900-11-0003")  # one late month, then current
ALPHA_DOFD = dt.date(2017, 1, 10)
ROLL = ["1", "2", "3", "4", "5"] + ["L"] * 7  # 2017-01 .. 2017-12


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    out, m = [], first
    while m <= last:
        out.append(m)
        m = dt.date(m.year + m.month // 12, m.month % 12 + 1, 1)
    return out


def cu_file(path: Path) -> Path:
    lines = ["ACCT,FIRST,LAST,DOB,SSN,PERIOD,OPENED,TYPE,BAL,STATUS,DOFD"]

    def row(acct: str, who: tuple[str, ...], month: dt.date, kind: str, status: str, dofd: str):
        first, last, dob, ssn = who
        lines.append(
            f"{acct},{first},{last},{dob},{ssn},{month:%Y-%m},2016-01-15,{kind},900.00,"
            f"{status},{dofd}"
        )

    for who, acct, dofd in ((ALPHA, "A1", ALPHA_DOFD.isoformat()), (BETA, "B1", "")):
        for m in _months(dt.date(2016, 1, 1), dt.date(2016, 12, 1)):
            row(acct, who, m, "P", "C", "")
        for m, status in zip(_months(dt.date(2017, 1, 1), dt.date(2017, 12, 1)), ROLL, strict=True):
            row(acct, who, m, "P", status, dofd)
    # Alpha's card in good standing, still reporting: what a lender may see of Alpha
    for m in _months(dt.date(2016, 1, 1), dt.date(2025, 11, 1)):
        row("A2", ALPHA, m, "C", "C", "")
    # Gamma's card: 30 days late in March 2017 (no DOFD sent), else current, to 2025
    for m in _months(dt.date(2016, 1, 1), dt.date(2025, 11, 1)):
        row("G1", GAMMA, m, "C", "1" if m == dt.date(2017, 3, 1) else "C", "")
    path.write_text("\n".join(lines) + "\n")
    return path


def add_cu_feed(cli, ws: Path, tmp_path: Path, link) -> None:
    spec = tmp_path / "valley_cu_accounts.yaml"
    spec.write_text(SPEC)
    res = cli("ingest", spec, cu_file(tmp_path / "cu.csv"), "-w", ws)
    assert res.exit_code == 0, res.output
    link(Workspace.open(ws))
    assert cli("ledger", "-w", ws).exit_code == 0


def _person(engine, account: str) -> str:
    return engine.scalar(
        "SELECT any_value(person_id) FROM ledger_account_status WHERE account_id = ?",
        [f"Valley Credit Union:{account}"],
    )


def _features(engine, day: dt.date, person: str, ageing: AgeingSection | None = None) -> dict:
    compute_features(engine, day, into="f", ageing=ageing)
    cols = ["tradelines", "months_since_serious_delinquency", "months_since_delinquency"]
    row = engine.query(f"SELECT {', '.join(cols)} FROM f WHERE person_id = ?", [person])[0]
    return dict(zip(cols, row, strict=True))


def test_items_count_just_inside_their_period_and_not_just_outside(
    copy_population, cli, link_small, tmp_path
) -> None:
    ws, _ = copy_population
    add_cu_feed(cli, ws, tmp_path, link_small)
    with Workspace.open(ws).engine() as engine:
        alpha, beta, gamma = (_person(engine, a) for a in ("A1", "B1", "G1"))
        assert len({alpha, beta, gamma}) == 3 and None not in (alpha, beta, gamma)

        # A charge-off with a furnished DOFD: counts until the day before DOFD + 7 years; then
        # the whole tradeline is gone, and the card in good standing still counts.
        inside = _features(engine, dt.date(2024, 1, 9), alpha)
        outside = _features(engine, dt.date(2024, 1, 10), alpha)
        assert inside["tradelines"] == 2 and inside["months_since_serious_delinquency"] == 73
        assert outside["tradelines"] == 1 and outside["months_since_serious_delinquency"] is None

        # No DOFD sent: derived from the history (the first late month, 2017-01-01).
        assert _features(engine, dt.date(2023, 12, 31), beta)["tradelines"] == 1
        assert _features(engine, dt.date(2024, 1, 1), beta)["tradelines"] == 0

        # A late month on an account brought current ages off alone: the account stays.
        late = _features(engine, dt.date(2024, 2, 29), gamma)
        aged = _features(engine, dt.date(2024, 3, 1), gamma)
        assert late["months_since_delinquency"] == 83 and late["tradelines"] == 1
        assert aged["months_since_delinquency"] is None and aged["tradelines"] == 1

        # Aged off, never gone: every row is still in the ledger.
        assert (
            engine.scalar(
                "SELECT count(*) FROM ledger_account_status_effective WHERE person_id = ?", [alpha]
            )
            == 24 + 119
        )
        # ... and nothing of it is evidence for a reason
        evidence = engine.query(
            "SELECT DISTINCT person_id FROM pit_status WHERE account_id LIKE '%:A1'"
        )
        assert evidence == []


def test_a_missing_dofd_is_derived_from_the_status_history_and_flagged(
    copy_population, cli, link_small, tmp_path
) -> None:
    ws, _ = copy_population
    add_cu_feed(cli, ws, tmp_path, link_small)
    with Workspace.open(ws).engine() as engine:
        rows = engine.query(f"""SELECT split_part(account_id, ':', 2), min(dofd),
                max(dofd), bool_and(dofd_derived), count(*)
            FROM ({delinquency_sql("ledger_account_status_effective")})
            WHERE account_id LIKE 'Valley Credit Union:%' GROUP BY 1 ORDER BY 1""")
    assert rows == [
        ("A1", ALPHA_DOFD, ALPHA_DOFD, False, 12),  # as furnished
        ("B1", dt.date(2017, 1, 1), dt.date(2017, 1, 1), True, 12),  # the run's first month
        ("G1", dt.date(2017, 3, 1), dt.date(2017, 3, 1), True, 1),
    ]


def test_runs_of_late_months_each_have_their_own_dofd(copy_population) -> None:
    """A run ends when the account is current again, or after a gap the next late row is not
    late enough to span; the first row of a run seen 90 days late began two months earlier."""
    ws, _ = copy_population
    with Workspace.open(ws).engine() as engine:
        engine.execute("""CREATE TEMP TABLE late_rows AS SELECT * FROM (VALUES
            ('r1', 'X', DATE '2020-01-01', NULL::DATE, 1, NULL::DATE),
            ('r2', 'X', DATE '2020-02-01', NULL, 2, NULL),
            ('r3', 'X', DATE '2020-03-01', NULL, 0, NULL),
            ('r4', 'X', DATE '2020-06-01', NULL, 3, NULL),
            ('r5', 'X', DATE '2020-09-01', NULL, 4, NULL),
            ('r6', 'X', DATE '2021-06-01', NULL, 1, NULL),
            ('r7', 'X', DATE '2021-07-01', NULL, 1, DATE '2021-06-20'),
            ('r8', 'X', DATE '2021-08-01', NULL, 2, DATE '2030-01-01'))
            AS t(record_id, account_id, event_date, opened_date, status_rank,
                 first_delinquency_date)""")
        got = engine.query(
            f"SELECT record_id, dofd, dofd_derived FROM ({delinquency_sql('late_rows')}) ORDER BY 1"
        )
    assert got == [
        ("r1", dt.date(2020, 1, 1), True),
        ("r2", dt.date(2020, 1, 1), True),
        ("r4", dt.date(2020, 4, 1), True),  # 90 days late: began two months before
        ("r5", dt.date(2020, 4, 1), True),  # 120 days late after a gap: the same delinquency
        ("r6", dt.date(2021, 6, 1), True),
        ("r7", dt.date(2021, 6, 20), False),  # furnished
        ("r8", dt.date(2021, 6, 1), True),  # furnished in the future: not plausible, derived
    ]


def test_bureau_toml_sets_the_periods(copy_population, cli, link_small, tmp_path) -> None:
    ws, _ = copy_population
    add_cu_feed(cli, ws, tmp_path, link_small)
    toml = ws / "bureau.toml"
    text = toml.read_text()
    for default, mine in (('charged_off = "7y"', '"8y"'), ('delinquency = "7y"', '"5y"')):
        assert default in text  # (init writes every default)
        text = text.replace(default, default.split("=")[0] + "= " + mine)
    toml.write_text(text)
    workspace = Workspace.open(ws)
    rules = workspace.settings.ageing
    with workspace.engine() as engine:
        alpha, gamma = _person(engine, "A1"), _person(engine, "G1")
        # the charge-off counts a year longer; the lone late month ages off two years sooner
        assert _features(engine, dt.date(2024, 1, 10), alpha, rules)["tradelines"] == 2
        assert _features(engine, dt.date(2025, 1, 9), alpha, rules)["tradelines"] == 2
        assert _features(engine, dt.date(2025, 1, 10), alpha, rules)["tradelines"] == 1
        assert (
            _features(engine, dt.date(2022, 3, 1), gamma, rules)["months_since_delinquency"] is None
        )
        assert (
            _features(engine, dt.date(2022, 2, 28), gamma, rules)["months_since_delinquency"] == 59
        )
    toml.write_text(text.replace('inquiry = "2y"', 'inquiry = "3m"'))
    res = cli("ledger", "-w", ws)
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [
        f"error: {toml}: ageing: inquiry_in_score (1y) is longer than inquiry (3m); an "
        "inquiry no longer on file cannot count"
    ]


def test_inquiries_count_in_the_score_for_twelve_months(copy_population) -> None:
    ws, _ = copy_population
    day = dt.date(2025, 12, 31)
    with Workspace.open(ws).engine() as engine:
        compute_features(engine, day, into="f")
        assert engine.scalar("SELECT max(inquiries_24m - inquiries_12m) FROM f") == 0
        assert engine.scalar("SELECT min(event_date) FROM pit_inquiries") > dt.date(2024, 12, 31)
        longer = AgeingSection(inquiry_in_score="2y")
        compute_features(engine, day, into="f", ageing=longer)
        assert engine.scalar("SELECT max(inquiries_24m - inquiries_12m) FROM f") > 0


def test_public_records_and_late_bills_age_off_by_kind(copy_population) -> None:
    """At D = 2032-06-30: judgments and liens filed before 2025-06-30 are gone, bankruptcies
    only before 2022-06-30; bills paid late or unpaid due before 2025-06-30 are gone, bills
    paid on time stay."""
    ws, _ = copy_population
    day = dt.date(2032, 6, 30)
    with Workspace.open(ws).engine() as engine:
        compute_features(engine, day, into="f")
        kept = dict(
            engine.query(
                "SELECT record_kind, min(filed_date) FROM pit_public GROUP BY 1 ORDER BY 1"
            )
        )
        held = dict(
            engine.query(
                "SELECT record_kind, min(filed_date) FROM ledger_public_records_effective "
                "GROUP BY 1 ORDER BY 1"
            )
        )
        late_before = engine.scalar(
            "SELECT count(*) FROM pit_payments WHERE days_late_asof > 0 "
            "AND due_date <= DATE '2025-06-30'"
        )
        on_time_before = engine.scalar(
            "SELECT count(*) FROM pit_payments WHERE days_late_asof = 0 "
            "AND due_date <= DATE '2025-06-30'"
        )
        late_held = engine.scalar(
            "SELECT count(*) FROM ledger_payments_effective WHERE due_date <= DATE "
            "'2025-06-30' AND (paid_date IS NULL OR days_late > 0)"
        )
    seven, ten = dt.date(2025, 6, 30), dt.date(2022, 6, 30)
    assert kept["civil_judgment"] > seven and kept["tax_lien"] > seven
    assert held["civil_judgment"] <= seven and held["tax_lien"] <= seven  # (in the ledger still)
    for bankruptcy in ("bankruptcy_ch7", "bankruptcy_ch13"):
        assert ten < kept[bankruptcy] < seven  # kept 10 years, not 7
        assert held[bankruptcy] < kept[bankruptcy] or held[bankruptcy] > ten
    assert late_before == 0 and late_held > 0 and on_time_before > 0
