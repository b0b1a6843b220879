"""The declaration of a warehouse table: its name, columns, types and a line of docs each.

A stage publishes its tables as :class:`Table` values (``openbureau.warehouse.<stage>``); the
stage creates them from :meth:`Table.create_sql`, and every other stage names them through the
declaration (``identity.PERSON_INDEX.name``), never by a string literal.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """A column: its SQL type (DuckDB's spelling), a line of docs, and its constraints."""

    name: str
    type: str
    doc: str
    not_null: bool = False
    primary_key: bool = False  # (a key of one column; ``Table.primary_key`` for more)
    default: str | None = None  # an SQL expression

    def sql(self) -> str:
        parts = [self.name, self.type]
        if self.primary_key:
            parts.append("PRIMARY KEY")
        if self.not_null:
            parts.append("NOT NULL")
        if self.default is not None:
            parts.append(f"DEFAULT {self.default}")
        return " ".join(parts)


@dataclass(frozen=True)
class Table:
    """A table a stage publishes to the warehouse."""

    name: str
    stage: str  # the stage that writes it (``STAGES``); only it and later ones read it
    doc: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()  # SQL conditions every row meets

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: a column is declared twice")
        if self.stage not in STAGES:
            raise ValueError(f"{self.name}: unknown stage {self.stage!r}")
        if missing := set(self.primary_key) - set(names):
            raise ValueError(f"{self.name}: key column(s) not declared: {sorted(missing)}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    def create_sql(self) -> str:
        """``CREATE TABLE IF NOT EXISTS`` with the declared columns, key and checks."""
        parts = [c.sql() for c in self.columns]
        if self.primary_key:
            parts.append(f"PRIMARY KEY ({', '.join(self.primary_key)})")
        parts.extend(f"CHECK ({check})" for check in self.checks)
        body = ",\n    ".join(parts)
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n    {body})"


# The stages in data-flow order: a stage reads only the tables of itself and those before it.
STAGES = ("ingest", "identity", "ledger", "scoring", "publication")


def req(name: str, type_: str, doc: str, *, primary_key: bool = False) -> Column:
    """A column that is never NULL (the declarations read shorter this way)."""
    return Column(name, type_, doc, not_null=True, primary_key=primary_key)


def opt(name: str, type_: str, doc: str, *, primary_key: bool = False) -> Column:
    """A column that may be NULL."""
    return Column(name, type_, doc, primary_key=primary_key)
