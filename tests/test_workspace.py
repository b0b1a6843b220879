from pathlib import Path

import pytest

from openbureau.errors import UserError
from openbureau.workspace import Workspace, init_workspace


def test_init_lays_out_a_workspace(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "w")
    assert ws.specs_dir.is_dir()
    assert len(ws.national_id_key()) == 32
    with ws.engine(read_only=True) as engine:
        assert {"ingest_batches", "quarantine", "field_catalog"} <= {
            r[0] for r in engine.query("SELECT table_name FROM information_schema.tables")}
    assert "secrets/" in (ws.root / ".gitignore").read_text()


def test_each_workspace_has_its_own_key(tmp_path: Path) -> None:
    assert init_workspace(tmp_path / "a").national_id_key() != \
        init_workspace(tmp_path / "b").national_id_key()


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
