"""A Metro 2 report's payment history profile: the months the ledger has no report of become
status events of the account (each consumer's), a month's own report always wins, and a month
the ledger holds in any form is never made again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openbureau.ledger import compute_features
from openbureau.ledger.corrections import suppress_record
from openbureau.ledger.records import person_records
from openbureau.workspace import Workspace
from tests.ingest.metro2_files import base, header, segment, trailer, write

JUNE = dt.date(2024, 6, 30)
# June's profile: May current, April 60 days late, March 30 days late, then current back to
# July 2022 (24 months), except for one month (D: none reported) and the oldest (B: before it)
PROFILE = "021" + "0" * 5 + "D" + "0" * 14 + "B"


def _month(tmp_path: Path, name: str, *records: str) -> Path:
    return write(tmp_path / name, [header(), *records, trailer(base=len(records))])


def _ingest(ws: Workspace, cli, tmp_path: Path, *files: Path) -> str:
    spec = tmp_path / "acme.yaml"
    spec.write_text(
        "name: acme_cards\nfurnisher: Acme Bank\nfeed: accounts\nformat: metro2\n",
        encoding="utf-8",
    )
    for f in files:
        res = cli("ingest", spec, f, "-w", ws.root)
        assert res.exit_code == 0, res.output
    assert cli("link", "--model", "default", "-w", ws.root).exit_code == 0
    res = cli("ledger", "-w", ws.root)
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())


def _again(ws: Workspace, cli, tmp_path: Path, f: Path) -> str:
    """A later file: ingest, link, ledger; the ledger's output on one line."""
    assert cli("ingest", tmp_path / "acme.yaml", f, "-w", ws.root).exit_code == 0
    assert cli("link", "--model", "default", "-w", ws.root).exit_code == 0
    res = cli("ledger", "-w", ws.root)
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())


def _months(ws: Workspace, where: str = "true") -> list[tuple]:
    with ws.engine(read_only=True) as engine:
        return engine.query(f"""SELECT strftime(event_date, '%Y-%m'), payment_status,
              history_of IS NOT NULL, is_current, balance
            FROM ledger_account_status WHERE {where} ORDER BY event_date, is_current""")


def test_a_first_report_brings_the_months_its_profile_gives(ws: Workspace, cli, tmp_path) -> None:
    june = _month(tmp_path, "june.txt", base(account="A1", history=PROFILE, dai="06302024"))
    out = _ingest(ws, cli, tmp_path, june)
    assert "22 months read from Metro 2 payment history profiles" in out, out
    months = _months(ws)
    assert len(months) == 23  # June's report and 22 months of its profile (not D, not B)
    assert months[-1] == ("2024-06", "current", False, True, 450)
    by_month = {m: (s, derived, balance) for m, s, derived, _, balance in months}
    assert by_month["2024-05"] == ("current", True, None)  # (a balance the profile has not)
    assert by_month["2024-04"] == ("dpd60", True, None)
    assert by_month["2024-03"] == ("dpd30", True, None)
    assert "2023-09" not in by_month  # D: nothing reported that month
    assert min(by_month) == "2022-07" and "2022-06" not in by_month  # B
    with ws.engine(read_only=True) as engine:
        # each month read from the profile names the report, and the file's line carrying it
        rows = engine.query("""SELECT DISTINCT h.history_of = r.record_id,
              h.loaded_record_id = r.loaded_record_id, h.reported_date = r.reported_date,
              h.record_id = r.record_id || '#' || strftime(h.event_date, '%Y-%m')
            FROM ledger_account_status h JOIN ledger_account_status r
              ON r.record_id = h.history_of""")
    assert rows == [(True, True, True, True)]
    with ws.engine() as engine:  # the lates it gives count: April's 60 days in 12 months
        compute_features(engine, JUNE, into="f")
        worst, since = engine.query("SELECT worst_status_12m, months_since_delinquency FROM f")[0]
    assert (worst, since) == (2, 2)


