"""Re-sent rows: each loaded row is new, identical to its key's current report, or supersedes it."""

from __future__ import annotations

import datetime as dt
import gzip
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from openbureau.ingest import load_spec, parse_spec
from openbureau.ingest.load import BatchReport, ingest_file
from openbureau.ingest.spec import LedgerMapping, SourceSpec
from openbureau.workspace import Workspace
from tests.conftest import BANK_GOOD_ROWS, BANK_HEADER, BANK_SPEC

GOOD = BANK_HEADER + "\n".join(BANK_GOOD_ROWS) + "\n"


def load(ws: Workspace, spec: SourceSpec | Path, file: Path) -> BatchReport:
    source = spec if isinstance(spec, SourceSpec) else load_spec(spec)
    with ws.engine() as engine:
        return ingest_file(engine, source, file, key=ws.national_id_key())


def rows(ws: Workspace, sql: str, params=None):
    with ws.engine(read_only=True) as engine:
        return engine.query(sql, params)


def counts(r: BatchReport) -> tuple[int, int, int, int, int]:
    assert r.reconciled
    return r.loaded, r.new, r.identical, r.superseding, r.quarantined


def with_parse(spec_path: Path, **parse) -> SourceSpec:
    spec = load_spec(spec_path)
    return spec.model_copy(update={"parse": spec.parse.model_copy(update=parse)})


def test_a_file_re_sent_gzip_compressed_loads_nothing_twice(ws, bank_spec, write_file) -> None:
    first = load(ws, bank_spec, write_file("good.csv", GOOD))
    gz = write_file("good.csv.gz", gzip.compress(GOOD.encode()))
    again = load(ws, with_parse(bank_spec, compression="gzip"), gz)
    assert rows(ws, "SELECT count(*) FROM src_testbank_accounts")[0][0] == 4
    assert counts(first) == (4, 4, 0, 0, 0)
    assert again.status == "loaded" and again.batch_id == "B000002"
    assert counts(again) == (4, 0, 4, 0, 0)
    # every line of the re-sent batch is accounted for, and names the row it repeats
    assert rows(ws, "SELECT line_no, record_id FROM identical_rows ORDER BY line_no") == [
        (n, f"B000001.{n}") for n in (2, 3, 4, 5)
    ]
    assert rows(
        ws,
        "SELECT batch_id, rows_read, rows_loaded, rows_new, rows_identical, "
        "rows_superseding FROM ingest_batches ORDER BY batch_id",
    ) == [("B000001", 4, 4, 4, 0, 0), ("B000002", 4, 4, 0, 4, 0)]


def test_renamed_with_one_changed_byte_supersedes_one_report(ws, bank_spec, write_file) -> None:
    load(ws, bank_spec, write_file("good.csv", GOOD))
    changed = GOOD.replace("2024-02,90.00,11", "2024-02,91.00,11")
    report = load(ws, bank_spec, write_file("resent.csv", changed))
    assert rows(ws, "SELECT count(*) FROM src_testbank_accounts")[0][0] == 5
    assert counts(report) == (4, 0, 3, 1, 0)
    got = rows(
        ws,
        "SELECT record_id, supersedes, balance FROM src_testbank_accounts "
        "WHERE source_record_id = '1|2024-02-01' ORDER BY batch_id",
    )
    # the old report is kept, with its batch; the new one names it
    assert [(r[0], r[1], float(r[2])) for r in got] == [
        ("B000001.3", None, 90.0),
        ("B000002.3", "B000001.3", 91.0),
    ]


