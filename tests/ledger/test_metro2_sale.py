"""A sale between two furnishers of the bureau: the seller reports the account sold (K2 "sold
to", status 05) and the purchaser reports it under its own number (K2 "purchased from"). The
consumer's file counts one account, the seller's months carried over, never one twice."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openbureau.ledger import compute_features
from openbureau.workspace import Workspace
from tests.ingest.metro2_files import base, header, segment, trailer, write

JULY = dt.date(2024, 7, 31)
COLUMNS = ("tradelines", "open_accounts", "delinquent_months_24m", "accounts_delinquent_24m",
           "total_balance", "oldest_account_months")  # fmt: skip
SPEC = "name: {name}\nfurnisher: {furnisher}\nfeed: accounts\nformat: metro2\n"


def _file(tmp_path: Path, name: str, *records: str) -> Path:
    return write(tmp_path / name, [header(), *records, trailer(base=len(records))])


def _seller(tmp_path: Path, sold_to: str = "SEAGATE CAPITAL LLC") -> list[Path]:
    """Acme Bank's card S1 (opened 2020-01-15): April current, May 30 days late, June sold
    (status 05, K2 sold to ``sold_to``; none with an empty name)."""
    sale = [segment("K2", indicator="2", name=sold_to)] if sold_to else []
    return [
        _file(tmp_path, "acme-04.txt", base(account="S1", balance=320, dai="04302024")),
        _file(tmp_path, "acme-05.txt", base(account="S1", status="71", rating="1",
                                            balance=300, dofd="05012024", dai="05312024")),
        _file(tmp_path, "acme-06.txt", base(*sale, account="S1", status="05", rating="0",
                                            balance=0, dai="06302024")),
    ]  # fmt: skip


def _purchaser(tmp_path: Path, bought_from: str = "ACME BANK", opened: str = "01152020") -> list:
    """Seagate Capital's account P9: June (its profile: May 30 days late, April current) and
    July, with K2 purchased from ``bought_from`` (none with an empty name)."""
    bought = [segment("K2", indicator="1", name=bought_from)] if bought_from else []
    return [
        _file(tmp_path, "seagate-06.txt", base(*bought, account="P9", balance=300,
                                               opened=opened, history="10" + "B" * 22,
                                               identification="SEAGATE01", dai="06302024")),
        _file(tmp_path, "seagate-07.txt", base(*bought, account="P9", balance=280,
                                               opened=opened, identification="SEAGATE01",
                                               dai="07312024")),
    ]  # fmt: skip


def _features(ws: Workspace, cli, tmp_path: Path, seller: list, purchaser: list) -> dict:
    for name, furnisher, files in (
        ("acme_cards", "Acme Bank", seller),
        ("seagate_accounts", "Seagate Capital", purchaser),
    ):
        spec = tmp_path / f"{name}.yaml"
        spec.write_text(SPEC.format(name=name, furnisher=furnisher), encoding="utf-8")
        for f in files:
            res = cli("ingest", spec, f, "-w", ws.root)
            assert res.exit_code == 0 and "quarantined 0" in " ".join(res.output.split()), (
                res.output
            )
    assert cli("link", "--model", "default", "-w", ws.root).exit_code == 0
    assert cli("ledger", "-w", ws.root).exit_code == 0
    with ws.engine() as engine:
        compute_features(engine, JULY, into="f")
        rows = engine.query(f"SELECT {', '.join(COLUMNS)} FROM f")
    assert len(rows) == 1, rows  # (one person: Jane)
    return {k: float(v) for k, v in zip(COLUMNS, rows[0], strict=True)}


ONE = {
    "tradelines": 1,
    "open_accounts": 1,
    "delinquent_months_24m": 1,  # May, once: the seller's report, not the purchaser's profile
    "accounts_delinquent_24m": 1,
    "total_balance": 280,
    "oldest_account_months": 54,  # January 2020: the seller's Date Opened carried over
}


def test_a_sold_account_and_its_purchasers_are_one(ws: Workspace, cli, tmp_path: Path) -> None:
    assert _features(ws, cli, tmp_path, _seller(tmp_path), _purchaser(tmp_path)) == ONE


def test_one_side_naming_the_other_is_enough(ws: Workspace, cli, tmp_path: Path) -> None:
    # the purchaser sends no K2; the seller's "sold to" names it (its legal suffix aside)
    got = _features(ws, cli, tmp_path, _seller(tmp_path), _purchaser(tmp_path, bought_from=""))
    assert got == ONE


def test_the_purchasers_k2_alone_pairs_it_with_a_transferred_account(
    ws: Workspace, cli, tmp_path: Path
) -> None:
    got = _features(ws, cli, tmp_path, _seller(tmp_path, sold_to=""), _purchaser(tmp_path))
    assert got == ONE


def test_names_that_do_not_agree_leave_two_accounts(ws: Workspace, cli, tmp_path: Path) -> None:
    got = _features(
        ws,
        cli,
        tmp_path,
        _seller(tmp_path, sold_to="OTHER BUYER INC"),
        _purchaser(tmp_path, bought_from="SOMEONE ELSE"),
    )
    # the sold account is closed, the purchaser's open; May counted twice (the seller's report
    # and the purchaser's profile), each account its own
    assert got == {**ONE, "tradelines": 2, "delinquent_months_24m": 2,
                   "accounts_delinquent_24m": 2}  # fmt: skip


def test_another_date_opened_is_another_account(ws: Workspace, cli, tmp_path: Path) -> None:
    got = _features(ws, cli, tmp_path, _seller(tmp_path), _purchaser(tmp_path, opened="03012023"))
    assert (got["tradelines"], got["delinquent_months_24m"]) == (2, 2)
