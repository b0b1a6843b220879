"""Metro 2 statuses read with their payment rating (05 transferred, 13 paid or closed): the
rating says how late the account was when it was closed, paid or transferred, and counts as
that lateness; the account is then no longer open, nor past due now."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openbureau.ledger import compute_features
from openbureau.workspace import Workspace
from tests.ingest.metro2_files import base, header, trailer, write

JUNE = dt.date(2024, 6, 30)
COLUMNS = (
    "worst_status_12m",
    "accounts_delinquent_24m",
    "delinquent_months_24m",
    "accounts_past_due",
    "open_accounts",
    "tradelines",
)


def _features(ws: Workspace, cli, tmp_path: Path, *records: str) -> dict[str, object]:
    spec = tmp_path / "acme.yaml"
    spec.write_text(
        "name: acme_cards\nfurnisher: Acme Bank\nfeed: accounts\nformat: metro2\n"
        "parse: {encoding: latin-1}\n",
        encoding="utf-8",
    )
    f = write(tmp_path / "june.txt", [header(), *records, trailer(base=len(records))])
    res = cli("ingest", spec, f, "-w", ws.root)
    assert res.exit_code == 0 and "quarantined 0" in " ".join(res.output.split()), res.output
    assert cli("link", "--model", "default", "-w", ws.root).exit_code == 0
    assert cli("ledger", "-w", ws.root).exit_code == 0
    with ws.engine() as engine:
        compute_features(engine, JUNE, into="f")
        rows = engine.query(f"SELECT {', '.join(COLUMNS)} FROM f")
    assert len(rows) == 1, rows  # (one person: Jane)
    return dict(zip(COLUMNS, rows[0], strict=True))


def test_a_rated_paid_closed_or_transferred_account_counts_its_lateness(
    ws: Workspace, cli, tmp_path: Path
) -> None:
    got = _features(
        ws,
        cli,
        tmp_path,
        # paid while 60-89 days late, with its Date Closed
        base(account="P1", status="13", rating="2", balance=0, closed="06102024"),
        # paid while 30-59 days late, no Date Closed sent
        base(account="P2", status="13", rating="1", balance=0),
        # transferred to another office while 30-59 days late
        base(account="T1", status="05", rating="1", balance=0),
        base(account="C1", status="11"),  # current, open
    )
    assert got == {
        "worst_status_12m": 2,
        "accounts_delinquent_24m": 3,
        "delinquent_months_24m": 3,
        "accounts_past_due": 0,
        "open_accounts": 1,
        "tradelines": 4,
    }


def test_unrated_paid_and_transferred_accounts_are_neither_late_nor_open(
    ws: Workspace, cli, tmp_path: Path
) -> None:
    got = _features(
        ws,
        cli,
        tmp_path,
        base(account="P1", status="13", rating="0", balance=0),
        base(account="T1", status="05", rating=" ", balance=0),
        base(account="C1", status="11"),
    )
    assert got == {
        "worst_status_12m": 0,
        "accounts_delinquent_24m": 0,
        "delinquent_months_24m": 0,
        "accounts_past_due": 0,
        "open_accounts": 1,
        "tradelines": 3,
    }
