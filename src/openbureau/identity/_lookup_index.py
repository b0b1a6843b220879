"""The lookup index: the identity records a lender's lookup compares, held in memory and
found by blocking key.

Publishing writes two tables into the serving copy (:func:`build_sql`), so that a service
loads them rather than computes them:

- ``lookup_records``: every usable identity record that has a person (link.INPUT_COLUMNS, its
  ``person_id``, and for each column the model adjusts for term frequency ``tf_<column>``, the
  value's share of the usable records, as linking computes it), in person order, numbered by
  ``rid`` from 1. A person's records are neighbours.
- ``lookup_keys``: one row per record and blocking rule whose key columns the record has:
  ``key``, a 64-bit hash of the rule and the record's key values, and the record's ``rid``,
  sorted by key.

:class:`LookupIndex` holds them in memory (Arrow columns and two NumPy arrays: about 200 bytes
a record and 12 bytes a key, some 320 MB at 1,000,000 records) and answers a lookup's two
questions in microseconds: which records share one of these keys, and which records their
persons hold. A database without the tables (the warehouse, a copy published before them, or
one whose term frequencies are not the model's) has them computed from ``identity_records``
and ``person_index`` when loaded.

A hash only narrows the search: the lookup still applies each rule's own condition to the
records it finds, so a collision costs a comparison, never a wrong candidate. The rules indexed
are all the rules linking knows (``_splink.RULES`` and ``RETIRED_RULES``), each under an id of
its SQL; a model with a rule of its own has that rule's candidates found by a scan.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from openbureau.identity import _splink
from openbureau.identity.link import INPUT_COLUMNS

RECORDS = "lookup_records"
KEYS = "lookup_keys"
TABLES = (RECORDS, KEYS)


def indexed_rules() -> list[_splink.Rule]:
    """Every blocking rule linking knows, each once."""
    seen: dict[str, _splink.Rule] = {}
    for rule in (*_splink.RULES, *_splink.RETIRED_RULES):
        seen.setdefault(rule.sql, rule)
    return list(seen.values())


def rule_id(rule: _splink.Rule) -> str:
    """The id hashed into a rule's keys: of its SQL, so a changed rule is another rule."""
    return hashlib.md5(rule.sql.encode()).hexdigest()[:12]


def key_sql(rule: _splink.Rule, side: str) -> str:
    """SQL: the key of record ``side`` (``l``: the query; ``r``: an indexed record) under
    ``rule``, NULL when the record lacks a key value. A rule pairs ``l`` with ``r`` when the
    left-hand expressions of ``l`` equal the right-hand ones of ``r``, so the query is keyed by
    the left and the index by the right."""
    exprs = [(a if side == "l" else b).format(s=side) for a, b in rule.keys]
    present = " AND ".join(f"{e} IS NOT NULL" for e in exprs)
    values = ", ".join(f"CAST({e} AS VARCHAR)" for e in exprs)
    return (
        f"CASE WHEN {present} THEN md5_number_lower("
        f"'{rule_id(rule)}' || chr(31) || concat_ws(chr(31), {values})) END"
    )


# The two forms a rule's key expression takes (``_splink.same``): a column of the record, and
# its first characters.
_COLUMN = re.compile(r'^\{s\}\."?(\w+)"?$')
_LEFT = re.compile(r'^left\(\{s\}\."?(\w+)"?, (\d+)\)$')


def query_key(rule: _splink.Rule) -> Callable[[Mapping[str, Any]], int | None] | None:
    """The key of a query record under ``rule``, computed in Python as :func:`key_sql` computes
    it for ``l`` (a millisecond less a lookup than a statement); None when one of the rule's
    expressions is not a column or its first characters. Values are standardised text (ASCII)
    or dates, whose text is ISO, as DuckDB casts them."""
    parts: list[tuple[str, int | None]] = []
    for a, _ in rule.keys:
        if found := _COLUMN.match(a):
            parts.append((found.group(1), None))
        elif found := _LEFT.match(a):
            parts.append((found.group(1), int(found.group(2))))
        else:
            return None
    prefix = rule_id(rule) + "\x1f"

    def key(record: Mapping[str, Any]) -> int | None:
        values = []
        for column, n in parts:
            value = record[column]
            if value is None:
                return None
            text = value.isoformat() if isinstance(value, date) else str(value)
            values.append(text if n is None else text[:n])
        # (md5_number_lower: the digest's second half, little-endian)
        digest = hashlib.md5((prefix + "\x1f".join(values)).encode()).digest()
        return int.from_bytes(digest[8:], "little")

    return key


