"""Implausible values: bounds per type and target, strict numbers, a maximum length."""

from __future__ import annotations

import pytest

from openbureau.errors import SpecError
from openbureau.ingest import parse_spec
from openbureau.ingest.load import ingest_file

SPEC = {
    "name": "cu_accounts",
    "furnisher": "CU",
    "feed": "accounts",
    "format": "csv",
    "record_key": ["account_id", "period"],
    "fields": [
        {"column": "ACCT", "target": "account_id", "category": "reference", "required": True},
        {"column": "DOB", "target": "dob", "type": "date", "category": "identity"},
        {
            "column": "PERIOD",
            "target": "period",
            "type": "month",
            "category": "credit",
            "required": True,
        },
        {"column": "LIMIT", "target": "credit_limit", "type": "amount", "category": "credit"},
        {"column": "BAL", "target": "balance", "type": "amount", "category": "credit"},
        {"column": "DPD", "target": "days_past_due", "type": "integer", "category": "credit"},
        {"column": "NOTE", "target": "remarks", "category": "reference", "max_length": 10},
    ],
}
HEADER = "ACCT,DOB,PERIOD,LIMIT,BAL,DPD,NOTE\n"
GOOD = [
    '1,1980-01-02,2024-01,5000,"1,234.50",0,ok',
    "2,1980-01-02,2024-01,0,-20.00,12.0,",
    '3,1980-01-02,2024-01,"$ 1,000,000",.5,+3,',
]


def load(ws, write_file, lines: list[str], spec: dict = SPEC):
    f = write_file("cu.csv", HEADER + "\n".join(lines) + "\n")
    with ws.engine() as engine:
        report = ingest_file(engine, parse_spec(spec), f, key=ws.national_id_key())
        reasons = dict(engine.query("SELECT line_no, reasons FROM quarantine"))
    return report, reasons


def test_plausible_values_load(ws, write_file) -> None:
    report, reasons = load(ws, write_file, GOOD)
    assert (report.loaded, report.quarantined, reasons) == (3, 0, {})
    with ws.engine(read_only=True) as engine:
        got = engine.query(
            "SELECT credit_limit, balance, days_past_due FROM src_cu_accounts ORDER BY line_no"
        )
    assert [tuple(str(v) for v in r) for r in got] == [
        ("5000.00", "1234.50", "0"),
        ("0.00", "-20.00", "12"),
        ("1000000.00", "0.50", "3"),
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("9,1980-01-02,2024-01,-5,1,0,", "implausible_value:credit_limit"),  # a negative limit
        ("9,1980-01-02,2024-01,5000,1e5,0,", "bad_amount:balance"),  # an exponent
        ("9,1980-01-02,2024-01,5000,1_000,0,", "bad_amount:balance"),  # an underscore
        ('9,1980-01-02,2024-01,5000,"12,34",0,', "bad_amount:balance"),  # not a thousands group
        ("9,1980-01-02,2024-01,5000,0x10,0,", "bad_amount:balance"),
        ("9,1980-01-02,2024-01,5000,1.2.3,0,", "bad_amount:balance"),
        ("9,1980-01-02,2024-01,5000,2000000000,0,", "implausible_value:balance"),
        ("9,1980-01-02,2024-01,5000,99999999999999999999,0,", "implausible_value:balance"),
        ("9,1980-01-02,2024-01,5000,1,-3,", "implausible_value:days_past_due"),
        ("9,1980-01-02,2024-01,5000,1,1e3,", "bad_integer:days_past_due"),
        ("9,1980-01-02,2024-01,5000,1,12.5,", "bad_integer:days_past_due"),
        ("9,1380-01-02,2024-01,5000,1,0,", "implausible_date:dob"),  # parses, so not unparseable
        ("9,2099-01-02,2024-01,5000,1,0,", "implausible_date:dob"),  # born in the future
        ("9,1980-01-02,1380-01,5000,1,0,", "implausible_date:period"),  # months are bounded too
        ("9,1980-01-02,2024-01,5000,1,0,far too long", "field_too_long:remarks"),
        ("x" * 5_000_000 + ",1980-01-02,2024-01,5000,1,0,", "field_too_long:account_id"),
    ],
)
def test_each_implausible_value_has_its_reason(ws, write_file, line: str, reason: str) -> None:
    report, reasons = load(ws, write_file, [*GOOD, line])
    assert (report.read, report.loaded, report.quarantined) == (4, 3, 1)
    assert reasons == {5: [reason]}