def test_without_a_profile_the_same_report_gives_no_lates(ws: Workspace, cli, tmp_path) -> None:
    # (the control: the months above come from the profile, not from elsewhere)
    june = _month(tmp_path, "june.txt", base(account="A1", dai="06302024"))
    out = _ingest(ws, cli, tmp_path, june)
    assert "payment history profiles" not in out
    assert len(_months(ws)) == 1
    with ws.engine() as engine:
        compute_features(engine, JUNE, into="f")
        assert engine.query("SELECT worst_status_12m FROM f")[0][0] == 0


def test_a_month_reported_is_never_read_from_a_profile(ws: Workspace, cli, tmp_path) -> None:
    """May's own report (30 days late) stands; June's profile, saying May was current, adds
    the months before May only."""
    may = _month(
        tmp_path, "may.txt", base(account="A1", status="71", dai="05312024", dofd="04152024")
    )
    june = _month(tmp_path, "june.txt", base(account="A1", history=PROFILE, dai="06302024"))
    _ingest(ws, cli, tmp_path, may, june)
    months = _months(ws, "event_date >= DATE '2024-04-01'")
    assert months == [
        ("2024-04", "dpd60", True, True, None),
        ("2024-05", "dpd30", False, True, 450),  # (the report, not the profile's 0)
        ("2024-06", "current", False, True, 450),
    ]
    assert len(_months(ws)) == 23


def test_a_months_own_report_arriving_later_supersedes_the_profiles(
    ws: Workspace, cli, tmp_path
) -> None:
    june = _month(tmp_path, "june.txt", base(account="A1", history=PROFILE, dai="06302024"))
    late_may = _month(tmp_path, "may.txt", base(account="A1", balance=300, dai="05312024"))
    out = _ingest(ws, cli, tmp_path, june)
    assert "22 months read" in out
    out = _again(ws, cli, tmp_path, late_may)
    assert "1 such months replaced" in out, out
    may = _months(ws, "event_date = DATE '2024-05-01'")
    assert may == [
        ("2024-05", "current", True, False, None),
        ("2024-05", "current", False, True, 300),
    ]
    with ws.engine(read_only=True) as engine:
        superseded_on, states = engine.query("""SELECT h.superseded_on,
              (SELECT count(*) FROM ledger_version_states s WHERE s.event_id = h.event_id)
            FROM ledger_account_status h WHERE h.history_of IS NOT NULL
              AND h.event_date = DATE '2024-05-01'""")[0]
    assert superseded_on == dt.date(2024, 5, 31) and states == 1


def test_each_consumer_of_a_joint_account_gets_the_months(ws: Workspace, cli, tmp_path) -> None:
    joint = segment("J1", surname="DOE", first="JOHN", ssn="987654321", dob="05061979", ecoa="2")
    june = _month(
        tmp_path, "june.txt", base(joint, account="A1", ecoa="2", history=PROFILE, dai="06302024")
    )
    _ingest(ws, cli, tmp_path, june)
    with ws.engine(read_only=True) as engine:
        per_person = engine.query("""SELECT count(DISTINCT person_id), count(*)
            FROM ledger_account_status WHERE history_of IS NOT NULL""")[0]
    assert per_person == (2, 44)


def test_a_profile_does_not_remake_months_under_the_accounts_earlier_number(
    ws: Workspace, cli, tmp_path
) -> None:
    """A1 renumbered to B2 in May (L1): June's report of B2 gives, in its profile, May and
    the months before, which A1's reports hold."""
    april = _month(tmp_path, "apr.txt", base(account="A1", dai="04302024"))
    may = _month(
        tmp_path,
        "may.txt",
        base(segment("L1", indicator="1", account="B2"), account="A1", dai="05312024"),
    )
    june = _month(tmp_path, "june.txt", base(account="B2", history=PROFILE, dai="06302024"))
    _ingest(ws, cli, tmp_path, april, may, june)
    months = _months(ws, "event_date >= DATE '2024-03-01'")
    assert months == [
        ("2024-03", "dpd30", True, True, None),
        ("2024-04", "current", False, True, 450),
        ("2024-05", "current", False, True, 450),
        ("2024-06", "current", False, True, 450),
    ]