def test_identical_means_the_same_values_not_the_same_bytes(
    ws, tmp_path, bank_spec, write_file
) -> None:
    load(ws, bank_spec, write_file("good.csv", GOOD))
    # another delimiter, every cell quoted, another date format, spaces, CRLF, a blank line
    semi = [
        '"1";"John";"Smith";"1980-01-02";"123456789";"2024-01";" 100.5 ";"11"',
        '"1";"John";"Smith";"02/01/1980";"123-45-6789";"2024-02";"90";"11"',
        '"2";"Ann";"Lee";"1990-06-05";"987-65-4321";"2024-01";"1234";"71"',
        '"3";"O\'Brien, Pat";"Oak";"1970-05-05";"";"2024-01";"0.00";"97"',
    ]
    body = BANK_HEADER.replace(",", ";") + "\r\n".join(semi) + "\r\n\r\n"
    report = load(ws, with_parse(bank_spec, delimiter=";"), write_file("semi.csv", body))
    assert counts(report) == (4, 0, 4, 0, 0)
    # ... while a value that changes, even only from empty, is a new version
    body = body.replace(
        '"3";"O\'Brien, Pat";"Oak";"1970-05-05";""',
        '"3";"O\'Brien, Pat";"Oak";"1970-05-05";"111-22-3333"',
    )
    report = load(ws, with_parse(bank_spec, delimiter=";"), write_file("semi2.csv", body))
    assert counts(report) == (4, 0, 3, 1, 0)


def test_a_then_a_changed_then_a_again(ws, bank_spec, write_file) -> None:
    """The same bytes again are a no-op, whatever came after: a re-run of an old file never
    undoes a revision. Loaded again on purpose, or re-compressed, the rows are compared."""
    a = write_file("a.csv", GOOD)
    changed = write_file("a2.csv", GOOD.replace("100.50", "100.75").replace(",71", ",11"))
    gz = write_file("a.csv.gz", gzip.compress(GOOD.encode()))
    assert counts(load(ws, bank_spec, a)) == (4, 4, 0, 0, 0)
    assert counts(load(ws, bank_spec, changed)) == (4, 0, 2, 2, 0)
    for _ in range(2):  # A again, byte for byte: already loaded, nothing written
        again = load(ws, bank_spec, a)
        assert (again.status, again.batch_id) == ("already_loaded", "B000001")
    assert rows(ws, "SELECT count(*) FROM ingest_batches")[0][0] == 2
    chain = "SELECT record_id, supersedes, balance FROM src_testbank_accounts " + (
        "WHERE source_record_id = '1|2024-01-01' ORDER BY batch_id"
    )
    assert [(r[0], r[1], float(r[2])) for r in rows(ws, chain)] == [
        ("B000001.2", None, 100.5),
        ("B000002.2", "B000001.2", 100.75),
    ]
    # Forced (--again), it is compared like any re-send: this feed's rows carry no reporting
    # date, so nothing tells the old values from a revert, and they supersede; the batch
    # names the one that loaded the same bytes
    with ws.engine() as engine:
        forced = ingest_file(engine, load_spec(bank_spec), a, key=ws.national_id_key(), again=True)
    assert (forced.status, forced.batch_id, forced.again_of) == ("loaded", "B000003", "B000001")
    assert counts(forced) == (4, 0, 2, 2, 0)
    assert forced.warnings == [
        "loaded again on purpose (--again): batch B000001 loaded the same bytes"
    ]
    assert rows(ws, "SELECT again_of FROM ingest_batches ORDER BY batch_id") == [
        (None,),
        (None,),
        ("B000001",),
    ]
    assert counts(load(ws, with_parse(bank_spec, compression="gzip"), gz)) == (4, 0, 4, 0, 0)
    third = load(ws, bank_spec, a)
    assert third.status == "already_loaded" and third.batch_id == "B000003"
    assert [(r[0], r[1], float(r[2])) for r in rows(ws, chain)] == [
        ("B000001.2", None, 100.5),
        ("B000002.2", "B000001.2", 100.75),
        ("B000003.2", "B000002.2", 100.5),
    ]


REPORTED_SPEC = BANK_SPEC.replace(
    "record_key:",
    "ledger: {event: account_status, event_date: period, reported_date: reported}\nrecord_key:",
) + ("  - {column: RPT, target: reported, type: date, category: reference}\n")


