"""A link run is all or nothing, and says so in one line when the data cannot train a model."""

from __future__ import annotations

import importlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from openbureau.identity import _splink, evaluate_linkage, link
from openbureau.ingest import load_spec
from openbureau.ingest.load import ingest_file
from openbureau.synth import SynthConfig, SynthResult, generate
from openbureau.workspace import Workspace, init_workspace
from tests.conftest import BANK_GOOD_ROWS, BANK_HEADER, BANK_SPEC

# (the module: the package's ``link`` is the function)
link_module = importlib.import_module("openbureau.identity.link")
MODEL = Path("models") / "linkage-model.json"
LATE = "county_court_records"  # arrives after the first link
TRAINING_NEEDS = (
    "ingest more feeds (records of the same persons from other furnishers), or link with "
    "the default model: openbureau link --model default (or a saved one: --model FILE)"
)


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return generate(tmp_path_factory.mktemp("pop") / "incoming", SynthConfig(persons=300, seed=5))


def ingested(root: Path, population: SynthResult, feeds: list[str]) -> Workspace:
    ws = init_workspace(root)
    with ws.engine() as engine:
        for feed in feeds:
            ingest_file(
                engine,
                load_spec(population.specs[feed]),
                population.files[feed],
                key=ws.national_id_key(),
            )
    return ws


