"""A warehouse written by openbureau before ingest compared rows (commit 4304ac9): a re-sent
file was loaded as new reports. The first ledger build after the upgrade chains them."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from openbureau.ledger import build_ledger, record_history
from openbureau.workspace import Workspace
from tests._servers import missing_service

OLD = "4304ac9"  # the last commit before rows were compared at ingest
FEED = "northbank_accounts"
ROOT = Path(__file__).resolve().parents[2]

# A spec of that time: the account number is not required (today's specs must require their
# key): two persons' rows with an empty account number and the same month.
OLD_SPEC = """\
name: t_accounts
furnisher: T
feed: accounts
format: csv
record_key: [account_id, period]
fields:
  - {column: ACCT, target: account_id, category: reference}
  - {column: PERIOD, target: period, type: month, category: credit, required: true}
  - {column: STATUS, target: payment_status, type: code, category: credit,
     codes: {"1": current, "9": chargeoff}}
  - {column: NAME, target: last_name, category: identity}
  - {column: DOB, target: dob, type: date, category: identity}
ledger: {event: account_status, event_date: period}
"""
SMITH = "ACCT,PERIOD,STATUS,NAME,DOB\n,2023-01,9,Smith,1980-01-01\nb1,2023-01,1,Jones,1970-05-05\n"
BROWN = "ACCT,PERIOD,STATUS,NAME,DOB\n,2023-01,1,Brown,1990-09-09\n"

# What the old openbureau did, run with its own code: load the file, the same file again (one
# byte more), a revision of five rows, then Smith and Brown; link, build the ledger, correct
# and dispute rows of the copy.
OLD_RUN = """
import json, shutil, sys
from pathlib import Path
from openbureau.identity.link import link
from openbureau.ingest.spec import load_spec
from openbureau.ingest.load import ingest_file
from openbureau.ledger import build_ledger, correct_record, suppress_record
from openbureau.workspace import init_workspace

here, model = Path(sys.argv[1]), Path(sys.argv[2])
ws = init_workspace(here / "ws")
(ws.root / "models").mkdir(exist_ok=True)
shutil.copy(model, ws.root / "models" / "linkage-model.json")
accounts, t = load_spec(here / "accounts.yaml"), load_spec(here / "t.yaml")
with ws.engine() as engine:
    for spec, name in ((accounts, "a.csv"), (accounts, "a-again.csv"), (accounts, "revised.csv"),
                       (t, "smith.csv"), (t, "brown.csv")):
        ingest_file(engine, spec, here / name, key=ws.national_id_key())
    model_path = ws.root / "models" / "linkage-model.json"
    link(engine, model_path=model_path, settings=ws.settings.identity)
    build_ledger(engine)
    correct_record(engine, "B000002.3", {"balance": 1}, "statement shown")
    suppress_record(engine, "B000002.4", "disputed", "not mine")
    correct_record(engine, "B000001.5", {"balance": 2}, "statement shown")
