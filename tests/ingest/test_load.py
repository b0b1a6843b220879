"""Loading files through the Python API: every row loaded or quarantined, batches whole."""

from __future__ import annotations

import gzip
import hashlib
import hmac
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from openbureau.errors import FileRejected
from openbureau.ingest import load_spec, parse_spec
from openbureau.ingest.load import ingest_file, ingest_files
from openbureau.workspace import Workspace
from tests.conftest import BANK_GOOD_ROWS, BANK_HEADER


def load(ws: Workspace, spec_path: Path, file: Path, **kw):
    with ws.engine() as engine:
        return ingest_file(engine, load_spec(spec_path), file, key=ws.national_id_key(), **kw)


def rows(ws: Workspace, sql: str, params=None):
    with ws.engine(read_only=True) as engine:
        return engine.query(sql, params)


def quarantined(ws: Workspace) -> dict[int, list[str]]:
    return dict(rows(ws, "SELECT line_no, reasons FROM quarantine ORDER BY line_no"))


def nothing_loaded(ws: Workspace) -> bool:
    with ws.engine(read_only=True) as engine:
        n_batches = engine.scalar("SELECT count(*) FROM ingest_batches")
        n_quar = engine.scalar("SELECT count(*) FROM quarantine")
        has_src = engine.table_exists("src_testbank_accounts")
    return n_batches == 0 and n_quar == 0 and not has_src


def test_good_file_loads_typed_rows(ws, bank_spec, write_file) -> None:
    f = write_file("good.csv", BANK_HEADER + "\n".join(BANK_GOOD_ROWS) + "\n")
    report = load(ws, bank_spec, f)
    assert (report.status, report.read, report.loaded, report.quarantined) == ("loaded", 4, 4, 0)
    got = rows(
        ws,
        "SELECT record_id, source_record_id, first_name, dob, balance, payment_status"
        " FROM src_testbank_accounts ORDER BY line_no",
    )
    assert [r[0] for r in got] == ["B000001.2", "B000001.3", "B000001.4", "B000001.5"]
    assert got[0][1] == "1|2024-01-01"
    assert str(got[2][3]) == "1990-06-05"  # second date format, day first
    assert str(got[2][4]) == "1234.00"
    assert got[3][2] == "O'Brien, Pat" and got[3][5] == "chargeoff"
    batch = rows(
        ws, "SELECT rows_read, rows_loaded, rows_quarantined, file_sha256 FROM ingest_batches"
    )[0]
    assert batch[:3] == (4, 4, 0)
    assert batch[3] == hashlib.sha256(f.read_bytes()).hexdigest()


def test_national_id_is_stored_only_as_a_keyed_token(ws, bank_spec, write_file) -> None:
    f = write_file(
        "ids.csv",
        BANK_HEADER
        + "\n".join(BANK_GOOD_ROWS)
        + "\n"
        + "9,Bad,Row,1980-01-02,123-45-6789,2024-01,xx,11\n",
    )
    load(ws, bank_spec, f)
    tokens = rows(
        ws,
        "SELECT DISTINCT national_id_token FROM src_testbank_accounts "
        "WHERE national_id_token IS NOT NULL ORDER BY 1",
    )
    expected = sorted(
        hmac.new(ws.national_id_key(), s.encode(), hashlib.sha256).hexdigest()[:32]
        for s in ("123456789", "987654321")
    )
    assert [t[0] for t in tokens] == expected
    dump = ws.warehouse_path.read_bytes()
    for clear in (b"123-45-6789", b"123456789", b"987654321"):
        assert clear not in dump
    raw = rows(ws, "SELECT raw FROM quarantine")[0][0]
    assert "[national_id]" in raw and "6789" not in raw


