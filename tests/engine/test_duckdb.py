import pyarrow as pa
import pytest

from openbureau.engine import DuckDBEngine, EngineError
from openbureau.errors import UserError


def test_transaction_is_all_or_nothing() -> None:
    e = DuckDBEngine()
    e.execute("CREATE TABLE t (a INT)")
    with pytest.raises(ValueError), e.transaction():
        e.execute("INSERT INTO t VALUES (1)")
        raise ValueError("stop")
    assert e.scalar("SELECT count(*) FROM t") == 0
    with e.transaction():
        e.execute("INSERT INTO t VALUES (?)", [2])
    assert e.query("SELECT a FROM t") == [(2,)]


def test_registered_arrow_tables_are_scoped() -> None:
    e = DuckDBEngine()
    with e.registered("arrow_t", pa.table({"x": [1, 2, 3]})):
        assert e.scalar("SELECT sum(x) FROM arrow_t") == 6
    with pytest.raises(EngineError, match="arrow_t"):
        e.query("SELECT * FROM arrow_t")


def test_text_columns_given_as_lists_are_scoped() -> None:
    e = DuckDBEngine()
    with e.registered("lists_t", {"a": ["x", None, "z"], "b": ["1", "2", None]}):
        assert e.query("SELECT a, b FROM lists_t ORDER BY b") == [
            ("x", "1"),
            (None, "2"),
            ("z", None),
        ]
    with pytest.raises(EngineError, match="lists_t"):
        e.query("SELECT * FROM lists_t")
    with e.registered("empty_t", {"a": []}):
        assert e.query("SELECT * FROM empty_t") == []
    # a failure inside a transaction is the error raised, not the clean-up after it
    with (
        pytest.raises(EngineError, match="nowhere"),
        e.transaction(),
        e.registered("lists_t", {"a": ["x"]}),
    ):
        e.execute("SELECT * FROM nowhere")
    with pytest.raises(EngineError, match="lists_t"):
        e.query("SELECT * FROM lists_t")


def test_schema_helpers() -> None:
    e = DuckDBEngine()
    e.execute("CREATE TABLE t (a INT, b VARCHAR)")
    assert e.table_exists("t") and not e.table_exists("u")
    assert e.columns("t") == ["a", "b"]


def test_an_unopenable_warehouse_is_a_user_error(tmp_path) -> None:
    with pytest.raises(UserError, match="cannot open warehouse"):
        DuckDBEngine(tmp_path / "missing" / "w.duckdb")


def test_times_are_stored_in_utc_whatever_the_machines_time_zone(monkeypatch) -> None:
    """The ID history's times are compared with the service's audit log, kept in UTC."""
    import datetime as dt
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        stored = DuckDBEngine().scalar("SELECT now()::TIMESTAMP")
    finally:
        monkeypatch.undo()
        time.tzset()
    utc = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert abs((utc - stored).total_seconds()) < 60
