"""End to end through the ``openbureau`` command: exit codes, one-line errors, output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from openbureau.engine import EngineError
from tests.conftest import BANK_GOOD_ROWS, BANK_HEADER


def test_init_creates_a_workspace(cli, tmp_path: Path) -> None:
    res = cli("init", tmp_path / "bureau")
    assert res.exit_code == 0, res.output
    root = tmp_path / "bureau"
    assert (root / "bureau.toml").is_file() and (root / "specs").is_dir()
    assert (root / "warehouse.duckdb").is_file()
    key = root / "secrets" / "national_id.key"
    assert key.stat().st_mode & 0o077 == 0  # readable by the owner only
    again = cli("init", root)
    assert again.exit_code == 2
    assert "a workspace already exists here" in again.stderr


def test_ingest_prints_the_reconciliation(cli, ws, bank_spec, write_file) -> None:
    f = write_file("good.csv", BANK_HEADER + "\n".join(BANK_GOOD_ROWS) + "\nx,,,,,2024-01,,\n")
    res = cli("ingest", bank_spec, f, "--workspace", ws.root)
    assert res.exit_code == 0, res.stderr
    assert "read 5 = loaded 4 + quarantined 1 ok" in " ".join(res.stdout.split())
    assert "missing_identifier (first at line 6)" in res.stdout
    res = cli("ingest", bank_spec, f, "--workspace", ws.root)
    assert res.exit_code == 0
    assert "already loaded as batch B000001" in " ".join(res.stdout.split())
    listing = cli("batches", "--workspace", ws.root)
    assert "B000001" in listing.stdout and "testbank_accounts" in listing.stdout
    shown = cli("quarantine", "--workspace", ws.root, "--reason", "missing_identifier")
    assert "x,,,,,2024-01,," in shown.stdout


def test_ingest_lists_every_quarantine_reason(cli, ws, bank_spec, write_file) -> None:
    bad = {
        "missing_identifier": "x,,,,,2024-01,,",
        "unparseable_date:dob": "5,Al,Ok,1980-13-45,,2024-01,1,11",
        "implausible_date:dob": "6,Al,Ok,1850-01-01,,2024-01,1,11",
        "bad_amount:balance": "7,Al,Ok,1980-01-01,,2024-01,1e5,11",
        "unknown_code:payment_status": "8,Al,Ok,1980-01-01,,2024-01,1,42",
        "missing_required:account_id": ",Al,Ok,1980-01-01,,2024-01,1,11",
        "bad_national_id:national_id": "9,Al,Ok,1980-01-01,12-3,2024-01,1,11",
        "wrong_field_count": "10,Al,Ok,1980-01-01,,2024-01,1",
    }
    good = [f"{n},Jo,Lee,1980-01-01,,2024-01,1,11" for n in range(20, 30)]
    lines = [*bad.values(), bad["bad_amount:balance"].replace("7,", "17,"), *good]
    f = write_file("mixed.csv", BANK_HEADER + "\n".join(lines) + "\n")
    res = cli("ingest", bank_spec, f, "--workspace", ws.root)
    assert res.exit_code == 0, res.stderr
    out = " ".join(res.stdout.split())
    assert "quarantined 2 x bad_amount:balance (first at line 5)" in out
    for line_no, reason in enumerate(bad, start=2):  # all eight, not the first five
        assert f"x {reason} (first at line {line_no})" in out, reason


def test_every_reason_of_a_row_is_counted_and_can_be_listed(cli, ws, bank_spec, write_file) -> None:
    """A bad period and an unknown status on the same rows: the code-table gap must show too."""
    both = ["5,Al,Ok,1980-01-01,,2024-1x,1,42", "6,Bo,Ok,1980-01-01,,2024-1x,1,42"]
    only = "7,Cy,Ok,1980-01-01,,2024-13,1,11"
    good = [f"{n},Jo,Lee,1980-01-01,,2024-01,1,11" for n in range(20, 30)]
    f = write_file("two.csv", BANK_HEADER + "\n".join([*both, only, *good]) + "\n")
    res = cli("ingest", bank_spec, f, "--workspace", ws.root)
    assert res.exit_code == 0, res.stderr
    out = " ".join(res.stdout.split())
    assert "quarantined 3 x unparseable_date:period (first at line 2)" in out
    assert "quarantined 2 x unknown_code:payment_status (first at line 2)" in out
    assert "2 of the 3 quarantined rows have more than one reason and are counted under each" in out

    for reason in ("unknown_code", "unknown_code:payment_status"):
        shown = cli("quarantine", "-w", ws.root, "--reason", reason)
        assert shown.exit_code == 0, shown.stderr
        assert "5,Al,Ok" in shown.stdout and "6,Bo,Ok" in shown.stdout
        assert "7,Cy,Ok" not in shown.stdout
        assert "unparseable_date:period, unknown_code:payment_status" in shown.stdout
    shown = cli("quarantine", "-w", ws.root, "--reason", "unparseable_date")
    assert all(f"{n}," in shown.stdout for n in ("5,Al", "6,Bo", "7,Cy"))
    assert "7,Cy" not in cli("quarantine", "-w", ws.root, "--reason", "bad_amount").stdout
    wrong = cli("quarantine", "-w", ws.root, "--reason", "unkown_code")
    assert wrong.exit_code == 2
    assert "'unkown_code' is not a quarantine reason code" in wrong.stderr


def test_spec_by_name_from_the_workspace(cli, ws, bank_spec, write_file) -> None:
    (ws.specs_dir / "testbank_accounts.yaml").write_text(bank_spec.read_text())
    f = write_file("good.csv", BANK_HEADER + "\n".join(BANK_GOOD_ROWS) + "\n")
    res = cli("ingest", "testbank_accounts", f, "-w", ws.root)
    assert res.exit_code == 0, res.stderr


def test_user_errors_are_one_line_with_exit_2(cli, ws, bank_spec, write_file, tmp_path) -> None:
    truncated = write_file("cut.csv", BANK_HEADER + BANK_GOOD_ROWS[0] + "\n" + "1,Jo")
    cases = [
        (("ingest", bank_spec, truncated, "-w", ws.root), "cut.csv, line 3: file is truncated"),
        (("ingest", bank_spec, tmp_path / "nope.csv", "-w", ws.root), "nope.csv: file not found"),
        (("ingest", tmp_path / "nospec.yaml", truncated, "-w", ws.root), "spec file not found"),
        (("ingest", bank_spec, truncated, "-w", tmp_path / "nowhere"), "workspace folder not"),
        (("batches", "-w", tmp_path), "bureau.toml: not found; is this a workspace?"),
    ]
    for args, message in cases:
        res = cli(*args)
        assert res.exit_code == 2, (args, res.output)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], res.stderr
        assert "Traceback" not in res.output
    with ws.engine(read_only=True) as engine:
        assert engine.scalar("SELECT count(*) FROM ingest_batches") == 0


def test_compact_gives_back_the_space_of_dropped_rows_and_keeps_the_rest(
    cli, ws, bank_spec, write_file
) -> None:
    import duckdb

    f = write_file("good.csv", BANK_HEADER + "\n".join(BANK_GOOD_ROWS) + "\n")
    assert cli("ingest", bank_spec, f, "-w", ws.root).exit_code == 0
    with ws.engine() as engine:  # what a full relink leaves behind, in small
        engine.execute(
            "CREATE TABLE scratch AS SELECT range AS n, md5(range::VARCHAR) AS h "
            "FROM range(2000000)"
        )
        engine.execute("CHECKPOINT")
        # (data written after it, or the checkpoint just cuts the file short)
        engine.execute("CREATE TABLE later AS SELECT range AS n FROM range(100000)")
        engine.execute("CHECKPOINT")
        engine.execute("DROP TABLE scratch")
        engine.execute("CHECKPOINT")
        assert engine.free_share() > 0.5
        before = engine.query("SELECT * FROM ingest_batches ORDER BY batch_id")
    size = ws.warehouse_path.stat().st_size

    res = cli("compact", "-w", ws.root)
    assert res.exit_code == 0, res.output
    assert ws.warehouse_path.stat().st_size < size / 2
    assert not ws.warehouse_path.with_name(ws.warehouse_path.name + ".compact").exists()
    with ws.engine() as engine:
        assert engine.free_share() < 0.1
        assert engine.query("SELECT * FROM ingest_batches ORDER BY batch_id") == before
        assert engine.scalar("SELECT count(*) FROM src_testbank_accounts") == 4
        with pytest.raises(EngineError):  # the primary key came along
            engine.execute("INSERT INTO ingest_batches SELECT * FROM ingest_batches")

    # another process writing the warehouse: refused, nothing touched
    with duckdb.connect(str(ws.warehouse_path)):
        res = subprocess.run(
            [str(Path(sys.executable).parent / "openbureau"), "compact", "-w", str(ws.root)],
            capture_output=True,
            text=True,
        )
    assert res.returncode == 2 and "workspace busy: another openbureau process" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    fresh = ws.root.parent / "fresh"
    assert cli("init", fresh).exit_code == 0
    assert cli("compact", "-w", fresh).exit_code == 0
    (fresh / "warehouse.duckdb").unlink()
    res = cli("compact", "-w", fresh)
    assert res.exit_code == 2 and "no warehouse yet" in res.stderr


def test_bad_settings_name_the_key(cli, ws, write_file, bank_spec) -> None:
    (ws.root / "bureau.toml").write_text('[warehouse]\nengine = "oracle"\n')
    res = cli("batches", "-w", ws.root)
    assert res.exit_code == 2
    assert (
        "bureau.toml: warehouse.engine: unknown engine (known engines: duckdb, spark), got 'oracle'"
        in res.stderr
    )
    assert "got 'oracle'" in res.stderr
    (ws.root / "bureau.toml").write_text("[ingest]\nmax_quarantine_share = 2\n")
    res = cli("batches", "-w", ws.root)
    assert "ingest.max_quarantine_share: Input should be less than or equal to 1" in res.stderr
    (ws.root / "bureau.toml").write_text('[ingest]\ncolour = "red"\n')
    assert "ingest.colour: unknown key" in cli("batches", "-w", ws.root).stderr
    (ws.root / "bureau.toml").write_text("[ingest\n")
    assert "invalid TOML" in cli("batches", "-w", ws.root).stderr


def test_the_installed_script_runs(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "openbureau"
    res = subprocess.run(
        [str(script), "init", str(tmp_path / "w")], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stderr
    res = subprocess.run(
        [str(script), "init", str(tmp_path / "w")], capture_output=True, text=True, check=False
    )
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "Traceback" not in res.stderr


def test_python_m_runs_the_command(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "openbureau.cli", "init", str(tmp_path / "w")]
    assert subprocess.run(run, capture_output=True, text=True).returncode == 0
    again = subprocess.run(run, capture_output=True, text=True)
    assert again.returncode == 2 and "a workspace already exists here" in again.stderr


def _cli_imports() -> dict[str, set[str]]:
    """Which ``openbureau.cli`` modules each command module imports (anywhere in it)."""
    import ast

    import openbureau.cli

    folder = Path(openbureau.cli.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in folder.glob("*.py"):
        if path.stem.startswith("__"):
            continue
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith("openbureau.cli."):
                    found.add(node.module.removeprefix("openbureau.cli."))
                elif node.module == "openbureau.cli":
                    found |= {a.name for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {
                    a.name.removeprefix("openbureau.cli.")
                    for a in node.names
                    if a.name.startswith("openbureau.cli.")
                }
        graph[path.stem] = found
    return graph


def test_cli_modules_import_no_circle_and_app_imports_no_command() -> None:
    graph = _cli_imports()
    assert graph["app"] == set() and "scoring" in graph and "ledger" in graph
    assert all("app" in deps for name, deps in graph.items() if name != "app")

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, set()) - seen:
            if nxt == goal or reaches(nxt, goal, seen | {nxt}):
                return True
        return False

    assert [m for m in graph if reaches(m, m, set())] == []


def test_the_demo_and_each_cli_module_import_alone() -> None:
    # each in a fresh interpreter: no module relies on another having been imported first
    for m in ["openbureau.cli." + name for name in sorted(_cli_imports())]:
        res = subprocess.run([sys.executable, "-c", f"import {m}"], capture_output=True, text=True)
        assert res.returncode == 0, (m, res.stderr)
    shown = "import sys, openbureau.demo; print([m for m in sys.modules if 'openbureau.cli' in m])"
    demo = subprocess.run([sys.executable, "-c", shown], capture_output=True, text=True)
    assert (demo.returncode, demo.stdout.strip()) == (0, "[]"), demo.stderr
