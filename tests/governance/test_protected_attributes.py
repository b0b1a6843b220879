"""Protected attributes for audits: a store apart from the warehouse, every read logged."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from openbureau.errors import UserError
from openbureau.governance.protected_attributes import (
    ATTRIBUTES,
    COUNT_ACTION,
    LOAD_ACTION,
    READ_ACTION,
    attributes_loaded,
    read_attributes,
    store_path,
)
from openbureau.service.audit import workspace_log
from openbureau.synth import SynthConfig, generate
from openbureau.workspace import Workspace, init_workspace

ACTOR = "auditor@test"


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """400 synthetic persons ingested and linked: (workspace, truth folder)."""
    from openbureau.identity import link
    from openbureau.ingest import load_spec
    from openbureau.ingest.load import ingest_file

    root = tmp_path_factory.mktemp("attrs")
    result = generate(root / "incoming", SynthConfig(persons=400, seed=3))
    ws = init_workspace(root / "ws")
    with ws.engine() as engine:
        for feed, spec_path in result.specs.items():
            ingest_file(engine, load_spec(spec_path), result.files[feed], key=ws.national_id_key())
        link(
            engine,
            model_path=ws.root / "models" / "linkage-model.json",
            settings=ws.settings.identity,
            country=ws.settings.bureau.country,
        )
    return ws.root, result.truth_dir


@pytest.fixture
def ws(linked: tuple[Path, Path], tmp_path: Path) -> Workspace:
    """A private copy of the linked workspace."""
    return Workspace.open(shutil.copytree(linked[0], tmp_path / "ws"))


def _persons(ws: Workspace) -> list[str]:
    with ws.engine(read_only=True) as engine:
        return [
            str(p)
            for (p,) in engine.query("SELECT DISTINCT person_id FROM person_index ORDER BY 1")
        ]


def _write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _entries(ws: Workspace, action: str) -> list[tuple[str, str | None, str, str]]:
    """(actor, purpose, outcome, detail) of the audit log's entries for ``action``."""
    from openbureau.service.app import service_config
    from openbureau.service.store import AuditEntry, open_store

    with open_store(service_config(ws).store_url)() as session:
        rows = session.execute(
            select(AuditEntry.actor, AuditEntry.purpose, AuditEntry.outcome, AuditEntry.detail)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.leaf_index)
        ).all()
    return [tuple(r) for r in rows]


def test_a_load_is_read_back_and_every_read_is_in_the_audit_log(ws: Workspace, tmp_path) -> None:
    from openbureau.governance.protected_attributes import load_attributes

    p1, p2, p3 = _persons(ws)[:3]
    assert not attributes_loaded(ws)
    file = _write(
        tmp_path / "attrs.csv",
        f'ethnicity,person_id,sex\n asian ,{p1},female\n,{p2},male\n"x, y",{p3},\n',
    )
    assert load_attributes(ws, file, actor=ACTOR, log=workspace_log(ws)) == 3
    assert attributes_loaded(ws)
    frame = read_attributes(ws, actor=ACTOR, purpose="fairness_audit", log=workspace_log(ws))
    assert list(frame.columns) == list(ATTRIBUTES) and frame.index.name == "person_id"
    assert frame.loc[p1, "ethnicity"] == "asian" and frame.loc[p1, "sex"] == "female"
    assert frame.loc[p2, "ethnicity"] is None and frame.loc[p3, "ethnicity"] == "x, y"
    assert frame.loc[p3, "sex"] is None
    assert frame["age_band"].isna().all()  # not supplied: unknown for everyone
    some = read_attributes(
        ws, [p2, "P-NOT-HELD"], actor=ACTOR, purpose="proxy_test", log=workspace_log(ws)
    )
    assert list(some.index) == [p2]
    reads = _entries(ws, READ_ACTION)
    assert reads == [
        (ACTOR, "fairness_audit", "allowed", "3 persons (all asked)"),
        (ACTOR, "proxy_test", "allowed", "1 persons (2 asked)"),
    ]
    (load,) = _entries(ws, LOAD_ACTION)
    assert load[0] == ACTOR and "3 persons from attrs.csv" in load[3]


