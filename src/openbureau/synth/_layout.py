"""A furnisher feed's layout, and the writer that turns a row table into its file.

A ``Feed`` lists its columns once: the SQL that formats each value, and the spec metadata
(target, type, category, formats, codes) that ``_specs`` turns into the YAML spec. Text files
are built line by line in DuckDB (so defects can be written exactly where the truth says they
are) and streamed to disk in the feed's encoding; Parquet goes through pyarrow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from openbureau.engine.sql import literal
from openbureau.synth._noise import IDENTITY_VIEW, NoiseProfile

DEFECT_KINDS = {
    1: "bad_date",
    2: "bad_amount",
    3: "missing_identifier",
    4: "field_count",
    5: "duplicate",
    6: "bad_byte",
}
BAD_CHAR = 57344  # U+E000 stands in for the bad byte until the line is encoded


@dataclass(frozen=True)
class Col:
    """One column of a furnisher file and the canonical field it maps to."""

    name: str  # header, dotted JSON path, or Parquet column
    sql: str  # expression over the identity view
    target: str
    category: str
    type: str = "string"
    formats: tuple[str, ...] = ()
    codes: dict[str, str] | None = None
    required: bool = False
    decimal_comma: bool = False
    defects: tuple[str, ...] = ()  # date | amount | ident | name | split
    number: bool = False  # JSON: written unquoted


@dataclass(frozen=True)
class Feed:
    name: str
    furnisher: str
    feed: str
    description: str
    path: str  # relative to the output folder
    format: str  # csv | jsonl | parquet
    columns: tuple[Col, ...]
    record_key: tuple[str, ...]
    require_one_of: tuple[tuple[str, ...], ...]
    noise: NoiseProfile = field(default_factory=NoiseProfile)
    encoding: str = "utf-8"
    delimiter: str = ","
    newline: str = "\n"
    bom: bool = False
    bad_date: str = "N/A"
    bad_byte: bytes = b"\xff"

    def allowed_defects(self) -> list[int]:
        roles = {r for c in self.columns for r in c.defects}
        wanted = {1: "date", 2: "amount", 3: "ident", 4: "split", 6: "name"}
        kinds = [k for k, r in wanted.items() if r in roles or (k == 4 and self.format == "jsonl")]
        return sorted([*kinds, 5])

    def defect_name(self, kind: int) -> str:
        if kind == 4 and self.format == "jsonl":
            return "broken_json"
        return DEFECT_KINDS[kind]


def number_lines(
    rng: np.random.Generator, feed: Feed, rows: dict[str, np.ndarray], defect_rate: float
) -> dict[str, np.ndarray]:
    """Draw the text feed's defects (``defect``: 0 none, else a ``DEFECT_KINDS`` key; a
    duplicate's copy follows its row), and number the rows: ``ord`` and the file's ``line_no``."""
    n = len(rows["person_id"])
    defect = np.zeros(n, dtype=np.int8)
    if feed.format != "parquet" and defect_rate > 0 and n:
        kinds = rng.choice(feed.allowed_defects(), n)
        defect = np.where(rng.random(n) < defect_rate, kinds, 0).astype(np.int8)
        copies = np.where(defect == 5, 2, 1)
        rows = {k: np.repeat(v, copies) for k, v in rows.items()}
        first_copy = (np.cumsum(copies) - 2)[defect == 5]
        defect = np.repeat(defect, copies)
        defect[first_copy] = 0
    rows["defect"] = defect
    rows["ord"] = np.arange(len(defect))
    first_line = 2 if feed.format == "csv" else 1
    rows["line_no"] = rows["ord"] + first_line
    return rows


def _chars(s: str) -> str:
    return " || ".join(f"chr({ord(ch)}::INTEGER)" for ch in s)


def _cell(c: Col, feed: Feed) -> str:
    v = f"CAST(({c.sql}) AS VARCHAR)"
    if feed.format == "csv" and c.type == "string":
        v = f"ob_csv({v}, {_chars(feed.delimiter)})"
    if "date" in c.defects:
        v = f"CASE WHEN defect = 1 THEN {literal(feed.bad_date)} ELSE {v} END"
    if "amount" in c.defects:
        v = f"CASE WHEN defect = 2 THEN left({v}, 1) || 'O' || substr({v}, 2) ELSE {v} END"
    if "ident" in c.defects:
        v = f"CASE WHEN defect = 3 THEN '' ELSE {v} END"
    if "name" in c.defects:
        bad = f"chr({BAD_CHAR}::INTEGER)"
        v = f"CASE WHEN defect = 6 THEN left({v}, 1) || {bad} || substr({v}, 2) ELSE {v} END"
    if "split" in c.defects and feed.format == "csv":
        v = f"CASE WHEN defect = 4 THEN {v} || {_chars(feed.delimiter)} || ' Apt 4' ELSE {v} END"
    if feed.format == "csv":
        return f"coalesce({v}, '')"
    if c.number and "amount" in c.defects:
        return f"coalesce(CASE WHEN defect = 2 THEN to_json({v}) ELSE {v} END, 'null')"
    if c.number:
        return f"coalesce({v}, 'null')"
    return f"coalesce(to_json({v}), 'null')"


def _json_object(node: dict, feed: Feed) -> str:
    parts = []
    for i, (key, child) in enumerate(node.items()):
        value = _cell(child, feed) if isinstance(child, Col) else _json_object(child, feed)
        parts.append(literal(("," if i else "{") + f'"{key}":') + " || " + value)
    return "(" + " || ".join(parts) + " || '}')"


def line_sql(feed: Feed) -> str:
    """SQL expression for one complete line of a text feed, newline included."""
    if feed.format == "csv":
        body = f" || {_chars(feed.delimiter)} || ".join(_cell(c, feed) for c in feed.columns)
    else:
        tree: dict = {}
        for c in feed.columns:
            *parents, leaf = c.name.split(".")
            node = tree
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = c
        obj = _json_object(tree, feed)
        body = f"CASE WHEN defect = 4 THEN left({obj}, length({obj}) - 1) ELSE {obj} END"
    return f"({body}) || {_chars(feed.newline)}"


def header_bytes(feed: Feed) -> bytes:
    head = b"\xef\xbb\xbf" if feed.bom else b""
    if feed.format == "csv":
        names = feed.delimiter.join(c.name for c in feed.columns) + feed.newline
        head += names.encode(feed.encoding.removesuffix("-sig"))
    return head


def _string_bytes(arr: pa.Array) -> bytes:
    """The concatenated UTF-8 bytes of a string array (its lines end in newlines already)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    dtype = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=dtype)[arr.offset : arr.offset + len(arr) + 1]
    if len(arr) == 0:
        return b""
    return arr.buffers()[2][int(offsets[0]) : int(offsets[-1])].to_pybytes()