def tables(ws: Workspace) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the warehouse, rows sorted."""
    with ws.engine(read_only=True) as engine:
        names = [
            r[0]
            for r in engine.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                "ORDER BY 1"
            )
        ]
        return {n: engine.query(f'SELECT * FROM "{n}" ORDER BY ALL') for n in names}


def run_link(ws: Workspace, **kwargs: Any) -> Any:
    with ws.engine() as engine:
        return link(
            engine,
            model_path=ws.root / MODEL,
            settings=ws.settings.identity,
            country=ws.settings.bureau.country,
            **kwargs,
        )


def fail_late(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last step of a run (recording it, inside its transaction) fails."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(link_module, "_record_run", broken)


def test_a_first_run_that_fails_late_leaves_the_warehouse_as_it_was(
    population, tmp_path, monkeypatch
) -> None:
    ws = ingested(tmp_path / "ws", population, [f for f in population.files if f != LATE])
    before = tables(ws)
    assert "identity_records" not in before  # (nothing standardised before the first link)
    fail_late(monkeypatch)
    with pytest.raises(RuntimeError, match="the disk is full"):
        run_link(ws)
    assert tables(ws) == before
    assert not (ws.root / MODEL).exists()  # (the model it trained is not kept either)
    monkeypatch.undo()
    assert run_link(ws).mode == "full"


def test_a_later_run_that_fails_late_leaves_the_warehouse_and_model_as_they_were(
    population, tmp_path, monkeypatch
) -> None:
    ws = ingested(tmp_path / "ws", population, [f for f in population.files if f != LATE])
    run_link(ws)
    with ws.engine() as engine:
        ingest_file(
            engine,
            load_spec(population.specs[LATE]),
            population.files[LATE],
            key=ws.national_id_key(),
        )
    before, model = tables(ws), (ws.root / MODEL).read_bytes()
    fail_late(monkeypatch)
    for kwargs in ({}, {"retrain": True}):  # incremental; a full relink with a new model
        with pytest.raises(RuntimeError, match="the disk is full"):
            run_link(ws, **kwargs)
        assert tables(ws) == before
        assert (ws.root / MODEL).read_bytes() == model
    monkeypatch.undo()
    report = run_link(ws)
    assert report.mode == "incremental" and report.new_records > 0


def test_a_forced_link_or_split_that_fails_late_leaves_the_warehouse_as_it_was(
    population, tmp_path, monkeypatch, cli
) -> None:
    ws = ingested(tmp_path / "ws", population, [f for f in population.files if f != LATE])
    run_link(ws)
    with ws.engine() as engine:
        ingest_file(
            engine,
            load_spec(population.specs[LATE]),
            population.files[LATE],
            key=ws.national_id_key(),
        )
        # a record of the batch not standardised yet, and one linked before
        late = engine.scalar(f"SELECT min(record_id) FROM src_{LATE}")
        old = engine.scalar("SELECT min(record_id) FROM identity_record_map")
    before = tables(ws)
    for flag in ("--force-link", "--force-split"):
        with monkeypatch.context() as m:
            fail_late(m)
            with pytest.raises(RuntimeError, match="the disk is full"):
                cli("link", flag, late, old, "-w", ws.root)
        assert tables(ws) == before, flag
    # a record that is none, or the same record twice: one line, nothing written
    for a, b, says in (
        (late, "B999999.1", "B999999.1: no such record"),
        (late, late, "are the same identity record"),
    ):
        res = cli("link", "--force-link", a, b, "-w", ws.root)
        assert res.exit_code == 2 and says in res.stderr, res.output
        assert tables(ws) == before
    res = cli("link", "--force-link", late, old, "-w", ws.root)
    assert res.exit_code == 0, res.output
    assert f"Recorded forced link of {late} and {old}" in res.stdout
    with ws.engine(read_only=True) as engine:
        persons, run_id = engine.query(
            "SELECT count(DISTINCT person_id), max(o.run_id) FROM identity_record_map m "
            "JOIN person_index USING (identity_id), link_overrides o "
            "WHERE m.record_id IN (?, ?)",
            [late, old],
        )[0]
        assert persons == 1 and run_id == engine.scalar("SELECT max(run_id) FROM link_runs")


# -- too little to train -----------------------------------------------------------------------


def bank(tmp_path: Path, name: str, rows: list[str], spec: str = BANK_SPEC) -> tuple[Path, Path]:
    spec_path = tmp_path / f"{name}.yaml"
    spec_path.write_text(
        spec.replace("testbank_accounts", name).replace(
            "require_one_of: [[national_id], [last_name, dob]]\n", ""
        )
    )
    data = tmp_path / f"{name}.csv"
    data.write_text(BANK_HEADER + "\n".join(rows) + "\n")
    return spec_path, data


PHONE_SPEC = BANK_SPEC.replace(
    "  - {column: DOB, target: dob, type: date, category: identity, formats: "
    '["%Y-%m-%d", "%d/%m/%Y"]}',
    "  - {column: DOB, target: phone, category: identity}",
)
SMALL = {
    "one record": (
        [BANK_GOOD_ROWS[0]],
        None,
        "1 usable identity record (it needs records of several persons)",
    ),
    "all records alike": (
        [BANK_GOOD_ROWS[0], BANK_GOOD_ROWS[1]],
        [BANK_GOOD_ROWS[0]],
        "1 of the 1 pairs of the 2 usable identity records share a national "
        "ID or a name and birth date: too few distinct persons",
    ),
    "one record a person": (
        BANK_GOOD_ROWS,
        None,
        "no two of the 3 usable identity records share a national ID, a "
        "name and birth date, a birth date and postcode, or a name and "
        "postcode, the pairs training learns from",
    ),
    # the same persons, with birth dates in one feed and phones in the other
    "no field in common": (
        [r.replace("123-45-6789", "").replace("987654321", "") for r in BANK_GOOD_ROWS],
        [
            f"{i},{r.split(',')[1]},{r.split(',')[2]},213867530{i},,2024-01,1,11"
            for i, r in enumerate(BANK_GOOD_ROWS[::2])
        ],
        "no two of the 5 usable identity records share a national ID",
    ),
}


@pytest.fixture(scope="module")
def saved_model(population: SynthResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on a single synthetic feed."""
    ws = ingested(tmp_path_factory.mktemp("one_feed") / "ws", population, ["rentright_rent"])
    run_link(ws)
    return ws.root / MODEL


