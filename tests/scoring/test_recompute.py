"""A reproducible past: a snapshot computed again as known at its time gives its published
scores, whatever was loaded, corrected or suppressed since; a new snapshot uses what is known
now."""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from pathlib import Path

import pytest

from openbureau.ledger import correct_record, suppress_record
from openbureau.workspace import Workspace

FEED = "northbank_accounts"
AS_OF = "2025-12-31"
D = f"DATE '{AS_OF}'"


def _run(cli, *args, code: int = 0) -> str:
    res = cli(*args)
    assert res.exit_code == code, res.output
    return " ".join(res.output.split())


@pytest.fixture(scope="module")
def trained_once(linked_population, tmp_path_factory) -> Path:
    """The population with a scorecard trained and one snapshot published."""
    from typer.testing import CliRunner

    from openbureau.cli import app

    ws = Path(shutil.copytree(linked_population[0], tmp_path_factory.mktemp("r") / "ws"))
    for args in (["train", "--as-of", "2024-12-31"], ["score", "--as-of", AS_OF]):
        res = CliRunner().invoke(app, [*args, "-w", str(ws)], catch_exceptions=False)
        assert res.exit_code == 0, res.output
    return ws


@pytest.fixture
def trained(trained_once, tmp_path) -> Path:
    return Path(shutil.copytree(trained_once, tmp_path / "ws"))


def _scores(engine, snapshot_id: str) -> dict[str, tuple]:
    """Each person's score, band, unscorable reason and reasons (a reason's value to 9
    decimals: a sum of doubles can differ in its last bit from one run to the next)."""
    return {
        p: (
            s,
            b,
            u,
            [
                {**r, "value": None if r["value"] is None else round(r["value"], 9)}
                for r in reasons or []
            ],
        )
        for p, s, b, u, reasons in engine.query(
            "SELECT person_id, score, band, unscorable_reason, reasons FROM scores "
            "WHERE snapshot_id = ?",
            [snapshot_id],
        )
    }


def _never_late(engine, snapshot_id: str) -> list[tuple[str, str]]:
    """(person, northbank account) of scored persons never late on any account, whose account
    reports up to the last quarter before D."""
    return [
        (str(p), str(a))
        for p, a in engine.query(
            f"""WITH never_late AS (
                SELECT person_id FROM ledger_account_status_known GROUP BY 1
                HAVING max(status_rank) = 0)
            SELECT e.person_id, min(s.account_id) FROM src_{FEED} s
            JOIN ledger_account_status e ON e.record_id = s.record_id
            WHERE e.person_id IN (SELECT person_id FROM never_late)
              AND e.person_id IN (SELECT person_id FROM scores WHERE snapshot_id = ?
                                  AND score IS NOT NULL)
              AND s.period > {D} - INTERVAL 3 MONTH AND s.reported_date <= {D}
            GROUP BY 1 ORDER BY 1 LIMIT 2""",
            [snapshot_id],
        )
    ]


