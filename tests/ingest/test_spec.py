from pathlib import Path

import pytest

from openbureau.errors import SpecError
from openbureau.ingest import PROTECTED_CATEGORIES, DataCategory, load_spec, parse_spec, save_spec

BASE = {"name": "x_feed", "furnisher": "X", "feed": "accounts", "format": "csv"}


def spec(**fields):
    return {
        **BASE,
        "fields": [
            {"column": "A", "target": "account_id", "category": "reference"},
            *fields.get("extra", []),
        ],
    }


def test_round_trip_through_yaml(bank_spec: Path, tmp_path: Path) -> None:
    s = load_spec(bank_spec)
    assert s.field("payment_status").codes == {"11": "current", "71": "dpd30", "97": "chargeoff"}
    out = save_spec(s, tmp_path / "again.yaml")
    assert load_spec(out) == s
    assert load_spec(out).fingerprint() == s.fingerprint()


def test_every_protected_category_is_known_and_flagged() -> None:
    names = {c.value for c in PROTECTED_CATEGORIES}
    assert names == {
        "political_opinion",
        "religion_or_belief",
        "race_or_ethnicity",
        "national_origin",
        "health",
        "sex_life_or_orientation",
        "trade_union_membership",
        "genetic_or_biometric",
        "sex",
        "marital_status",
    }
    assert not DataCategory.credit.protected
    assert DataCategory.political_opinion.protected


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({**BASE, "fields": []}, "at least one field"),
        (
            spec(extra=[{"column": "B", "target": "dob", "type": "date", "category": "credit"}]),
            "fields.1: dob is an identity field; its category must be identity",
        ),
        (
            spec(extra=[{"column": "B", "target": "account_id", "category": "reference"}]),
            "target 'account_id' is mapped more than once",
        ),
        (
            spec(extra=[{"column": "B", "target": "Bad Name", "category": "credit"}]),
            "not a snake_case name",
        ),
        (spec(extra=[{"column": "B", "target": "record_id", "category": "credit"}]), "reserved"),
        (
            spec(extra=[{"column": "B", "target": "s", "type": "code", "category": "credit"}]),
            "needs a codes table",
        ),
        (
            spec(extra=[{"column": "B", "target": "t", "category": "astrology"}]),
            "fields.1.category",
        ),
        ({**spec(), "record_key": ["nope"]}, "record_key: 'nope' is not a target"),
        ({**spec(), "parse": {"encoding": "klingon"}}, "unknown encoding"),
        ({**spec(), "parse": {"delimiter": ";;"}}, "exactly one character"),
        ({**spec(), "colour": "blue"}, "colour: Extra inputs are not permitted"),
        ({**spec(), "format": "xlsx"}, "format"),
        # a feed named after a ledger event would read as that event's columns to the guard
        ({**spec(), "name": "payment"}, "name: 'payment' is the name of a ledger event"),
        ({**spec(), "name": "account_status"}, "'account_status' is the name of a ledger event"),
    ],
)
def test_bad_specs_name_the_key(bad: dict, message: str) -> None:
    with pytest.raises(SpecError, match=r"^my\.yaml: ") as exc:
        parse_spec(bad, "my.yaml")
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_unreadable_spec_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "none.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"broken.yaml, line \d+"):
        load_spec(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just text\n", encoding="utf-8")
    with pytest.raises(SpecError, match="must be a mapping"):
        load_spec(scalar)


@pytest.mark.parametrize("target", ["postcode", "address_line1", "city", "region", "address_full"])
@pytest.mark.parametrize("declared", ["location", "identity"])
def test_an_address_field_is_catalogued_as_location(target: str, declared: str) -> None:
    """Specs written before location existed had to say identity: they stay valid, and the
    catalog records location either way."""
    s = parse_spec(spec(extra=[{"column": "B", "target": target, "category": declared}]))
    assert s.field(target).catalog_category is DataCategory.location


@pytest.mark.parametrize(
    ("target", "declared", "message"),
    [
        ("postcode", "credit", "postcode is a location field; its category must be location"),
        ("phone", "location", "phone is an identity field; its category must be identity, not"),
        ("dob", "contact", "dob is an identity field; its category must be identity, not contact"),
    ],
)
def test_an_identity_field_declared_otherwise_is_refused(
    target: str, declared: str, message: str
) -> None:
    field = {"column": "B", "target": target, "category": declared}
    if target == "dob":
        field["type"] = "date"
    with pytest.raises(SpecError, match=r"^my\.yaml: fields\.1: ") as exc:
        parse_spec(spec(extra=[field]), "my.yaml")
    assert message in str(exc.value)


def test_categories_are_declared_once_with_a_rule_each() -> None:
    from openbureau.ingest.categories import (
        CATEGORIES,
        DATING_CATEGORIES,
        FACTOR_CATEGORIES,
        KEPT_OUT_OF_LEDGER,
    )

    assert set(CATEGORIES) == set(DataCategory)
    assert {c.value for c in FACTOR_CATEGORIES} == {"credit", "payment", "inquiry", "public_record"}
    assert {c.value for c in DATING_CATEGORIES} == {"reference"}
    assert PROTECTED_CATEGORIES | {DataCategory.purchase} == KEPT_OUT_OF_LEDGER
    assert all(rule.why for c, rule in CATEGORIES.items() if c not in FACTOR_CATEGORIES)


@pytest.mark.parametrize("key", ["event_date", "kind_from"])
def test_the_ledger_cannot_date_or_kind_its_events_by_a_kept_out_field(key: str) -> None:
    data = {
        **BASE,
        "name": "med_records",
        "fields": [
            {"column": "A", "target": "case_id", "category": "reference"},
            {"column": "F", "target": "filed_date", "type": "date", "category": "public_record"},
            {"column": "T", "target": "case_type", "category": "public_record"},
            {"column": "S", "target": "service_date", "type": "date", "category": "public_record"},
        ],
        "ledger": {"event": "public_record", "kind_from": "case_type", "event_date": "filed_date"},
    }
    data["fields"][3 if key == "event_date" else 2]["category"] = "health"
    if key == "event_date":
        data["ledger"]["event_date"] = "service_date"
    with pytest.raises(SpecError) as exc:
        parse_spec(data, "my.yaml")
    assert f"ledger.{key}: " in str(exc.value) and "is declared health" in str(exc.value)
