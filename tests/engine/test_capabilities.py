"""Capabilities as data: the workspace's engine comes from bureau.toml, and a command that
needs what the engine lacks is refused with one line naming the capability."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from openbureau.engine import ENGINES, Capabilities, DuckDBEngine, EngineUnsupported
from openbureau.identity import lookup
from openbureau.workspace import Workspace, init_workspace


class PlainEngine(DuckDBEngine):
    """DuckDB claiming nothing beyond portable SQL: stands in for an engine without them."""

    name = "plain"
    capabilities = Capabilities(dialect="duckdb")


@pytest.fixture
def plain_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    root = init_workspace(tmp_path / "ws").root
    monkeypatch.setitem(ENGINES, "plain", f"{__name__}:PlainEngine")
    toml = root / "bureau.toml"
    toml.write_text(toml.read_text().replace('engine = "duckdb"', 'engine = "plain"'))
    return Workspace.open(root)


def test_duckdb_states_what_it_can_do() -> None:
    caps = DuckDBEngine().capabilities
    assert caps.dialect == "duckdb" and caps.splink_backend == "duckdb"
    assert caps.lacking("attach", "qualify", "single_file") == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        caps.attach = False  # type: ignore[misc]
    with pytest.raises(ValueError, match="unknown engine capabilities: atach"):
        DuckDBEngine().require("anything", "atach")


def test_the_workspace_opens_the_engine_bureau_toml_names(plain_ws: Workspace) -> None:
    with plain_ws.engine() as engine:
        assert type(engine) is PlainEngine
        assert engine.scalar("SELECT count(*) FROM ingest_batches") == 0


def test_a_lookup_without_a_duckdb_connection_is_refused(plain_ws: Workspace) -> None:
    with (
        plain_ws.engine() as engine,
        pytest.raises(EngineUnsupported, match="looking a person up needs the engine") as exc,
    ):
        lookup.prepare(engine, plain_ws.root / "no_model.json")
    assert exc.value.missing == ["duckdb_connection"]
    assert "the plain engine does not have" in str(exc.value)


def test_commands_name_the_capability_missing(
    plain_ws: Workspace, cli: Callable[..., Result]
) -> None:
    result = cli("compact", "--workspace", plain_ws.root)
    assert result.exit_code == 2
    assert "compact needs the engine capability single_file, which the plain engine" in (
        result.output
    )
    result = cli("link", "--workspace", plain_ws.root)
    assert result.exit_code == 2
    assert (
        "identity linking needs the engine capabilities splink_backend, attach, "
        "session_variables, which the plain engine does not have"
    ) in result.output
