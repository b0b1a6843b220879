"""Re-sent reports in the ledger: one current version per furnisher report, whatever the bytes."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from pathlib import Path

import pytest

from openbureau.ingest import load_spec
from openbureau.ledger import (
    build_ledger,
    compute_features,
    correct_record,
    record_history,
    suppress_record,
)
from openbureau.warehouse import SCHEMA_VERSION
from openbureau.workspace import Workspace

D = dt.date(2024, 12, 31)
FEED = "northbank_accounts"


def _features(engine) -> list[tuple]:
    compute_features(engine, D, into="f")
    return [
        tuple(round(v, 9) if isinstance(v, float) else v for v in row)
        for row in engine.query("SELECT * FROM f ORDER BY person_id")
    ]


def _identity(engine) -> tuple:
    return engine.query("""SELECT (SELECT count(*) FROM identity_records),
        (SELECT count(*) FROM person_index), (SELECT count(DISTINCT person_id) FROM person_index),
        (SELECT sum(n_records) FROM identity_records),
        (SELECT count(*) FROM identity_record_map)""")[0]


def _tradelines(engine) -> list[tuple]:
    return engine.query(
        "SELECT person_id, account_id, months_reported, worst_status_rank "
        "FROM ledger_tradelines ORDER BY ALL"
    )


def _run(cli, *args) -> str:
    res = cli(*args)
    assert res.exit_code == 0, res.output
    return " ".join(res.stdout.split())


def test_a_gzip_re_send_changes_no_event_feature_or_person(copy_population, cli, tmp_path) -> None:
    ws, pop = copy_population
    spec = load_spec(pop / "specs" / f"{FEED}.yaml")
    gz_spec = tmp_path / "northbank_gz.yaml"
    gz_spec.write_text(
        spec.model_copy(
            update={"parse": spec.parse.model_copy(update={"compression": "gzip"})}
        ).to_yaml()
    )
    resent = tmp_path / "accounts-resent.csv.gz"
    resent.write_bytes(gzip.compress((pop / "northbank" / "accounts.csv").read_bytes()))
    with Workspace.open(ws).engine() as engine:
        features, identity, tradelines = _features(engine), _identity(engine), _tradelines(engine)
        events = engine.scalar("SELECT count(*) FROM ledger_account_status")

    said = _run(cli, "ingest", gz_spec, resent, "-w", ws)
    _run(cli, "link", "-w", ws)
    _run(cli, "ledger", "-w", ws)
    with Workspace.open(ws).engine() as engine:
        assert engine.scalar("SELECT count(*) FROM ledger_account_status") == events
        assert _tradelines(engine) == tradelines  # months reported, worst status
        assert _features(engine) == features  # late months, utilisation, everything
        # the re-sent rows carry identities too: no identity record, row or person is added
        assert _identity(engine) == identity
    assert "(loaded: 0 new," in said and ", 0 superseding it, 0 stale" in said


def _account_lines(engine, pop: Path) -> tuple[str, list[int], list[str], str]:
    """A northbank account of a person never late, with a report known on D for each of the 12
    months up to November 2024 at least: its batch, the line numbers of its reports known on D,
    those lines of the file, and the file's header."""
    batch, account = engine.query(f"""
        WITH never_late AS (SELECT person_id FROM ledger_account_status_effective
                            GROUP BY 1 HAVING max(status_rank) = 0)
        SELECT s.batch_id, s.account_id FROM src_{FEED} s JOIN ledger_account_status e
          ON e.record_id = s.record_id AND e.person_id IN (SELECT person_id FROM never_late)
        WHERE s.reported_date <= DATE '{D}'
        GROUP BY ALL HAVING count(*) >= 12 AND max(s.period) = DATE '2024-11-01'
        ORDER BY s.account_id LIMIT 1""")[0]
    lines = [
        int(n)
        for (n,) in engine.query(
            f"SELECT line_no FROM src_{FEED} WHERE account_id = ? AND reported_date <= DATE '{D}' "
            "ORDER BY period",
            [account],
        )
    ]
    text = (pop / "northbank" / "accounts.csv").read_bytes().split(b"\n")  # (some bad bytes)
    return batch, lines, [text[n - 1].decode() for n in lines], text[0].decode()