def test_a_read_without_a_purpose_is_refused_and_logged(ws: Workspace) -> None:
    with pytest.raises(UserError, match="needs a purpose"):
        read_attributes(ws, actor=ACTOR, purpose=" ", log=workspace_log(ws))
    assert _entries(ws, READ_ACTION) == [(ACTOR, None, "denied", "no purpose stated")]


def test_nothing_loaded_reads_an_empty_frame_and_is_logged(ws: Workspace) -> None:
    frame = read_attributes(ws, actor=ACTOR, purpose="fairness_audit", log=workspace_log(ws))
    assert frame.empty and list(frame.columns) == list(ATTRIBUTES)
    assert _entries(ws, READ_ACTION) == [
        (ACTOR, "fairness_audit", "allowed", "0 persons (all asked); none loaded")
    ]
    assert not store_path(ws).exists()


def _bad_files(persons: list[str]) -> list[tuple[str | bytes, str, str]]:
    """(file content, words the error must hold, where) for each refused file."""
    p1, p2 = persons[:2]
    return [
        (f"person_id,religion\n{p1},x\n", "not a protected attribute", "header, column 'religion'"),
        (f"person_id,sex,sex\n{p1},male,male\n", "column appears twice", "header, column 'sex'"),
        ("sex\nmale\n", "no person_id column", "header"),
        (
            f"person_id,sex\n{p1},male\n{p2},female\n{p1},male\n",
            f"{p1} is also in row 1",
            "row 3, column 'person_id'",
        ),
        (
            f"person_id,sex\n{p1},male\nP999999,male\n",
            "not a person ID in the person index",
            "row 2, column 'person_id'",
        ),
        (
            f"person_id,sex\n{p1},male\n ,female\n",
            "empty: every row names a person",
            "row 2, column 'person_id'",
        ),
        ("", "empty file", ""),
        (b"person_id,s\xffx\n", "not UTF-8 text", "header"),
        (f"person_id,sex\n{p1},ma\xffle\n".encode("latin-1"), "not a readable CSV file", ""),
        # (row 2 spans two lines: rows are counted, not lines)
        (
            f'person_id,ethnicity\n{p1},"a\nb"\n{p1},x\n',
            f"{p1} is also in row 1",
            "row 2, column 'person_id'",
        ),
        ("person_id,sex\n", "no rows", ""),
        (f"person_id,sex\n{p1},male,extra\n", "not a readable CSV file", ""),
    ]


def test_bad_files_are_refused_in_one_line_and_nothing_changes(
    ws: Workspace, cli, tmp_path
) -> None:
    persons = _persons(ws)
    good = _write(tmp_path / "good.csv", f"person_id,sex\n{persons[0]},female\n")
    assert cli("audit-attributes", "load", good, "-w", ws.root).exit_code == 0
    before = store_path(ws).read_bytes()
    for i, (content, words, where) in enumerate(_bad_files(persons)):
        bad = _write(tmp_path / f"bad{i}.csv", content)
        res = cli("audit-attributes", "load", bad, "-w", ws.root)
        assert res.exit_code == 2, (content, res.output)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and str(bad) in lines[0], res.stderr
        assert words in lines[0] and where in lines[0], (content, res.stderr)
    assert store_path(ws).read_bytes() == before
    frame = read_attributes(ws, actor=ACTOR, purpose="check", log=workspace_log(ws))
    assert list(frame.index) == [persons[0]] and frame.loc[persons[0], "sex"] == "female"
    missing = cli("audit-attributes", "load", tmp_path / "nope.csv", "-w", ws.root)
    assert missing.exit_code == 2 and "file not found" in missing.stderr


def test_a_load_refused_before_any_person_is_linked(cli, tmp_path) -> None:
    fresh = init_workspace(tmp_path / "fresh")
    file = _write(tmp_path / "a.csv", "person_id,sex\nP1,male\n")
    res = cli("audit-attributes", "load", file, "-w", fresh.root)
    assert res.exit_code == 2 and "no persons linked yet" in res.stderr
    assert not store_path(fresh).exists()