def test_unknown_profile_characters_are_counted_not_read(ws: Workspace, cli, tmp_path) -> None:
    june = _month(tmp_path, "june.txt", base(account="A1", history="0X" + "B" * 22, dai="06302024"))
    out = _ingest(ws, cli, tmp_path, june)
    assert "1 months read" in out
    assert "1 payment history profile characters are no Metro 2 code" in out
    assert [m[0] for m in _months(ws)] == ["2024-05", "2024-06"]
    with ws.engine(read_only=True) as engine:
        batch = engine.scalar("SELECT batch_id FROM ingest_batches")
    res = cli("accuracy", batch, "-w", ws.root)
    assert "history-code-unknown" in res.output, res.output


def test_a_delete_request_takes_the_profiles_months_too(ws: Workspace, cli, tmp_path) -> None:
    june = _month(tmp_path, "june.txt", base(account="A1", history=PROFILE, dai="06302024"))
    delete = _month(tmp_path, "july.txt", base(account="A1", status="DA", dai="07312024"))
    _ingest(ws, cli, tmp_path, june, delete)
    with ws.engine(read_only=True) as engine:
        counting = engine.scalar("SELECT count(*) FROM ledger_account_status_effective")
        suppressed = engine.scalar("SELECT count(*) FROM ledger_suppressions")
    assert (counting, suppressed) == (0, 23)


def test_a_resent_report_with_a_corrected_profile_corrects_its_months(
    ws: Workspace, cli, tmp_path
) -> None:
    """June re-sent: its profile now says April and March were current, and May is not
    given (D): April and March get a new version (the same records), May stops counting."""
    june = _month(tmp_path, "june.txt", base(account="A1", history=PROFILE, dai="06302024"))
    _ingest(ws, cli, tmp_path, june)
    fixed = "D00" + PROFILE[3:]
    resent = _month(
        tmp_path, "june2.txt", base(account="A1", history=fixed, balance=300, dai="06302024")
    )
    out = _again(ws, cli, tmp_path, resent)
    assert "1 such months replaced" in out, out
    assert _months(ws, "event_date >= DATE '2024-03-01' AND is_current") == [
        ("2024-03", "current", True, True, None),
        ("2024-04", "current", True, True, None),
        ("2024-06", "current", False, True, 300),
    ]
    with ws.engine(read_only=True) as engine:
        versions = engine.query("""SELECT record_id, list(version ORDER BY version),
              list(payment_status ORDER BY version) FROM ledger_account_status
            WHERE history_of IS NOT NULL AND event_date >= DATE '2024-03-01'
            GROUP BY 1 ORDER BY 1""")
        doubled = engine.scalar("""SELECT count(*) FROM (SELECT event_date FROM
            ledger_account_status WHERE is_current GROUP BY 1 HAVING count(*) > 1)""")
    assert [(r.split("#")[1], v, s) for r, v, s in versions] == [
        ("2024-03", [1, 2], ["dpd30", "current"]),
        ("2024-04", [1, 2], ["dpd60", "current"]),
        ("2024-05", [1], ["current"]),
    ]
    assert doubled == 0


