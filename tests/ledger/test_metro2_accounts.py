"""Metro 2 accounts across months: a renumbered account (L1) and a sold one (K2) count once,
and a delete request (DA, DF) takes the account's reports out of what counts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openbureau.ledger import compute_features
from openbureau.workspace import Workspace
from tests.ingest.metro2_files import base, header, segment, trailer, write

JUNE = dt.date(2024, 6, 30)
JULY = dt.date(2024, 7, 31)


def _month(tmp_path: Path, name: str, *records: str) -> Path:
    return write(tmp_path / name, [header(), *records, trailer(base=len(records))])


def _load(ws: Workspace, cli, tmp_path: Path, *files: Path) -> None:
    spec = tmp_path / "acme.yaml"
    spec.write_text(
        "name: acme_cards\nfurnisher: Acme Bank\nfeed: accounts\nformat: metro2\n"
        "parse: {encoding: latin-1}\n",
        encoding="utf-8",
    )
    for f in files:
        res = cli("ingest", spec, f, "-w", ws.root)
        assert res.exit_code == 0, res.output
    assert cli("link", "--model", "default", "-w", ws.root).exit_code == 0
    res = cli("ledger", "-w", ws.root)
    assert res.exit_code == 0, res.output


def _features(ws: Workspace, day: dt.date) -> dict[str, float]:
    with ws.engine() as engine:
        compute_features(engine, day, into="f")
        rows = engine.query("SELECT open_accounts, total_balance, tradelines FROM f")
    assert len(rows) == 1, rows  # (one person: Jane)
    return dict(zip(("open_accounts", "total_balance", "tradelines"), rows[0], strict=True))


def _three_months(tmp_path: Path, *, l1: bool = True, k2: bool = True) -> list[Path]:
    """Jane's card A1 renumbered to B2 in June (L1), and her card S1 sold in June (K2)."""
    renumber = [segment("L1", indicator="1", account="B2")] if l1 else []
    sale = [segment("K2", indicator="2", name="SEAGATE CAPITAL LLC")] if k2 else []
    return [
        _month(
            tmp_path,
            "may.txt",
            base(account="A1", balance=450, dai="05312024"),
            base(account="S1", balance=300, dai="05312024"),
        ),
        _month(
            tmp_path,
            "june.txt",
            base(*renumber, account="A1", balance=460, dai="06302024"),
            # (sold: status 05 and K2; without the sale, a month like May's)
            base(*sale, account="S1", status="05", rating="0", balance=0, dai="06302024")
            if k2
            else base(account="S1", balance=300, dai="06302024"),
        ),
        _month(tmp_path, "july.txt", base(account="B2" if l1 else "A1", balance=470,
                                         dai="07312024")),
    ]  # fmt: skip


def test_a_renumbered_account_counts_once_and_a_sold_one_is_no_longer_open(
    ws: Workspace, cli, tmp_path: Path
) -> None:
    _load(ws, cli, tmp_path, *_three_months(tmp_path))
    # July: B2 (was A1) is the one open account, its balance July's; S1 was sold in June
    assert _features(ws, JULY) == {"open_accounts": 1, "total_balance": 470, "tradelines": 2}
    # June, before the new number was used: the L1 report already says A1 is B2
    assert _features(ws, JUNE) == {"open_accounts": 1, "total_balance": 460, "tradelines": 2}
    with ws.engine(read_only=True) as engine:
        # the reports stay as the furnisher sent them (the old number, the new one named)
        kept = engine.query(
            "SELECT account_id, new_account_id, sold_to FROM ledger_account_status "
            "WHERE event_date = DATE '2024-06-01' ORDER BY account_id"
        )
    assert kept == [
        ("Acme Bank:A1", "Acme Bank:B2", None),
        ("Acme Bank:S1", None, "SEAGATE CAPITAL LLC"),
    ]


def test_a_sale_counts_only_while_the_latest_month_says_so(
    ws: Workspace, cli, tmp_path: Path
) -> None:
    """S1 sold in June (K2), then reported again in July without a sale: the latest month
    governs, so S1 is open again in July (not closed for ever by June's K2)."""
    months = _three_months(tmp_path, l1=False)
    months[2] = _month(
        tmp_path,
        "july.txt",
        base(account="A1", balance=470, dai="07312024"),
        base(account="S1", balance=200, dai="07312024"),
    )
    _load(ws, cli, tmp_path, *months)
    assert _features(ws, JUNE) == {"open_accounts": 1, "total_balance": 460, "tradelines": 2}
    assert _features(ws, JULY) == {"open_accounts": 2, "total_balance": 670, "tradelines": 2}


