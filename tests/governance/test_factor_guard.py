"""The factor guard: no score factor may derive from a protected data category."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from openbureau.ingest.spec import PROTECTED_CATEGORIES
from openbureau.workspace import Workspace
from tests.conftest import write_sealed_card

# One field per protected category, as a careless furnisher might send them.
PROTECTED_FIELDS = {
    "political_opinion": "political_posts",
    "religion_or_belief": "church_attendance",
    "race_or_ethnicity": "ethnicity",
    "national_origin": "birth_country",
    "health": "health_condition",
    "sex_life_or_orientation": "orientation",
    "trade_union_membership": "union_member",
    "genetic_or_biometric": "fingerprint_hash",
    "sex": "sex",
    "marital_status": "marital_status",
}
assert set(PROTECTED_FIELDS) == {c.value for c in PROTECTED_CATEGORIES}


@pytest.fixture(scope="module")
def social_ws(linked_population, tmp_path_factory) -> Path:
    """The linked population plus a 'social' feed carrying every protected category."""
    from typer.testing import CliRunner

    from openbureau.cli import app

    root = tmp_path_factory.mktemp("social")
    ws = Path(shutil.copytree(linked_population[0], root / "ws"))
    fields = [
        {"column": "FIRST", "target": "first_name", "category": "identity"},
        {"column": "LAST", "target": "last_name", "category": "identity"},
        {"column": "DOB", "target": "dob", "type": "date", "category": "identity"},
        {"column": "POSTED", "target": "post_date", "type": "date", "category": "reference"},
        {"column": "LIKES", "target": "likes", "type": "integer", "category": "contact"},
    ] + [{"column": t.upper(), "target": t, "category": c} for c, t in PROTECTED_FIELDS.items()]
    spec = {
        "name": "social",
        "furnisher": "Chirper",
        "feed": "posts",
        "format": "csv",
        "require_one_of": [["last_name", "dob"]],
        "fields": fields,
    }
    (root / "social.yaml").write_text(yaml.safe_dump(spec))
    header = ",".join(f["column"] for f in fields)
    values = ",".join(["Ann", "Lee", "1980-01-02", "2024-05-01", "3"] + ["x"] * 10)
    (root / "posts.csv").write_text(f"{header}\n{values}\n")
    res = CliRunner().invoke(
        app,
        ["ingest", str(root / "social.yaml"), str(root / "posts.csv"), "-w", str(ws)],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    return ws


def _factor_file(
    tmp_path: Path, field: str, feed: str = "social", date_field: str = "post_date"
) -> Path:
    path = tmp_path / "factors.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "factors": [
                    {
                        "name": f"{field}_score",
                        "code": "X01",
                        "statement": "Posts",
                        "trend": "ascending",
                        "source": {
                            "feed": feed,
                            "field": field,
                            "aggregate": "count",
                            "date_field": date_field,
                        },
                    }
                ]
            }
        )
    )
    return path


@pytest.mark.parametrize(("category", "field"), sorted(PROTECTED_FIELDS.items()))
def test_training_refuses_a_factor_from_every_protected_category(
    social_ws: Path, tmp_path: Path, cli, category: str, field: str
) -> None:
    res = cli(
        "train",
        "--as-of",
        "2024-12-31",
        "--factors",
        _factor_file(tmp_path, field),
        "-w",
        social_ws,
    )
    assert res.exit_code == 2, res.output
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in res.output
    assert f"factor '{field}_score' is refused" in line
    assert f"'social.{field}'" in line and f"'{category}'" in line
    assert not list((social_ws / "models").glob("scorecards/*"))  # nothing was trained


def test_a_factor_built_from_political_posts_is_refused(
    social_ws: Path, tmp_path: Path, cli
) -> None:
    res = cli(
        "train",
        "--as-of",
        "2024-12-31",
        "--factors",
        _factor_file(tmp_path, "political_posts"),
        "-w",
        social_ws,
    )
    assert res.exit_code == 2
    assert "political_opinion" in res.stderr and "political_posts" in res.stderr


def test_a_factor_from_an_allowed_field_passes_the_guard(
    social_ws: Path, tmp_path: Path, cli
) -> None:
    ws = Path(shutil.copytree(social_ws, tmp_path / "ws"))
    factors = _factor_file(tmp_path, "amount_due", "metrotel_telecom", "due_date")
    res = cli("train", "--as-of", "2024-12-31", "--factors", factors, "-w", ws)
    assert res.exit_code == 0, res.output

    def listed(name: str) -> list[str]:
        card = yaml.safe_load((ws / "models" / name).read_text())
        return [f["name"] for f in card["factors"]] + [e["name"] for e in card["excluded"]]

    # considered, then judged on its information value: a telecom bill's field is alternative
    # data, so by the scorecard with it only (the core one never sees it)
    assert "amount_due_score" in listed("scorecard-alternative.yaml")
    assert "amount_due_score" not in listed("scorecard.yaml")


def test_an_allowed_field_of_a_feed_outside_the_ledger_is_refused(
    social_ws: Path, tmp_path: Path, cli
) -> None:
    """The guard passes it, but its rows cannot be dated as known or disputed: one line."""
    ws = Path(shutil.copytree(social_ws, tmp_path / "ws"))
    res = cli(
        "train", "--as-of", "2024-12-31", "--factors", _factor_file(tmp_path, "likes"), "-w", ws
    )
    assert res.exit_code == 2, res.output
    assert len(res.stderr.strip().splitlines()) == 1
    assert "custom factor 'likes_score': feed 'social' has no events in the ledger" in res.stderr


CARD = """\
name: sneaky
factors:
  - name: {name}
    code: X01
    statement: Something
    fields: [{{field: {field}, category: {category}}}]
{custom}    bins:
      - {{upper: 1, points: 600}}
      - {{lower: 1, points: 500}}
      - {{missing: true, points: 550}}