def test_an_old_snapshot_recomputed_after_later_facts_gives_its_published_scores(
    trained, linked_population, cli, tmp_path: Path
) -> None:
    ws, pop = trained, linked_population[1]
    with Workspace.open(ws).engine() as engine:
        first = str(engine.scalar("SELECT max(snapshot_id) FROM score_snapshots"))
        known_at = engine.scalar("SELECT known_at FROM score_snapshots")
        published = _scores(engine, first)
        (charged, account), (corrected, _) = _never_late(engine, first)
        # the furnisher's correcting batch: the account's last three months charged off
        lines = [
            int(n)
            for (n,) in engine.query(
                f"SELECT line_no FROM src_{FEED} WHERE account_id = ? AND period <= {D} "
                "ORDER BY period DESC LIMIT 3",
                [account],
            )
        ]
        # the bureau's correction: another person's latest report 90 days late
        latest = engine.scalar(
            f"""SELECT record_id FROM ledger_account_status_known WHERE person_id = ?
                AND event_date <= {D} AND reported_date <= {D}
            ORDER BY event_date DESC, record_id LIMIT 1""",
            [corrected],
        )
        # a dispute: every late report of a person seriously late in the last year
        disputed, late = engine.query(
            f"""SELECT person_id, list(record_id) FROM ledger_account_status_known
            WHERE person_id IN (SELECT person_id FROM scores WHERE snapshot_id = ?
                                AND score IS NOT NULL)
              AND event_date <= {D} AND reported_date <= {D}
            GROUP BY 1 HAVING max(status_rank) FILTER (
                WHERE event_date > {D} - INTERVAL 12 MONTH) >= 3
                -- (and an on-time report left: the core score needs a credit account)
                AND count(*) FILTER (WHERE status_rank = 0) > 0
            ORDER BY 1 LIMIT 1""",
            [first],
        )[0]
        late = [
            str(r)
            for (r,) in engine.query(
                "SELECT record_id FROM ledger_account_status_known "
                "WHERE person_id = ? AND status_rank >= 1",
                [disputed],
            )
        ]
    text = (pop / "northbank" / "accounts.csv").read_bytes().split(b"\n")  # (some bad bytes)
    header = next(csv.reader([text[0].decode()]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for n in lines:
        cells = next(csv.reader([text[n - 1].decode()]))
        cells[header.index("ACCT_STATUS")] = "97"
        writer.writerow(cells)
    batch = tmp_path / "accounts-correcting.csv"
    batch.write_text(out.getvalue())
    _run(cli, "ingest", pop / "specs" / f"{FEED}.yaml", batch, "-w", ws)
    _run(cli, "link", "-w", ws)
    _run(cli, "ledger", "-w", ws)
    with Workspace.open(ws).engine() as engine:
        correct_record(engine, latest, {"payment_status": "dpd90"}, "furnisher's correction")
        for record in late:
            suppress_record(engine, record, "disputed", "consumer: paid on time")

    said = _run(cli, "score", "--recompute", first, "-w", ws)
    assert f"all {len(published):,} persons' scores and reasons equal the published" in said
    _run(cli, "score", "--as-of", AS_OF, "-w", ws)  # what is known now
    _run(cli, "score", "--as-of", AS_OF, "--known-at", str(known_at), "-w", ws)
    listed = _run(cli, "snapshots", "-w", ws)
    with Workspace.open(ws).engine(read_only=True) as engine:
        now, then = (
            str(s)
            for (s,) in engine.query(
                "SELECT snapshot_id FROM score_snapshots WHERE snapshot_id <> ? "
                "ORDER BY created_at",
                [first],
            )
        )
        again = _scores(engine, then)
        new = _scores(engine, now)
        recorded = engine.scalar(
            "SELECT known_at FROM score_snapshots WHERE snapshot_id = ?", [then]
        )
    # As known then: the published scores and reasons, exactly.
    assert recorded == known_at and again == published
    assert f"{known_at:%Y-%m-%d %H:%M:%S}" in listed
    # As known now: the three persons changed, as the new facts say, and no one else.
    changed = {p for p in published if new[p][0] != published[p][0]}
    assert changed == {charged, corrected, disputed}
    assert new[charged][0] < published[charged][0]
    assert new[corrected][0] < published[corrected][0]
    assert new[disputed][0] > published[disputed][0]


def test_a_recompute_names_the_persons_that_differ(trained, cli) -> None:
    """A published row that no longer matches (here: changed by hand) is reported, exit 1."""
    ws = trained
    assert "known at" in _run(cli, "snapshots", "-w", ws)
    with Workspace.open(ws).engine() as engine:
        sid, person = engine.query(
            "SELECT snapshot_id, min(person_id) FROM scores WHERE score IS NOT NULL GROUP BY 1"
        )[0]
        engine.execute(
            "UPDATE scores SET score = score + 1 WHERE snapshot_id = ? AND person_id = ?",
            [sid, person],
        )
    said = _run(cli, "score", "--recompute", sid, "-w", ws, code=1)
    assert "1 persons differ from the published snapshot" in said and person in said
    assert "no score snapshot 'S1'" in _run(cli, "score", "--recompute", "S1", "-w", ws, code=2)
    assert "give no --as-of" in _run(
        cli, "score", "--recompute", sid, "--as-of", AS_OF, "-w", ws, code=2
    )
    assert "expected a time" in _run(
        cli, "score", "--as-of", AS_OF, "--known-at", "yesterday", "-w", ws, code=2
    )
    future = dt.datetime.now() + dt.timedelta(days=2)
    assert "is in the future" in _run(
        cli, "score", "--as-of", AS_OF, "--known-at", future.isoformat(), "-w", ws, code=2
    )
