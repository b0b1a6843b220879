from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from openbureau.errors import UserError
from openbureau.workspace import Workspace, init_workspace


def test_init_lays_out_a_workspace(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "w")
    assert ws.specs_dir.is_dir()
    assert len(ws.national_id_key()) == 32
    with ws.engine(read_only=True) as engine:
        assert {"ingest_batches", "quarantine", "field_catalog"} <= {
            r[0] for r in engine.query("SELECT table_name FROM information_schema.tables")
        }
    assert "secrets/" in (ws.root / ".gitignore").read_text()


def test_each_workspace_has_its_own_key(tmp_path: Path) -> None:
    assert (
        init_workspace(tmp_path / "a").national_id_key()
        != init_workspace(tmp_path / "b").national_id_key()
    )


def test_init_refuses_a_file_and_an_existing_workspace(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="not a folder"):
        init_workspace(tmp_path / "file")
    init_workspace(tmp_path / "w")
    with pytest.raises(UserError, match="already exists"):
        init_workspace(tmp_path / "w")


def test_missing_or_broken_key_is_a_clear_error(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "w")
    key = ws.root / "secrets" / "national_id.key"
    key.write_text("not hex")
    with pytest.raises(UserError, match="not a hex string"):
        ws.national_id_key()
    key.write_text("abcd")
    with pytest.raises(UserError, match="at least 32 bytes"):
        ws.national_id_key()
    key.unlink()
    with pytest.raises(UserError, match="national-ID key not found"):
        ws.national_id_key()


def test_open_needs_a_folder(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="workspace folder not found"):
        Workspace.open(tmp_path / "nope")


def test_resolve_spec_by_name_or_path(tmp_path: Path, bank_spec: Path) -> None:
    ws = init_workspace(tmp_path / "w")
    assert ws.resolve_spec(bank_spec).name == "testbank_accounts"
    (ws.specs_dir / "testbank_accounts.yaml").write_text(bank_spec.read_text())
    assert ws.resolve_spec("testbank_accounts").name == "testbank_accounts"


HOLD = """\
import sys
from openbureau.workspace import Workspace
engine = Workspace.open(sys.argv[1]).engine(read_only=sys.argv[2] == "read")
print("holding", flush=True)
sys.stdin.read()
"""
# Every command that opens the warehouse, with arguments that get it that far.
WAREHOUSE_COMMANDS = [
    ["ingest", "{spec}", "{file}"],
    ["batches"],
    ["quarantine"],
    ["link"],
    ["compact"],
    ["explain-link", "B000001.1", "B000001.2"],
    ["person", "P000000000000"],
    ["eval-linkage", "--truth", "{root}"],
    ["ledger"],
    ["train", "--as-of", "2024-01-31"],
    ["score", "--as-of", "2024-01-31"],
    ["show-score", "P000000000000"],
    ["publish"],
]


@pytest.fixture
def held(tmp_path: Path, bank_spec: Path, write_file) -> Iterator[Callable[..., Any]]:
    """A workspace with a batch loaded, and a way to have a second process hold it open."""
    import subprocess
    import sys

    from tests.conftest import BANK_GOOD_ROWS, BANK_HEADER

    ws = init_workspace(tmp_path / "ws")
    file = write_file("b.csv", BANK_HEADER + "\n".join(BANK_GOOD_ROWS) + "\n")
    from openbureau.ingest import load_spec
    from openbureau.ingest.load import ingest_file

    with ws.engine() as engine:
        ingest_file(engine, load_spec(bank_spec), file, key=ws.national_id_key())
    holders: list[subprocess.Popen[str]] = []

    def hold(mode: str) -> tuple[Workspace, Path, Path, int]:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(ws.root), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        holders.append(proc)
        assert proc.stdout is not None and proc.stdout.readline() == "holding\n"
        return ws, bank_spec, file, proc.pid

    yield hold
    for proc in holders:
        proc.communicate("")  # (stdin closed: it exits)


def test_a_busy_workspace_is_one_line_for_every_command_that_opens_it(
    cli, held, monkeypatch
) -> None:
    import openbureau.scoring
    from openbureau.cli import scoring as cli_scoring

    # (score reads its scorecard before the warehouse: any will do here)
    monkeypatch.setattr(cli_scoring, "_scorecard_path", lambda ws, given: ws.root)
    monkeypatch.setattr(openbureau.scoring, "load_scorecard", lambda path: None)
    ws, spec, file, pid = held("write")
    busy = (
        f"error: workspace busy: another openbureau process (PID {pid}) holds it "
        f"({ws.warehouse_path}); try again once it has finished"
    )
    for command in WAREHOUSE_COMMANDS:
        args = [a.format(spec=spec, file=file, root=ws.root) for a in command]
        res = cli(*args, "-w", ws.root)
        assert (res.exit_code, res.stderr.strip()) == (2, busy), command


def test_a_reader_keeps_writers_out_with_the_same_line(cli, held) -> None:
    ws, spec, file, pid = held("read")
    res = cli("ingest", spec, file, "-w", ws.root)
    assert res.exit_code == 2
    assert res.stderr.strip().startswith(
        f"error: workspace busy: another openbureau process (PID {pid}) holds it"
    )
    assert cli("batches", "-w", ws.root).exit_code == 0  # (readers share it)


def test_a_warehouse_that_cannot_be_opened_for_another_reason_says_why(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    ws.warehouse_path.write_bytes(b"not a database")
    with pytest.raises(UserError, match=r"warehouse.duckdb: cannot open warehouse: "):
        ws.engine()
