"""The one place names and values are quoted into SQL.

Stage SQL is written in DuckDB's dialect (the engine transpiles it for another); a value or a
name that comes from a user, a file or a setting enters that text only through these
functions, which quote it as sqlglot does for the dialect, so a quote, a backslash or a
``'; DROP TABLE`` in a workspace path or a furnisher's name is only ever text.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from pathlib import PurePath
from typing import TYPE_CHECKING

from openbureau.errors import UserError

if TYPE_CHECKING:
    from sqlglot.generator import Generator

# (sqlglot is imported at the first quoting, not with the engine: 60 ms a process)

DIALECT = "duckdb"  # the dialect stage SQL is written in

_GENERATORS = threading.local()  # (a generator keeps state while it writes: one per thread)


def _generator(dialect: str) -> Generator:
    from sqlglot.dialects.dialect import Dialect

    per_thread: dict[str, Generator] = _GENERATORS.__dict__.setdefault("by_dialect", {})
    found = per_thread.get(dialect)
    if found is None:
        found = per_thread[dialect] = Dialect.get_or_raise(dialect).generator()
    return found


def literal(value: str | int | float | bool | date | Decimal | None, dialect: str = DIALECT) -> str:
    """A SQL literal for ``value``: text quoted, numbers as written, dates and timestamps
    typed (``CAST('2024-01-31' AS DATE)``), None as NULL."""
    from sqlglot import exp

    if value is None:
        node: exp.Expression = exp.Null()
    elif isinstance(value, bool):
        node = exp.Boolean(this=value)
    elif isinstance(value, int | float | Decimal):
        node = exp.Literal.number(value)
    elif isinstance(value, datetime):
        node = exp.cast(exp.Literal.string(value.isoformat(sep=" ")), exp.DataType.Type.TIMESTAMP)
    elif isinstance(value, date):
        node = exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.DATE)
    elif isinstance(value, str):
        node = exp.Literal.string(value)
    else:
        raise TypeError(f"no SQL literal for {type(value).__name__}")
    return _generator(dialect).sql(node)


def literals(values: Iterable[str | int | float | date | None], dialect: str = DIALECT) -> str:
    """Literals separated by commas (the inside of ``IN (...)`` or of a list)."""
    return ", ".join(literal(v, dialect) for v in values)


def ident(name: str, dialect: str = DIALECT) -> str:
    """A quoted identifier (a column or table name as the user wrote it)."""
    from sqlglot import exp

    return _generator(dialect).sql(exp.to_identifier(name, quoted=True))


def path_literal(path: str | PurePath, dialect: str = DIALECT) -> str:
    """A file path as a SQL string literal (``read_parquet(...)``, ``ATTACH ...``).

    Raises:
        UserError: the path holds a NUL character, which no file system allows.
    """
    text = str(path)
    if "\x00" in text:
        raise UserError(f"{text!r}: a path cannot hold a NUL character")
    return literal(text, dialect)
