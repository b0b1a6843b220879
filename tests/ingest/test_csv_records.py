"""CSV records spread over lines (a quoted field holding a line break, RFC 4180) load as one
row, numbered by their first line; every later line keeps its own number, and a stray quote
still costs only its own line."""

from __future__ import annotations

from openbureau.ingest.load import ingest_file
from tests.conftest import BANK_GOOD_ROWS, BANK_HEADER
from tests.ingest.test_load import load, quarantined, rows


def test_a_quoted_line_break_is_one_row_and_later_lines_keep_their_numbers(
    ws, bank_spec, write_file
) -> None:
    lines = [
        *BANK_GOOD_ROWS,  # lines 2-5
        '5,"Mary',  # 6: a first name over four lines, one of them blank
        "",
        'Jo ""MJ""',
        'Ann",Ray,1980-01-01,,2024-01,7,11',  # 9
        "6,Al,Ok,1980-13-45,,2024-01,1,11",  # 10: a bad date, at its own line
        '7,"Bo\r',  # 11-12: a CRLF inside the field, read as LF
        'b",Lin,1980-01-01,,2024-01,2.5,71',
        "",  # 13: blank
        "8,Cy,Ng,1980-01-01,,2024-01,12abc,11",  # 14
    ]
    f = write_file("multi.csv", BANK_HEADER + "\n".join(lines) + "\n")
    report = load(ws, bank_spec, f)
    # 14 lines after the header = 8 rows read + 1 blank + 5 joined into the row before
    assert (report.read, report.loaded, report.quarantined, report.blank_lines) == (8, 6, 2, 1)
    assert any(w.startswith("4 lines continued a quoted field") for w in report.warnings)
    assert quarantined(ws) == {10: ["unparseable_date:dob"], 14: ["bad_amount:balance"]}
    got = dict(rows(ws, "SELECT line_no, first_name FROM src_testbank_accounts"))
    assert got[6] == 'Mary\n\nJo "MJ"\nAnn' and got[11] == "Bo\nb"
    assert rows(ws, "SELECT rows_read, warnings FROM ingest_batches")[0][1] == report.warnings


def test_lines_that_do_not_make_one_record_are_judged_alone_as_before(
    ws, bank_spec, write_file
) -> None:
    lines = [
        *BANK_GOOD_ROWS,  # lines 2-5
        '5,"Al,Ok,1980-01-01,,2024-01,1,11',  # 6: a quote never closed
        "6,Bo,Ng,1980-01-01,,2024-01,1,11",  # 7: loads
        '7,Cy",Ng,1980-01-01,,2024-01,1',  # 8: joined with 6 it has 7 cells, not 8
        '8,"Di',  # 9: opens a field ...
        'x",Ng,1980-01-01,,2024-01,1,11,extra',  # 10: ... but the record has 9 cells
        "9,Ed,Ng,1980-01-01,,2024-01,1,11",  # 11
    ]
    f = write_file("stray.csv", BANK_HEADER + "\n".join(lines) + "\n")
    report = load(ws, bank_spec, f)
    assert (report.read, report.loaded, report.quarantined) == (10, 6, 4)
    assert not any("continued a quoted field" in w for w in report.warnings)
    assert quarantined(ws) == {
        6: ["malformed_quoting"],
        8: ["malformed_quoting"],
        9: ["malformed_quoting"],
        10: ["malformed_quoting"],
    }


def test_a_record_spread_over_lines_across_chunks(ws, bank_spec, write_file) -> None:
    """The file is streamed in chunks; a record may straddle two of them."""
    from unittest.mock import patch

    from openbureau.ingest import _stream, load_spec

    lines = [*BANK_GOOD_ROWS, '5,"Mary', 'Ann",Ray,1980-01-01,,2024-01,7,11', BANK_GOOD_ROWS[0]]
    f = write_file("chunks.csv", BANK_HEADER + "\n".join(lines) + "\n")
    with ws.engine() as engine, patch.object(_stream, "CHUNK_BYTES", 7):
        report = ingest_file(engine, load_spec(bank_spec), f, key=ws.national_id_key())
    assert (report.read, report.loaded, report.quarantined) == (6, 5, 1)
    assert quarantined(ws) == {8: ["duplicate_row"]}


def test_a_run_of_records_each_sharing_a_line_with_the_next_pair_joins_every_other_pair(
    ws, bank_spec, write_file
) -> None:
    # Lines 6-7, 7-8 and 8-9 each make a well-formed record: 6-7 wins, so 8-9 is the next
    # record (7-8 lost its first line to 6-7, and must not make 8-9 lose too).
    lines = [
        *BANK_GOOD_ROWS,  # 2-5
        '5,"Al',  # 6
        '",Ng,1980-01-01,,2024-01,1,11',  # 7: closes 6's field
        '",x,Ng,1980-01-01,,2024-01,2,11',  # 8: opens an account number over two lines
        '",Ki,Lee,1980-01-01,,2024-01,3,11',  # 9: closes it
    ]
    f = write_file("chain.csv", BANK_HEADER + "\n".join(lines) + "\n")
    report = load(ws, bank_spec, f)
    assert (report.read, report.loaded, report.quarantined) == (6, 6, 0)
    got = dict(rows(ws, "SELECT line_no, first_name FROM src_testbank_accounts"))
    assert got[6] == "Al\n" and got[8] == "Ki"
