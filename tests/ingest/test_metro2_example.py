"""The worked Metro 2 example of docs/ingest.md: a bank's file loaded through the CLI with the
documented result, and its joint and co-signed accounts in each consumer's file."""

from __future__ import annotations

import re
from pathlib import Path

from openbureau.workspace import Workspace
from tests.ingest.metro2_files import base, header, segment, trailer, write

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ingest.md"
SPEC = ROOT / "examples" / "metro2" / "acme.yaml"
FILE = ROOT / "examples" / "metro2" / "acme-2024-06.txt"


def _blocks_after(marker: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    rest = text[text.index(marker) :]
    return re.findall(r"```[a-z]*\n(.*?)```", rest, flags=re.S)


def test_the_docs_show_the_example_spec_and_the_file_holds_what_they_say() -> None:
    assert _blocks_after("<!-- example: examples/metro2/acme.yaml")[0] == SPEC.read_text("utf-8")
    lines = FILE.read_bytes().decode("latin-1").split("\r\n")
    assert [len(line) for line in lines[:-1]] == [426, 526, 426, 426, 660, 426, 300, 426]
    assert lines[1][426:428] == "J1" and lines[4][426:428] == "J2" and lines[4][626:628] == "K1"
    assert lines[3] == base(
        account="1000000003", status="13", rating="0", balance=0, closed="06102024",
        surname="SMITH", first="ANNA", ssn="222334444", dob="07081985", address1="4 OAK AVE",
    )  # fmt: skip


def test_the_bank_file_loads_and_maps_as_the_docs_say(ws: Workspace, cli) -> None:
    result = cli("ingest", SPEC, FILE, "-w", ws.root)
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    shown = _blocks_after("`openbureau ingest examples/metro2/acme.yaml")[0]
    for line in shown.strip().split("\n")[1:]:
        assert " ".join(line.split()) in out
    assert cli("link", "--model", "default", "-w", ws.root).exit_code == 0
    assert cli("ledger", "-w", ws.root).exit_code == 0
    with ws.engine(read_only=True) as engine:
        files = engine.query(
            "SELECT e.account_id, list(DISTINCT r.first_name ORDER BY r.first_name), "
            "list(DISTINCT e.payment_status ORDER BY e.payment_status), count(*) "
            "FROM ledger_account_status e "
            "JOIN person_index p USING (person_id) JOIN identity_records r "
            "ON r.identity_id = p.identity_id GROUP BY 1 ORDER BY 1"
        )
        persons = engine.scalar("SELECT count(DISTINCT person_id) FROM person_index")
    assert files == [
        ("Acme Bank:1000000001", ["JANE", "JOHN"], ["current"], 2),  # joint: in both files
        # June's report and the 12 months before it, from its payment history profile
        ("Acme Bank:1000000002", ["ANNA"], ["current", "dpd30"], 13),
        ("Acme Bank:1000000003", ["ANNA"], ["closed"], 1),
        ("Acme Bank:1000000004", ["LEE", "RICHARD"], ["chargeoff"], 2),  # co-signed
    ]
    assert persons == 6  # (Kim Gray's delete request is an identity record, no event)


def test_a_resent_month_with_another_joint_holder_is_a_new_version_for_each(
    ws: Workspace, cli, tmp_path
) -> None:
    def month(first: str) -> list[str]:
        joint = segment("J1", surname="DOE", first=first, ssn="987654321", dob="05061979", ecoa="2")
        return [header(), base(joint, account="A1", ecoa="2"), trailer(base=1, J1=1, s11=1)]

    for name, first in (("june.txt", "JOHN"), ("june-again.txt", "JON")):
        path = write(tmp_path / name, month(first))
        assert cli("ingest", SPEC, path, "-w", ws.root).exit_code == 0
        assert cli("link", "--model", "default", "-w", ws.root).exit_code == 0
        assert cli("ledger", "-w", ws.root).exit_code == 0
    with ws.engine(read_only=True) as engine:
        versions = engine.query(
            "SELECT record_id, version, is_current, loaded_record_id FROM ledger_account_status "
            "ORDER BY record_id, version"
        )
    assert versions == [
        ("B000001.2", 1, False, "B000001.2"),
        ("B000001.2", 2, True, "B000002.2"),  # the account row: a new version
        ("B000001.2.1", 1, False, "B000001.2.1"),
        ("B000001.2.1", 2, True, "B000002.2.1"),  # and its joint holder's
    ]