"""


@pytest.mark.parametrize(("category", "field"), sorted(PROTECTED_FIELDS.items()))
def test_loading_a_scorecard_with_a_protected_field_is_refused(
    linked_population, tmp_path: Path, cli, category: str, field: str
) -> None:
    path = tmp_path / "card.yaml"
    write_sealed_card(
        path,
        CARD.format(name="inquiries_12m", field=f"social.{field}", category=category, custom=""),
    )
    res = cli("score", "--as-of", "2025-12-31", "--scorecard", path, "-w", linked_population[0])
    assert res.exit_code == 2
    assert "factor 'inquiries_12m' is refused" in res.stderr
    assert f"'social.{field}'" in res.stderr and f"'{category}'" in res.stderr


@pytest.mark.parametrize(("category", "field"), sorted(PROTECTED_FIELDS.items()))
def test_sealing_a_scorecard_with_a_protected_field_is_refused(
    tmp_path: Path, cli, category: str, field: str
) -> None:
    path = tmp_path / "card.yaml"
    text = CARD.format(name="inquiries_12m", field=f"social.{field}", category=category, custom="")
    path.write_text(text)
    res = cli("seal", path)
    assert res.exit_code == 2, res.output
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in res.output
    assert line.startswith(f"error: {path}: factor 'inquiries_12m' is refused")
    assert f"'social.{field}'" in line and f"'{category}'" in line
    assert path.read_text() == text and list(tmp_path.iterdir()) == [path]  # not rewritten


def test_sealing_checks_the_workspace_catalog_when_given_one(
    social_ws: Path, tmp_path: Path, cli
) -> None:
    """Declared as credit data, a count of political posts passes the guard on its declared
    fields; the workspace's catalog knows better, and the card is not sealed."""
    custom = (
        "    custom: {feed: social, field: political_posts, aggregate: count, "
        "date_field: post_date}\n"
    )
    path = tmp_path / "card.yaml"
    text = CARD.format(
        name="posts", field="social.political_posts", category="credit", custom=custom
    )
    path.write_text(text)
    res = cli("seal", path, "-w", social_ws)
    assert res.exit_code == 2, res.output
    assert len(res.stderr.strip().splitlines()) == 1
    assert "'political_opinion'" in res.stderr and "factor 'posts'" in res.stderr
    assert path.read_text() == text
    assert cli("seal", path).exit_code == 0  # (its declared fields alone pass)
    res = cli("score", "--as-of", "2025-12-31", "--scorecard", path, "-w", social_ws)
    assert res.exit_code == 2 and "'political_opinion'" in res.stderr  # and scoring refuses it


def test_the_catalog_overrules_a_scorecard_that_mislabels_a_field(
    social_ws: Path, tmp_path: Path, cli
) -> None:
    custom = (
        "    custom: {feed: social, field: political_posts, aggregate: count, "
        "date_field: post_date}\n"
    )
    path = tmp_path / "card.yaml"
    write_sealed_card(
        path,
        CARD.format(name="posts", field="social.political_posts", category="credit", custom=custom),
    )
    res = cli("score", "--as-of", "2025-12-31", "--scorecard", path, "-w", social_ws)
    assert res.exit_code == 2
    assert "'political_opinion'" in res.stderr and "factor 'posts'" in res.stderr


def test_the_telecom_title_field_is_sex_and_can_never_be_a_factor(
    linked_population, tmp_path: Path, cli
) -> None:
    path = tmp_path / "card.yaml"
    write_sealed_card(
        path,
        CARD.format(
            name="inquiries_12m", field="metrotel_telecom.title", category="reference", custom=""
        ),
    )
    res = cli("score", "--as-of", "2025-12-31", "--scorecard", path, "-w", linked_population[0])
    assert res.exit_code == 2 and "'sex'" in res.stderr


def test_a_built_in_feature_fed_by_a_protected_field_is_refused(
    linked_population, tmp_path: Path, cli
) -> None:
    """Lineage runs through the ledger: if a spec declared balances as health data, every
    factor computed from balances would be refused."""
    ws = Path(shutil.copytree(linked_population[0], tmp_path / "ws"))
    with Workspace.open(ws).engine() as engine:
        engine.execute(
            "UPDATE field_catalog SET category = 'health' WHERE target = 'balance' "
            "AND feed = 'northbank_accounts'"
        )
    res = cli("train", "--as-of", "2024-12-31", "-w", ws)
    assert res.exit_code == 2
    assert "'northbank_accounts.balance'" in res.stderr and "'health'" in res.stderr


def test_a_factor_whose_field_is_unknown_to_the_catalog_is_refused(
    linked_population, tmp_path: Path, cli
) -> None:
    path = tmp_path / "card.yaml"
    write_sealed_card(
        path,
        CARD.format(
            name="posts",
            field="nowhere.posts",
            category="credit",
            custom="    custom: {feed: nowhere, field: posts, aggregate: count, date_field: d}\n",
        ),
    )
    res = cli("score", "--as-of", "2025-12-31", "--scorecard", path, "-w", linked_population[0])
    assert res.exit_code == 2 and "not in this workspace's field catalog" in res.stderr