def test_an_older_report_re_sent_after_a_revision_is_stale(ws, tmp_path, write_file, cli) -> None:
    """A row reported before the current report of its key does not replace it: counted as
    stale, its line kept; a revert the furnisher reports later does replace it."""
    spec = tmp_path / "reported.yaml"
    spec.write_text(REPORTED_SPEC)
    header = BANK_HEADER.rstrip("\n") + ",RPT\n"

    def sent(name: str, *dated: tuple[str, str]) -> Path:
        return write_file(name, header + "".join(f"{r},{d}\n" for r, d in dated))

    march = [(r, "2024-03-05") for r in BANK_GOOD_ROWS]
    revised = [(march[0][0].replace("100.50", "100.75"), "2024-03-20"), *march[1:]]
    assert counts(load(ws, spec, sent("a.csv", *march))) == (4, 4, 0, 0, 0)
    assert counts(load(ws, spec, sent("b.csv", *revised))) == (4, 0, 3, 1, 0)
    # the first file exported again (one blank line more), with its reporting dates: the
    # revised row is stale, the others identical; nothing undoes the revision
    old = load(ws, spec, write_file("a-again.csv", sent("a.csv", *march).read_text() + "\n"))
    assert (old.loaded, old.new, old.identical, old.superseding, old.stale) == (4, 0, 3, 0, 1)
    assert old.reconciled
    assert old.warnings == [
        "1 rows (the first at line 2) were reported before the feed's current report of "
        "their key (reported): stale, not loaded; a furnisher's correction of a report needs "
        "a later reporting date"
    ]
    assert rows(ws, "SELECT batch_id, line_no, reported_date, record_id FROM stale_rows") == [
        ("B000003", 2, dt.date(2024, 3, 5), "B000002.2")
    ]
    current = (
        "SELECT balance FROM src_testbank_accounts WHERE source_record_id = '1|2024-01-01' "
        "ORDER BY batch_id DESC LIMIT 1"
    )
    assert rows(ws, current) == [(Decimal("100.75"),)]
    # the old value reported again later: the furnisher reverted the revision
    revert = load(ws, spec, sent("revert.csv", (march[0][0], "2024-04-02")))
    assert (revert.superseding, revert.stale) == (1, 0)
    assert rows(ws, current) == [(Decimal("100.50"),)]
    said = " ".join(cli("batches", "-w", ws.root).stdout.split())
    assert "a-again.csv" in said and "│ 4 │ 4 │ 0 │ 3 │ 0 │ 0 │ 1 │ 0 │ at ingest" in said


def test_an_older_period_re_sent_after_a_newer_one(ws, bank_spec, write_file) -> None:
    jan = [r for r in BANK_GOOD_ROWS if "2024-01" in r]
    feb = [r for r in BANK_GOOD_ROWS if "2024-02" in r] + [
        "2,Ann,Lee,05/06/1990,987654321,2024-02,1200.00,71"
    ]
    assert counts(
        load(ws, bank_spec, write_file("jan.csv", BANK_HEADER + "\n".join(jan) + "\n"))
    ) == (3, 3, 0, 0, 0)
    assert counts(
        load(ws, bank_spec, write_file("feb.csv", BANK_HEADER + "\n".join(feb) + "\n"))
    ) == (2, 2, 0, 0, 0)
    late = BANK_HEADER + "\n".join(jan).replace("0,97", "0,71") + "\n"
    assert counts(load(ws, bank_spec, write_file("jan-again.csv", late))) == (3, 0, 2, 1, 0)
    # only January's report of account 3 has a new version; February's reports are untouched
    assert rows(
        ws, "SELECT source_record_id FROM src_testbank_accounts WHERE supersedes IS NOT NULL"
    ) == [("3|2024-01-01",)]