def test_the_key_never_enters_logged_sql(ws, bank_spec, write_file, caplog) -> None:
    import logging

    key = ws.national_id_key()
    block = key.ljust(64, b"\x00")
    pads = [bytes(b ^ x for b in block).hex() for x in (0x36, 0x5C)]
    f = write_file("ids.csv", BANK_HEADER + "\n".join(BANK_GOOD_ROWS) + "\n")
    with caplog.at_level(logging.DEBUG, logger="openbureau"):
        load(ws, bank_spec, f)
    assert "sha256(" in caplog.text  # the token SQL was logged ...
    for secret in (key.hex(), *pads):  # ... without the key in any form
        assert secret not in caplog.text.lower()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("5,Al,Ok,1980-13-45,,2024-01,1,11", "unparseable_date:dob"),
        ("5,Al,Ok,1850-01-01,,2024-01,1,11", "implausible_date:dob"),
        ("5,Al,Ok,1980-01-01,,2024-01,12abc,11", "bad_amount:balance"),
        ("5,Al,Ok,1980-01-01,,2024-01,1,42", "unknown_code:payment_status"),
        ("5,Al,,,,2024-01,1,11", "missing_identifier"),
        (",Al,Ok,1980-01-01,,2024-01,1,11", "missing_required:account_id"),
        ("5,Al,Ok,1980-01-01,12-3,2024-01,1,11", "bad_national_id:national_id"),
        ("5,Al,Ok,1980-01-01,,2024-01,1,11,extra", "wrong_field_count"),
        ("5,Al,Ok,1980-01-01,,2024-01,1", "wrong_field_count"),
        ('5,"Al,Ok,1980-01-01,,2024-01,1,11', "malformed_quoting"),
        ("5,A\x00l,Ok,1980-01-01,,2024-01,1,11", "control_character"),
        ("5,Al,Ok,1980-01-01,,2024-1x,1,11", "unparseable_date:period"),
    ],
)
def test_each_bad_row_is_quarantined_with_its_reason(
    ws, bank_spec, write_file, line, reason
) -> None:
    f = write_file("mixed.csv", BANK_HEADER + "\n".join([*BANK_GOOD_ROWS, line]) + "\n")
    report = load(ws, bank_spec, f)
    assert (report.read, report.loaded, report.quarantined) == (5, 4, 1)
    assert quarantined(ws) == {6: [reason]}
    detail = rows(ws, "SELECT reason, field, source_column FROM quarantine")[0]
    assert detail[0] == reason.split(":")[0]
    if ":" in reason:
        assert detail[1] == reason.split(":")[1]
        assert detail[2] == load_spec(bank_spec).field(detail[1]).column


def test_duplicates_within_a_batch(ws, bank_spec, write_file) -> None:
    dup_row = BANK_GOOD_ROWS[0]
    same_key = "1,John,Smith,1980-01-02,123-45-6789,2024-01,999.00,11"
    f = write_file("dups.csv", BANK_HEADER + "\n".join([*BANK_GOOD_ROWS, dup_row, same_key]) + "\n")
    report = load(ws, bank_spec, f)
    assert (report.loaded, report.quarantined) == (4, 2)
    assert quarantined(ws) == {6: ["duplicate_row"], 7: ["duplicate_key"]}


def test_bad_bytes_cost_one_line_not_the_file(ws, bank_spec, write_file) -> None:
    body = (BANK_HEADER + "\n".join(BANK_GOOD_ROWS) + "\n").encode()
    body += b"7,J\xffrg,Lee,1980-01-01,,2024-01,1,11\n"
    report = load(ws, bank_spec, write_file("enc.csv", body))
    assert (report.loaded, report.quarantined) == (4, 1)
    assert quarantined(ws) == {6: ["bad_encoding"]}
    assert "\\xFF" in rows(ws, "SELECT raw FROM quarantine")[0][0]