def test_a_spec_tightens_bounds_and_sets_lengths(ws, write_file) -> None:
    spec = {
        **SPEC,
        "fields": [
            {**f, "min": 0, "max": 1000}
            if f["target"] == "balance"
            else {**f, "min": "2024-01-01"}
            if f["target"] == "period"
            else f
            for f in SPEC["fields"]
        ],
    }
    report, reasons = load(
        ws,
        write_file,
        [
            "1,1980-01-02,2024-01,5000,1000,0,",
            "2,1980-01-02,2024-01,5000,1000.01,0,",
            "3,1980-01-02,2024-01,5000,-1,0,",
            "4,1980-01-02,2023-12,5000,1,0,",
        ],
        spec,
    )
    assert report.loaded == 1
    assert reasons == {
        3: ["implausible_value:balance"],
        4: ["implausible_value:balance"],
        5: ["implausible_date:period"],
    }


def test_invalid_null_empties_and_counts_implausible_values(ws, write_file) -> None:
    spec = {
        **SPEC,
        "fields": [
            {**f, "invalid": "null"} if not f.get("required") else f for f in SPEC["fields"]
        ],
    }
    report, reasons = load(ws, write_file, ["1,1380-01-02,2024-01,-5,1e5,-3,far too long"], spec)
    assert (report.loaded, reasons) == (1, {})
    with ws.engine(read_only=True) as engine:
        got = engine.query(
            "SELECT dob, credit_limit, balance, days_past_due, remarks FROM src_cu_accounts"
        )
    assert got == [(None, None, None, None, None)]
    warnings = " | ".join(report.warnings)
    for counted in (
        "dob: 1 values set to empty (implausible_date",
        "credit_limit: 1 values set to empty (implausible_value",
        "balance: 1 values set to empty (bad_amount",
        "days_past_due: 1 values set to empty (implausible_value",
        "remarks: 1 values set to empty (field_too_long",
    ):
        assert counted in warnings


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"target": "credit_limit", "min": -1},
            "min and max can only tighten the bounds (0 to 1,000,000,000)",
        ),
        ({"target": "balance", "min": 10, "max": 5}, "min 10 is above max 5"),
        ({"target": "dob", "min": "1850-01-01"}, "min can only tighten the bounds (1900-01-01"),
        ({"target": "dob", "min": 3}, "min of a date field must be a date"),
        ({"target": "balance", "max": "2024-01-01"}, "max of a number field must be a number"),
        ({"target": "remarks", "min": 3}, "min and max apply to fields of type amount, integer"),
        ({"target": "remarks", "max_length": 0}, "greater than or equal to 1"),
    ],
)
def test_bounds_a_spec_cannot_set(change: dict, message: str) -> None:
    target = change.pop("target")
    spec = {
        **SPEC,
        "fields": [{**f, **change} if f["target"] == target else f for f in SPEC["fields"]],
    }
    with pytest.raises(SpecError) as exc:
        parse_spec(spec, "cu.yaml")
    assert message in str(exc.value) and str(exc.value).startswith("cu.yaml: fields.")


def test_bounds_survive_the_round_trip_through_yaml(tmp_path) -> None:
    from openbureau.ingest import load_spec, save_spec

    spec = parse_spec(
        {
            **SPEC,
            "fields": [
                {**f, "min": 0, "max": 2.5}
                if f["target"] == "balance"
                else {**f, "max": "2030-01-01"}
                if f["target"] == "period"
                else f
                for f in SPEC["fields"]
            ],
        }
    )
    again = load_spec(save_spec(spec, tmp_path / "cu.yaml"))
    assert again == spec and again.fingerprint() == spec.fingerprint()
    assert "min: 0\n" in (tmp_path / "cu.yaml").read_text()