def test_a_single_synthetic_feed_links(saved_model, cli) -> None:
    ws = saved_model.parent.parent
    res = cli("link", "-w", ws)  # (trained in the fixture: this run is incremental)
    assert res.exit_code == 0 and "(incremental, model v1)" in res.stdout


@pytest.mark.parametrize("case", list(SMALL))
def test_too_little_data_to_train_is_one_line_and_a_saved_model_links_it(
    case, tmp_path, cli, saved_model
) -> None:
    first, second, missing = SMALL[case]
    ws = init_workspace(tmp_path / "ws")
    feeds = [bank(tmp_path, "bank", first)]
    if second is not None:
        feeds.append(
            bank(
                tmp_path, "other", second, PHONE_SPEC if case.startswith("no field") else BANK_SPEC
            )
        )
    for spec, data in feeds:
        assert cli("ingest", spec, data, "-w", ws.root).exit_code == 0
    before = tables(ws)
    res = cli("link", "-w", ws.root)
    assert res.exit_code == 2, res.output
    line = res.stderr.strip()
    assert line.startswith(f"error: too little data to train the linkage model: {missing}")
    assert line.endswith(TRAINING_NEEDS) and len(line.splitlines()) == 1
    assert tables(ws) == before and not (ws.root / MODEL).exists()
    # a saved model links it: given, then as the workspace's own
    res = cli("link", "--model", saved_model, "-w", ws.root)
    assert res.exit_code == 0 and "(full, model v1)" in res.stdout, res.output
    shutil.rmtree(ws.root / "models")
    (ws.root / "models").mkdir()
    shutil.copy(saved_model, ws.root / MODEL)
    res = cli("link", "--full", "-w", ws.root)
    assert res.exit_code == 0 and "(full, model v1)" in res.stdout, res.output


def broken_models(good: dict[str, Any]) -> list[tuple[str, str]]:
    """Model files that are none, each with what the one line must say."""

    def changed(change: Any) -> str:
        model = json.loads(json.dumps(good))
        change(model)
        return json.dumps(model)

    def level(model: dict[str, Any], key: str, value: Any) -> None:
        # (a comparison without term frequencies: Splink checks those before the SQL)
        suffix = next(c for c in model["comparisons"] if c["output_column_name"] == "name_suffix")
        suffix["comparison_levels"][1][key] = value

    cannot_use = "not a linkage model openbureau can use: "
    return [
        ("{not json", "cannot read the linkage model"),
        ("[1, 2]", "not a linkage model (no comparisons)"),
        ('{"comparisons": 3}', "not a linkage model (no comparisons)"),
        ('{"comparisons": [1]}', cannot_use + "it has no link_type"),
        ('{"link_type": "dedupe_only", "comparisons": []}', cannot_use + "it has no comparisons"),
        ('{"link_type": "dedupe_only", "comparisons": [1]}', cannot_use),
        (changed(lambda m: m.update(link_type="link_only")), cannot_use + "its link_type"),
        (
            changed(lambda m: level(m, "sql_condition", '"nosuch_l" = "nosuch_r"')),
            cannot_use + 'Binder Error: Values list "l" does not have a column named "nosuch"',
        ),
        (changed(lambda m: level(m, "m_probability", "high")), cannot_use),
        (
            changed(
                lambda m: m.update(
                    blocking_rules_to_generate_predictions=[{"blocking_rule": "l.x = r.x"}]
                )
            ),
            cannot_use + "Binder Error",
        ),
        (changed(lambda m: m.pop("comparisons")[0]), "not a linkage model (no comparisons)"),
        (changed(lambda m: m.update(openbureau_model_version="two")), "not a linkage model"),
    ]