def test_quarantined_rows_of_a_re_send_are_still_counted(ws, bank_spec, write_file) -> None:
    load(ws, bank_spec, write_file("good.csv", GOOD))
    bad = GOOD + "9,Bad,Row,1980-01-02,,2024-01,xx,11\n" + BANK_GOOD_ROWS[0] + "\n"
    report = load(ws, bank_spec, write_file("bad.csv", bad))
    assert counts(report) == (4, 0, 4, 0, 2)
    assert report.read == 6
    assert dict(rows(ws, "SELECT line_no, reason FROM quarantine WHERE batch_id = 'B000002'")) == {
        6: "bad_amount",
        7: "duplicate_row",
    }


def test_a_feed_without_a_record_key_recognises_identical_rows_only(
    ws, bank_spec, write_file
) -> None:
    spec = load_spec(bank_spec).model_copy(update={"record_key": []})
    load(ws, spec, write_file("good.csv", GOOD))
    report = load(ws, spec, write_file("again.csv", GOOD.replace("90.00", "91.00")))
    # the changed row cannot say which report it replaces: it is a report of its own
    assert counts(report) == (4, 1, 3, 0, 0)
    assert report.warnings == []  # (an identity-only feed: no event is counted twice)
    ledger = spec.model_copy(
        update={
            "name": "keyless_events",
            "ledger": LedgerMapping(event="account_status", event_date="period"),
        }
    )
    report = load(ws, ledger, write_file("events.csv", GOOD))
    assert report.warnings == [
        "the spec has no record_key: a row re-sent with a changed value "
        "cannot supersede its earlier report and is another event"
    ]
    assert rows(ws, "SELECT count(*), count(supersedes) FROM src_testbank_accounts")[0] == (5, 0)


def test_a_spec_cannot_use_the_supersedes_column(bank_spec) -> None:
    from openbureau.errors import SpecError

    data = load_spec(bank_spec).model_dump(mode="json")
    data["fields"][1]["target"] = "supersedes"
    with pytest.raises(SpecError, match="'supersedes' is reserved"):
        parse_spec(data)


OLD_BATCHES = """CREATE TABLE ingest_batches (
    batch_id VARCHAR PRIMARY KEY, feed VARCHAR NOT NULL, furnisher VARCHAR NOT NULL,
    spec_fingerprint VARCHAR NOT NULL, spec_yaml VARCHAR NOT NULL, file_name VARCHAR NOT NULL,
    file_path VARCHAR NOT NULL, file_sha256 VARCHAR NOT NULL, file_bytes BIGINT NOT NULL,
    loaded_at TIMESTAMP NOT NULL, rows_read BIGINT NOT NULL, rows_loaded BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL, blank_lines BIGINT NOT NULL, warnings VARCHAR[] NOT NULL,
    CHECK (rows_read = rows_loaded + rows_quarantined))"""


def test_a_warehouse_from_before_reads_its_batches_as_new(ws, bank_spec, write_file, cli) -> None:
    """Batches and feed tables written before rows were compared gain the columns on the next
    load; their rows read as new reports, and a re-send is compared with them."""
    load(ws, bank_spec, write_file("good.csv", GOOD))
    with ws.engine() as engine:  # the same warehouse as an earlier openbureau left it
        engine.execute(
            "CREATE TABLE old AS SELECT * EXCLUDE (rows_new, rows_identical, "
            "rows_superseding, rows_stale, rows_reverting, again_of, chained_at, control_records) "
            "FROM ingest_batches"
        )
        engine.execute("DROP TABLE ingest_batches")
        engine.execute(OLD_BATCHES)
        engine.execute("INSERT INTO ingest_batches SELECT * FROM old")
        engine.execute("DROP TABLE old")
        engine.execute("ALTER TABLE src_testbank_accounts DROP COLUMN supersedes")
        engine.execute("DROP TABLE identical_rows")
        engine.execute("DROP TABLE warehouse_schema")
    listing = cli("batches", "-w", ws.root)  # (read-only: nothing added yet)
    assert listing.exit_code == 0, listing.output
    not_yet = "│ 4 │ 4 │ ? │ ? │ ? │ ? │ ? │ 0 │ not yet │"
    assert not_yet in " ".join(listing.stdout.split())
    changed = GOOD.replace("90.00", "91.00")
    assert counts(load(ws, bank_spec, write_file("resent.csv", changed))) == (4, 0, 3, 1, 0)
    assert rows(
        ws,
        "SELECT batch_id, rows_new, rows_identical, rows_superseding "
        "FROM ingest_batches ORDER BY 1",
    ) == [("B000001", None, None, None), ("B000002", 0, 3, 1)]
    listing = " ".join(cli("batches", "-w", ws.root).stdout.split())
    assert not_yet in listing and "│ 4 │ 4 │ 0 │ 3 │ 1 │ 0 │ 0 │ 0 │ at ingest │" in listing