def test_declared_encodings_bom_and_crlf(ws, tmp_path, write_file) -> None:
    spec = parse_spec(
        {
            "name": "util",
            "furnisher": "U",
            "feed": "bills",
            "format": "csv",
            "parse": {"encoding": "cp1252", "delimiter": ";"},
            "fields": [
                {"column": "NAME", "target": "full_name", "category": "identity"},
                {
                    "column": "DUE",
                    "target": "amount_due",
                    "type": "amount",
                    "decimal_comma": True,
                    "category": "payment",
                },
            ],
        }
    )
    content = "NAME;DUE\r\nJosé Peña;1.234,56\r\nZoë Müller;7,00\r\n".encode("cp1252")
    content += b"Bad \x81Byte;1,00\r\n"  # 0x81 is undefined in cp1252
    f = write_file("u.csv", content)
    with ws.engine() as engine:
        report = ingest_file(engine, spec, f, key=ws.national_id_key())
        got = engine.query("SELECT full_name, amount_due FROM src_util ORDER BY line_no")
    assert (report.loaded, report.quarantined) == (2, 1)
    assert [(n, str(a)) for n, a in got] == [("José Peña", "1234.56"), ("Zoë Müller", "7.00")]

    bom = write_file("bom.csv", b"\xef\xbb\xbf" + b"NAME;DUE\nA;1\n")
    bom_spec = spec.model_copy(
        update={
            "name": "util_bom",
            "parse": spec.parse.model_copy(update={"encoding": "utf-8-sig"}),
        }
    )
    with ws.engine() as engine:
        assert ingest_file(engine, bom_spec, bom, key=ws.national_id_key()).loaded == 1


def test_same_file_twice_is_a_no_op(ws, bank_spec, write_file) -> None:
    f = write_file("good.csv", BANK_HEADER + "\n".join(BANK_GOOD_ROWS) + "\n")
    first = load(ws, bank_spec, f)
    renamed = write_file("renamed.csv", f.read_bytes())
    again = load(ws, bank_spec, renamed)
    assert again.status == "already_loaded" and again.batch_id == first.batch_id
    assert rows(ws, "SELECT count(*) FROM src_testbank_accounts")[0][0] == 4
    assert rows(ws, "SELECT count(*) FROM ingest_batches")[0][0] == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"   \n\n", "file is empty"),
        (BANK_HEADER.encode(), "header but no data rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data"),
        (
            (BANK_HEADER + BANK_GOOD_ROWS[0] + "\n" + BANK_GOOD_ROWS[1][:20]).encode(),
            r"line 3: file is truncated",
        ),
        (BANK_HEADER.replace(",", ";").encode() + b"1;2;3\n", "wrong delimiter"),
        (BANK_HEADER.replace("SSN,", "").encode() + b"1\n", "column 'SSN': required column"),
    ],
)
def test_unreadable_files_are_rejected_whole(ws, bank_spec, write_file, content, message) -> None:
    f = write_file("bad.csv", content)
    with pytest.raises(FileRejected, match=message) as exc:
        load(ws, bank_spec, f)
    assert str(exc.value).startswith(str(f))
    assert "\n" not in str(exc.value)
    assert nothing_loaded(ws)


def test_a_cut_inside_the_last_value_is_still_caught(ws, bank_spec, write_file) -> None:
    # "100.50" cut to "100." still parses: only the missing line break gives the cut away.
    cut = BANK_HEADER + BANK_GOOD_ROWS[0][:-4]
    with pytest.raises(FileRejected, match="line 2: file is truncated: the last line has no"):
        load(ws, bank_spec, write_file("cut.csv", cut))
    assert nothing_loaded(ws)


def test_final_newline_optional_accepts_an_unterminated_last_line(
    ws, bank_spec, write_file
) -> None:
    spec = load_spec(bank_spec)
    spec = spec.model_copy(
        update={"parse": spec.parse.model_copy(update={"final_newline": "optional"})}
    )
    with ws.engine() as engine:
        f = write_file("no_eol.csv", BANK_HEADER + "\n".join(BANK_GOOD_ROWS))
        assert ingest_file(engine, spec, f, key=b"k" * 32).loaded == 4
        # ... but a last line that does not parse is still a truncated file
        f = write_file("cut.csv", BANK_HEADER + BANK_GOOD_ROWS[0] + "\n2,Ann,Le")
        with pytest.raises(FileRejected, match="line 3: file is truncated"):
            ingest_file(engine, spec, f, key=b"k" * 32)


def test_gzip_and_truncated_gzip(ws, tmp_path, bank_spec, write_file) -> None:
    spec = load_spec(bank_spec)
    spec = spec.model_copy(update={"parse": spec.parse.model_copy(update={"compression": "gzip"})})
    data = gzip.compress((BANK_HEADER + "\n".join(BANK_GOOD_ROWS) + "\n").encode())
    with ws.engine() as engine:
        with pytest.raises(FileRejected, match="gzip stream is truncated"):
            ingest_file(engine, spec, write_file("t.csv.gz", data[:-12]), key=b"k" * 32)
        assert ingest_file(engine, spec, write_file("ok.csv.gz", data), key=b"k" * 32).loaded == 4


