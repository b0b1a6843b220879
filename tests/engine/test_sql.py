"""Quoting into SQL: whatever the text, DuckDB reads back exactly the value or the name."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openbureau.engine import DuckDBEngine
from openbureau.engine.sql import ident, literal, literals, path_literal
from openbureau.errors import UserError

NASTY = [
    "O'Brien",
    "'; DROP TABLE person_index; --",
    'a "quoted" name',
    "back\\slash\\'",
    "line\nbreak\ttab",
    "$1 ? :name %s {x}",
    "",
]
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@pytest.fixture(scope="module")
def engine() -> DuckDBEngine:
    return DuckDBEngine()


@pytest.mark.parametrize("text", NASTY)
def test_text_and_names_are_read_back_as_written(engine: DuckDBEngine, text: str) -> None:
    assert engine.scalar(f"SELECT {literal(text)}") == text
    if text:  # (an empty name is no name)
        assert engine.arrow(f"SELECT 1 AS {ident(text)}").column_names == [text]


@settings(max_examples=200, deadline=None)
@given(text=TEXT)
def test_any_text_is_one_literal(engine: DuckDBEngine, text: str) -> None:
    assert engine.query(f"SELECT {literal(text)}, {literals([text, None])}") == [(text, text, None)]


def test_values_keep_their_types(engine: DuckDBEngine) -> None:
    values = [1, -2.5, Decimal("1.25"), True, None, dt.date(2024, 2, 29)]
    assert engine.query(f"SELECT {literals(values)}") == [tuple(values)]
    at = dt.datetime(2024, 1, 2, 3, 4, 5)
    assert engine.scalar(f"SELECT {literal(at)}") == at
    with pytest.raises(TypeError, match="no SQL literal for list"):
        literal([1])  # type: ignore[arg-type]


def test_quoting_follows_the_dialect() -> None:
    assert literal("it's", "duckdb") == "'it''s'"
    assert literal("it's", "spark") == "'it\\'s'"
    assert ident("a`b", "spark") == "`a``b`"


def test_a_path_is_a_literal_and_nul_is_refused(engine: DuckDBEngine, tmp_path: Path) -> None:
    odd = tmp_path / "it's'; DROP TABLE x; --.parquet"
    engine.execute(f"COPY (SELECT 42 AS answer) TO {path_literal(odd)} (FORMAT parquet)")
    assert engine.scalar(f"SELECT answer FROM read_parquet({path_literal(odd)})") == 42
    with pytest.raises(UserError, match="a path cannot hold a NUL character"):
        path_literal("a\x00b")
