"""Bankruptcies Metro 2 furnishers report (the Consumer Information Indicator): one public
record per consumer and chapter, its status the latest report's, never counted again beside a
court registry's record of the same bankruptcy."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openbureau.ledger import compute_features, label_outcomes
from openbureau.ledger._pit import create_pit_views
from openbureau.workspace import Workspace
from tests.ingest.metro2_files import base, header, segment, trailer, write

MAY, JUNE, JULY = dt.date(2024, 5, 31), dt.date(2024, 6, 30), dt.date(2024, 7, 31)
DAI = {MAY: "05312024", JUNE: "06302024", JULY: "07312024"}

COURT_SPEC = """\
name: county_court
furnisher: County Court
feed: public_records
format: csv
record_key: [case_id]
require_one_of: [[national_id], [last_name, dob]]
fields:
  - {column: CASE, target: case_id, category: reference, required: true}
  - {column: FIRST, target: first_name, category: identity}
  - {column: LAST, target: last_name, category: identity}
  - {column: DOB, target: dob, type: date, category: identity, formats: ["%Y-%m-%d"]}
  - {column: SSN, target: national_id, category: identity}
  - {column: ADDRESS, target: address_line1, category: location}
  - {column: CITY, target: city, category: location}
  - {column: STATE, target: region, category: location}
  - {column: ZIP, target: postcode, category: location}
  - {column: TYPE, target: case_type, type: code, category: public_record,
     codes: {BK7: bankruptcy_ch7, BK13: bankruptcy_ch13}}
  - {column: FILED, target: filed_date, type: date, category: public_record,
     formats: ["%Y-%m-%d"]}
ledger: {event: public_record, kind_from: case_type, event_date: filed_date}
"""


def _months(tmp_path: Path, *months: tuple[dt.date, list[str]]) -> list[Path]:
    """One Metro 2 file per month: Jane's accounts with the CII codes given, per account."""
    files = []
    for day, codes in months:
        records = [base(account=f"A{n}", cii=code, dai=DAI[day]) for n, code in enumerate(codes, 1)]
        files.append(
            write(tmp_path / f"{day:%m}.txt", [header(), *records, trailer(base=len(records))])
        )
    return files


def _load(ws: Workspace, cli, tmp_path: Path, files: list[Path], court: str = "") -> None:
    spec = tmp_path / "acme.yaml"
    spec.write_text(
        "name: acme_cards\nfurnisher: Acme Bank\nfeed: accounts\nformat: metro2\n"
        "parse: {encoding: latin-1}\n",
        encoding="utf-8",
    )
    for f in files:
        res = cli("ingest", spec, f, "-w", ws.root)
        assert res.exit_code == 0, res.output
    if court:
        (tmp_path / "court.yaml").write_text(COURT_SPEC, encoding="utf-8")
        rows = tmp_path / "court.csv"
        rows.write_text(
            f"CASE,FIRST,LAST,DOB,SSN,ADDRESS,CITY,STATE,ZIP,TYPE,FILED\n{court}\n",
            encoding="utf-8",
        )
        res = cli("ingest", tmp_path / "court.yaml", rows, "-w", ws.root)
        assert res.exit_code == 0, res.output
    assert cli("link", "--model", "default", "-w", ws.root).exit_code == 0
    res = cli("ledger", "-w", ws.root)
    assert res.exit_code == 0, res.output


def _court(case_type: str, filed: str) -> str:
    return f"C-1,JANE,DOE,1980-03-04,123456789,12 MAIN ST,SPRINGFIELD,IL,62701,{case_type},{filed}"


def _records(ws: Workspace, day: dt.date) -> list[tuple]:
    """Jane's public records on ``day``: (kind, feed, case, filed, status, resolved), and the
    public_records feature (every record of hers is one person's)."""
    with ws.engine() as engine:
        create_pit_views(engine, day)
        rows = engine.query(
            "SELECT record_kind, feed, case_id, filed_date, case_status, resolved_asof "
            "FROM pit_public ORDER BY record_kind, feed"
        )
        compute_features(engine, day, into="f")
        (count,) = engine.query("SELECT public_records FROM f")[0]
        persons = engine.scalar("SELECT count(DISTINCT person_id) FROM pit_public")
    assert count == len(rows) and persons <= 1, (count, rows)
    return [tuple(r) for r in rows]


def test_two_accounts_reporting_one_bankruptcy_are_one_record(
    ws: Workspace, cli, tmp_path: Path
) -> None:
    """Both of Jane's cards report her Chapter 13 petition (D) in May and June; in July one
    reports it discharged (H): one record, filed in May, its status the latest report's."""
    files = _months(tmp_path, (MAY, ["D", "D"]), (JUNE, ["D", "D"]), (JULY, ["H", "D"]))
    _load(ws, cli, tmp_path, files)
    may = dt.date(2024, 5, 1)
    assert _records(ws, JUNE) == [("bankruptcy_ch13", "acme_cards", None, may, "petitioned", None)]
    # (July's reports: A1's H is as late as A2's D; the later stage wins the tie)
    assert _records(ws, JULY) == [
        ("bankruptcy_ch13", "acme_cards", None, may, "discharged", dt.date(2024, 7, 1))
    ]
    # before any report: none
    assert _records(ws, dt.date(2024, 4, 30)) == []


