"""A link run refuses, in one line, a model it trained that cannot link the records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from openbureau.identity import _splink
from openbureau.synth import SynthConfig, SynthResult, generate
from openbureau.workspace import Workspace, init_workspace
from tests.identity.test_link_runs import MODEL, TRAINING_NEEDS, tables

UNUSABLE = "error: the linkage model trained on this workspace is unusable: "


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return generate(tmp_path_factory.mktemp("pop") / "incoming", SynthConfig(persons=300, seed=5))


def ingested(cli: Any, root: Path, population: SynthResult, feeds: list[str]) -> Workspace:
    ws = init_workspace(root)
    for feed in feeds:
        res = cli("ingest", population.specs[feed], population.files[feed], "-w", ws.root)
        assert res.exit_code == 0, res.output
    return ws


def persons(ws: Workspace) -> tuple[int, int]:
    """(usable identity records, persons) of the workspace's person index."""
    with ws.engine(read_only=True) as engine:
        return engine.query("SELECT count(*), count(DISTINCT person_id) FROM person_index")[0]


def refused(cli: Any, ws: Workspace, says: str) -> None:
    """``link`` exits 2 with one line saying ``says``, and leaves the workspace as it was."""
    before = tables(ws)
    res = cli("link", "-w", ws.root)
    assert res.exit_code == 2, res.output
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith(UNUSABLE), line
    assert says in line and line.endswith(TRAINING_NEEDS), line
    assert tables(ws) == before and not (ws.root / MODEL).exists()


def test_names_and_addresses_alone_train_no_model_and_the_default_one_links_them(
    population, tmp_path, cli
) -> None:
    # The utility feed has names and service addresses only. Training once lost the name and
    # address comparisons there (a failed EM step left them out of the model) and linked
    # none of its records; now it says the names cannot be weighed.
    ws = ingested(cli, tmp_path / "ws", population, ["brightwater_utility"])
    refused(cli, ws, "could not estimate how often one person's records agree on first_name")
    res = cli("link", "--model", "default", "-w", ws.root)
    assert res.exit_code == 0 and "(full, model v1)" in res.stdout, res.output
    records, found = persons(ws)
    assert found < 0.8 * records  # (of 300 persons, many with several bills)


def test_a_trained_model_that_links_few_plain_matches_is_refused(
    population, tmp_path, cli, monkeypatch
) -> None:
    ws = ingested(cli, tmp_path / "ws", population, list(population.files))
    train = _splink.train

    def linking_nothing(*args: Any, **kwargs: Any) -> _splink.Trained:
        trained = train(*args, **kwargs)
        trained.model["probability_two_random_records_match"] = 1e-15
        return trained

    monkeypatch.setattr(_splink, "train", linking_nothing)
    refused(cli, ws, "it links 0 of the ")
    monkeypatch.undo()
    res = cli("link", "-w", ws.root)
    assert res.exit_code == 0 and "(full, model v1)" in res.stdout, res.output


@pytest.mark.parametrize("persons_", [40, 300])
def test_a_healthy_trained_model_links_even_few_records(persons_, tmp_path, cli) -> None:
    pop = generate(tmp_path / "incoming", SynthConfig(persons=persons_, seed=8))
    feeds = [f for f in pop.files if pop.files[f].read_text("latin-1").count("\n") > 1]
    ws = ingested(cli, tmp_path / "ws", pop, feeds)  # (a small one has no tax liens)
    res = cli("link", "-w", ws.root)
    assert res.exit_code == 0 and "(full, model v1)" in res.stdout, res.output
    records, found = persons(ws)
    assert found <= 1.1 * persons_ < records
