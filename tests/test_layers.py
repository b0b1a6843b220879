"""The import graph follows the data flow: ``lint-imports`` with the contracts in pyproject.toml
(``[tool.importlinter]``; docs/development.md "Layers") passes on this checkout, and fails on a
copy given a back edge, a circle, a later stage's table or a package no layer names."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def _lint(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the checkout at ``root``: its own src/ first on the path (not the
    installed copy), its pyproject.toml, no cache."""
    paths = [str(root / "src"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    args = ["--config", str(root / "pyproject.toml"), "--no-cache", "--no-logo"]
    for contract in contracts:
        args += ["--contract", contract]
    return subprocess.run(
        [sys.executable, "-c", LINT, *args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths), "COLUMNS": "200"},
        capture_output=True,
        text=True,
    )


def test_the_packages_keep_their_layers_and_import_no_circle() -> None:
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Contracts: 6 kept, 0 broken." in res.stdout


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the package and its contracts, to break."""
    shutil.copytree(
        ROOT / "src" / "openbureau",
        tmp_path / "src" / "openbureau",
        ignore=shutil.ignore_patterns("__pycache__", "data", "static", "templates"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def _add(copy: Path, module: str, code: str) -> None:
    path = copy / "src" / "openbureau" / module
    path.write_text(path.read_text(encoding="utf-8") + "\n\n" + code, encoding="utf-8")


def test_a_stage_importing_a_later_one_fails_even_inside_a_function(copy: Path) -> None:
    _add(copy, "ingest/spec.py", "def _late() -> None:\n    from openbureau.scoring import score\n")
    res = _lint(copy)
    assert res.returncode == 1, res.stdout
    assert "openbureau.ingest is not allowed to import openbureau.scoring" in res.stdout
    assert "openbureau.ingest.spec -> openbureau.scoring.score" in res.stdout


def test_a_circle_between_packages_fails(copy: Path) -> None:
    _add(copy, "ledger/records.py", "from openbureau.scoring import scorecard\n")
    res = _lint(copy, "acyclic")
    assert res.returncode == 1, res.stdout
    assert "No cycles are allowed in openbureau." in res.stdout
    assert "Contracts: 0 kept, 1 broken." in res.stdout


def test_a_stage_naming_a_later_stages_table_fails(copy: Path) -> None:
    # (the warehouse is below every stage: only the tables contract sees this)
    _add(copy, "ledger/records.py", "from openbureau.warehouse.scoring import SCORES\n")
    res = _lint(copy)
    assert res.returncode == 1, res.stdout
    assert "ledger and governance read no later stage's tables BROKEN" in res.stdout
    assert "Contracts: 5 kept, 1 broken." in res.stdout


def test_a_package_no_layer_names_fails(copy: Path) -> None:
    (copy / "src" / "openbureau" / "newstage").mkdir()
    (copy / "src" / "openbureau" / "newstage" / "__init__.py").write_text("")
    res = _lint(copy, "layers")
    assert res.returncode == 1, res.stdout
    assert "not listed as layers" in res.stdout and "- openbureau.newstage" in res.stdout


def test_an_import_for_type_checking_only_is_left_out(copy: Path) -> None:
    _add(
        copy,
        "ingest/spec.py",
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
        "    from openbureau.service.store import Account\n",
    )
    res = _lint(copy)
    assert res.returncode == 0, res.stdout
