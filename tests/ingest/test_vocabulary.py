"""Code tables against the canonical vocabularies: refused at spec load, checked at ingest."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

import openbureau
from openbureau.errors import SpecError
from openbureau.ingest import load_spec, parse_spec
from openbureau.ingest._yaml import load_yaml
from openbureau.ingest.load import ingest_file
from openbureau.ingest.vocabulary import ACCOUNT_STATUS, BOOLEAN, VOCABULARIES, for_target
from tests.conftest import BANK_GOOD_ROWS, BANK_HEADER, BANK_SPEC

CODES_LINE = "     codes: {11: current, 71: dpd30, 97: chargeoff}}\n"


def spec_file(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cu.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def with_codes(codes: str) -> str:
    assert CODES_LINE in BANK_SPEC
    return BANK_SPEC.replace(CODES_LINE, f"     codes: {{{codes}}}}}\n")


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        # the cases: the charge-off and 120-days values misspelled
        (
            "11: current, 71: dpd30, L: charged_off",
            "fields.7.codes: STATUS code 'L' maps to 'charged_off', not one of the account status "
            "values (current, dpd30, dpd60, dpd90, dpd120, dpd150, chargeoff, closed)",
        ),
        ("11: current, 4: dpd120plus", "STATUS code '4' maps to 'dpd120plus'"),
        ("11: current, 97: Chargeoff", "'97' maps to 'Chargeoff'"),
        # keys the engine would match alike: one of them would never be used
        ('11: current, "11": dpd30', "duplicate key '11' (first at line"),
        ("L: chargeoff, l: current", "keys 'L' and 'l' are the same code"),
        ("' L': chargeoff, L: current", "keys ' L' and 'L' are the same code"),
        ("'': current", "key '' can never match"),
        ("L: ''", "key 'L' maps to an empty value"),
    ],
)
def test_a_code_table_outside_the_vocabulary_is_one_clear_error(tmp_path, codes, message) -> None:
    path = spec_file(tmp_path, with_codes(codes))
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    assert str(exc.value).startswith(str(path))
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_repeated_key_anywhere_is_refused_with_its_lines(tmp_path) -> None:
    # YAML keeps the last of two equal keys: 51,076 card rows became mortgages that way.
    text = BANK_SPEC.replace(
        CODES_LINE, "     codes: {11: current, 71: dpd30,\n             11: chargeoff}}\n"
    )
    with pytest.raises(
        SpecError,
        match=r"cu\.yaml, line 17: duplicate key '11' "
        r"\(first at line 16\)",
    ):
        load_spec(spec_file(tmp_path, text))
    with pytest.raises(SpecError, match=r"line 2: duplicate key 'name' \(first at line 1\)"):
        load_spec(spec_file(tmp_path, "name: a\nname: b\n" + BANK_SPEC.split("\n", 1)[1]))


def test_codes_are_read_as_written(tmp_path, ws, write_file) -> None:
    # YAML 1.1 would read 07 as 7 and yes as true: neither would ever match the file.
    text = with_codes("07: current, yes: dpd30, 1_0: chargeoff")
    spec = load_spec(spec_file(tmp_path, text))
    assert spec.field("payment_status").codes == {
        "07": "current",
        "yes": "dpd30",
        "1_0": "chargeoff",
    }
    rows = [
        r.rsplit(",", 1)[0] + "," + c
        for r, c in zip(BANK_GOOD_ROWS, ["07", "YES", " 1_0", "7"], strict=True)
    ]
    f = write_file("c.csv", BANK_HEADER + "\n".join(rows) + "\n")
    with ws.engine() as engine:
        report = ingest_file(engine, spec, f, key=ws.national_id_key())
        got = engine.query("SELECT payment_status FROM src_testbank_accounts ORDER BY line_no")
        reasons = engine.query("SELECT line_no, reasons FROM quarantine")
    assert got == [("current",), ("dpd30",), ("chargeoff",)]
    # a file value missing from the table is quarantined, never defaulted
    assert report.quarantined == 1 and reasons == [(5, ["unknown_code:payment_status"])]


BASE = {"name": "x", "furnisher": "X", "feed": "f", "format": "csv"}


def fields(*extra: dict) -> dict:
    return {
        **BASE,
        "fields": [{"column": "A", "target": "account_id", "category": "reference"}, *extra],
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            fields(
                {
                    "column": "P",
                    "target": "product",
                    "type": "code",
                    "category": "credit",
                    "codes": {"18": "card", "26": "mortgages"},
                }
            ),
            "fields.1.codes: P code '26' maps to 'mortgages', not one of the product values",
        ),
        (
            fields(
                {
                    "column": "Q",
                    "target": "inquiry_type",
                    "type": "code",
                    "category": "inquiry",
                    "codes": {"R": "revolving"},
                }
            ),
            "not one of the inquiry purpose values",
        ),
        (
            fields(
                {"column": "S", "target": "payment_status", "type": "integer", "category": "credit"}
            ),
            "fields.1: payment_status takes account status values (current, ",
        ),
        (
            fields(
                {
                    "column": "S",
                    "target": "payment_status",
                    "type": "string",
                    "category": "credit",
                    "codes": {"1": "current"},
                }
            ),
            "a codes table applies to fields of type code or boolean",
        ),
        (
            fields(
                {
                    "column": "B",
                    "target": "autopay",
                    "type": "boolean",
                    "category": "credit",
                    "codes": {"Y": "yes"},
                }
            ),
            "'Y' maps to 'yes', not one of the boolean values",
        ),
        (
            {
                **fields(
                    {
                        "column": "K",
                        "target": "kind",
                        "type": "code",
                        "category": "public_record",
                        "codes": {"J": "judgment"},
                    },
                    {
                        "column": "F",
                        "target": "filed_date",
                        "type": "date",
                        "category": "public_record",
                    },
                ),
                "ledger": {
                    "event": "public_record",
                    "kind_from": "kind",
                    "event_date": "filed_date",
                },
            },
            "K code 'J' maps to 'judgment', not one of the public record kind values",
        ),
        (
            fields(
                {
                    "column": "S",
                    "target": "payment_status",
                    "type": "code",
                    "category": "credit",
                    "codes": {11: "current", "11": "dpd30"},
                }
            ),
            "keys '11' and '11' are the same code",
        ),
    ],
)
def test_every_vocabulary_is_enforced(spec: dict, message: str) -> None:
    with pytest.raises(SpecError) as exc:
        parse_spec(spec, "my.yaml")
    assert message in str(exc.value)


def test_a_batch_spec_read_again_is_not_refused_for_its_codes() -> None:
    # The ledger reads the spec a batch was loaded with; it checks that batch's rows instead.
    data = load_yaml(with_codes("11: current, L: charged_off"))
    with pytest.raises(SpecError):
        parse_spec(data)
    assert parse_spec(data, historical=True).field("payment_status").codes == {
        "11": "current",
        "L": "charged_off",
    }


def test_a_text_field_with_a_vocabulary_is_checked_value_by_value(ws, write_file) -> None:
    spec = parse_spec(
        load_yaml(
            BANK_SPEC.replace("type: code, category: credit,\n" + CODES_LINE, "category: credit}\n")
        )
    )
    assert spec.field("payment_status").type == "string"
    statuses = ["current", "DPD90 ", "charged_off", "dpd120plus"]
    rows = [r.rsplit(",", 1)[0] + "," + s for r, s in zip(BANK_GOOD_ROWS, statuses, strict=True)]
    f = write_file("s.csv", BANK_HEADER + "\n".join(rows) + "\n")
    with ws.engine() as engine:
        ingest_file(engine, spec, f, key=ws.national_id_key())
        got = engine.query("SELECT payment_status FROM src_testbank_accounts ORDER BY line_no")
        reasons = engine.query(
            "SELECT line_no, reason, field, value FROM quarantine ORDER BY line_no"
        )
    assert got == [("current",), ("dpd90",)]
    assert reasons == [
        (4, "unknown_code", "payment_status", "charged_off"),
        (5, "unknown_code", "payment_status", "dpd120plus"),
    ]


def test_each_vocabulary_is_declared_once_with_meanings() -> None:
    names = [v.name for v in VOCABULARIES]
    assert len(names) == len(set(names))
    targets = [t for v in VOCABULARIES for t in v.targets]
    assert len(targets) == len(set(targets))
    for v in VOCABULARIES:
        assert v.terms and all(t.meaning for t in v.terms)
        assert len(set(v.values)) == len(v.values)
    assert for_target("payment_status") is ACCOUNT_STATUS and for_target("balance") is None


def _spelled_values(source: str) -> list[tuple[int, str]]:
    """(line, value) of every vocabulary value a module spells: a Python string equal to one,
    a SQL literal of one inside a string ('current'), or a SQL LIKE pattern one starts with
    ('bankruptcy%')."""
    values = {v for voc in VOCABULARIES if voc is not BOOLEAN for v in voc.values}
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.STRING:  # (an f-string is one STRING token up to Python 3.11)
            continue
        try:
            literal = ast.literal_eval(tok.string)
        except (ValueError, SyntaxError):
            literal = None
        if literal in values:
            found.append((tok.start[0], str(literal)))
            continue
        for quoted in re.findall(r"'([a-z0-9_]+%?)'", tok.string):
            prefix = quoted.rstrip("%")
            if quoted in values or (
                quoted.endswith("%") and any(v.startswith(prefix) for v in values)
            ):
                found.append((tok.start[0], quoted))
    return found


def test_no_module_spells_a_vocabulary_value_outside_its_declaration() -> None:
    """What the ledger, scoring and the service do with a status, a kind or a purpose comes
    from ingest/vocabulary.py, so a renamed or added value cannot leave them behind. (The
    synthetic furnishers are exempt: they write specs as a furnisher does, checked at load; so
    is Metro 2's built-in spec, whose code tables are checked at load and at import.)"""
    root = Path(openbureau.__file__).parent
    spelled = {
        f"{p.relative_to(root).as_posix()}:{line}: {value}"
        for p in root.rglob("*.py")
        if p.relative_to(root).as_posix() not in ("ingest/vocabulary.py", "ingest/_metro2.py")
        and p.relative_to(root).parts[0] != "synth"
        for line, value in _spelled_values(p.read_text(encoding="utf-8"))
    }
    assert not spelled, sorted(spelled)
    assert _spelled_values(
        "x = {'dpd30': 1}\ny = f\"k LIKE 'bankruptcy%' AND s = 'closed'\"\n"
    ) == [
        (1, "dpd30"),
        (2, "bankruptcy%"),
        (2, "closed"),
    ]


def test_a_status_row_that_says_nothing_of_lateness_is_quarantined(ws, write_file) -> None:
    data = load_yaml(BANK_SPEC)
    data["fields"].append(
        {"column": "DPD", "target": "days_past_due", "type": "integer", "category": "credit"}
    )
    data["fields"][-2]["required"] = False  # STATUS may be empty when DPD says how late
    data["ledger"] = {"event": "account_status", "event_date": "period"}
    spec = parse_spec(data)
    rows = [r + ",0" for r in BANK_GOOD_ROWS[:2]]
    rows += [
        "5,Al,Ok,1980-01-01,,2024-01,1,,95",
        "6,Al,Ok,1980-01-01,,2024-01,1,,",
        "7,Al,Ok,1980-01-01,,2024-01,1,42,",
    ]
    f = write_file("d.csv", BANK_HEADER.rstrip("\n") + ",DPD\n" + "\n".join(rows) + "\n")
    with ws.engine() as engine:
        report = ingest_file(engine, spec, f, key=ws.national_id_key())
        reasons = dict(engine.query("SELECT line_no, reasons FROM quarantine"))
    assert (report.loaded, report.quarantined) == (3, 2)
    assert reasons == {
        5: ["unclassifiable_status"],
        6: ["unknown_code:payment_status", "unclassifiable_status"],
    }
