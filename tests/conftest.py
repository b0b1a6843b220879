"""Shared fixtures: a fresh workspace, a small hand-written feed, and a CLI runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from typer.testing import CliRunner, Result

from openbureau.cli import app
from openbureau.workspace import Workspace, init_workspace
from tests._servers import (  # noqa: F401  (fixtures: one browser and one server per session)
    browser,
    chromium_path,
    live_server,
    page,
    postgres_db_url,
    postgres_url,
)

if TYPE_CHECKING:
    from openbureau.engine import SparkEngine

BANK_SPEC = """\
name: testbank_accounts
furnisher: Testbank
feed: accounts
format: csv
record_key: [account_id, period]
require_one_of: [[national_id], [last_name, dob]]
fields:
  - {column: ACCT, target: account_id, category: reference, required: true}
  - {column: FIRST, target: first_name, category: identity}
  - {column: LAST, target: last_name, category: identity}
  - {column: DOB, target: dob, type: date, category: identity, formats: ["%Y-%m-%d", "%d/%m/%Y"]}
  - {column: SSN, target: national_id, category: identity}
  - {column: PERIOD, target: period, type: month, category: reference, required: true}
  - {column: BAL, target: balance, type: amount, category: credit}
  - {column: STATUS, target: payment_status, type: code, category: credit,
     codes: {11: current, 71: dpd30, 97: chargeoff}}
"""

BANK_HEADER = "ACCT,FIRST,LAST,DOB,SSN,PERIOD,BAL,STATUS\n"
BANK_GOOD_ROWS = [
    "1,John,Smith,1980-01-02,123-45-6789,2024-01,100.50,11",
    "1,John,Smith,1980-01-02,123-45-6789,2024-02,90.00,11",
    '2,Ann,Lee,05/06/1990,987654321,2024-01,"1,234.00",71',
    '3,"O\'Brien, Pat",Oak,1970-05-05,,2024-01,0,97',
]


def write_sealed_card(path: Path, text: str) -> Path:
    """A hand-written scorecard (YAML ``text``) written to ``path`` sealed, as scoring needs.

    Sealed through ``save_scorecard``, which runs no factor guard (``openbureau seal`` does), so
    a test can give scoring a sealed card the guard must still refuse."""
    from openbureau.scoring import Scorecard, save_scorecard

    return save_scorecard(Scorecard.model_validate(yaml.safe_load(text)), path)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return init_workspace(tmp_path / "ws")


@pytest.fixture
def bank_spec(tmp_path: Path) -> Path:
    p = tmp_path / "testbank_accounts.yaml"
    p.write_text(BANK_SPEC, encoding="utf-8")
    return p


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[..., Path]:
    def write(name: str, content: str | bytes) -> Path:
        p = tmp_path / name
        p.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return p

    return write


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    from openbureau import cli as cli_module

    # Wide enough that Rich tables do not fold the values the tests look for.
    monkeypatch.setattr(cli_module.console, "width", 250)
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return run


@pytest.fixture(scope="session")
def linked_population(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """3,000 synthetic persons, every feed ingested, linked and in the ledger.

    Returns (workspace folder, synth output folder). Tests that change the workspace copy it
    first (``copy_population``).
    """
    from openbureau.identity import link
    from openbureau.ingest import load_spec
    from openbureau.ingest.load import ingest_file
    from openbureau.ledger import build_ledger
    from openbureau.synth import SynthConfig, generate

    root = tmp_path_factory.mktemp("population")
    result = generate(root / "incoming", SynthConfig(persons=3000, seed=11))
    ws = init_workspace(root / "ws")
    # A fixed national-ID key: tokens, identity ids and with them the persons, the model and
    # the scores are then the same in every run (a new workspace draws a random key).
    (ws.root / ws.settings.secrets.national_id_key).write_text("5a" * 32 + "\n")
    with ws.engine() as engine:
        for feed, spec_path in result.specs.items():
            ingest_file(engine, load_spec(spec_path), result.files[feed], key=ws.national_id_key())
        link(
            engine,
            model_path=ws.root / "models" / "linkage-model.json",
            settings=ws.settings.identity,
            country=ws.settings.bureau.country,
        )
        build_ledger(engine)
    return ws.root, root / "incoming"


@pytest.fixture
def copy_population(linked_population: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the linked population's workspace, safe to change."""
    import shutil

    ws, pop = linked_population
    return Path(shutil.copytree(ws, tmp_path / "ws")), pop


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkEngine]:
    """The Spark engine on local Spark, one session for the whole run (a JVM start: ~15 s).

    No Java: the test skips, or fails under OPENBUREAU_REQUIRE_SERVICES=1 (CI)."""
    from openbureau.engine import SparkEngine, java_missing
    from tests._servers import missing_service

    problem = java_missing()
    if problem:
        missing_service(problem)
    yield SparkEngine(tmp_path_factory.mktemp("spark") / "checkpoints")