def test_without_l1_and_k2_the_same_months_count_three_accounts(
    ws: Workspace, cli, tmp_path: Path
) -> None:
    # (the control: the same file with the account numbers of July and no segments counts
    # A1 and S1 open as before; with B2 in July and no L1, A1 and B2 would both count)
    files = _three_months(tmp_path, l1=False, k2=False)
    files[2] = _month(tmp_path, "july.txt", base(account="B2", balance=470, dai="07312024"))
    _load(ws, cli, tmp_path, *files)
    assert _features(ws, JULY) == {"open_accounts": 3, "total_balance": 1230, "tradelines": 3}


def test_a_delete_request_suppresses_the_accounts_reports_with_its_reason(
    ws: Workspace, cli, tmp_path: Path
) -> None:
    joint = segment("J1", surname="DOE", first="JOHN", ssn="987654321", dob="05061979", ecoa="2")
    may = _month(
        tmp_path,
        "may.txt",
        base(joint, account="A1", balance=450, ecoa="2", dai="05312024"),
        base(account="F1", balance=90, dai="05312024"),
        base(account="K1", balance=30, dai="05312024"),
    )
    june = _month(
        tmp_path,
        "june.txt",
        base(account="A1", status="DA", balance=0, dai="06302024"),
        base(account="F1", status="DF", balance=0, dai="06302024"),
        base(account="K1", balance=35, dai="06302024"),
    )
    _load(ws, cli, tmp_path, may)
    spec = tmp_path / "acme.yaml"
    res = cli("ingest", spec, june, "-w", ws.root)
    assert res.exit_code == 0 and "quarantined 0" in " ".join(res.output.split()), res.output
    assert cli("link", "--model", "default", "-w", ws.root).exit_code == 0
    res = cli("ledger", "-w", ws.root)
    assert res.exit_code == 0
    # A1's report in Jane's file and in John's (J1), and F1's
    assert "3 records suppressed at their furnisher's request" in res.output, res.output
    with ws.engine() as engine:
        kept = engine.query(
            "SELECT e.account_id, e.record_id, s.reason, s.note FROM ledger_suppressions s "
            "JOIN ledger_account_status e USING (record_id) ORDER BY e.record_id"
        )
        # nothing deleted: every report is still in the ledger, the requests are no events
        events = engine.query(
            "SELECT account_id, count(*) FROM ledger_account_status GROUP BY 1 ORDER BY 1"
        )
        counted = engine.query(
            "SELECT DISTINCT account_id FROM ledger_account_status_effective ORDER BY 1"
        )
    assert [(a, r, why) for a, r, why, _ in kept] == [
        ("Acme Bank:A1", "B000001.2", "deleted_by_furnisher"),
        ("Acme Bank:A1", "B000001.2.1", "deleted_by_furnisher"),
        ("Acme Bank:F1", "B000001.3", "fraud"),
    ]
    assert kept[2][3] == (
        "Metro 2 DF (delete the entire account because of confirmed fraud): record B000002.3"
    )
    assert events == [("Acme Bank:A1", 2), ("Acme Bank:F1", 1), ("Acme Bank:K1", 2)]
    assert counted == [("Acme Bank:K1",)]
    # built again: nothing is suppressed twice
    res = cli("ledger", "-w", ws.root)
    assert res.exit_code == 0 and "furnisher's request" not in res.output
    with ws.engine(read_only=True) as engine:
        assert engine.scalar("SELECT count(*) FROM ledger_suppressions") == 3


def _john(ecoa: str) -> str:
    """John Doe as Jane's joint holder (a J1 segment) with this ECOA code."""
    return segment("J1", surname="DOE", first="JOHN", ssn="987654321", dob="05061979", ecoa=ecoa)


def _holders(ws: Workspace) -> list[tuple[dt.date, int]]:
    """(month, how many persons' files count the account's report of it)."""
    with ws.engine(read_only=True) as engine:
        return [
            (d, int(n))
            for d, n in engine.query(
                "SELECT event_date, count(DISTINCT person_id) "
                "FROM ledger_account_status_effective GROUP BY 1 ORDER BY 1"
            )
        ]