def records_sql(tf_columns: Sequence[str], source: str = "") -> str:
    """SELECT: the rows of ``lookup_records`` from ``{source}identity_records`` and
    ``{source}person_index``."""
    population = f"(SELECT {INPUT_COLUMNS} FROM {source}identity_records WHERE usable)"
    # (a value's share of the records holding one, as linking's term-frequency tables; NULL
    # for a missing value, which no level adjusts)
    tf = "".join(
        f", CASE WHEN {c} IS NOT NULL THEN count(*) OVER (PARTITION BY {c})::DOUBLE "
        f"/ count({c}) OVER () END AS tf_{c}"
        for c in tf_columns
    )
    return f"""SELECT (row_number() OVER (ORDER BY p.person_id, r.unique_id))::UINTEGER AS rid,
                      p.person_id, r.*
               FROM (SELECT *{tf} FROM {population}) r
               JOIN {source}person_index p ON p.identity_id = r.unique_id
               ORDER BY rid"""


def keys_sql(records: str) -> str:
    """SELECT: the rows of ``lookup_keys`` for the records in the table ``records``."""
    keys = " UNION ALL ".join(
        f"SELECT {key_sql(rule, 'r')} AS key, rid FROM {records} r" for rule in indexed_rules()
    )
    return f"SELECT key, rid FROM ({keys}) WHERE key IS NOT NULL ORDER BY key, rid"


def build_sql(target: str, tf_columns: Sequence[str], source: str = "") -> list[str]:
    """The statements that write the tables into the catalog ``target`` (``pub``)."""
    return [
        f"CREATE TABLE {target}.{RECORDS} AS {records_sql(tf_columns, source)}",
        f"CREATE TABLE {target}.{KEYS} AS {keys_sql(f'{target}.{RECORDS}')}",
    ]


class LookupIndex:
    """The records and keys in memory (see the module docstring); read-only once loaded, so
    threads share it."""

    def __init__(self, records: pa.Table, keys: pa.Table) -> None:
        self.records = records.combine_chunks()  # (one chunk: taking rows is then direct)
        self.columns = frozenset(records.column_names)
        self._keys = keys.column("key").to_numpy()
        self._key_rows = (keys.column("rid").to_numpy() - 1).astype(np.uint32)  # (rid from 1)
        person = records.column("person_id")
        changes = pc.not_equal(person.slice(1), person.slice(0, max(len(person) - 1, 0)))
        # the first row of each person, and (last) the end of the table
        self._starts = np.concatenate(
            ([0], np.flatnonzero(changes.to_numpy(zero_copy_only=False)) + 1, [len(person)])
        ).astype(np.int64)

    @classmethod
    def load(cls, cursor: duckdb.DuckDBPyConnection, tf_columns: Sequence[str]) -> LookupIndex:
        """The index from the tables the cursor sees; computed when they are missing or lack
        a term frequency the model needs."""
        want = {"rid", "person_id", "unique_id", *(f"tf_{c}" for c in tf_columns)}
        try:
            records = cursor.sql(f"SELECT * FROM {RECORDS} ORDER BY rid").to_arrow_table()
            if not want <= set(records.column_names):
                raise LookupError
            keys = cursor.sql(f"SELECT key, rid FROM {KEYS} ORDER BY key, rid").to_arrow_table()
        except (duckdb.CatalogException, LookupError):
            records = cursor.sql(records_sql(tf_columns)).to_arrow_table()
            cursor.register("_lookup_records_in_memory", records)
            try:
                keys = cursor.sql(keys_sql("_lookup_records_in_memory")).to_arrow_table()
            finally:
                cursor.unregister("_lookup_records_in_memory")
        return cls(records, keys)

    def hits(self, keys: Sequence[int]) -> np.ndarray:
        """Rows of the records holding one of ``keys``, each once, in order."""
        wanted = np.asarray(sorted(set(keys)), dtype=np.uint64)
        lo = np.searchsorted(self._keys, wanted, side="left")
        hi = np.searchsorted(self._keys, wanted, side="right")
        if not (hi > lo).any():
            return np.empty(0, dtype=np.int64)
        found = np.concatenate([self._key_rows[a:b] for a, b in zip(lo, hi, strict=True)])
        return np.unique(found).astype(np.int64)

    def persons_rows(self, rows: np.ndarray) -> np.ndarray:
        """Every row of the persons holding ``rows``, in order."""
        persons = np.unique(np.searchsorted(self._starts, rows, side="right") - 1)
        return np.concatenate(
            [np.arange(self._starts[p], self._starts[p + 1]) for p in persons]
            or [np.empty(0, dtype=np.int64)]
        )

    def take(self, rows: np.ndarray, columns: Sequence[str]) -> dict[str, list[Any]]:
        """The ``columns`` of ``rows``, as lists (dates as ISO text)."""
        part = self.records.take(pa.array(rows, pa.int64())).select(list(columns))
        return {
            name: (pc.cast(col, pa.string()) if pa.types.is_date(col.type) else col).to_pylist()
            for name, col in zip(part.column_names, part.columns, strict=True)
        }

    def tf_of(self, column: str, value: Any) -> float | None:
        """The term frequency of ``value`` in ``column`` (None when no record holds it)."""
        if value is None:
            return None
        at = pc.index(self.records.column(column), value).as_py()
        return None if at < 0 else self.records.column(f"tf_{column}")[at].as_py()