# ingest_batches as the version before stale rows left it: its check of the counts is made
# again with the table, since a CHECK cannot be altered
PREVIOUS_BATCHES = OLD_BATCHES.replace(
    "CHECK (rows_read",
    "rows_new BIGINT, rows_identical BIGINT, rows_superseding BIGINT, "
    "CHECK (rows_new IS NULL OR rows_loaded = rows_new + rows_identical + rows_superseding), "
    "CHECK (rows_read",
)


def test_a_warehouse_of_the_previous_version_counts_stale_rows(ws, tmp_path, write_file) -> None:
    spec = tmp_path / "reported.yaml"
    spec.write_text(REPORTED_SPEC)
    header = BANK_HEADER.rstrip("\n") + ",RPT\n"
    load(ws, spec, write_file("a.csv", header + BANK_GOOD_ROWS[0] + ",2024-03-05\n"))
    load(ws, spec, write_file("b.csv", header + BANK_GOOD_ROWS[0] + ",2024-03-20\n"))
    with ws.engine() as engine:
        engine.execute(
            "CREATE TABLE kept AS SELECT * EXCLUDE (rows_stale, rows_reverting, again_of, "
            "chained_at, control_records) FROM ingest_batches"
        )
        engine.execute("DROP TABLE ingest_batches")
        engine.execute(PREVIOUS_BATCHES)
        engine.execute("INSERT INTO ingest_batches SELECT * FROM kept")
        engine.execute("DROP TABLE kept")
    stale = load(ws, spec, write_file("a2.csv", header + BANK_GOOD_ROWS[0] + ",2024-03-05\n\n"))
    assert (stale.status, stale.stale) == ("loaded", 1)
    assert rows(
        ws,
        "SELECT batch_id, rows_new, rows_identical, rows_superseding, rows_stale, "
        "rows_reverting FROM ingest_batches ORDER BY 1",
    ) == [  # (reverting rows were not counted before: unknown)
        ("B000001", 1, 0, 0, 0, None),
        ("B000002", 0, 0, 1, 0, None),
        ("B000003", 0, 0, 0, 1, 0),
    ]


def test_the_cli_says_what_each_batch_held(cli, ws, bank_spec, write_file) -> None:
    cli("ingest", bank_spec, write_file("good.csv", GOOD), "-w", ws.root)
    res = cli(
        "ingest",
        bank_spec,
        write_file("resent.csv", GOOD.replace("90.00", "91.00") + "x,,,,,,,\n"),
        "-w",
        ws.root,
    )
    assert res.exit_code == 0, res.output
    said = " ".join(res.stdout.split())
    assert (
        "batch B000002 read 5 = loaded 4 + quarantined 1 ok (loaded: 0 new, 3 identical to "
        "the current report, 1 superseding it, 0 stale: reported before it)"
    ) in said
    listing = " ".join(cli("batches", "-w", ws.root).stdout.split())
    for column in ("read", "loaded", "new", "identical", "superseding", "stale", "quarantined"):
        assert column in listing
    assert "resent.csv" in listing and "│ 5 │ 4 │ 0 │ 3 │ 1 │ 0 │ 0 │ 1 │ at ingest │" in listing