def test_a_terminated_holder_keeps_the_months_before(ws: Workspace, cli, tmp_path: Path) -> None:
    """ECOA T (association terminated) on a joint holder: from that month the account's report
    lands in the base consumer's file only; May, while John was a joint holder, stays in his."""
    months = [
        _month(tmp_path, "may.txt", base(_john("2"), account="A1", ecoa="2", dai="05312024")),
        _month(tmp_path, "june.txt", base(_john("T"), account="A1", ecoa="2", dai="06302024")),
    ]
    _load(ws, cli, tmp_path, *months)
    assert _holders(ws) == [(dt.date(2024, 5, 1), 2), (dt.date(2024, 6, 1), 1)]
    with ws.engine(read_only=True) as engine:
        assert engine.scalar("SELECT count(*) FROM ledger_suppressions") == 0
        roles = engine.query(
            "SELECT account_role, count(*) FROM associated_consumers GROUP BY 1 ORDER BY 1"
        )
    # (loaded as sent: the roles are kept, only the ledger leaves that month out)
    assert roles == [("joint", 1), ("terminated", 1)]


def test_a_consumer_deleted_from_the_account_loses_its_months(
    ws: Workspace, cli, tmp_path: Path
) -> None:
    """ECOA Z (delete the consumer: reported in error) on a joint holder: the account, May and
    June included, leaves John's file (suppressed, with the request named); Jane's months and
    John's own card stand."""
    own = base(
        account="C9", surname="DOE", first="JOHN", ssn="987654321", dob="05061979", dai="08312024"
    )
    months = [
        _month(tmp_path, "may.txt", base(_john("2"), account="A1", ecoa="2", dai="05312024"),
               base(account="C9", surname="DOE", first="JOHN", ssn="987654321",
                    dob="05061979", dai="05312024")),
        _month(tmp_path, "june.txt", base(_john("2"), account="A1", ecoa="2", dai="06302024")),
        _month(tmp_path, "july.txt", base(_john("Z"), account="A1", ecoa="2", dai="07312024")),
        _month(tmp_path, "august.txt", base(account="A1", dai="08312024"), own),
    ]  # fmt: skip
    _load(ws, cli, tmp_path, *months[:3])
    with ws.engine(read_only=True) as engine:
        held = engine.query(
            "SELECT e.account_id, p.first_name, count(*) FROM ledger_account_status_effective e "
            "JOIN identity_records p USING (identity_id) GROUP BY ALL ORDER BY ALL"
        )
        kept = engine.query(
            "SELECT e.event_date, s.reason, s.note FROM ledger_suppressions s "
            "JOIN ledger_account_status e USING (record_id) ORDER BY 1"
        )
    assert held == [
        ("Acme Bank:A1", "JANE", 3),
        ("Acme Bank:C9", "JOHN", 1),
    ], held
    assert [(d, why) for d, why, _ in kept] == [
        (dt.date(2024, 5, 1), "deleted_by_furnisher"),
        (dt.date(2024, 6, 1), "deleted_by_furnisher"),
    ]
    assert kept[0][2] == (
        "Metro 2 ECOA Z (delete this consumer from the account: reported on it in error): "
        "record B000003.2.1"
    )
    # built again: nothing suppressed twice; a later month without John adds nothing of his
    _load(ws, cli, tmp_path, months[3])
    with ws.engine(read_only=True) as engine:
        assert engine.scalar("SELECT count(*) FROM ledger_suppressions") == 2
    assert _holders(ws)[-1] == (dt.date(2024, 8, 1), 2)  # (Jane's A1 and John's C9)


def test_a_delete_request_reaches_the_reports_under_the_accounts_earlier_number(
    ws: Workspace, cli, tmp_path: Path
) -> None:
    """A1 renumbered to B2 in June (L1), B2 reported in July, then deleted (DA) in August
    under B2: A1's May and June reports are the same account's and go too."""
    months = _three_months(tmp_path, k2=False)
    months.append(
        _month(
            tmp_path,
            "august.txt",
            base(account="B2", status="DA", balance=0, dai="08312024"),
        )
    )
    _load(ws, cli, tmp_path, *months)
    with ws.engine(read_only=True) as engine:
        counted = engine.query(
            "SELECT DISTINCT account_id FROM ledger_account_status_effective ORDER BY 1"
        )
        suppressed = engine.query(
            "SELECT e.account_id, count(*) FROM ledger_suppressions s "
            "JOIN ledger_account_status e USING (record_id) GROUP BY 1 ORDER BY 1"
        )
    assert counted == [("Acme Bank:S1",)]
    assert suppressed == [("Acme Bank:A1", 2), ("Acme Bank:B2", 1)]