def _encode(chunk: bytes, feed: Feed) -> bytes:
    bad = chr(BAD_CHAR)
    if feed.encoding.startswith("utf-8"):
        return chunk.replace(bad.encode("utf-8"), feed.bad_byte)
    text = chunk.decode("utf-8").replace(bad, "\x01")
    # A character the furnisher's code page lacks (say, a capital sharp s from upper-casing)
    # comes out as '?', as legacy systems write it.
    return text.encode(feed.encoding, errors="replace").replace(b"\x01", feed.bad_byte)


def to_arrow(rows: dict[str, np.ndarray]) -> pa.Table:
    """Numpy columns to Arrow, with NaT and NaN as nulls."""
    cols = {}
    for k, v in rows.items():
        if v.dtype.kind == "M":
            cols[k] = pa.array(v, mask=np.isnat(v))
        elif v.dtype.kind == "f":
            cols[k] = pa.array(v, mask=np.isnan(v))
        else:
            cols[k] = pa.array(v)
    return pa.table(cols)


class ParquetAppender:
    """A Parquet file written a table at a time, in row groups of ``ROW_GROUP_ROWS`` rows
    whatever the tables' sizes (so the bytes do not depend on how the rows were split)."""

    ROW_GROUP_ROWS = 250_000

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._held: list[pa.Table] = []
        self._held_rows = 0

    def add(self, table: pa.Table) -> None:
        if self._schema is None:
            self._schema = table.schema
        elif table.schema != self._schema:
            table = table.cast(self._schema)
        self._held.append(table)
        self._held_rows += table.num_rows
        if self._held_rows >= self.ROW_GROUP_ROWS:
            self._flush(whole_groups_only=True)

    def _flush(self, whole_groups_only: bool) -> None:
        if not self._held or self._schema is None:
            return
        # (one dictionary and one chunk per column: the bytes then do not depend on the parts)
        held = pa.concat_tables(self._held).unify_dictionaries().combine_chunks()
        size = self.ROW_GROUP_ROWS
        cut = (held.num_rows // size) * size if whole_groups_only else held.num_rows
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._path, self._schema, compression="zstd")
        if cut:
            self._writer.write_table(held.slice(0, cut), row_group_size=size)
        rest = held.slice(cut)
        self._held, self._held_rows = ([rest] if rest.num_rows else []), rest.num_rows

    def close(self) -> None:
        self._flush(whole_groups_only=False)
        if self._writer is None:  # nothing added: an empty file with the schema it would have
            if self._schema is None:
                raise RuntimeError(f"{self._path}: no table was added")
            pq.write_table(self._schema.empty_table(), self._path, compression="zstd")
            return
        self._writer.close()

    def discard(self) -> None:
        """Close the file unfinished and remove it (a generation that failed)."""
        if self._writer is not None:
            self._writer.close()
        self._path.unlink(missing_ok=True)


