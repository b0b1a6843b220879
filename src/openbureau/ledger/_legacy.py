"""Reading the values of batches loaded before a target's type was fixed.

A spec written before ``vocabulary.TYPED_TARGETS`` existed could leave an amount, a count of
days or a date a ``string``: its batches hold the furnisher's text (``-5``, ``1e5``, ``N/A``),
which a plain cast would either accept unchecked or fail on, stopping the ledger at every later
batch. Such a column is read here as ingest now reads its type (the strict syntax, two
decimals, the bounds; ``ingest._values.read_sql``), so no value reaches an event that ingest
would refuse. A value that cannot be read leaves the event's column empty and is noted on the
event (``unreadable``); ``build_ledger`` then refuses the event with one line naming its batch,
record and field (``_checks``) until it is corrected or suppressed.

A column loaded with the type ingest writes may still hold values outside the bounds
(``ingest.bounds``): versions before the bounds wrote a credit limit of -5 or 99,999 days past
due as readily as any other. The same bounds are applied to it, and a value outside them is
noted and refused the same way; a column of another type (a ``DOUBLE``) is read as its text.
"""

from __future__ import annotations

from openbureau.engine import Engine
from openbureau.engine.sql import literal
from openbureau.ingest import bounds
from openbureau.ingest._values import read_sql
from openbureau.ingest.spec import DataCategory, FieldSpec
from openbureau.ingest.vocabulary import types_of
from openbureau.ledger._schema import AMOUNT, UNREADABLE

# The event column types read from typed targets: the field type ingest reads them as, and
# the column type it writes. A loaded column of another type is read again as text.
_LOADED_AS = {
    AMOUNT: ("amount", "DECIMAL(18,2)"),
    "INTEGER": ("integer", "BIGINT"),
    "DATE": ("date", "DATE"),
}
_FORMATS = {"date": ["%Y-%m-%d"], "month": ["%Y-%m", "%Y-%m-%d"]}
_WHAT = {
    "amount": "an amount with at most two decimals",
    "integer": "a whole number",
    "date": "a date (YYYY-MM-DD)",
    "month": "a month (YYYY-MM)",
}


def column_types(engine: Engine, table: str) -> dict[str, str]:
    """The type of each column of a feed table, as the engine names it."""
    rows = engine.query(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?",
        [table],
    )
    return {str(name): str(data_type) for name, data_type in rows}


def _as_field(target: str, field_type: str) -> FieldSpec:
    """How ingest reads ``target`` today: its fixed type (a date for a target only a ledger
    block names), default formats and the declared bounds."""
    declared = types_of(target)
    if declared:
        field_type = declared[0]
    return FieldSpec.model_validate(
        {
            "column": target,
            "target": target,
            "type": field_type,
            "category": DataCategory.credit,
            "formats": _FORMATS.get(field_type),
        }
    )


def _words(f: FieldSpec, loaded_as: str) -> str:
    limits = bounds.field_bounds(f)
    within = f" from {limits.words()}" if limits is not None else ""
    return f"not {_WHAT[f.type]}{within} (loaded as {loaded_as} by an earlier version)"


class LoadedValues:
    """The SQL reading a batch's loaded row (``s``) for the ledger's typed event columns."""

    def __init__(self, types: dict[str, str]) -> None:
        self.types = types
        self._unreadable: list[str] = []

    def value(self, target: str, sql_type: str, field: str) -> str:
        """``s.<target>`` as a value of ``sql_type`` for the event column ``field``."""
        loaded = _LOADED_AS.get(sql_type)
        if loaded is None:
            return f"s.{target}"
        f = _as_field(target, loaded[0])
        column_type = self.types.get(target)
        if column_type == loaded[1]:
            return self._bounded(f, f"s.{target}", field, column_type)
        text = f"CAST(s.{target} AS VARCHAR)"
        read = read_sql(f, text)
        loaded_as = "text" if column_type in (None, "VARCHAR") else column_type
        self._note(field, target, text, _words(f, loaded_as), f"({read}) IS NULL")
        return read

    def _bounded(self, f: FieldSpec, value: str, field: str, column_type: str) -> str:
        """A column loaded as the type ingest writes, by a version that may not have checked
        the bounds (``ingest.bounds``): a value outside them is not read."""
        limits = bounds.field_bounds(f)
        if limits is None:
            return value
        why = (
            f"outside {limits.words()} (loaded as {column_type} by an earlier version, "
            "which did not check the bounds)"
        )
        within = limits.sql(value)
        self._note(field, f.target, f"CAST({value} AS VARCHAR)", why, f"NOT ({within})")
        return f"CASE WHEN {within} THEN {value} END"

    def _note(self, field: str, target: str, text: str, why: str, unread: str) -> None:
        """Note the value ``text`` of ``target`` as unreadable when the SQL ``unread`` holds."""
        note = ", ".join(
            f"'{k}': {v}"
            for k, v in (
                ("field", literal(field)),
                ("target", literal(target)),
                ("text", text),
                ("why", literal(why)),
            )
        )
        self._unreadable.append(f"CASE WHEN {text} IS NOT NULL AND {unread} THEN {{{note}}} END")

    def unreadable(self) -> str:
        """The ``unreadable`` column: the values of the row the event could not take."""
        notes = ", ".join(self._unreadable)
        return f"CAST(list_filter([{notes}], lambda x: x IS NOT NULL) AS {UNREADABLE})"