def test_the_cli_loads_the_same_bytes_again_only_when_told(cli, ws, bank_spec, write_file) -> None:
    good = write_file("good.csv", GOOD)
    cli("ingest", bank_spec, good, "-w", ws.root)
    cli(
        "ingest", bank_spec, write_file("resent.csv", GOOD.replace("90.00", "91.00")), "-w", ws.root
    )
    res = cli("ingest", bank_spec, good, "-w", ws.root)
    assert res.exit_code == 0, res.output
    assert "already loaded as batch B000001; nothing to do" in " ".join(res.stdout.split())
    res = cli("ingest", bank_spec, good, "--again", "-w", ws.root)
    assert res.exit_code == 0, res.output
    said = " ".join(res.stdout.split())
    assert "batch B000003 read 4 = loaded 4 + quarantined 0 ok (loaded: 0 new, 3 identical" in said
    assert "warning: loaded again on purpose (--again): batch B000001 loaded the same bytes" in said
    listing = " ".join(cli("batches", "-w", ws.root).stdout.split())
    assert "│ 4 │ 4 │ 0 │ 3 │ 1 │ 1 │ 0 │ 0 │ at ingest (--again: B000001) │" in listing


NOT_REQUIRED = BANK_SPEC.replace(
    "target: account_id, category: reference, required: true",
    "target: account_id, category: reference",
)


@pytest.mark.parametrize("invalid", ["", ', invalid: "null"'])
def test_a_record_key_field_must_be_required(cli, ws, tmp_path, write_file, invalid) -> None:
    spec = tmp_path / "optional-key.yaml"
    spec.write_text(
        NOT_REQUIRED.replace("category: reference}", "category: reference" + invalid + "}", 1)
    )
    res = cli("ingest", spec, write_file("good.csv", GOOD), "-w", ws.root)
    assert res.exit_code == 2
    assert res.output.strip() == (
        f"error: {spec}: record_key: 'account_id' must be a required field (required: true): "
        "a row with an empty key part cannot say which report it is"
    )


def test_an_empty_key_part_never_names_another_report(ws, write_file) -> None:
    """Two persons' rows with an empty account number and the same month: with the spec a
    batch was loaded with before keys had to be required, each is a report of its own; with
    a spec of today, such a row is quarantined."""
    smith = BANK_HEADER + ",John,Smith,1980-01-02,123-45-6789,2024-01,500.00,97\n"
    brown = BANK_HEADER + ",Ann,Brown,1990-06-05,987-65-4321,2024-01,0.00,11\n"
    earlier = parse_spec(yaml.safe_load(NOT_REQUIRED), historical=True)
    assert counts(load(ws, earlier, write_file("smith.csv", smith))) == (1, 1, 0, 0, 0)
    assert counts(load(ws, earlier, write_file("brown.csv", brown))) == (1, 1, 0, 0, 0)
    assert rows(
        ws, "SELECT last_name, payment_status, supersedes FROM src_testbank_accounts ORDER BY 1"
    ) == [("Brown", "current", None), ("Smith", "chargeoff", None)]
    again = load(ws, earlier, write_file("smith-again.csv", smith + "\n"))
    assert counts(again) == (1, 1, 0, 0, 0)  # (no key to find it by: a report of its own)
    today = load(
        ws,
        load_spec_text(NOT_REQUIRED.replace("reference}", "reference, required: true}", 1)),
        write_file("brown2.csv", brown + "\n"),
    )
    assert counts(today) == (0, 0, 0, 0, 1)
    assert rows(ws, "SELECT reason, field FROM quarantine") == [("missing_required", "account_id")]


