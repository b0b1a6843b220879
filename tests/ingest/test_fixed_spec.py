"""Fixed-width specs, scale and sign: refused in one line naming the key; old specs unchanged."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from openbureau.errors import SpecError
from openbureau.ingest import load_spec, parse_spec, save_spec
from tests.conftest import BANK_SPEC
from tests.ingest.test_fixed import SPEC


def changed(path: str, value: object, spec: dict | None = None) -> dict:
    """SPEC with the key at ``path`` (dotted; list items by index) set to ``value``."""
    out = copy.deepcopy(spec or SPEC)
    *parents, last = path.split(".")
    node = out
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            changed("fields.3.width", 9),
            "fields.3.width: BAL ends at position 31, past layout.record_length 30",
        ),
        (
            changed("fields.1.end", 17),
            "fields.2: MONTH (positions 17-22) overlaps NAME (positions 7-17)",
        ),
        (
            changed("fields.0.start", 1),
            "fields.0: ACCT (positions 1-5) overlaps record_type (positions 1-1)",
        ),
        (
            changed("fields.1", {"column": "NAME", "target": "last_name", "category": "identity"}),
            "fields.1: NAME needs its position in the record (start, and width or end)",
        ),
        (changed("fields.1.start", None), "fields.1: a position needs its start (1-based)"),
        (changed("fields.1.width", 3), "fields.1: give exactly one of width and end with start 7"),
        (changed("fields.1.start", 0), "fields.1: start 0: positions count from 1"),
        (changed("fields.1.end", 5), "fields.1: end 5 is before start 7 (both are inclusive)"),
        (
            changed("layout.totals.0.width", 40),
            "layout: totals.0: COUNT ends at position 41, past record_length 30",
        ),
        (changed("layout.detail", [1]), "layout.detail: record type 1: write it in quotes"),
        (changed("layout.trailer", []), "totals: a layout with totals needs its trailer"),
        (changed("layout.detail", []), "detail: list the record types of the detail records"),
        (changed("layout.header", "D"), "record type 'D' is listed twice"),
        (changed("layout.totals.1.sum", "last_name"), "layout.totals.1: TOTAL sums 'last_name'"),
        (changed("layout.totals.1.count", "records"), "give exactly one of count and sum"),
        (changed("fields.3.scale", 0.05), "fields.3: scale 0.05 is not a power of ten"),
        (changed("fields.1.scale", 0.01), "scale and sign apply to amount and integer fields"),
        (changed("format", "csv"), "layout: applies to format fixed, not csv"),
        (
            changed("layout", None, changed("format", "csv")),
            "fields.0.start: positions apply to format fixed",
        ),
    ],
)
def test_a_bad_fixed_width_spec_is_refused_naming_the_field(spec: dict, message: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(spec, "dale.yaml")
    assert str(err.value).startswith("dale.yaml: ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_an_unquoted_null_says_to_quote_it(tmp_path: Path) -> None:
    spec = tmp_path / "bank.yaml"
    spec.write_text(BANK_SPEC.replace("type: amount,", "type: amount, invalid: null,"))
    with pytest.raises(SpecError) as err:
        load_spec(spec)
    assert str(err.value) == (
        f"{spec}: fields.6.invalid: BAL: YAML reads an unquoted null as no value; write "
        'invalid: "null" (in quotes)'
    )
    spec.write_text(BANK_SPEC.replace("type: amount,", 'type: amount, invalid: "null",'))
    assert load_spec(spec).field("balance").invalid == "null"


def test_a_spec_without_the_new_keys_keeps_its_fingerprint_and_yaml() -> None:
    # (the fingerprints of this spec before fixed width, scale and sign existed)
    bank = yaml.safe_load(BANK_SPEC)
    assert parse_spec(bank).fingerprint() == "e616b78e12d26391"
    bank["fields"][6] |= {"min": -5, "invalid": "null"}
    assert parse_spec(bank).fingerprint() == "0a84d39be971368e"
    text = parse_spec(bank).to_yaml()
    for key in ("layout", "start", "width", "end", "scale", "sign"):
        assert f"{key}:" not in text


def test_a_fixed_width_spec_round_trips_through_yaml(tmp_path: Path) -> None:
    spec = parse_spec(SPEC)
    again = load_spec(save_spec(spec, tmp_path / "again.yaml"))
    assert again == spec and again.fingerprint() == spec.fingerprint()
    # the meaning is in the fingerprint: a moved field or another scale is another spec
    assert parse_spec(changed("fields.3.scale", 1)).fingerprint() != spec.fingerprint()
    assert parse_spec(changed("fields.1.end", 15)).fingerprint() != spec.fingerprint()
    assert parse_spec(changed("layout.header", "A")).fingerprint() != spec.fingerprint()


def test_defaults_written_out_mean_the_same_spec() -> None:
    bank = yaml.safe_load(BANK_SPEC)
    bank["fields"][6] |= {"scale": 1, "sign": "leading"}
    assert parse_spec(bank).fingerprint() == "e616b78e12d26391"
