from pathlib import Path

import pytest

from openbureau.config import DEFAULT_TOML, load_settings, parse_settings
from openbureau.errors import ConfigError


def test_defaults_and_default_file_agree(tmp_path: Path) -> None:
    p = tmp_path / "bureau.toml"
    p.write_text(DEFAULT_TOML)
    assert load_settings(p) == parse_settings({})


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    p = tmp_path / "bureau.toml"
    p.write_text("")
    s = load_settings(p)
    assert s.warehouse.engine == "duckdb" and s.ingest.max_quarantine_share == 0.5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"warehouse": {"engine": "oracle"}},
            "warehouse.engine: unknown engine (known engines: duckdb, spark), got 'oracle'",
        ),
        ({"warehouse": {"threads": 0}}, "warehouse.threads: Input should be greater than"),
        ({"bureau": {"country": "USA"}}, "bureau.country: String should have at most 2"),
        ({"bureau": {"country": "XX"}}, "bureau.country: 'XX' is not an ISO 3166 country code"),
        ({"ingest": {"max_quarantine_share": "lots"}}, "ingest.max_quarantine_share:"),
        ({"nonsense": {}}, "nonsense: unknown key"),
        (
            {"identity": {"edge_threshold": 0.95}},
            "identity: edge_threshold (0.95) is above link_threshold (0.9); it must not be",
        ),
        (
            {"service": {"login_failures_per_account": 0}},
            "service.login_failures_per_account: Input should be greater than or equal to 1",
        ),
    ],
)
def test_bad_values_name_key_and_expectation(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_settings(data, "bureau.toml")
    assert str(exc.value).startswith("bureau.toml: ")
    assert message in str(exc.value)


def test_the_country_is_read_in_capitals(tmp_path: Path) -> None:
    assert parse_settings({"bureau": {"country": "gb"}}, "bureau.toml").bureau.country == "GB"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found; is this a workspace"):
        load_settings(tmp_path / "bureau.toml")
