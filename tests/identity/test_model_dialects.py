"""The saved link model in each engine's SQL: translated for Spark from DuckDB's, and a model
in Spark's SQL saved in DuckDB's (without Spark: tests/engine/test_spark_identity.py runs
them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlglot

from openbureau.errors import UserError
from openbureau.identity import _splink
from openbureau.identity._dialect import UnknownDialect, functions, to_dialect

DEFAULT_MODEL = Path(_splink.__file__).parent / "data" / "default-linkage-model.json"


def conditions(model: dict[str, Any]) -> list[str]:
    return [lv["sql_condition"] for c in model["comparisons"] for lv in c["comparison_levels"]]


def rules(model: dict[str, Any]) -> list[str]:
    return [_splink._rule_sql(r) for r in model["blocking_rules_to_generate_predictions"]]


def declared(dialect: str) -> dict[str, Any]:
    return {**_splink.settings().create_settings_dict(dialect), "sql_dialect": dialect}


@pytest.mark.parametrize("model_of", ["default", "declared"])
def test_a_saved_model_translates_to_spark_sql_with_its_estimates(model_of: str) -> None:
    saved = json.loads(DEFAULT_MODEL.read_text()) if model_of == "default" else declared("duckdb")
    spark = _splink.for_dialect(saved, "spark")
    assert spark["sql_dialect"] == "spark"
    for sql in [*conditions(spark), *rules(spark)]:
        if sql != "ELSE":
            sqlglot.parse_one(sql, read="spark")  # (Spark's SQL: raises if not)
        lowered = sql.lower()
        for duckdb_only in ("jaro_winkler_similarity", "list_has_all", "::", 'l."', "epoch("):
            assert duckdb_only not in lowered, sql
    assert any("jaro_winkler(" in s.lower() for s in conditions(spark))
    assert any("array_except(" in s.lower() for s in conditions(spark))
    # the estimates are untouched
    for a, b in zip(saved["comparisons"], spark["comparisons"], strict=True):
        for la, lb in zip(a["comparison_levels"], b["comparison_levels"], strict=True):
            assert {k: v for k, v in la.items() if k != "sql_condition"} == {
                k: v for k, v in lb.items() if k != "sql_condition"
            }
    assert (
        spark["probability_two_random_records_match"]
        == (saved["probability_two_random_records_match"])
    )


def test_a_model_in_spark_sql_is_saved_in_duckdb_sql(tmp_path: Path) -> None:
    spark = declared("spark")
    spark["comparisons"][0]["comparison_levels"][1]["m_probability"] = 0.123
    _splink.save_model(spark, tmp_path / "m.json", 3)
    saved = json.loads((tmp_path / "m.json").read_text())
    ours = declared("duckdb")
    assert saved["sql_dialect"] == "duckdb"
    assert conditions(saved) == conditions(ours)
    assert rules(saved) == rules(ours)
    assert saved["comparisons"][0]["comparison_levels"][1]["m_probability"] == 0.123
    # and loads as any saved model does (checked by linking on DuckDB)
    assert _splink.load_model(tmp_path / "m.json").version == 3


def test_a_duckdb_model_is_saved_as_it_was(tmp_path: Path) -> None:
    saved = json.loads(DEFAULT_MODEL.read_text())
    _splink.save_model(saved, tmp_path / "m.json", 1)
    again = json.loads((tmp_path / "m.json").read_text())
    assert conditions(again) == conditions(saved)
    assert rules(again) == rules(saved)


@pytest.mark.parametrize("change", ["fewer levels", "another rule"])
def test_a_spark_model_of_another_structure_is_refused(tmp_path: Path, change: str) -> None:
    spark = declared("spark")
    if change == "fewer levels":
        spark["comparisons"][0]["comparison_levels"].pop()
    else:
        spark["blocking_rules_to_generate_predictions"].append("l.city = r.city")
    with pytest.raises(UserError, match="train it again"):
        _splink.save_model(spark, tmp_path / "m.json", 1)
    assert not (tmp_path / "m.json").exists()


def test_the_address_words_function_for_spark_is_duckdbs_macro() -> None:
    (statement,) = functions("spark")
    assert statement.startswith("CREATE OR REPLACE TEMPORARY FUNCTION ob_address_words(")
    assert "'STREET', 'ST'" in statement
    sqlglot.parse_one(statement.split(" RETURN ", 1)[1], read="spark")


def test_no_translation_for_an_engine_it_does_not_know() -> None:
    with pytest.raises(UnknownDialect, match="postgres"):
        to_dialect('"a_l" = "a_r"', "postgres")


def test_a_model_file_in_spark_sql_loads_in_duckdb_sql(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(declared("spark")))
    loaded = _splink.load_model(path)
    assert rules(loaded.settings) == rules(declared("duckdb"))
    spark = declared("spark")
    spark["comparisons"][0]["comparison_levels"].pop()
    path.write_text(json.dumps(spark))
    with pytest.raises(UserError, match=r"m\.json: a spark linkage model .* train it again"):
        _splink.load_model(path)


def test_every_level_spark_trains_with_is_in_sparks_sql() -> None:
    """Training on Spark renders the declared settings for Spark: a level left in DuckDB's SQL
    would read its "column" names as strings there (Spark's double quotes), never hold, and
    leave the level unestimated (the household levels, trained on Spark: m None)."""
    spark = declared("spark")
    for c in spark["comparisons"]:
        for lv in c["comparison_levels"]:
            assert '"' not in lv["sql_condition"], (c["output_column_name"], lv["sql_condition"])