def test_a_bad_file_in_a_list_stops_before_any_batch(ws, bank_spec, write_file) -> None:
    good = write_file("good.csv", BANK_HEADER + "\n".join(BANK_GOOD_ROWS) + "\n")
    bad = write_file("bad.csv", b"")
    with ws.engine() as engine, pytest.raises(FileRejected):
        ingest_files(engine, load_spec(bank_spec), [good, bad], key=ws.national_id_key())
    assert nothing_loaded(ws)


def test_too_many_bad_rows_refuse_the_batch(ws, bank_spec, write_file) -> None:
    bad = ["9,X,Y,not-a-date,,2024-01,1,11"] * 1 + [
        f"{i},X,Y,bad,,2024-01,1,11" for i in range(10, 15)
    ]
    f = write_file("mostly_bad.csv", BANK_HEADER + "\n".join([*BANK_GOOD_ROWS, *bad]) + "\n")
    with pytest.raises(
        FileRejected,
        match=r"6 of 10 rows \(60%\) failed validation.*"
        r"unparseable_date:dob \(first at line 6\)",
    ):
        load(ws, bank_spec, f, max_quarantine_share=0.5)
    assert nothing_loaded(ws)


def test_a_failure_while_writing_leaves_nothing(ws, bank_spec, write_file, monkeypatch) -> None:
    from openbureau.ingest import store

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    f = write_file("good.csv", BANK_HEADER + "\n".join(BANK_GOOD_ROWS) + "\nx,,,,,,,\n")
    monkeypatch.setattr(store, "next_batch_id", lambda engine: "B000001")
    with ws.engine() as engine:
        from openbureau.ingest import load as load_mod

        monkeypatch.setattr(load_mod, "datetime", type("D", (), {"now": staticmethod(boom)}))
        with pytest.raises(RuntimeError, match="disk full"):
            ingest_file(engine, load_spec(bank_spec), f, key=ws.national_id_key())
    assert nothing_loaded(ws)


def test_jsonl_with_nested_paths(ws, write_file) -> None:
    spec = parse_spec(
        {
            "name": "crest",
            "furnisher": "C",
            "feed": "tradelines",
            "format": "jsonl",
            "require_one_of": [["full_name"]],
            "fields": [
                {
                    "column": "loan_ref",
                    "target": "account_id",
                    "category": "reference",
                    "required": True,
                },
                {"column": "borrower.name", "target": "full_name", "category": "identity"},
                {"column": "borrower.address.city", "target": "city", "category": "identity"},
                {"column": "balance", "target": "balance", "type": "amount", "category": "credit"},
            ],
        }
    )
    f = write_file(
        "c.jsonl",
        "\n".join(
            [
                '{"loan_ref": "L1", "borrower": {"name": "SMITH, JOHN", '
                '"address": {"city": "Ames"}}, "balance": 12.5}',
                '{"loan_ref": "L2", "borrower": {"name": "DOE, JANE"}, "balance": null}',
                '{"loan_ref": "L3", "borrower": {"name": "X"}, "balance": "abc"}',
                "[1, 2]",
                '{"loan_ref": "L4", ',
                '{"loan_ref": "L5", "borrower": {}}',
            ]
        )
        + "\n",
    )
    with ws.engine() as engine:
        report = ingest_file(engine, spec, f, key=b"k" * 32)
        got = engine.query(
            "SELECT account_id, full_name, city, balance FROM src_crest ORDER BY line_no"
        )
    assert (report.read, report.loaded, report.quarantined) == (6, 2, 4)
    assert got[0] == ("L1", "SMITH, JOHN", "Ames", pytest.approx(12.5))
    assert got[1][2] is None and got[1][3] is None
    assert quarantined(ws) == {
        3: ["bad_amount:balance"],
        4: ["not_an_object"],
        5: ["invalid_json"],
        6: ["missing_identifier"],
    }