def test_a_load_replaces_what_the_store_held(ws: Workspace, cli, tmp_path) -> None:
    p1, p2 = _persons(ws)[:2]
    first = _write(tmp_path / "a.csv", f"person_id,sex,ethnicity\n{p1},male,white\n{p2},,black\n")
    second = _write(tmp_path / "b.csv", f"person_id,age_band\n{p2},25-34\n")
    for f in (first, second):
        assert cli("audit-attributes", "load", f, "-w", ws.root).exit_code == 0
    frame = read_attributes(ws, actor=ACTOR, purpose="check", log=workspace_log(ws))
    assert list(frame.index) == [p2]
    assert frame.loc[p2].to_dict() == {
        a: ("25-34" if a == "age_band" else None) for a in ATTRIBUTES
    }


def test_from_truth_round_trip_and_show(ws: Workspace, linked, cli, tmp_path) -> None:
    _, truth = linked
    out = tmp_path / "truth-attrs.csv"
    res = cli("audit-attributes", "from-truth", truth, out, "-w", ws.root)
    assert res.exit_code == 0, res.output
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["person_id", *ATTRIBUTES]
    assert [r["person_id"] for r in rows] == _persons(ws)  # every linked person, once
    assert {r["sex"] for r in rows} == {"male", "female"}
    res = cli("audit-attributes", "load", out, "-w", ws.root)
    assert res.exit_code == 0 and f"Loaded {len(rows):,} persons" in res.stdout, res.output
    frame = read_attributes(ws, actor=ACTOR, purpose="check", log=workspace_log(ws))
    assert frame.reset_index().to_dict("records") == rows
    shown = cli("audit-attributes", "show", "-w", ws.root)
    assert shown.exit_code == 0, shown.output
    assert "ethnicity" in shown.stdout and "foreign_born" in shown.stdout
    assert rows[0]["person_id"] not in shown.stdout  # counts only, no person rows
    assert [e[2] for e in _entries(ws, COUNT_ACTION)] == ["allowed"]
    no_truth = cli("audit-attributes", "from-truth", tmp_path / "none", out, "-w", ws.root)
    assert no_truth.exit_code == 2 and "truth file not found" in no_truth.stderr


def test_scores_never_read_the_store_and_the_warehouse_never_holds_it(
    ws: Workspace, linked, cli, tmp_path
) -> None:
    _, truth = linked
    out = tmp_path / "a.csv"
    for args in (
        ("ledger",),
        ("train", "--as-of", "2024-12-31"),
        ("audit-attributes", "from-truth", truth, out),
        ("audit-attributes", "load", out),
        ("score", "--as-of", "2025-12-31"),
    ):
        res = cli(*args, "-w", ws.root)
        assert res.exit_code == 0, (args, res.output)
    # Nothing can read the store now: scores come out the same.
    shutil.rmtree(ws.audit_dir)
    ws.audit_dir.write_text("not a store")
    res = cli("score", "--as-of", "2025-12-31", "-w", ws.root)
    assert res.exit_code == 0, res.output
    with ws.engine(read_only=True) as engine:
        first, again = (
            s
            for (s,) in engine.query("SELECT snapshot_id FROM score_snapshots ORDER BY created_at")
        )
        differ = engine.scalar(
            """SELECT count(*) FROM scores a FULL JOIN scores b
                 ON a.person_id = b.person_id AND a.snapshot_id = ? AND b.snapshot_id = ?
               WHERE (a.snapshot_id = ? OR b.snapshot_id = ?)
                 AND a.score IS DISTINCT FROM b.score""",
            [first, again, first, again],
        )
        columns = {c for (c,) in engine.query("SELECT column_name FROM information_schema.columns")}
    assert differ == 0
    assert not columns & set(ATTRIBUTES)


def test_the_docs_name_every_attribute() -> None:
    docs = Path(__file__).parents[2] / "docs"
    declared = "ATTRIBUTES = (" + ", ".join(f'"{a}"' for a in ATTRIBUTES) + ")"
    assert declared in (docs / "scoring.md").read_text(encoding="utf-8")
    synth = (docs / "synth.md").read_text(encoding="utf-8")
    assert all(f"| `{a}` |" in synth for a in ATTRIBUTES)


def test_from_truth_into_a_folder_is_one_line(linked_population, tmp_path, cli) -> None:
    ws, pop = linked_population
    res = cli("audit-attributes", "from-truth", pop / "truth", tmp_path, "-w", ws)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1 and "is a folder" in res.stderr
