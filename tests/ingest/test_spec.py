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