def test_a_month_disputed_away_stays_away_when_its_own_report_comes(
    ws: Workspace, cli, tmp_path
) -> None:
    june = _month(tmp_path, "june.txt", base(account="A1", history=PROFILE, dai="06302024"))
    _ingest(ws, cli, tmp_path, june)
    with ws.engine() as engine:
        april = engine.scalar("""SELECT record_id FROM ledger_account_status
            WHERE history_of IS NOT NULL AND event_date = DATE '2024-04-01'""")
        suppress_record(engine, april, "disputed", "dispute 1: deleted")
    late_april = _month(
        tmp_path, "apr.txt", base(account="A1", status="78", dai="04302024", dofd="03152024")
    )
    _again(ws, cli, tmp_path, late_april)
    with ws.engine(read_only=True) as engine:
        counting = engine.query("""SELECT record_id FROM ledger_account_status_effective
            WHERE event_date = DATE '2024-04-01'""")
        carried = engine.query(
            """SELECT s.reason, s.note LIKE 'carried from ' || ? || '%'
            FROM ledger_suppressions s JOIN ledger_account_status e USING (record_id)
            WHERE e.history_of IS NULL AND e.event_date = DATE '2024-04-01'""",
            [april],
        )
    assert counting == [] and carried == [("disputed", True)]


def test_a_dispute_on_a_month_its_own_report_now_gives_reaches_that_report(
    ws: Workspace, cli, tmp_path
) -> None:
    june = _month(tmp_path, "june.txt", base(account="A1", history=PROFILE, dai="06302024"))
    _ingest(ws, cli, tmp_path, june)
    with ws.engine(read_only=True) as engine:
        april = engine.scalar("""SELECT record_id FROM ledger_account_status
            WHERE history_of IS NOT NULL AND event_date = DATE '2024-04-01'""")
    _again(ws, cli, tmp_path, _month(tmp_path, "apr.txt", base(account="A1", dai="04302024")))
    with ws.engine() as engine:
        suppress_record(engine, april, "disputed", "dispute filed before the report came")
        counting = engine.scalar("""SELECT count(*) FROM ledger_account_status_effective
            WHERE event_date = DATE '2024-04-01'""")
        pid = engine.scalar("SELECT any_value(person_id) FROM ledger_account_status")
        standing = {r["record_id"]: r["standing"] for r in person_records(engine, [pid])}
    assert counting == 0
    assert standing[april] == "replaced"  # (the person's export: no version of it counts)


def test_a_renumbering_learned_late_leaves_one_report_a_month(ws: Workspace, cli, tmp_path) -> None:
    """April under A1; June under B2 with a profile (April read from it: no link known yet);
    then May's L1 says A1 became B2: April's own report replaces the month read for B2."""
    _ingest(ws, cli, tmp_path, _month(tmp_path, "apr.txt", base(account="A1", dai="04302024")))
    june = _month(tmp_path, "june.txt", base(account="B2", history=PROFILE, dai="06302024"))
    _again(ws, cli, tmp_path, june)
    may = _month(
        tmp_path,
        "may.txt",
        base(segment("L1", indicator="1", account="B2"), account="A1", dai="05312024"),
    )
    _again(ws, cli, tmp_path, may)
    window = "event_date BETWEEN DATE '2024-04-01' AND DATE '2024-05-01' AND is_current"
    assert _months(ws, window) == [
        ("2024-04", "current", False, True, 450),
        ("2024-05", "current", False, True, 450),
    ]


def test_unknown_characters_are_counted_when_only_a_joint_holder_gets_the_months(
    ws: Workspace, cli, tmp_path
) -> None:
    joint = segment("J1", surname="DOE", first="JOHN", ssn="987654321", dob="05061979", ecoa="2")
    june = _month(
        tmp_path,
        "june.txt",
        base(joint, account="A1", ecoa="T", history="0X" + "B" * 22, dai="06302024"),
    )
    out = _ingest(ws, cli, tmp_path, june)
    assert "1 payment history profile characters are no Metro 2 code" in out, out
    with ws.engine(read_only=True) as engine:
        months = engine.query("""SELECT count(DISTINCT person_id), count(*)
            FROM ledger_account_status WHERE history_of IS NOT NULL""")[0]
    assert months == (1, 1)
