"""A lookup's keys and scores, without a statement DuckDB must plan at each lookup.

DuckDB plans a statement that reads a table again at every execution, prepared or not (0.1 to
0.5 s for the scoring of a pair as Splink writes it, several milliseconds for the smallest
join); one that reads only its parameters, each once, it plans once. So the search reads no
table: the query's blocking keys are computed in Python (``_lookup_index.query_key``; the
rules' own SQL when a rule's expressions are of another kind),
:class:`~._lookup_index.LookupIndex` finds the records holding them in memory, and one prepared
statement takes the query and those records (as JSON text) and applies each rule's own
condition, finds each comparison's level (the model's SQL), and leaves out the persons holding
a record that conflicts with the query; the match weights and probabilities of those levels,
and the gathering per person, are arithmetic done in Python (``_lookup_score``).

A search owns a cursor of a private in-memory DuckDB and is used by one thread at a time; the
lookup keeps a pool of them per model. Values go into ``EXECUTE`` as literals (DuckDB takes no
parameters there); they are standardised values, quoted, and never the clear national ID.
"""

from __future__ import annotations

import json
import threading
from datetime import date
from typing import Any

import duckdb
import numpy as np

from openbureau.engine.sql import literal
from openbureau.identity import _cluster, _lookup_index, _splink
from openbureau.identity._address import words_macro
from openbureau.identity._lookup_score import CompiledModel, match_probability
from openbureau.identity._standardise_one import COLUMNS

TYPES = {c: "DATE" if c == "dob" else "VARCHAR" for c in COLUMNS}
# What the conflict rule reads of every record of a candidate's person.
CONFLICT_COLUMNS = (
    "person_id",
    "first_name",
    "last_name",
    "name_suffix",
    "dob",
    "national_id_token",
)
QUERY = ", ".join(f"${i}::{TYPES[c]} AS {c}" for i, c in enumerate(COLUMNS, 1))

_DATABASE: duckdb.DuckDBPyConnection | None = None
_DATABASE_LOCK = threading.Lock()


def _database() -> duckdb.DuckDBPyConnection:
    """The process's DuckDB for searches: in memory, one thread per statement (a search's
    statements are too small to share out)."""
    global _DATABASE
    with _DATABASE_LOCK:
        if _DATABASE is None:
            _DATABASE = duckdb.connect(":memory:", config={"threads": 1})
        return _DATABASE


def _literal(value: Any, kind: str) -> str:
    if value is None:
        return f"NULL::{kind}"
    if isinstance(value, bool | date):
        return literal(value)
    if isinstance(value, float):
        return f"{literal(value)}::DOUBLE"
    return f"{literal(str(value))}::{kind}"


class Search:
    """The prepared statements of one model, on a cursor of their own."""

    def __init__(self, model: _splink.LinkageModel, scoring: CompiledModel) -> None:
        rules = _splink.blocking_rules(model.settings)
        known = {rule.sql: rule for rule in _lookup_index.indexed_rules()}
        self.keyed = [known[r] for r in rules if r in known]
        self._key_functions = [_lookup_index.query_key(rule) for rule in self.keyed]
        # (a rule the index lacks is found by a scan; a model without rules pairs everyone)
        self.scanned = [r for r in rules if r not in known] if rules else ["TRUE"]
        self.tf_columns = scoring.tf_columns
        self._scoring = scoring
        # (a model adjusting only exact matches for frequency needs the candidate's alone,
        # which at such a level is the query's too)
        self.exact_tf_only = _splink.tf_on_exact_match_only(model.settings)
        self._cur = _database().cursor()
        try:
            self._cur.execute(words_macro(temporary=True)).fetchall()  # (the address levels)
            keys = ", ".join(_lookup_index.key_sql(rule, "l") for rule in self.keyed)
            self._cur.execute(
                f"PREPARE keys AS SELECT [{keys or 'NULL'}]::UBIGINT[] FROM (SELECT {QUERY}) l"
            ).fetchall()
            self._cur.execute(f"PREPARE score AS {_score_sql(model, scoring)}").fetchall()
        except BaseException:
            self._cur.close()
            raise

    def run(
        self,
        index: _lookup_index.LookupIndex,
        record: dict[str, Any],
        threshold: float,
        minimum: bool,
    ) -> list[tuple[Any, ...]]:
        """The query ``record`` (standardised) against ``index``: see :meth:`score`."""
        rows = index.hits(self.keys(record))
        if self.scanned:
            rows = np.union1d(rows, self.scan(index, record))
        if not len(rows):
            return []
        query_tf = (
            {} if self.exact_tf_only else {c: index.tf_of(c, record[c]) for c in self.tf_columns}
        )
        return self.score(
            record,
            index.take(rows, candidate_columns(self.tf_columns)),
            index.take(index.persons_rows(rows), CONFLICT_COLUMNS),
            query_tf,
            threshold,
            minimum,
        )

    def _query_args(self, record: dict[str, Any]) -> list[str]:
        return [_literal(record[c], TYPES[c]) for c in COLUMNS]

    def keys(self, record: dict[str, Any]) -> list[int]:
        """The query's blocking keys under the model's indexed rules: computed in Python when
        every rule's expressions allow (``_lookup_index.query_key``), else by SQL."""
        if all(f is not None for f in self._key_functions):
            keys = [f(record) for f in self._key_functions if f is not None]
            return [k for k in keys if k is not None]
        return self.sql_keys(record)

    def sql_keys(self, record: dict[str, Any]) -> list[int]:
        """The same keys, by the SQL the index's keys were computed with."""
        row = self._cur.execute(f"EXECUTE keys({', '.join(self._query_args(record))})").fetchall()
        return [k for k in row[0][0] if k is not None]

    def scan(self, index: _lookup_index.LookupIndex, record: dict[str, Any]) -> np.ndarray:
        """Rows of the records the model's unindexed rules pair with the query: every record
        read (planned each time; only for a model with a rule linking does not know)."""
        if not self.scanned:
            return np.empty(0, dtype=np.int64)
        query = ", ".join(_literal(record[c], TYPES[c]) + f" AS {c}" for c in COLUMNS)
        condition = " OR ".join(f"({rule})" for rule in self.scanned)
        self._cur.register("_lookup_scanned", index.records)
        try:
            rows = self._cur.execute(
                f"SELECT r.rid - 1 FROM _lookup_scanned r, (SELECT {query}) l WHERE {condition}"
            ).fetchall()
        finally:
            self._cur.unregister("_lookup_scanned")
        return np.asarray([r[0] for r in rows], dtype=np.int64)

    def score(
        self,
        record: dict[str, Any],
        candidates: dict[str, list[Any]],
        persons: dict[str, list[Any]],
        query_tf: dict[str, float | None],
        threshold: float,
        minimum: bool,
    ) -> list[tuple[Any, ...]]:
        """(person_id, match probability, match weight, records at or above ``threshold``,
        tied) per person, best first (see lookup's module docstring). ``candidates``: the
        records found, with every column the scoring reads; ``persons``: every record of their
        persons, with :data:`CONFLICT_COLUMNS`; ``query_tf``: the term frequency of the
        query's value of each term-frequency column (None where none is needed)."""
        args = [
            *self._query_args(record),
            _literal(json.dumps(candidates), "VARCHAR"),
            _literal(json.dumps(persons), "VARCHAR"),
        ]
        pairs = self._cur.execute(f"EXECUTE score({', '.join(args)})").fetchall()
        scoring, n = self._scoring, len(self._scoring.comparisons)
        line = scoring.line
        best: dict[str, list[Any]] = {}
        for person_id, same_id, same_postcode, *rest in pairs:
            gammas, tf_r = rest[:n], dict(zip(scoring.tf_columns, rest[n:], strict=True))
            weight = scoring.match_weight(gammas, query_tf, tf_r)
            # (a record with the query's national-ID token is certain, as in linking)
            probability = 1.0 if same_id else match_probability(weight)
            tied = (
                not minimum
                or same_id
                or (same_postcode and line is not None and gammas[line.comparison] == line.level)
            )
            found = best.setdefault(person_id, [person_id, probability, weight, 0, False])
            found[1], found[2] = max(found[1], probability), max(found[2], weight)
            if probability >= threshold:
                found[3] += 1
                found[4] = found[4] or tied
        return sorted((tuple(found) for found in best.values()), key=lambda f: (-f[1], -f[2], f[0]))

    def close(self) -> None:
        self._cur.close()