def load_spec_text(text: str) -> SourceSpec:
    return parse_spec(yaml.safe_load(text))


def test_a_report_put_back_to_an_earlier_version_is_counted_as_reverting(
    cli, ws, bank_spec, write_file
) -> None:
    """A feed without a reported date: A, then B, then A again supersedes B (the latest load
    wins), and is counted as reverting, a sub-count of superseding, wherever that is shown."""

    def send(name: str, *changes: tuple[str, str]) -> str:
        text = GOOD
        for old, new in changes:
            text = text.replace(old, new)
        res = cli("ingest", bank_spec, write_file(name, text), "-w", ws.root)
        assert res.exit_code == 0, res.output
        return " ".join(res.stdout.split())

    def listing() -> str:
        res = cli("batches", "-w", ws.root)
        assert res.exit_code == 0, res.output
        return " ".join(res.stdout.split())

    january, february = ("100.50,11", "100.00,11"), ("90.00,11", "91.00,11")
    send("a.csv")
    said = send("b.csv", january, february)
    assert "2 identical to the current report, 2 superseding it, 0 stale" in said
    # February back to A's value (reverting), January kept at B's, Ann's limit revised
    said = send("c.csv", january, ('"1,234.00"', '"1,300.00"'))
    assert (
        "(loaded: 0 new, 2 identical to the current report, 2 superseding it (1 of them "
        "reverting: equal to an earlier version of the report), 0 stale: reported before it)"
    ) in said
    ann = ('"1,234.00"', '"1,300.00"')
    said = send("d.csv", january, ann, february)  # and back to B's
    assert "3 identical to the current report, 1 superseding it (1 of them reverting" in said
    said = send("e.csv", ("100.50,11", "100.25,11"), ann, february)  # a value never sent
    assert "3 identical to the current report, 1 superseding it, 0 stale" in said
    shown = listing()
    assert "┃ new ┃ identical ┃ superseding ┃ reverting ┃ stale ┃" in shown
    for batch in (
        "│ 4 │ 4 │ 0 │ 2 │ 2 │ 0 │ 0 │ 0 │ at ingest │",  # B
        "│ 4 │ 4 │ 0 │ 2 │ 2 │ 1 │ 0 │ 0 │ at ingest │",  # A again, and a revision
        "│ 4 │ 4 │ 0 │ 3 │ 1 │ 1 │ 0 │ 0 │ at ingest │",  # B again
        "│ 4 │ 4 │ 0 │ 3 │ 1 │ 0 │ 0 │ 0 │ at ingest │",  # a new value
    ):
        assert batch in shown, batch
    assert rows(ws, "SELECT rows_reverting FROM ingest_batches ORDER BY batch_id") == [
        (0,),
        (0,),
        (1,),
        (1,),
        (0,),
    ]

    with ws.engine() as engine:  # the warehouse as the version before the count left it
        engine.execute("ALTER TABLE ingest_batches DROP COLUMN rows_reverting")
        engine.execute("DROP TABLE warehouse_schema")  # (from before versions were recorded)
    shown = listing()
    assert shown.count("│ 4 │ 4 │ 0 │ 2 │ 2 │ ? │ 0 │ 0 │ at ingest │") == 2  # unknown, not 0
    assert shown.count("│ 4 │ 4 │ 0 │ 3 │ 1 │ ? │ 0 │ 0 │ at ingest │") == 2
    assert "reverting ?: not counted for the batch" in shown
    said = send("f.csv", ("100.50,11", "100,11"), ann, february)  # B's January again
    assert "3 identical to the current report, 1 superseding it (1 of them reverting" in said
    assert "│ 4 │ 4 │ 0 │ 3 │ 1 │ 1 │ 0 │ 0 │ at ingest │" in listing()  # the next is counted
    assert rows(ws, "SELECT rows_reverting FROM ingest_batches ORDER BY batch_id")[-2:] == [
        (None,),
        (1,),
    ]