print(json.dumps(str(ws.root)))
"""


def _rows(text: str, changes: dict[int, dict[str, str]]) -> str:
    lines = list(csv.reader(io.StringIO(text)))
    header = lines[0]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for i, row in enumerate(lines[1:]):
        cells = dict(zip(header, row, strict=True))
        cells.update(changes.get(i, {}))
        writer.writerow(cells.values())
    return out.getvalue()


@pytest.fixture(scope="session")
def old_code(tmp_path_factory) -> Path:
    """The old code's ``src``, from this clone's history. A clone without the commit (a
    shallow one) skips the tests, except under CI (``OPENBUREAU_REQUIRE_SERVICES=1``), where
    they must run: there it fails them."""
    here = tmp_path_factory.mktemp("old-code")
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", OLD, "src"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        missing_service(
            f"commit {OLD} is not in this clone (a full clone has it): "
            f"{archive.stderr.decode().strip()}"
        )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(here, filter="data")
    return here / "src"


@pytest.fixture(scope="session")
def old_warehouse(old_code, linked_population, tmp_path_factory) -> tuple[Path, Path]:
    """A workspace written entirely by the old code, in a subprocess (a few seconds), and the
    folder of the files and specs it loaded."""
    ws, pop = linked_population
    here = tmp_path_factory.mktemp("old")
    # (the file has a few bad bytes further on)
    head = (pop / "northbank" / "accounts.csv").read_bytes().split(b"\n")[:121]
    text = b"\n".join(head).decode() + "\n"
    (here / "a.csv").write_text(text)
    (here / "a-again.csv").write_text(text + "\n")
    rpt = {"RPT_DT": "2024-12-20"}
    # (each revised row's status other than the one it had, whatever the generator drew)
    had = [r["ACCT_STATUS"] for r in csv.DictReader(io.StringIO(text))]

    def other(i: int, status: str) -> dict[str, str]:
        return {"ACCT_STATUS": status if had[i] != status else "82"}

    revised = {i: other(i, "78") for i in (5, 6, 7)} | {8: {**other(8, "80"), **rpt}}
    (here / "revised.csv").write_text(_rows(text, revised))
    # (as the old code's synth wrote it: address fields were 'identity' before 'location')
    spec = (pop / "specs" / f"{FEED}.yaml").read_text()
    (here / "accounts.yaml").write_text(spec.replace("category: location", "category: identity"))
    (here / "t.yaml").write_text(OLD_SPEC)
    (here / "smith.csv").write_text(SMITH)
    (here / "brown.csv").write_text(BROWN)
    env = {**os.environ, "PYTHONPATH": str(old_code)}
    res = subprocess.run(
        [sys.executable, "-c", OLD_RUN, str(here), str(ws / "models" / "linkage-model.json")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return Path(json.loads(res.stdout.splitlines()[-1])), here


@pytest.fixture
def upgraded(old_warehouse, tmp_path) -> Path:
    """A copy of the old workspace, for this version to upgrade."""
    return Path(shutil.copytree(old_warehouse[0], tmp_path / "ws"))


def _said(cli, *args) -> str:
    res = cli(*args)
    assert res.exit_code == 0, res.output
    return " ".join(res.stdout.split())


def _counted_twice(engine) -> int:
    """The northbank reports (account, month) with more than one event that counts."""
    return engine.scalar(f"""SELECT count(*) FROM (SELECT account_id, event_date
        FROM ledger_account_status_effective WHERE feed = '{FEED}'
        GROUP BY ALL HAVING count(*) > 1)""")


def test_the_first_build_chains_the_re_sent_rows(upgraded, cli) -> None:
    ws = upgraded
    with Workspace.open(ws).engine(read_only=True) as engine:
        assert _counted_twice(engine) == 120
    listing = _said(cli, "batches", "-w", ws)
    assert listing.count("│ ? │ ? │ ? │ ? │") == 5 and "not yet: loaded before" in listing
    _said(cli, "link", "-w", ws)
    said = _said(cli, "ledger", "-w", ws)
    assert (
        "Compared the rows of 5 batch(es) loaded before ingest compared rows: 236 identical to "
        "the report before them (236 events no longer count), 4 superseding it (later "
        "versions of the report)"
    ) in said
    listing = _said(cli, "batches", "-w", ws)
    for counts in (
        "│ 120 │ 120 │ 120 │ 0 │ 0 │ ? │ 0 │ 0 │ by ledger",  # the file
        "│ 120 │ 120 │ 0 │ 120 │ 0 │ ? │ 0 │ 0 │ by ledger",  # the same again
        "│ 120 │ 120 │ 0 │ 116 │ 4 │ ? │ 0 │ 0 │ by ledger",  # four rows revised
        "│ 2 │ 2 │ 2 │ 0 │ 0 │ ? │ 0 │ 0 │ by ledger",  # Smith
        "│ 1 │ 1 │ 1 │ 0 │ 0 │ ? │ 0 │ 0 │ by ledger",  # Brown
    ):
        assert counts in listing, counts
    assert "not yet" not in listing
    with Workspace.open(ws).engine() as engine:
        # one current event per report: Smith and Brown, whose key is incomplete, stay two
        assert _counted_twice(engine) == 0
        assert engine.query("""SELECT count(*), count(DISTINCT record_id)
            FROM ledger_account_status WHERE is_current AND feed = 't_accounts'""") == [(3, 3)]
        assert engine.query(
            "SELECT payment_status FROM ledger_account_status_effective "
            "WHERE feed = 't_accounts' AND account_id IS NULL ORDER BY 1"
        ) == [("chargeoff",), ("current",)]
        # the feed table reads as ingest now leaves it: one current row per key
        assert engine.query(f"""SELECT count(*) FROM src_{FEED} s
            ANTI JOIN src_{FEED} n ON n.supersedes = s.record_id""") == [(120,)]
        # a second build finds nothing more to chain
        assert build_ledger(engine).chained_batches == 0


def test_versions_corrections_and_disputes_of_the_chained_rows(upgraded, cli) -> None:
    ws = upgraded
    _said(cli, "link", "-w", ws)
    _said(cli, "ledger", "-w", ws)
    with Workspace.open(ws).engine() as engine:

        def history(record: str) -> list[tuple]:
            return [
                (v["event_id"], v["version"], v["is_current"], v["superseded_on"])
                for v in record_history(engine, record)
            ]

        # a row revised with a later reporting date: version 2 from then on; the identical
        # copy is no version (0) and never counts
        revised = history("B000001.10")
        reported = engine.scalar(
            "SELECT reported_date FROM ledger_account_status WHERE event_id = 'B000003.10~1'"
        )
        assert str(reported) == "2024-12-20"
        assert revised == [
            ("B000001.10~1", 1, False, reported),
            ("B000002.10~1", 0, False, None),
            ("B000003.10~1", 2, True, None),
        ]
        # either loaded row finds the report
        assert history("B000002.10") == history("B000003.10") == revised
        # the bureau's correction of the copy holds for the report (made after the copy
        # was loaded, it follows it) ...
        assert history("B000001.3") == [
            ("B000001.3~1", 1, False, None),
            ("B000002.3~1", 0, False, None),
            ("B000002.3~2", 2, True, None),
            ("B000003.3~1", 0, False, None),  # (the revision's file repeats it too)
        ]
        assert (
            engine.scalar(
                "SELECT balance FROM ledger_account_status_effective WHERE record_id = 'B000001.3'"
            )
            == 1
        )
        # ... and so does one of the first load's rows
        assert [v[1:3] for v in history("B000001.5")] == [
            (1, False),
            (2, True),
            (0, False),
            (0, False),
        ]
        # the dispute made on the copy keeps the report out, whichever row is current
        assert engine.query(
            "SELECT record_id FROM ledger_suppressions WHERE lifted_at IS NULL"
        ) == [("B000001.4",)]
        assert not engine.scalar(
            "SELECT count(*) FROM ledger_account_status_effective WHERE record_id = 'B000001.4'"
        )


def test_a_batch_after_the_upgrade_supersedes_the_chained_report(
    old_warehouse, upgraded, cli, tmp_path
) -> None:
    """A row loaded since the upgrade supersedes the latest row of its key (here an identical
    copy): it is the next version of the chained report, loaded before the build that
    chains or after it."""
    ws, here = upgraded, old_warehouse[1]
    spec, latest = here / "accounts.yaml", (here / "revised.csv").read_text()

    def send(name: str, line: int) -> str:
        path = tmp_path / name
        path.write_text(_rows(latest, {line - 2: {"ACCT_STATUS": "78"}}))
        said = _said(cli, "ingest", spec, path, "-w", ws)
        # (the identity tables hold every loaded row once, the chained rows included)
        _said(cli, "link", "-w", ws)
        _said(cli, "ledger", "-w", ws)
        return said

    said = send("late.csv", 2)
    assert "(loaded: 0 new, 119 identical to the current report, 1 superseding it" in said
    said = send("later.csv", 3)  # (row 2 is back to its revised value)
    assert "(loaded: 0 new, 118 identical to the current report, 2 superseding it" in said
    with Workspace.open(ws).engine(read_only=True) as engine:
        assert _counted_twice(engine) == 0
        versions = [
            [
                (v["version"], v["is_current"], v["payment_status"])
                for v in record_history(engine, r)
            ]
            for r in ("B000001.2", "B000001.3")
        ]
    assert versions[0] == [
        (1, False, "current"),
        (0, False, "current"),  # the copy
        (0, False, "current"),  # the revision's file, whose row the new one names
        (2, False, "dpd60"),
        (3, True, "current"),
    ]
    assert [v[:2] for v in versions[1]] == [
        (1, False),
        (0, False),
        (2, False),
        (0, False),
        (3, True),
    ]
    assert versions[1][-1][2] == "dpd60"


def test_a_clone_without_the_old_commit_fails_these_tests_under_ci(tmp_path) -> None:
    """They skip on a developer's shallow clone, never in CI, which would pass without them."""
    test = f"{Path(__file__).relative_to(ROOT)}::test_the_first_build_chains_the_re_sent_rows"
    no_history = tmp_path / "empty"
    no_history.mkdir()
    for required, outcome in (("0", "1 skipped"), ("1", "1 error")):
        env = {**os.environ, "GIT_DIR": str(no_history), "OPENBUREAU_REQUIRE_SERVICES": required}
        res = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert outcome in res.stdout, res.stdout[-3000:]
        assert f"commit {OLD} is not in this clone" in res.stdout, res.stdout[-3000:]
