"""Metro 2 files (format: metro2): records, segments, trailer totals, every record counted."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from openbureau.errors import FileRejected, SpecError
from openbureau.ingest import parse_spec
from openbureau.ingest.load import ingest_file, ingest_files
from openbureau.workspace import Workspace
from tests.ingest.metro2_files import SPEC, base, header, segment, trailer, write

JOINT = segment("J1", surname="DOE", first="JOHN", ssn="987654321", dob="05061979", ecoa="2")
COSIGNER = segment(
    "J2", surname="ROE", first="RICHARD", ssn="111223333", dob="01011970", ecoa="5",
    address1="9 ELM ST", city="FRESNO", state="CA", zip="93701",
)  # fmt: skip
K1 = segment("K1", creditor="OLD BANK", **{"class": "08"})
RECORDS = [
    base(JOINT, account="A1", ecoa="2"),
    base(account="A2", status="71", rating="1", balance=300, past_due=50, dofd="05012024"),
    base(account="A3", status="13", rating="2", balance=0, closed="06102024"),
    base(COSIGNER, K1, account="A4", status="97", balance=0, chargeoff=950, dofd="01052024"),
]
TOTALS = {"base": 4, "J1": 1, "J2": 1, "K1": 1, "s11": 1, "s71": 1, "s13": 1, "s97": 1}


def load(ws: Workspace, path: Path, spec: dict | None = None):
    with ws.engine() as engine:
        return ingest_file(engine, parse_spec(spec or SPEC), path, key=ws.national_id_key())


def query(ws: Workspace, sql: str):
    with ws.engine(read_only=True) as engine:
        return engine.query(sql)


def nothing_written(ws: Workspace) -> bool:
    with ws.engine(read_only=True) as engine:
        return not engine.table_exists("src_acme_cards")


def test_a_variable_length_file_loads_its_base_segments_and_associated_consumers(
    ws, tmp_path
) -> None:
    path = write(tmp_path / "acme.txt", [header(), *RECORDS, trailer(**TOTALS)])
    report = load(ws, path)
    assert (report.read, report.loaded, report.quarantined, report.control_records) == (4, 4, 0, 2)
    assert report.totals[0] == "Total Base Records 4"
    # the charge-off amount and the rating are canonical targets: their accuracy rules apply
    assert report.accuracy is not None
    rules = {f.rule.id: f for f in report.accuracy.findings}
    for rule in ("chargeoff-no-amount", "chargeoff-amount-on-open", "rating-contradicts-status"):
        assert rules[rule].applicable, (rule, rules[rule].not_applicable)
    assert "Total J2 Segments 1" in report.totals and "Total K1 Segments 1" in report.totals
    got = query(
        ws,
        "SELECT account_id, payment_status, metro2_status, payment_rating, balance, "
        "charge_off_amount, first_delinquency_date, closed_date, period, reported_date, "
        "original_creditor, account_role FROM src_acme_cards ORDER BY line_no",
    )
    june, june30 = dt.date(2024, 6, 1), dt.date(2024, 6, 30)
    assert got == [
        ("A1", "current", "11", None, Decimal(450), Decimal(0), None, None, june, june30, None,
         "joint"),
        ("A2", "dpd30", "71", "dpd30", Decimal(300), Decimal(0), dt.date(2024, 5, 1), None, june,
         june30, None, "individual"),
        # 13 (paid or closed) read with its rating: 60-89 days late when it closed (the
        # rating on the statuses' scale, as the accuracy checks compare them)
        ("A3", "dpd60", "13", "dpd60", Decimal(0), Decimal(0), None, dt.date(2024, 6, 10), june,
         june30, None, "individual"),
        ("A4", "chargeoff", "97", None, Decimal(0), Decimal(950), dt.date(2024, 1, 5), None,
         june, june30, "OLD BANK", "individual"),
    ]  # fmt: skip
    consumers = query(
        ws,
        "SELECT record_id, base_record_id, segment, first_name, last_name, dob, account_role, "
        "address_line1, city, national_id_token IS NOT NULL FROM associated_consumers "
        "ORDER BY record_id",
    )
    assert consumers == [
        # a J1 consumer lives at the base consumer's address
        ("B000001.2.1", "B000001.2", "J1", "JOHN", "DOE", dt.date(1979, 5, 6), "joint",
         "12 MAIN ST", "SPRINGFIELD", True),
        ("B000001.5.1", "B000001.5", "J2", "RICHARD", "ROE", dt.date(1970, 1, 1), "co_signer",
         "9 ELM ST", "FRESNO", True),
    ]  # fmt: skip
    assert not clear_ssns(ws, ["123456789", "987654321", "111223333"])


def clear_ssns(ws: Workspace, ssns: list[str]) -> list[tuple[str, str, str]]:
    """Where any of ``ssns`` is written in clear: (table, column, SSN), over every column of
    every table and view of the warehouse."""
    found = []
    with ws.engine(read_only=True) as engine:
        columns = engine.query(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'main'"
        )
        for table, column in columns:
            for ssn in ssns:
                sql = f'SELECT count(*) FROM "{table}" WHERE CAST("{column}" AS VARCHAR) LIKE ?'
                if engine.scalar(sql, [f"%{ssn}%"]):
                    found.append((table, column, ssn))
    return found


def test_no_clear_ssn_of_a_quarantined_record_nor_of_its_associated_consumers(ws, tmp_path) -> None:
    def j1(ssn: str, dob: str = "05061979") -> str:
        return segment("J1", surname="DOE", first="JOHN", ssn=ssn, dob=dob, ecoa="2")

    def j2(ssn: str) -> str:
        return segment("J2", surname="ROE", first="RICH", ssn=ssn, dob="01011970", ecoa="5",
                       address1="9 ELM ST", city="FRESNO", state="CA", zip="93701")  # fmt: skip

    def with_tail(record: str, tail: str) -> str:  # (its descriptor word counting the tail)
        return f"{len(record) + len(tail):04d}" + record[4:] + tail

    cut = base(j2("555667777"), account="Q4", ssn="500000005")
    records = [
        *RECORDS,  # loaded, with their J1 and J2 (987654321, 111223333)
        base(j1("222334444", dob="13451979"), account="Q1", ssn="200000002"),  # J1's birth date
        with_tail(base(j1("333445555"), account="Q2", ssn="300000003"), "X9" + " " * 40),
        "0400" + base(j2("444556666"), account="Q3", ssn="400000004")[4:],  # descriptor word
        cut[: 426 + 80],  # cut inside its J2 segment, after the SSN
        "0526" + "9" + base(j1("666778888"), account="Q5", ssn="600000006")[5:],  # record type
        base(j2("777889999"), j1("888990000"), K1, account="Q6", status="42"),  # unknown status
        base(j1("999001111"), account="Q7", first="JA\x01NE"),  # a control character
        RECORDS[0],  # a duplicate row, with its J1
    ]
    path = write(tmp_path / "acme.txt", [header(), *records, trailer(base=len(records))])
    report = load(ws, path)
    assert (report.loaded, report.quarantined) == (4, 8)
    reasons = dict(
        query(ws, "SELECT line_no, reason || coalesce(':' || field, '') FROM quarantine")
    )
    assert reasons == {
        6: "unparseable_date:associated_dob", 7: "unknown_segment", 8: "bad_descriptor_word",
        9: "short_record:segments", 10: "unknown_record_type", 11: "unknown_code:payment_status",
        12: "control_character", 13: "duplicate_row",
    }  # fmt: skip
    ssns = ["123456789", "987654321", "111223333", "222334444", "333445555", "444556666",
            "555667777", "666778888", "777889999", "888990000", "999001111", "200000002",
            "300000003", "400000004", "500000005", "600000006"]  # fmt: skip
    assert clear_ssns(ws, ssns) == []
    # masked by position: the rest of the record is as the furnisher sent it
    raw = query(ws, "SELECT raw FROM quarantine WHERE line_no = 6")[0][0]
    assert "DOE                      JOHN" in raw and "[national_id]13451979" in raw


@pytest.mark.parametrize("sep", ["\r\n", "\n", ""], ids=["CRLF", "LF", "no line breaks"])
def test_fixed_and_variable_length_files_with_any_line_ending(ws, tmp_path, sep) -> None:
    # fixed length: every record as long, a segment not needed kept blank after its
    # identifier, as the CRRG asks: it is no associated consumer and counts in no total
    records = [base(JOINT, account="A1"), base(segment("J1"), account="A2")]
    path = write(
        tmp_path / "acme.txt",
        [header(526), *records, trailer(526, base=2, J1=1, s11=2)],
        sep,
    )
    report = load(ws, path)
    assert (report.read, report.loaded, report.quarantined) == (2, 2, 0)
    assert query(ws, "SELECT base_record_id FROM associated_consumers") == [("B000001.2",)]


def test_a_truncated_record_is_quarantined_with_its_line(ws, tmp_path) -> None:
    cut = RECORDS[3][:500]  # its descriptor word says 660: cut inside its J2 segment
    short = RECORDS[1][:260]  # cut inside the base segment, in the first name
    path = write(tmp_path / "acme.txt", [header(), RECORDS[0], short, RECORDS[2], cut,
                                         trailer(**{**TOTALS, "J2": 0, "K1": 0})])  # fmt: skip
    report = load(ws, path)
    assert (report.read, report.loaded, report.quarantined) == (4, 2, 2)
    assert sorted(report.reasons) == [
        ("short_record:first_name", 1, 3),
        ("short_record:segments", 1, 5),
    ]
    lines = query(ws, "SELECT line_no, reason, field FROM quarantine ORDER BY line_no")
    assert lines == [(3, "short_record", "first_name"), (5, "short_record", "segments")]


def test_a_file_without_line_breaks_cut_short_has_no_trailer(ws, tmp_path) -> None:
    data = "".join([header(), *RECORDS, trailer(**TOTALS)])
    path = tmp_path / "acme.txt"
    path.write_bytes(data[:-500].encode("latin-1"))  # the trailer, and the last record's end
    with pytest.raises(FileRejected, match=r"no trailer record .*the file may be truncated"):
        load(ws, path)
    assert nothing_written(ws)


def test_a_descriptor_word_that_is_not_a_length_rejects_an_unbroken_file(ws, tmp_path) -> None:
    bad = "ABCD" + RECORDS[1][4:]
    path = tmp_path / "acme.txt"
    path.write_bytes("".join([header(), RECORDS[0], bad, trailer()]).encode("latin-1"))
    with pytest.raises(FileRejected, match=r"record 3 \(byte 952\): its record descriptor word"):
        load(ws, path)


@pytest.mark.parametrize(
    ("totals", "message"),
    [
        ({**TOTALS, "base": 5}, "'Total Base Records' .* says 5, but the file has 4 base records"),
        ({**TOTALS, "J1": 0}, "'Total J1 Segments' .* says 0, but the file has 1 J1 segments"),
        ({**TOTALS, "s71": 2}, "'Total of Status Code 71' .* says 2, but the file has 1 base "
         "records with account status 71"),
    ],
    ids=["base records", "J1 segments", "status 71"],
)  # fmt: skip
def test_a_trailer_total_that_disagrees_fails_the_whole_file(ws, tmp_path, totals, message) -> None:
    path = write(tmp_path / "acme.txt", [header(), *RECORDS, trailer(**totals)])
    with pytest.raises(FileRejected, match=r"acme.txt, line 6: trailer field " + message):
        load(ws, path)
    assert nothing_written(ws)
    # with several files, none is loaded
    good = write(tmp_path / "good.txt", [header(), *RECORDS, trailer(**TOTALS)])
    with ws.engine() as engine, pytest.raises(FileRejected):
        ingest_files(engine, parse_spec(SPEC), [good, path], key=ws.national_id_key())
    assert nothing_written(ws)


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([*RECORDS, trailer(**TOTALS)], "no header record"),
        ([header(), *RECORDS], "no trailer record"),
        ([header(), RECORDS[0], header(), *RECORDS[1:], trailer(**TOTALS)], "a second header"),
        ([header(), *RECORDS, trailer(**TOTALS)[:-10]], "the trailer record .* is 416 "
         "characters long, but its record descriptor word says 426"),
    ],
    ids=["no header", "no trailer", "two headers", "trailer shorter than its descriptor"],
)  # fmt: skip
def test_header_and_trailer_are_where_metro2_puts_them(ws, tmp_path, records, message) -> None:
    with pytest.raises(FileRejected, match=message):
        load(ws, write(tmp_path / "acme.txt", records))
    assert nothing_written(ws)


def test_records_that_cannot_be_rows_are_quarantined_not_skipped(ws, tmp_path) -> None:
    plain = base(account="B1")
    unknown_segment = f"{len(plain) + 42:04d}" + plain[4:] + "X9" + " " * 40
    records = [
        RECORDS[0],
        "0426" + "9" + RECORDS[1][5:],  # position 5 is not a base segment's 1
        unknown_segment,
        "0400" + RECORDS[2][4:],  # the descriptor word says less than the record holds
        base(account="B2", status="DA"),  # a delete request: loaded (the ledger applies it)
        base(JOINT[:78] + "13131999" + JOINT[86:], account="B3"),  # the J1's birth date
        base(account="B4", status="42"),  # no such account status
        RECORDS[0],  # the same record again
    ]
    path = write(tmp_path / "acme.txt", [header(), *records, trailer(base=8)])
    report = load(ws, path)
    assert (report.read, report.loaded, report.quarantined) == (8, 2, 6)
    assert sorted((r, line) for r, _, line in report.reasons) == [
        ("bad_descriptor_word", 5),
        ("duplicate_row", 9),
        ("unclassifiable_status", 8),
        ("unknown_code:payment_status", 8),
        ("unknown_record_type", 3),
        ("unknown_segment", 4),
        ("unparseable_date:associated_dob", 7),
    ]
    assert not query(ws, "SELECT * FROM associated_consumers WHERE line_no = 7")


def test_a_metro2_spec_has_its_fields_built_in(tmp_path) -> None:
    spec = parse_spec(SPEC)
    assert spec.record_key == ["account_id", "period"] and spec.ledger is not None
    assert spec.field("payment_status").codes is not None
    with pytest.raises(SpecError, match="fields: format metro2 has its fields built in"):
        parse_spec({**SPEC, "fields": []})
    with pytest.raises(SpecError, match="ledger: format metro2 has its ledger built in"):
        parse_spec({**SPEC, "ledger": {"event": "account_status", "event_date": "period"}})


def test_an_unbroken_latin1_file_is_read_by_characters(ws, tmp_path) -> None:
    records = [header(), base(account="A1", surname="PEÑA", first="JOSÉ"), trailer(base=1, s11=1)]
    path = write(tmp_path / "acme.txt", records, sep="")
    report = load(ws, path)
    assert (report.read, report.loaded) == (1, 1)
    assert query(ws, "SELECT last_name, first_name FROM src_acme_cards") == [("PEÑA", "JOSÉ")]