def test_parquet_rows_and_broken_parquet(ws, write_file) -> None:
    spec = parse_spec(
        {
            "name": "tel",
            "furnisher": "T",
            "feed": "billing",
            "format": "parquet",
            "fields": [
                {
                    "column": "contract_id",
                    "target": "contract_id",
                    "category": "reference",
                    "required": True,
                },
                {"column": "birth_date", "target": "dob", "type": "date", "category": "identity"},
                {
                    "column": "amount_due",
                    "target": "amount_due",
                    "type": "amount",
                    "category": "payment",
                },
            ],
        }
    )
    import datetime as dt

    table = pa.table(
        {
            "contract_id": ["C1", None, "C3"],
            "birth_date": [dt.date(1980, 1, 2), dt.date(1990, 3, 4), None],
            "amount_due": [10.0, 20.0, 30.5],
            "plan": ["a", "b", "c"],
        }
    )
    path = write_file("t.parquet", b"")
    pq.write_table(table, path)
    with ws.engine() as engine:
        report = ingest_file(engine, spec, path, key=b"k" * 32)
        got = engine.query("SELECT line_no, contract_id, dob FROM src_tel ORDER BY line_no")
    assert (report.read, report.loaded, report.quarantined) == (3, 2, 1)
    assert [(r[0], r[1]) for r in got] == [(1, "C1"), (3, "C3")]
    assert quarantined(ws) == {2: ["missing_required:contract_id"]}
    assert any("plan" in w for w in report.warnings)

    truncated = write_file("cut.parquet", path.read_bytes()[:-40])
    with ws.engine() as engine, pytest.raises(FileRejected, match="truncated"):
        ingest_file(engine, spec, truncated, key=b"k" * 32)
    not_parquet = write_file("csv.parquet", b"a,b\n1,2\n")
    with ws.engine() as engine, pytest.raises(FileRejected, match="not a Parquet file"):
        ingest_file(engine, spec, not_parquet, key=b"k" * 32)
    missing_col = write_file("m.parquet", b"")
    pq.write_table(table.drop(["amount_due"]), missing_col)
    with ws.engine() as engine, pytest.raises(FileRejected, match="column 'amount_due'"):
        ingest_file(engine, spec, missing_col, key=b"k" * 32)


def test_invalid_null_keeps_the_row_and_counts_the_value(ws, bank_spec, write_file) -> None:
    spec = load_spec(bank_spec)
    fields = [
        f.model_copy(update={"invalid": "null"}) if f.target in ("dob", "balance") else f
        for f in spec.fields
    ]
    spec = spec.model_copy(update={"fields": fields})
    rows = [
        *BANK_GOOD_ROWS,
        "5,Al,Ok,1980-13-45,111-22-3333,2024-01,1,11",
        "6,Bo,Ok,1850-01-01,111-22-4444,2024-01,x,11",
        "7,Cy,Ok,1980-13-45,,2024-01,1,11",
    ]
    f = write_file("n.csv", BANK_HEADER + "\n".join(rows) + "\n")
    with ws.engine() as engine:
        report = ingest_file(engine, spec, f, key=ws.national_id_key())
        got = engine.query(
            "SELECT dob, balance FROM src_testbank_accounts WHERE line_no >= 6 ORDER BY line_no"
        )
    assert (report.read, report.loaded, report.quarantined) == (7, 6, 1)
    assert got == [(None, pytest.approx(1)), (None, None)]
    # an emptied birth date no longer completes the [last_name, dob] identifier group
    assert quarantined(ws) == {8: ["missing_identifier"]}
    warnings = " ".join(report.warnings)
    # 1850 parses: it is emptied as implausible, not as unparseable
    assert "dob: 1 values set to empty (unparseable_date" in warnings
    assert "dob: 1 values set to empty (implausible_date" in warnings
    assert "balance: 1 values set to empty (bad_amount" in warnings
    with pytest.raises(Exception, match="required field cannot have invalid: null"):
        parse_spec(
            {
                "name": "x",
                "furnisher": "X",
                "feed": "f",
                "format": "csv",
                "fields": [
                    {
                        "column": "A",
                        "target": "a",
                        "category": "reference",
                        "required": True,
                        "invalid": "null",
                    }
                ],
            }
        )