def _with(header: str, lines: list[str], changes: dict[int, dict[str, str]]) -> str:
    """The CSV of ``lines`` with some cells changed (line index -> column -> value)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header.split(","))
    for i, row in enumerate(csv.reader(lines)):
        cells = dict(zip(header.split(","), row, strict=True))
        cells.update(changes.get(i, {}))
        writer.writerow(cells.values())
    return out.getvalue()


def test_a_superseding_report_is_the_next_version(copy_population, cli, tmp_path) -> None:
    ws, pop = copy_population
    with Workspace.open(ws).engine() as engine:
        batch, line_nos, lines, header = _account_lines(engine, pop)
        late, corrected, disputed = (f"{batch}.{line_nos[i]}" for i in (-1, -2, -3))
        correct_record(engine, corrected, {"balance": 1}, "consumer showed the statement")
        suppress_record(engine, disputed, "disputed", "not mine")
        person = engine.scalar(
            "SELECT person_id FROM ledger_account_status WHERE record_id = ?", [late]
        )
        compute_features(engine, D, into="f")
        before = engine.query(
            "SELECT delinquent_months_24m, worst_status_12m FROM f WHERE person_id = ?", [person]
        )[0]
        tradelines = _tradelines(engine)
        identity = _identity(engine)

    # the furnisher re-sends the account: one month now 90 days late, two balances changed
    n = len(lines)
    changes = {
        n - 1: {"ACCT_STATUS": "80"},
        n - 2: {"CUR_BAL": "12.34"},
        n - 3: {"CUR_BAL": "56.78"},
    }
    a2 = tmp_path / "account-revised.csv"
    a2.write_text(_with(header, lines, changes))
    said = _run(cli, "ingest", pop / "specs" / f"{FEED}.yaml", a2, "-w", ws)
    assert (
        f"(loaded: 0 new, {n - 3} identical to the current report, 3 superseding it, 0 stale"
        in said
    )
    _run(cli, "link", "-w", ws)
    said = _run(cli, "ledger", "-w", ws)
    assert "3 reports superseded by the furnisher's new report" in said
    assert "1 of them bureau corrections" in said

    with Workspace.open(ws).engine() as engine:
        new_batch = engine.scalar("SELECT max(batch_id) FROM ingest_batches")
        history = record_history(engine, corrected)
        # the bureau's correction is kept, no longer current; the furnisher's report names it
        assert [
            (v["version"], v["is_current"], v["batch_id"], v["correction_reason"]) for v in history
        ] == [
            (1, False, batch, None),
            (2, False, batch, "consumer showed the statement"),
            (3, True, new_batch, None),
        ]
        assert history[2]["supersedes"] == history[1]["event_id"] == f"{corrected}~2"
        assert history[2]["event_id"] == f"{corrected}~3"
        loaded_row = f"{new_batch}.{n}"  # (line n: after the header, the n-1st line)
        assert history[2]["loaded_record_id"] == loaded_row
        assert float(history[2]["balance"]) == 12.34
        # the loaded row of the new report finds the same record
        assert record_history(engine, loaded_row) == history
        # one current version per report: nothing counted twice
        assert (
            engine.scalar("""SELECT count(*) FROM (SELECT record_id FROM ledger_account_status
            WHERE is_current GROUP BY 1 HAVING count(*) > 1)""")
            == 0
        )
        # the dispute holds for the report's new version
        assert (
            engine.scalar(
                "SELECT count(*) FROM ledger_account_status_effective WHERE record_id = ?",
                [disputed],
            )
            == 0
        )
        assert engine.scalar(
            "SELECT is_current FROM ledger_account_status WHERE record_id = ? AND batch_id = ?",
            [disputed, new_batch],
        )
        compute_features(engine, D, into="f")
        after = engine.query(
            "SELECT delinquent_months_24m, worst_status_12m FROM f WHERE person_id = ?", [person]
        )[0]
        # one more late month (not the account's months twice), and the worst status is 90+
        assert (before, after) == ((0, 0), (1, 3))
        assert _tradelines(engine) != tradelines
        assert [t[2] for t in _tradelines(engine)] == [t[2] for t in tradelines]
        assert _identity(engine)[:3] == identity[:3]


def test_a_then_a_revised_then_a_again(copy_population, cli, tmp_path) -> None:
    """A revision reported later is not undone by the older file sent again (stale), however
    it is sent; a revert the furnisher reports later still is the next version."""
    ws, pop = copy_population
    spec = pop / "specs" / f"{FEED}.yaml"
    with Workspace.open(ws).engine() as engine:
        batch, line_nos, lines, header = _account_lines(engine, pop)
        record = f"{batch}.{line_nos[0]}"
        features = _features(engine)
    reported = dt.date.fromisoformat(next(csv.reader(lines[:1]))[header.split(",").index("RPT_DT")])
    later = {"RPT_DT": (reported + dt.timedelta(days=20)).isoformat()}
    revised = tmp_path / "revised.csv"
    revised.write_text(_with(header, lines, {0: {"ACCT_STATUS": "71", **later}}))
    original = tmp_path / "original-again.csv.gz"
    original.write_bytes(gzip.compress(_with(header, lines, {}).encode()))
    revert = tmp_path / "revert.csv"
    revert.write_text(
        _with(header, lines, {0: {"RPT_DT": (reported + dt.timedelta(days=40)).isoformat()}})
    )
    plain = tmp_path / "original-once-more.csv"
    plain.write_text(_with(header, lines, {}))
    gz_spec = tmp_path / "gz.yaml"
    loaded = load_spec(spec)
    gz_spec.write_text(
        loaded.model_copy(
            update={"parse": loaded.parse.model_copy(update={"compression": "gzip"})}
        ).to_yaml()
    )

    n = len(lines)
    said = [
        _run(cli, *args, "-w", ws)
        for args in (
            ("ingest", spec, revised),
            ("ingest", gz_spec, original),
            ("ingest", spec, revert),
            ("ingest", spec, plain),
        )
    ]
    assert f"{n - 1} identical to the current report, 1 superseding it, 0 stale" in said[0]
    assert f"{n - 1} identical to the current report, 0 superseding it, 1 stale" in said[1]
    assert f"{n - 1} identical to the current report, 1 superseding it, 0 stale" in said[2]
    assert f"{n - 1} identical to the current report, 0 superseding it, 1 stale" in said[3]
    _run(cli, "link", "-w", ws)
    with Workspace.open(ws).engine() as engine:
        report = build_ledger(engine)
        assert (report.events, report.superseded) == ({"account_status": 2}, 2)
        history = record_history(engine, record)
        batches = [
            b for (b,) in engine.query("SELECT batch_id FROM ingest_batches ORDER BY batch_id")
        ][-4:]
        assert [
            (v["version"], v["is_current"], v["batch_id"], v["payment_status"]) for v in history
        ] == [
            (1, False, batch, "current"),
            (2, False, batches[0], "dpd30"),
            (3, True, batches[2], "current"),
        ]
        # the revision counted from its reported date until the revert's
        assert [v["superseded_on"] for v in history] == [
            reported + dt.timedelta(days=20),
            reported + dt.timedelta(days=40),
            None,
        ]
        # back where it started as of D: the same features as before the re-sends
        assert _features(engine) == features


def test_a_report_revised_later_counts_as_it_was_known_on_each_date(
    copy_population, cli, tmp_path
) -> None:
    """As of a date before a revised report was reported, the report then known counts; from
    its reported date on, the revision does; never both. The file with the old reporting
    date sent again changes nothing: the same bytes are already loaded, and another export
    of it is stale."""
    ws, pop = copy_population
    spec = pop / "specs" / f"{FEED}.yaml"
    later = D + dt.timedelta(days=31)
    with Workspace.open(ws).engine() as engine:
        batch, line_nos, lines, header = _account_lines(engine, pop)
        person = engine.scalar(
            "SELECT person_id FROM ledger_account_status WHERE record_id = ?",
            [f"{batch}.{line_nos[-1]}"],
        )

    def late_months() -> tuple[int, int]:
        with Workspace.open(ws).engine() as engine:
            build_ledger(engine)
            counts = []
            for day in (D, later):
                compute_features(engine, day, into="f")
                counts.append(
                    engine.scalar(
                        "SELECT delinquent_months_24m FROM f WHERE person_id = ?", [person]
                    )
                )
        return counts[0], counts[1]

    def send(name: str, changes: dict[str, str], end: str = "") -> str:
        path = tmp_path / name
        path.write_text(_with(header, [lines[-1]], {0: changes}) + end)
        said = _run(cli, "ingest", spec, path, "-w", ws)
        _run(cli, "link", "-w", ws)
        return said

    # the latest month re-sent 30 days late, reported when it first was: it holds from then on
    send("late.csv", {"ACCT_STATUS": "71"})
    assert late_months() == (1, 1)
    # revised back to current, reported after D: on D the bureau knew it as late
    send("revised.csv", {"ACCT_STATUS": "11", "RPT_DT": later.isoformat()})
    assert late_months() == (1, 0)
    # the late file sent again, with its old reporting date: already loaded
    assert "already loaded as batch" in send("late.csv", {"ACCT_STATUS": "71"})
    assert late_months() == (1, 0)
    # exported again (a blank line more): older than the revision, so stale
    said = send("late-again.csv", {"ACCT_STATUS": "71"}, end="\n")
    assert "0 superseding it, 1 stale: reported before it)" in said
    assert late_months() == (1, 0)
    # the furnisher's own correction, reported later still: it holds from its date on
    send(
        "late-after-all.csv",
        {"ACCT_STATUS": "71", "RPT_DT": (later + dt.timedelta(days=30)).isoformat()},
    )
    assert late_months() == (1, 0)
    with Workspace.open(ws).engine() as engine:
        compute_features(engine, later + dt.timedelta(days=30), into="f")
        assert (
            engine.scalar("SELECT delinquent_months_24m FROM f WHERE person_id = ?", [person]) == 1
        )


@pytest.mark.parametrize("what", ["suppress", "correct", "read"])
def test_an_upgraded_ledger_keeps_its_versions(copy_population, cli, what) -> None:
    """A ledger built before versions named their loaded row (and before the later event
    columns) gains the columns when its warehouse is next opened, read-only too (the
    warehouse's migration 2), each version's loaded row its own record."""
    ws, _ = copy_population
    tables = (
        "ledger_account_status",
        "ledger_inquiries",
        "ledger_payments",
        "ledger_public_records",
    )
    with Workspace.open(ws).engine() as engine:
        for t in tables:
            engine.execute(f"ALTER TABLE {t} DROP COLUMN loaded_record_id")
        engine.execute("ALTER TABLE ledger_account_status DROP COLUMN history_of")
        engine.execute("DROP TABLE ledger_version_states")
        engine.execute("DELETE FROM warehouse_schema WHERE version >= 2")
        record = engine.scalar("SELECT min(record_id) FROM ledger_inquiries")
        person = engine.scalar("SELECT min(person_id) FROM ledger_account_status_effective")
    if what == "read":  # (a command that only reads, on the old warehouse: D8)
        res = cli(
            "export-file", person, "--purpose", "consumer_request", "-w", ws, "-o", ws / "e.json"
        )
        assert res.exit_code == 0, res.output
    with Workspace.open(ws).engine() as engine:
        assert engine.scalar("SELECT max(version) FROM warehouse_schema") == SCHEMA_VERSION
        if what == "suppress":
            suppress_record(engine, record, "disputed")
        elif what == "correct":
            correct_record(engine, record, {"inquiry_type": "card"}, "wrong purpose")
        for t in tables:
            assert (
                engine.scalar(
                    f"SELECT count(*) FROM {t} WHERE loaded_record_id IS DISTINCT FROM record_id"
                )
                == 0
            )
        assert "history_of" in engine.columns("ledger_account_status")
        assert engine.table_exists("ledger_version_states")
        assert engine.scalar("SELECT count(*) FROM ledger_inquiries_effective") > 0


def test_a_custom_factor_counts_a_re_sent_report_once(copy_population, cli, tmp_path) -> None:
    """Custom factors read the feed's loaded rows the ledger counts: a superseded row no
    longer counts, and as known before the new batch it still does."""
    from openbureau.scoring.factors import add_custom_features
    from openbureau.scoring.scorecard import CustomSource

    ws, pop = copy_population
    rows = CustomSource(feed=FEED, field="balance", aggregate="count", date_field="period")
    total = CustomSource(feed=FEED, field="balance", aggregate="sum", date_field="period")

    def factors(engine, known_at=None) -> dict[str, tuple]:
        engine.execute("CREATE OR REPLACE TABLE pf AS SELECT DISTINCT person_id FROM person_index")
        customs = [("n_rows", rows), ("total", total)]
        add_custom_features(engine, "pf", D, customs, known_at=known_at)
        return {p: (n, t) for p, n, t in engine.query("SELECT * FROM pf")}

    with Workspace.open(ws).engine() as engine:
        _, _, lines, header = _account_lines(engine, pop)
        before = factors(engine)
        person = engine.scalar(
            f"SELECT e.person_id FROM src_{FEED} s JOIN ledger_account_status "
            "e USING (record_id) WHERE s.account_id = ? LIMIT 1",
            [next(csv.reader(lines[:1]))[0]],
        )
        old = [float(next(csv.reader([line]))[6] or 0) for line in lines[:2]]
    revised = tmp_path / "revised.csv"
    revised.write_text(_with(header, lines, {0: {"CUR_BAL": "1000.00"}, 1: {"CUR_BAL": "2000.00"}}))
    with Workspace.open(ws).engine() as engine:
        known = engine.scalar("SELECT now()::TIMESTAMP")
    _run(cli, "ingest", pop / "specs" / f"{FEED}.yaml", revised, "-w", ws)
    _run(cli, "link", "-w", ws)
    _run(cli, "ledger", "-w", ws)
    with Workspace.open(ws).engine() as engine:
        after = factors(engine)
        then = factors(engine, known)
    assert then == before  # as known before the batch
    assert after[person][0] == before[person][0]  # the same rows, once each
    assert after[person][1] == pytest.approx(before[person][1] + 3000 - sum(old))
    assert {p: v for p, v in after.items() if p != person} == {
        p: v for p, v in before.items() if p != person
    }
