"""Stage SQL, written in DuckDB's dialect, transpiled to Spark SQL by sqlglot: what it makes of
each DuckDB-only construct is as ``engine._dialect`` (and docs/engines.md) says, and the
stages' SQL uses no DuckDB function that list does not name."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import pytest
import sqlglot
import yaml
from sqlglot import exp
from sqlglot.errors import ErrorLevel
from typer.testing import Result

from openbureau.engine._dialect import CONSTRUCTS, PORTABLE_UNKNOWN, Construct
from openbureau.identity import standardise
from openbureau.ledger.features import evidence_sql, features_sql
from openbureau.scoring import Scorecard
from openbureau.scoring.reasons import reasons_sql
from openbureau.scoring.score import scores_sql
from tests.conftest import BANK_GOOD_ROWS, BANK_HEADER
from tests.scoring.test_score import HAND_WRITTEN


def _spark(sql: str) -> str:
    return sqlglot.transpile(sql, read="duckdb", write="spark", unsupported_level=ErrorLevel.RAISE)[
        0
    ]


@pytest.mark.parametrize("construct", CONSTRUCTS, ids=lambda c: c.name)
def test_sqlglot_does_with_each_construct_what_the_inventory_says(construct: Construct) -> None:
    assert construct.found(construct.example)
    if construct.outcome == "refused":
        with pytest.raises(sqlglot.errors.SqlglotError):
            _spark(construct.example)
        return
    spark = _spark(construct.example)
    if construct.outcome == "passed through":
        assert construct.found(spark), spark
    elif construct.outcome == "wrong":
        assert construct.wrong_as and construct.wrong_as in spark, spark
    else:  # the DuckDB form is gone
        assert not construct.found(spark), spark


@pytest.fixture(scope="module")
def stage_sql(
    tmp_path_factory: pytest.TempPathFactory,
) -> list[str]:
    """Statements of each stage: what the engine ran to ingest a feed, and the SQL identity,
    the ledger and scoring compile."""
    from typer.testing import CliRunner

    from openbureau.cli import app

    root = tmp_path_factory.mktemp("transpile")
    ran: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            ran.append(str(record.args[1]) if isinstance(record.args, tuple) else "")

    log = logging.getLogger("openbureau.engine._base")
    keep, level = Keep(), log.level
    log.addHandler(keep)
    log.setLevel(logging.DEBUG)
    try:
        run: Callable[..., Result] = lambda *a: CliRunner().invoke(app, [str(x) for x in a])  # noqa: E731
        assert run("init", root / "ws").exit_code == 0
        spec = root / "bank.yaml"
        from tests.conftest import BANK_SPEC

        spec.write_text(BANK_SPEC)
        feed = root / "bank.csv"
        feed.write_text(BANK_HEADER + "\n".join(BANK_GOOD_ROWS) + "\n")
        done = run("ingest", spec, feed, "-w", root / "ws")
        assert done.exit_code == 0, done.output
    finally:
        log.removeHandler(keep)
        log.setLevel(level)
    card = Scorecard.model_validate(yaml.safe_load(HAND_WRITTEN))
    as_of = dt.date(2024, 12, 31)
    compiled = [standardise._standardise(c) for c in ("US", "GB", "DE")]
    compiled += [features_sql(as_of), evidence_sql(as_of, "wanted"), scores_sql(card)]
    compiled.append(reasons_sql(card, "scored"))
    return list(dict.fromkeys(s for s in ran if s)) + compiled


def test_stage_sql_transpiles_but_for_constructs_sqlglot_refuses(stage_sql: list[str]) -> None:
    refused = [c for c in CONSTRUCTS if c.outcome == "refused"]
    assert len(stage_sql) > 50
    for sql in stage_sql:
        try:
            _spark(sql)
        except sqlglot.errors.SqlglotError as exc:
            assert any(c.found(sql) for c in refused), f"{exc}\n{sql[:300]}"


def test_stage_sql_uses_no_duckdb_function_the_inventory_misses(stage_sql: list[str]) -> None:
    unknown: dict[str, str] = {}
    for sql in stage_sql:
        try:
            trees = sqlglot.parse(sql, read="duckdb")
        except sqlglot.errors.ParseError:
            continue  # (refused: the test above holds it to the inventory)
        for tree in trees:
            for f in tree.find_all(exp.Anonymous) if tree else ():
                name = f.name.lower()
                if name not in PORTABLE_UNKNOWN and not any(
                    c.found(f.sql("duckdb")) for c in CONSTRUCTS
                ):
                    unknown[name] = sql[:200]
    assert unknown == {}, "declare these in engine/_dialect.py CONSTRUCTS (and docs/engines.md)"
