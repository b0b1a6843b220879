"""The worked fixed-width example of docs/ingest.md: a credit union's Latin-1 file in cents,
declared from the docs alone and loaded through the CLI with the documented result."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from openbureau.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ingest.md"
SPEC = ROOT / "examples" / "fixed-width" / "lakeside.yaml"
FILE = ROOT / "examples" / "fixed-width" / "lakeside-2024-06.dat"


def _blocks_after(marker: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    rest = text[text.index(marker) :]
    return re.findall(r"```[a-z]*\n(.*?)```", rest, flags=re.S)


def test_the_docs_show_the_example_spec_and_file_as_they_are() -> None:
    marker = "<!-- example: examples/fixed-width/lakeside.yaml"
    spec_block, file_block, _ = _blocks_after(marker)[:3]
    assert spec_block == SPEC.read_text(encoding="utf-8")
    data = FILE.read_bytes()
    assert data.count(b"\r\n") == 11 and data.count(b"\n") == 11  # CRLF, every record
    assert "MÜLLER".encode("latin-1") in data  # Latin-1, one byte a letter
    assert file_block == data.decode("latin-1").replace("\r\n", "\n")


def test_the_credit_union_file_loads_as_the_docs_say(ws: Workspace, cli) -> None:
    result = cli("ingest", SPEC, FILE, "-w", ws.root)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "read 9 = loaded 5 + quarantined 4 ok" in out
    assert (
        "+ 2 header and trailer records (counted, not rows); trailer totals match: "
        "RECORD COUNT 9, BALANCE TOTAL 43,315.05"
    ) in out
    for line in _blocks_after("`openbureau ingest examples/fixed-width/lakeside.yaml")[0].split(
        "\n"
    )[2:]:
        assert line in out  # every reason the docs print
    with ws.engine(read_only=True) as engine:
        loaded = engine.query(
            "SELECT line_no, last_name, first_name, balance, payment_status "
            "FROM src_lakeside_accounts ORDER BY line_no"
        )
        quarantined = engine.query(
            "SELECT line_no, reasons, source_column, value FROM quarantine ORDER BY line_no"
        )
        counts = engine.query(
            "SELECT rows_read, rows_loaded, rows_quarantined, blank_lines, control_records "
            "FROM ingest_batches"
        )
    assert loaded == [
        (2, "MÜLLER", "JÜRGEN", Decimal("1234.56"), "current"),
        (3, "PEÑA", "JOSÉ", Decimal("5.00"), "dpd30"),
        (4, "LEFÈVRE", "FRANÇOISE", Decimal("-25.50"), "current"),
        (9, "GARCÍA", "MARÍA", None, "current"),
        (10, "DUBOIS", "CÉLINE", Decimal("0.00"), "closed"),
    ]
    assert quarantined == [
        (5, ["unknown_code:payment_status", "unclassifiable_status"], "STATUS", "42"),
        (6, ["unknown_record_type"], None, None),
        (7, ["unparseable_date:dob"], "BIRTH DATE", "19801345"),
        (8, ["short_record:payment_status"], "STATUS", "9"),
    ]
    assert counts == [(9, 5, 4, 0, 2)]
