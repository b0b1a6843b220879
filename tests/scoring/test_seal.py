"""Sealed scorecards: a version names exactly one content, and scoring takes only sealed cards."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from openbureau.scoring import Scorecard, load_scorecard
from openbureau.scoring.scorecard import CustomSource
from openbureau.workspace import Workspace
from tests.scoring.test_score import HAND_WRITTEN

SCORE_AS_OF = "2025-12-31"
# the hand-written card test_score.py scores
CARD = HAND_WRITTEN


def _one_line(res) -> str:
    assert res.exit_code == 2, res.output
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in res.output
    return line


def _sealed(cli, path: Path, text: str = CARD) -> Scorecard:
    path.write_text(text)
    res = cli("seal", path)
    assert res.exit_code == 0, res.output
    return load_scorecard(path)


def test_an_edited_card_is_refused_until_sealed_again_as_a_new_version(
    copy_population, tmp_path: Path, cli
) -> None:
    ws = copy_population[0]
    path = tmp_path / "card.yaml"
    path.write_text(CARD)
    res = cli("seal", path, "-w", ws)
    assert res.exit_code == 0, res.output
    first = load_scorecard(path)
    assert first.seal == f"sha256:{first.content_hash()}"
    assert first.version == f"{dt.date.today()}.{first.seal[7:15]}"
    assert f"Sealed {path}: hand-written (no version) -> {first.version}" in res.stdout
    assert cli("score", "--as-of", SCORE_AS_OF, "--scorecard", path, "-w", ws).exit_code == 0

    # a reviewer's edit to one bin's points keeps the old version id: scoring refuses the card
    text = path.read_text()
    assert "points: 350.0" in text
    path.write_text(text.replace("points: 350.0", "points: 360.0"))
    res = cli("score", "--as-of", SCORE_AS_OF, "--scorecard", path, "-w", ws)
    assert _one_line(res) == (
        f"error: {path}: edited after sealing: run `openbureau seal {path}` to seal it as a "
        "new version"
    )

    res = cli("seal", path, "-w", ws)
    assert res.exit_code == 0, res.output
    second = load_scorecard(path)
    assert second.factors[0].bins[0].points == 360
    assert second.seal != first.seal and second.version != first.version
    assert second.version.endswith(second.seal[7:15])  # type: ignore[index]
    assert f"hand-written {first.version} -> {second.version}" in res.stdout
    assert cli("score", "--as-of", SCORE_AS_OF, "--scorecard", path, "-w", ws).exit_code == 0

    # each snapshot records the version it was scored with, and its card, sealed
    with Workspace.open(ws).engine() as engine:
        rows = engine.query(
            "SELECT snapshot_id, scorecard_version, scorecard_yaml FROM score_snapshots "
            "ORDER BY created_at"
        )
        assert [r[1] for r in rows] == [first.version, second.version]
        assert Scorecard.model_validate(yaml.safe_load(rows[0][2])) == first
        # a snapshot written before cards were sealed recorded its card without a seal
        unsealed = yaml.safe_load(rows[0][2])
        del unsealed["seal"]
        engine.execute(
            "UPDATE score_snapshots SET scorecard_yaml = ? WHERE snapshot_id = ?",
            [yaml.safe_dump(unsealed), rows[0][0]],
        )
    for snapshot_id, _, _ in rows:  # and both recompute to their published scores
        res = cli("score", "--recompute", snapshot_id, "-w", ws)
        assert res.exit_code == 0 and "equal the published ones" in res.stdout, res.output


def test_a_card_without_a_seal_is_refused_in_one_line(ws, tmp_path: Path, cli) -> None:
    path = tmp_path / "card.yaml"
    path.write_text(CARD)
    res = cli("score", "--as-of", SCORE_AS_OF, "--scorecard", path, "-w", ws.root)
    assert _one_line(res) == f"error: {path}: not sealed: run `openbureau seal {path}` to seal it"
    # a card versioned the old way (date and hash, no seal) too
    path.write_text("version: 2025-01-31.3f2a9c01\n" + CARD)
    res = cli("score", "--as-of", SCORE_AS_OF, "--scorecard", path, "-w", ws.root)
    assert "not sealed" in _one_line(res)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: {**c, "version": c["version"][:-8] + "00000000"}, "does not name its seal"),
        (lambda c: {**c, "version": "2"}, "version '2' does not name its seal"),
        (lambda c: {**c, "version": ""}, "does not name its seal"),
        (lambda c: {**c, "seal": "sha256:" + "0" * 64}, "edited after sealing"),
        (lambda c: {**c, "seal": "sha256:beef"}, "seal: String should match pattern"),
        (lambda c: {k: v for k, v in c.items() if k != "seal"}, "not sealed"),
        (lambda c: {**c, "name": "renamed"}, "edited after sealing"),
        (lambda c: {**c, "scaling": {**c["scaling"], "pdo": 20}}, "edited after sealing"),
    ],
)
def test_a_hand_edited_version_or_seal_is_refused(
    ws, tmp_path: Path, cli, edit: Callable[[dict], dict], message: str
) -> None:
    path = tmp_path / "card.yaml"
    _sealed(cli, path)
    path.write_text(yaml.safe_dump(edit(yaml.safe_load(path.read_text())), sort_keys=False))
    res = cli("score", "--as-of", SCORE_AS_OF, "--scorecard", path, "-w", ws.root)
    line = _one_line(res)
    assert line.startswith(f"error: {path}: ") and message in line


def test_sealing_a_sealed_card_changes_nothing_and_layout_is_not_content(
    tmp_path: Path, cli
) -> None:
    path = tmp_path / "card.yaml"
    card = _sealed(cli, path)
    before = path.read_bytes()
    res = cli("seal", path)
    assert res.exit_code == 0 and "already sealed as hand-written" in res.stdout
    assert path.read_bytes() == before
    # keys reordered, flow style, a comment: the same content, so the same seal
    data = yaml.safe_load(before)
    path.write_text("# reviewed\n" + yaml.safe_dump(data, sort_keys=True, default_flow_style=True))
    assert load_scorecard(path) == card


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "cannot read scorecard"),
        (CARD + "  - [broken\n", "not valid YAML"),
        (CARD.replace("{lower: 0.3, points", "{lower: 0.4, points"), "contiguous"),
        (CARD.replace("name: inquiries_12m", "name: zodiac_sign"), "neither a built-in feature"),
    ],
)
def test_seal_refuses_a_bad_card_in_one_line(
    tmp_path: Path, cli, text: str | None, message: str
) -> None:
    path = tmp_path / "card.yaml"
    if text is not None:
        path.write_text(text)
    line = _one_line(cli("seal", path))
    assert line.startswith(f"error: {path}") and message in line
    assert list(tmp_path.iterdir()) == ([path] if text is not None else [])  # no partial write
    if text is not None:
        assert path.read_text() == text


def _changed(card: Scorecard, change: Callable[[Scorecard], None]) -> Scorecard:
    copy = card.model_copy(deep=True)
    change(copy)
    return Scorecard.model_validate(copy.model_dump())  # (validated again, as a file is)


CHANGES: dict[str, Callable[[Scorecard], None]] = {
    "points": lambda c: setattr(c.factors[0].bins[0], "points", 351.0),
    "bin edge": lambda c: (
        setattr(c.factors[1].bins[0], "upper", 0.4),
        setattr(c.factors[1].bins[1], "lower", 0.4),
    ),
    "field category": lambda c: setattr(c.factors[0].fields[0], "category", "credit"),
    "statement": lambda c: setattr(c.factors[0], "statement", "Many inquiries"),
    "custom source": lambda c: setattr(
        c.factors[0], "custom", CustomSource(feed="f", field="x", aggregate="count")
    ),
    "scaling": lambda c: setattr(c.scaling, "base_odds", 20.0),
    "bands": lambda c: setattr(c.bands[0], "name", "weak"),
    "minimum criteria": lambda c: setattr(c.minimum_criteria, "alt_months", 6),
    "name": lambda c: setattr(c, "name", "other"),
    "trained_as_of": lambda c: setattr(c, "trained_as_of", dt.date(2024, 12, 31)),
    "outcome": lambda c: setattr(c, "outcome", "90+ days past due"),
    "excluded": lambda c: c.excluded.append({"name": "x", "reason": "flat"}),
}


@pytest.mark.parametrize("what", sorted(CHANGES))
def test_the_seal_covers_everything_that_decides_scores(what: str) -> None:
    card = Scorecard.model_validate(yaml.safe_load(CARD)).sealed()
    assert card.seal_problem() is None
    changed = _changed(card, CHANGES[what])
    assert changed.seal_problem() == "edited after sealing"
    resealed = changed.sealed(dt.date(2030, 1, 2))
    assert resealed.seal != card.seal and resealed.version == f"2030-01-02.{resealed.seal[7:15]}"  # type: ignore[index]


def test_the_seal_leaves_out_when_it_was_made() -> None:
    card = Scorecard.model_validate(yaml.safe_load(CARD)).sealed()
    later = _changed(card, lambda c: setattr(c, "created_at", "2030-01-01T00:00:00"))
    renamed = _changed(card, lambda c: setattr(c, "version", "x"))
    assert later.content_hash() == renamed.content_hash() == card.content_hash()
