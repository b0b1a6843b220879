"""The factor guard: a score factor derives only from data that describes credit behaviour.

No factor may derive from a protected data category, from who a person is, where they live,
how they are reached or what they buy, nor from a category openbureau does not know."""

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


# Fields of the categories outside the allowlist that are not protected, as the 'social' feed
# declares them: its postcode says identity, as every spec had to before location existed.
OTHER_FIELDS = {
    "first_name": ("identity", "who a person is never counts in a credit score"),
    "postcode": ("location", "where a person lives never counts in a credit score"),
    "salutation": ("contact", "how a person is reached or addressed never counts"),
    "gambling_spend": ("purchase", "openbureau never scores what people buy"),
}


def _ingest(root: Path, ws: Path, spec: dict, rows: list[str]) -> None:
    from typer.testing import CliRunner

    from openbureau.cli import app

    name = spec["name"]
    (root / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    header = ",".join(f["column"] for f in spec["fields"])
    (root / f"{name}.csv").write_text(header + "\n" + "".join(f"{r}\n" for r in rows))
    res = CliRunner().invoke(
        app,
        ["ingest", str(root / f"{name}.yaml"), str(root / f"{name}.csv"), "-w", str(ws)],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output


@pytest.fixture(scope="module")
def social_ws(linked_population, tmp_path_factory) -> Path:
    """The linked population plus a 'social' feed carrying every protected category, and a
    field of each other category a factor may not use."""
    root = tmp_path_factory.mktemp("social")
    ws = Path(shutil.copytree(linked_population[0], root / "ws"))
    fields = [
        {"column": "FIRST", "target": "first_name", "category": "identity"},
        {"column": "LAST", "target": "last_name", "category": "identity"},
        {"column": "DOB", "target": "dob", "type": "date", "category": "identity"},
        {"column": "ZIP", "target": "postcode", "category": "identity"},
        {"column": "TITLE", "target": "salutation", "category": "contact"},
        {"column": "BETS", "target": "gambling_spend", "type": "amount", "category": "purchase"},
        {"column": "POSTED", "target": "post_date", "type": "date", "category": "reference"},
        {"column": "FEE", "target": "fee_paid", "type": "amount", "category": "payment"},
    ] + [{"column": t.upper(), "target": t, "category": c} for c, t in PROTECTED_FIELDS.items()]
    spec = {
        "name": "social",
        "furnisher": "Chirper",
        "feed": "posts",
        "format": "csv",
        "require_one_of": [["last_name", "dob"]],
        "fields": fields,
    }
    row = ",".join(["Ann", "Lee", "1980-01-02", "90210", "Ms", "120.00", "2024-05-01", "3"])
    _ingest(root, ws, spec, [row + ",x" * 10])
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
    factors = _factor_file(tmp_path, "fee_paid")
    res = cli("train", "--as-of", "2024-12-31", "--factors", factors, "-w", ws)
    assert res.exit_code == 2, res.output
    assert len(res.stderr.strip().splitlines()) == 1
    assert "custom factor 'fee_paid_score': feed 'social' has no events in the ledger" in res.stderr


@pytest.mark.parametrize("field", sorted(OTHER_FIELDS))
def test_training_refuses_a_factor_from_every_category_outside_the_allowlist(
    social_ws: Path, tmp_path: Path, cli, field: str
) -> None:
    category, why = OTHER_FIELDS[field]
    factors = _factor_file(tmp_path, field)
    res = cli("train", "--as-of", "2024-12-31", "--factors", factors, "-w", social_ws)
    assert res.exit_code == 2, res.output
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in res.output
    assert f"factor '{field}_score' is refused: it derives from field 'social.{field}'" in line
    assert f"whose data category is '{category}': {why}" in line
    assert not list((social_ws / "models").glob("scorecards/*"))


def test_a_postcode_factor_is_refused_at_training(linked_population, tmp_path: Path, cli) -> None:
    """The reviewer's case: "Where you live" as an adverse-action reason."""
    factors = _factor_file(tmp_path, "postcode", "northbank_accounts", "period")
    res = cli("train", "--as-of", "2024-12-31", "--factors", factors, "-w", linked_population[0])
    assert res.exit_code == 2, res.output
    assert "'northbank_accounts.postcode' whose data category is 'location'" in res.stderr


def test_a_reference_field_may_date_a_factor_but_never_be_its_value(
    social_ws: Path, tmp_path: Path, cli
) -> None:
    factors = _factor_file(tmp_path, "account_id", "northbank_accounts", "period")
    res = cli("train", "--as-of", "2024-12-31", "--factors", factors, "-w", social_ws)
    assert res.exit_code == 2, res.output
    assert "'northbank_accounts.account_id' whose data category is 'reference'" in res.stderr
    assert "may date a factor's rows, never be its value" in res.stderr


def test_a_custom_factor_dated_by_a_protected_field_is_refused(
    social_ws: Path, tmp_path: Path, cli
) -> None:
    factors = _factor_file(tmp_path, "fee_paid", date_field="health_condition")
    res = cli("train", "--as-of", "2024-12-31", "--factors", factors, "-w", social_ws)
    assert res.exit_code == 2, res.output
    assert "'social.health_condition'" in res.stderr and "'health'" in res.stderr


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


SCORE_CASES = [
    # (feed, field, what the card declares, what the catalog says, the words of the refusal)
    ("northbank_accounts", "postcode", "credit", "location", "where a person lives"),
    ("social", "gambling_spend", "payment", "purchase", "never scores what people buy"),
    ("social", "salutation", "credit", "contact", "how a person is reached or addressed"),
    ("social", "first_name", "credit", "identity", "who a person is"),
]


@pytest.mark.parametrize(("feed", "field", "declared", "category", "why"), SCORE_CASES)
def test_scoring_with_a_hand_written_card_refuses_the_catalogued_category(
    social_ws: Path,
    tmp_path: Path,
    cli,
    feed: str,
    field: str,
    declared: str,
    category: str,
    why: str,
) -> None:
    custom = (
        f"    custom: {{feed: {feed}, field: {field}, aggregate: max, "
        f"date_field: {'period' if feed != 'social' else 'post_date'}}}\n"
    )
    path = tmp_path / "card.yaml"
    write_sealed_card(
        path, CARD.format(name="x", field=f"{feed}.{field}", category=declared, custom=custom)
    )
    res = cli("score", "--as-of", "2025-12-31", "--scorecard", path, "-w", social_ws)
    assert res.exit_code == 2, res.output
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in res.output
    assert f"factor 'x' is refused: it derives from field '{feed}.{field}'" in line
    assert f"whose data category is '{category}'" in line and why in line


@pytest.mark.parametrize("declared", ["unknown", "astrology", None])
def test_a_card_declaring_a_category_openbureau_does_not_know_is_refused(
    linked_population, tmp_path: Path, cli, declared: str | None
) -> None:
    """A field without a category is 'unknown' (what a scorecard file says by default, and
    where a drafted spec starts every field): not declared yet, so refused; a name that is not
    a category is refused as such."""
    field = "{field: inquiry.event_date" + (f", category: {declared}}}" if declared else "}")
    card = CARD.format(name="inquiries_12m", field="F", category="C", custom="").replace(
        "{field: F, category: C}", field
    )
    path = tmp_path / "card.yaml"
    write_sealed_card(path, card)
    res = cli("score", "--as-of", "2025-12-31", "--scorecard", path, "-w", linked_population[0])
    assert res.exit_code == 2, res.output
    shown = declared or "unknown"
    assert "factor 'inquiries_12m' is refused: it derives from field 'inquiry.event_date' " in (
        res.stderr
    )
    why = (
        "not a data category openbureau knows"
        if declared == "astrology"
        else "nobody has declared its data category yet"
    )
    assert f"whose data category is '{shown}': {why}" in res.stderr


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


MEDICAL_ROWS = 110


@pytest.fixture(scope="module")
def medical_ws(linked_population, tmp_path_factory) -> Path:
    """The linked population plus a medical-debt collector's feed whose balances are declared
    health data, ingested and mapped onto the ledger's account status events."""
    root = tmp_path_factory.mktemp("medical")
    ws = Path(shutil.copytree(linked_population[0], root / "ws"))
    spec = {
        "name": "medcollect_accounts",
        "furnisher": "MedCollect",
        "feed": "collections",
        "format": "csv",
        "record_key": ["account_id", "period"],
        "require_one_of": [["last_name", "dob"]],
        "fields": [
            {"column": "ACCT", "target": "account_id", "category": "reference", "required": True},
            {"column": "LAST", "target": "last_name", "category": "identity"},
            {"column": "DOB", "target": "dob", "type": "date", "category": "identity"},
            {
                "column": "PERIOD",
                "target": "period",
                "type": "month",
                "category": "credit",
                "required": True,
            },
            {
                "column": "STATUS",
                "target": "payment_status",
                "type": "code",
                "category": "credit",
                "codes": {"C": "current", "X": "chargeoff"},
            },
            {"column": "OWED", "target": "balance", "type": "amount", "category": "health"},
        ],
        "ledger": {"event": "account_status", "event_date": "period"},
    }
    rows = [f"M{i},Lee,1980-01-02,2024-03,X,{100 + i}.00" for i in range(MEDICAL_ROWS)]
    _ingest(root, ws, spec, rows)
    return ws


def test_a_protected_field_mapped_onto_the_ledger_is_kept_out_and_blocks_no_one(
    medical_ws: Path, tmp_path: Path, cli
) -> None:
    """One feed's health-declared balances used to make every balance factor refused for
    everyone: now they stay out of the ledger (counted), and training goes on."""
    ws = Path(shutil.copytree(medical_ws, tmp_path / "ws"))
    res = cli("ledger", "-w", ws)
    assert res.exit_code == 0, res.output
    assert (
        "Kept out of the ledger (a protected or purchase field: stored, never in an event): "
        f"medcollect_accounts.balance (health, account_status.balance): {MEDICAL_ROWS} rows"
    ) in res.output
    with Workspace.open(ws).engine() as engine:
        events, balances, statuses = engine.query(
            "SELECT count(*), count(balance), count(payment_status) FROM ledger_account_status "
            "WHERE feed = 'medcollect_accounts'"
        )[0]
        loaded = engine.scalar("SELECT count(balance) FROM src_medcollect_accounts")
    # its other fields are in the ledger; the balance only in the loaded rows
    assert (events, balances, statuses) == (MEDICAL_ROWS, 0, MEDICAL_ROWS)
    assert loaded == MEDICAL_ROWS
    res = cli("train", "--as-of", "2024-12-31", "-w", ws)
    assert res.exit_code == 0, res.output
    card = yaml.safe_load((ws / "models" / "scorecard.yaml").read_text())
    fields = {r["field"] for f in card["factors"] for r in f["fields"]}
    assert "northbank_accounts.balance" in fields
    assert not any(f.startswith("medcollect_accounts.balance") for f in fields)
    res = cli("score", "--as-of", "2024-12-31", "-w", ws)
    assert res.exit_code == 0, res.output


def test_protected_values_that_reached_the_ledger_are_still_refused(
    medical_ws: Path, tmp_path: Path, cli
) -> None:
    """A batch mapped before the ledger kept protected fields out holds them in its events
    and has no lineage: every balance factor is refused, saying how to fix it; the fix takes
    them out, and the guard passes."""
    from openbureau.ledger import build_ledger
    from openbureau.scoring.factors import builtin_candidates

    ws = Path(shutil.copytree(medical_ws, tmp_path / "ws"))
    with Workspace.open(ws).engine() as engine:
        build_ledger(engine)
        engine.execute("DELETE FROM ledger_lineage WHERE feed = 'medcollect_accounts'")
        engine.execute(
            "UPDATE ledger_account_status s SET balance = r.balance FROM src_medcollect_accounts r"
            " WHERE s.loaded_record_id = r.record_id"
        )
    res = cli("train", "--as-of", "2024-12-31", "-w", ws)
    assert res.exit_code == 2, res.output
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in res.output
    assert "'medcollect_accounts.balance' whose data category is 'health'" in line
    assert "`openbureau ledger --keep-out` takes them out" in line
    res = cli("ledger", "--keep-out", "-w", ws)
    assert res.exit_code == 0, res.output
    assert (
        "Taken out of the events of batches mapped before: medcollect_accounts.balance "
        f"(health, account_status.balance): {MEDICAL_ROWS} rows"
    ) in res.output
    with Workspace.open(ws).engine() as engine:
        assert not engine.scalar(
            "SELECT count(balance) FROM ledger_account_status WHERE feed = 'medcollect_accounts'"
        )
        fields = {f for c in builtin_candidates(engine) for f, _ in c.fields}
    assert "northbank_accounts.balance" in fields
    assert "medcollect_accounts.balance" not in fields


def test_a_field_declared_protected_after_its_values_reached_the_ledger_is_refused(
    linked_population, tmp_path: Path, cli
) -> None:
    """The catalog says what the furnisher declares now: balances already in the ledger that
    it now calls health data are refused."""
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


@pytest.fixture(scope="module")
def payment_named_ws(social_ws: Path, tmp_path_factory) -> Path:
    """A warehouse holding a feed named after the 'payment' event (loaded before such names
    were refused): its 'amount_paid' is health data, the ledger column payment.amount_paid
    is every payment feed's."""
    ws = Path(shutil.copytree(social_ws, tmp_path_factory.mktemp("payment_named") / "ws"))
    with Workspace.open(ws).engine() as engine:
        engine.execute(
            "UPDATE field_catalog SET feed = 'payment', target = 'amount_paid' "
            "WHERE feed = 'social' AND target = 'health_condition'"
        )
        engine.execute(
            "UPDATE field_catalog SET feed = 'payment' WHERE feed = 'social' "
            "AND target = 'post_date'"
        )
        engine.execute(
            "CREATE TABLE src_payment AS SELECT record_id, health_condition AS amount_paid, "
            "post_date FROM src_social"
        )
    return ws


def test_a_custom_factor_of_a_feed_named_after_an_event_is_checked_as_that_feed(
    payment_named_ws: Path, tmp_path: Path, cli
) -> None:
    """The factor reads src_payment, so its field is the feed's, never the ledger column."""
    factors = _factor_file(tmp_path, "amount_paid", "payment", "post_date")
    res = cli("train", "--as-of", "2024-12-31", "--factors", factors, "-w", payment_named_ws)
    assert res.exit_code == 2, res.output
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in res.output
    assert "factor 'amount_paid_score' is refused: it derives from field 'payment.amount_paid'" in (
        line
    )
    assert "whose data category is 'health'" in line
    custom = (
        "    custom: {feed: payment, field: amount_paid, aggregate: count, date_field: post_date}\n"
    )
    path = tmp_path / "card.yaml"
    write_sealed_card(
        path,
        CARD.format(name="paid", field="payment.amount_paid", category="payment", custom=custom),
    )
    res = cli("score", "--as-of", "2025-12-31", "--scorecard", path, "-w", payment_named_ws)
    assert res.exit_code == 2, res.output
    assert "factor 'paid' is refused" in res.stderr and "'health'" in res.stderr


def test_a_card_naming_a_custom_factor_after_a_built_in_feature_is_refused(
    linked_population, tmp_path: Path, cli
) -> None:
    """Training refuses the clash; a hand-written card must not slip it in (business-necessity
    overrides and reason codes are matched by factor name)."""
    custom = (
        "    custom: {feed: northbank_accounts, field: balance, aggregate: max, "
        "date_field: period}\n"
    )
    path = tmp_path / "card.yaml"
    text = CARD.format(
        name="oldest_account_months",
        field="northbank_accounts.balance",
        category="credit",
        custom=custom,
    )
    write_sealed_card(path, text)
    res = cli("score", "--as-of", "2025-12-31", "--scorecard", path, "-w", linked_population[0])
    assert res.exit_code == 2, res.output
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in res.output
    assert "factor 'oldest_account_months' has a custom source but is named after a built-in" in (
        line
    )
    unsealed = tmp_path / "unsealed.yaml"
    unsealed.write_text(text)
    res = cli("seal", unsealed)
    assert res.exit_code == 2 and "named after a built-in feature" in res.stderr