def test_a_model_file_that_is_not_one_is_one_line(tmp_path, cli, saved_model) -> None:
    ws = init_workspace(tmp_path / "ws")
    spec, data = bank(tmp_path, "bank", BANK_GOOD_ROWS)
    cli("ingest", spec, data, "-w", ws.root)
    before = tables(ws)
    for content, says in broken_models(json.loads(saved_model.read_text())):
        (tmp_path / "m.json").write_text(content)
        res = cli("link", "--model", tmp_path / "m.json", "-w", ws.root)
        assert res.exit_code == 2, (content, res.output)
        line = res.stderr.strip()
        assert line.startswith(f"error: {tmp_path / 'm.json'}: {says}"), (content, line)
        assert len(line.splitlines()) == 1 and "Traceback" not in res.output
        # the workspace's own model, broken, the same
        (ws.root / "models").mkdir(exist_ok=True)
        (ws.root / MODEL).write_text(content)
        res = cli("link", "-w", ws.root)
        assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1, res.output
        assert f"{ws.root / MODEL}: {says}" in res.stderr
        (ws.root / MODEL).unlink()
        assert tables(ws) == before
    res = cli("link", "--model", tmp_path / "nowhere.json", "-w", ws.root)
    assert res.exit_code == 2 and "nowhere.json: no such model file" in res.stderr
    # the model they were made from links
    res = cli("link", "--model", saved_model, "-w", ws.root)
    assert res.exit_code == 0 and "(full, model v1)" in res.stdout, res.output


# -- the default model -------------------------------------------------------------------------


@pytest.mark.parametrize("feed", ["metrotel_telecom", "state_tax_liens"])
def test_a_single_feed_that_cannot_train_links_with_the_default_model(
    population, tmp_path, cli, feed
) -> None:
    ws = ingested(tmp_path / "ws", population, [feed])
    before = tables(ws)
    res = cli("link", "-w", ws.root)
    assert res.exit_code == 2 and res.stderr.strip().endswith(TRAINING_NEEDS), res.output
    assert tables(ws) == before
    res = cli("link", "--model", "default", "-w", ws.root)
    assert res.exit_code == 0, res.output
    assert "(full, model v1)" in res.stdout
    assert "The model is the default one (trained on a synthetic population of" in res.stdout
    with ws.engine(read_only=True) as engine:
        quality = evaluate_linkage(engine, population.truth_dir)
    # (as the model trained on the workspace linked them before training was refused: one
    # record a person in these feeds, each its own)
    assert quality.records > 0 and quality.predicted_persons == quality.true_persons
    assert quality.exact_share == 1.0
    # it is the workspace's model now, its origin kept: later batches link with it
    saved = json.loads((ws.root / MODEL).read_text())
    assert saved["openbureau_model_version"] == 1
    assert saved["openbureau_made_by"]["command"].startswith("python bench/default_model.py")
    res = cli("link", "-w", ws.root)
    assert res.exit_code == 0 and "(incremental, model v1)" in res.stdout, res.output


def test_the_default_model_compares_only_the_standard_identity_fields() -> None:
    model = _splink.load_model(link_module.DEFAULT_MODEL)  # (checked as any model file)
    assert model.version == 0 and model.made_by is not None
    assert set(model.made_by) >= {"command", "population", "versions", "identity_settings"}
    read = set()
    for comparison in model.settings["comparisons"]:
        for level in comparison["comparison_levels"]:
            read |= set(re.findall(r'"(\w+)_[lr]"', level["sql_condition"]))
            read |= {level.get("tf_adjustment_column")} - {None}
    for rule in _splink.blocking_rules(model.settings):
        read |= set(re.findall(r'\b[lr]\."?(\w+)"?', rule))
    assert read and read <= set(_splink.COLUMNS), read - set(_splink.COLUMNS)
    # (the columns a link run gives Splink: link.INPUT_COLUMNS)
    given = {c.split(" AS ")[-1].strip() for c in link_module.INPUT_COLUMNS.split(",")}
    assert set(_splink.COLUMNS) <= given