def candidate_columns(tf_columns: tuple[str, ...]) -> list[str]:
    """The columns the scoring reads of a candidate record."""
    return ["person_id", *COLUMNS, *(f"tf_{c}" for c in tf_columns)]


def _unpacked(column: str, columns: list[str]) -> str:
    """SQL: the rows of the JSON object of column lists in ``x.<column>``."""
    kinds = {
        c: "DATE" if c == "dob" else "DOUBLE" if c.startswith("tf_") else "VARCHAR" for c in columns
    }
    shape = json.dumps({c: ["DOUBLE" if kinds[c] == "DOUBLE" else "VARCHAR"] for c in columns})
    picked = ", ".join(f"unnest(j.{c})::{kinds[c]} AS {c}" for c in columns)
    return f"SELECT {picked} FROM (SELECT from_json({column}, '{shape}') AS j FROM x)"


def _score_sql(model: _splink.LinkageModel, scoring: CompiledModel) -> str:
    """The scoring statement: each candidate the model's rules pair with the query and whose
    person holds no record conflicting with it, with whether it shares the query's national-ID
    token and postcode, each comparison's level, and its term frequencies. Parameters: the
    query's :data:`COLUMNS`, the candidates, their persons' records. (Each parameter is read
    once, in ``x``: DuckDB plans a statement that reads one twice again at every execution.)"""
    n = len(COLUMNS)
    params = f"{QUERY}, ${n + 1}::VARCHAR AS candidates, ${n + 2}::VARCHAR AS persons"
    candidates = _unpacked("candidates", candidate_columns(scoring.tf_columns))
    persons = _unpacked("persons", list(CONFLICT_COLUMNS))
    blocking = " OR ".join(f"({r})" for r in _splink.blocking_rules(model.settings)) or "TRUE"
    columns = ", ".join(f"l.{c} AS {c}_l, r.{c} AS {c}_r" for c in COLUMNS)
    gammas = ", ".join(g.rsplit(" AS ", 1)[1] for g in scoring.gammas.split(",\n"))
    tf = "".join(f", r.tf_{c}" for c in scoring.tf_columns)
    tf_out = "".join(f", tf_{c}" for c in scoring.tf_columns)
    return f"""
        WITH x AS (SELECT {params}),
        c AS ({candidates}),
        y AS ({persons}),
        pairs AS (SELECT r.person_id, {columns}{tf} FROM x l, c r WHERE {blocking}),
        levels AS (SELECT *, {scoring.gammas} FROM pairs),
        ruled_out AS (SELECT DISTINCT y.person_id FROM y, x WHERE {_cluster.conflict_sql(model)})
        SELECT person_id, coalesce(national_id_token_r = national_id_token_l, FALSE),
               coalesce(postcode_r = postcode_l, FALSE), {gammas}{tf_out}
        FROM levels WHERE person_id NOT IN (SELECT person_id FROM ruled_out)"""