def test_a_month_resent_without_a_joint_holder_leaves_their_file(
    ws: Workspace, cli, tmp_path: Path
) -> None:
    """June sent with John as joint holder, then sent again without him (and once more with
    him terminated, ECOA T): June is no longer a report on John's file; Jane's stands."""
    john = segment("J1", surname="DOE", first="JOHN", ssn="987654321", dob="05061979", ecoa="2")
    # (June's profile gives May: each holder gets it; John's goes with his June)
    first = _month(tmp_path, "june.txt", base(john, account="A1", ecoa="2", history="1" + "B" * 23))
    again = _month(tmp_path, "june-again.txt", base(account="A1", balance=470))
    _load(ws, cli, tmp_path, first)
    with ws.engine(read_only=True) as engine:
        assert engine.scalar("SELECT count(*) FROM ledger_account_status_effective") == 4
    spec = tmp_path / "acme.yaml"
    assert cli("ingest", spec, again, "-w", ws.root).exit_code == 0
    assert cli("link", "--model", "default", "-w", ws.root).exit_code == 0
    res = cli("ledger", "-w", ws.root)
    assert "2 consumers' reports of a month ended" in " ".join(res.output.split()), res.output
    with ws.engine(read_only=True) as engine:
        counting = engine.query(
            "SELECT balance FROM ledger_account_status_effective ORDER BY balance"
        )
        john_before = engine.query("""SELECT is_current, superseded_on,
              (SELECT count(*) FROM ledger_version_states s WHERE s.event_id = e.event_id)
            FROM ledger_account_status e WHERE record_id LIKE '%.1'""")
    # Jane's June, as re-sent (its profile no longer gives May); none of John's, May neither
    assert counting == [(470,)]
    assert john_before == [(False, dt.date(2024, 6, 30), 1)]


def test_a_month_resent_with_the_holder_terminated_leaves_their_file(
    ws: Workspace, cli, tmp_path: Path
) -> None:
    def john(ecoa: str) -> str:
        return segment(
            "J1", surname="DOE", first="JOHN", ssn="987654321", dob="05061979", ecoa=ecoa
        )

    first = _month(tmp_path, "june.txt", base(john("2"), account="A1", ecoa="2"))
    again = _month(tmp_path, "june-again.txt", base(john("T"), account="A1", ecoa="2", balance=9))
    _load(ws, cli, tmp_path, first, again)
    with ws.engine(read_only=True) as engine:
        counting = engine.query(
            "SELECT count(DISTINCT person_id), count(*) FROM ledger_account_status_effective"
        )
    assert counting == [(1, 1)]


def test_a_holder_dropped_before_another_leaves_each_report_with_its_own_consumer(
    ws: Workspace, cli, tmp_path: Path
) -> None:
    """June sent with John and Mary as joint holders, then again without John: Mary, now the
    first J1, keeps her own report (a new version of it), not John's; John's month ends. An
    associated consumer is matched to the earlier record's by national ID, or name and birth
    date, before its place (D6)."""
    john = segment("J1", surname="DOE", first="JOHN", ssn="987654321", dob="05061979", ecoa="2")
    mary = segment("J1", surname="ROE", first="MARY", ssn="123123123", dob="02021982", ecoa="2")
    first = _month(tmp_path, "june.txt", base(john, mary, account="A1", ecoa="2"))
    again = _month(tmp_path, "june-again.txt", base(mary, account="A1", ecoa="2", balance=470))
    _load(ws, cli, tmp_path, first, again)
    with ws.engine(read_only=True) as engine:
        # (each report's versions are one consumer's: no chain crosses from one to another)
        mixed = engine.query("""SELECT record_id FROM ledger_account_status
            GROUP BY record_id HAVING count(DISTINCT identity_id) > 1""")
        current = engine.query("""SELECT record_id, version FROM ledger_account_status
            WHERE is_current ORDER BY record_id""")
        persons = engine.scalar(
            "SELECT count(DISTINCT person_id) FROM ledger_account_status_effective"
        )
    assert mixed == []
    # Jane's and Mary's June, each a second version of their own report; John's none
    assert [v for _, v in current] == [2, 2], current
    assert [r.rsplit(".", 1)[-1] for r, _ in current][1] == "2"  # (Mary's: the second J1)
    assert persons == 2