def test_a_court_record_of_the_same_bankruptcy_is_the_one_counted(
    ws: Workspace, cli, tmp_path: Path
) -> None:
    files = _months(tmp_path, (MAY, ["D", "D"]), (JUNE, ["D", ""]))
    _load(ws, cli, tmp_path, files, court=_court("BK13", "2024-04-20"))
    assert _records(ws, JUNE) == [
        ("bankruptcy_ch13", "county_court", "County Court:C-1", dt.date(2024, 4, 20), None, None)
    ]
    # the training outcome sees one bankruptcy too (a person, not a row per account)
    with ws.engine() as engine:
        label_outcomes(engine, dt.date(2024, 3, 31), into="o", horizon_months=2)
        assert engine.query("SELECT bad FROM o") == [(True,)]


def test_a_court_record_of_another_chapter_or_years_apart_is_another(
    ws: Workspace, cli, tmp_path: Path
) -> None:
    files = _months(tmp_path, (MAY, ["D"]), (JUNE, ["D"]))
    _load(ws, cli, tmp_path, files, court=_court("BK7", "2024-04-20"))
    assert [r[:2] for r in _records(ws, JUNE)] == [
        ("bankruptcy_ch13", "acme_cards"),
        ("bankruptcy_ch7", "county_court"),
    ]


def test_a_chapter_13_filed_long_before_the_report_is_another(
    ws: Workspace, cli, tmp_path: Path
) -> None:
    files = _months(tmp_path, (MAY, ["D"]))
    _load(ws, cli, tmp_path, files, court=_court("BK13", "2016-01-10"))
    assert [r[:2] for r in _records(ws, MAY)] == [
        ("bankruptcy_ch13", "acme_cards"),
        ("bankruptcy_ch13", "county_court"),
    ]


def test_two_chapters_are_two_records_and_a_dismissal_is_its_status(
    ws: Workspace, cli, tmp_path: Path
) -> None:
    """A1 reports a Chapter 7 petition (A), A2 a Chapter 13 petition (D); in June A2 reports
    the Chapter 13 dismissed (L): two records, the Chapter 13 dismissed from June."""
    files = _months(tmp_path, (MAY, ["A", "D"]), (JUNE, ["A", "L"]))
    _load(ws, cli, tmp_path, files)
    may, june = dt.date(2024, 5, 1), dt.date(2024, 6, 1)
    assert _records(ws, JUNE) == [
        ("bankruptcy_ch13", "acme_cards", None, may, "dismissed", june),
        ("bankruptcy_ch7", "acme_cards", None, may, "petitioned", None),
    ]


def test_q_removes_an_accounts_earlier_reports(ws: Workspace, cli, tmp_path: Path) -> None:
    """A1 reports a Chapter 7 petition in May, then Q (removes the indicator) in June: no
    bankruptcy from June on; May's file still had it. A blank month changes nothing."""
    files = _months(tmp_path, (MAY, ["A", "A"]), (JUNE, ["Q", ""]), (JULY, ["", ""]))
    _load(ws, cli, tmp_path, files)
    assert [r[:2] for r in _records(ws, MAY)] == [("bankruptcy_ch7", "acme_cards")]
    # A2 still said so in May, and a blank month does not take it back
    assert [r[:2] for r in _records(ws, JULY)] == [("bankruptcy_ch7", "acme_cards")]


def test_q_on_every_account_leaves_no_record(ws: Workspace, cli, tmp_path: Path) -> None:
    files = _months(tmp_path, (MAY, ["A", "A"]), (JUNE, ["Q", "Q"]))
    _load(ws, cli, tmp_path, files)
    assert _records(ws, JUNE) == []


def test_an_undesignated_bankruptcy_beside_a_chaptered_one_is_one(
    ws: Workspace, cli, tmp_path: Path
) -> None:
    files = _months(tmp_path, (MAY, ["Z", "B"]))
    _load(ws, cli, tmp_path, files)
    assert [r[0] for r in _records(ws, MAY)] == ["bankruptcy_ch11"]


def test_a_joint_holders_indicator_is_their_own(ws: Workspace, cli, tmp_path: Path) -> None:
    """Jane's card, joint with John (J1): John reports a Chapter 7 petition, Jane none."""
    john = segment(
        "J1", surname="DOE", first="JOHN", ssn="987654321", dob="05061979", ecoa="2", cii="A"
    )
    f = write(
        tmp_path / "may.txt",
        [header(), base(john, account="A1", ecoa="2", dai=DAI[MAY]), trailer(base=1, J1=1)],
    )
    _load(ws, cli, tmp_path, [f])
    with ws.engine() as engine:
        compute_features(engine, MAY, into="f")
        rows = engine.query(
            "SELECT p.first_name, f.public_records FROM f JOIN ("
            "  SELECT DISTINCT e.person_id, i.first_name FROM ledger_account_status e"
            "  JOIN identity_records i USING (identity_id)) p USING (person_id)"
            " ORDER BY 1"
        )
    assert rows == [("JANE", 0), ("JOHN", 1)]