class FeedFile:
    """A furnisher file written a part of its rows at a time (see ``write_feed``)."""

    def __init__(self, feed: Feed, path: Path) -> None:
        self.feed = feed
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._parquet = ParquetAppender(path) if feed.format == "parquet" else None
        self._fh = None if self._parquet else path.open("wb")
        if self._fh is not None:
            self._fh.write(header_bytes(feed))

    def write(
        self, con: duckdb.DuckDBPyConnection, rows_table: str, identity_view: str = IDENTITY_VIEW
    ) -> None:
        """Append the rows of ``rows_table`` (ordered by ``ord``).

        ``identity_view`` is the SQL (``{rows}`` standing for the row table) that gives each
        row the furnisher's copy of the person's identity: a generator's own noise model."""
        feed = self.feed
        view = identity_view.format(rows=rows_table)
        if self._parquet is not None:
            cols = ", ".join(f'{c.sql} AS "{c.name}"' for c in feed.columns)
            self._parquet.add(con.sql(f"SELECT {cols} FROM ({view}) ORDER BY ord").to_arrow_table())
            return
        assert self._fh is not None
        reader = con.sql(f"SELECT {line_sql(feed)} AS line FROM ({view}) ORDER BY ord")
        for batch in reader.to_arrow_reader(250_000):
            if batch.column(0).null_count:  # a line lost would shift every line number after it
                raise RuntimeError(f"{feed.name}: a formatted line came out NULL")
            self._fh.write(_encode(_string_bytes(batch.column(0)), feed))

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        elif self._fh is not None:
            self._fh.close()

    def discard(self) -> None:
        """Close the file unfinished and remove it (a generation that failed)."""
        if self._parquet is not None:
            self._parquet.discard()
        elif self._fh is not None:
            self._fh.close()
            self._path.unlink(missing_ok=True)


def write_feed(
    con: duckdb.DuckDBPyConnection,
    feed: Feed,
    rows_table: str,
    path: Path,
    identity_view: str = IDENTITY_VIEW,
) -> None:
    """Write the rows of ``rows_table`` (ordered by ``ord``) as the feed's whole file (see
    ``FeedFile.write``)."""
    file = FeedFile(feed, path)
    file.write(con, rows_table, identity_view)
    file.close()
