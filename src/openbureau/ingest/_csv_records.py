"""CSV records spread over several lines: a quoted field may hold a line break (RFC 4180).

The file is staged one physical line per row (``_ingest_text``); here the lines that together
make one well-formed record are joined into the row of its first line, in the engine:

- a line with an odd number of quote characters opens or closes a quoted field that runs
  past a line break; each such line is paired with the next one, the lines between them
  holding only whole pairs of quotes (a record of at most ``MAX_RECORD_LINES`` lines);
- the pair is joined (line breaks read as LF) only when the whole is one well-formed row of
  the header's width: its quotes pair up and it has as many cells as the header. Otherwise
  each line is judged alone, as before (a stray quote costs its own line, never the next);
- where two joinable pairs share a line, the earlier wins.

The joined record keeps its first line's number, so every later line keeps its own; the lines
joined into a record are counted (``join_quoted_lines`` returns how many), so that every
physical line is accounted for: the header, blank lines, rows, and lines joined into a row.
"""

from __future__ import annotations

from openbureau.engine import Engine
from openbureau.engine.sql import literal
from openbureau.ingest._validate import csv_cell_pattern
from openbureau.ingest.spec import SourceSpec

TEXT = "_ingest_text"
_JOINS = "_ingest_joined_records"
# The most lines one record may span: a pair of odd lines further apart is not joined (a stray
# quote would otherwise pair with one far below and read everything between).
MAX_RECORD_LINES = 100


def join_quoted_lines(engine: Engine, spec: SourceSpec, width: int) -> int:
    """Join the lines of each record spread over several lines in ``TEXT`` into the row of its
    first line (see the module's docstring); return how many lines were joined into an
    earlier one (0, and ``TEXT`` untouched, when there are none)."""
    qt, delim = spec.parse.quote, spec.parse.delimiter
    # (equi-joins on the line numbers of each pair: a join on a range of lines would compare
    # every line with every pair. Pair k shares its last line with pair k + 1's first: in a run
    # of joinable pairs numbered one after the other, the first, third, fifth... win, each
    # taking the next one's first line; a window over the pairs that won cannot see that)
    if not qt:
        return 0
    extract, full = csv_cell_pattern(delim, qt)
    odd = (
        f"text IS NOT NULL AND contains(text, {literal(qt)}) "
        f"AND (length(text) - length(replace(text, {literal(qt)}, ''))) % 2 = 1"
    )
    engine.execute(f"""
    CREATE OR REPLACE TEMP TABLE {_JOINS} AS
    WITH pairs AS (
      SELECT * FROM (
        SELECT row_number() OVER (ORDER BY line_no) AS k, line_no AS first,
          lead(line_no) OVER (ORDER BY line_no) AS last
        FROM {TEXT} WHERE {odd})
      WHERE last IS NOT NULL AND last - first < {MAX_RECORD_LINES}),
    spans AS (SELECT k, first, last, unnest(range(first, last + 1)) AS line_no FROM pairs),
    joined AS (
      SELECT p.k, p.first, p.last, count(t.text) AS readable,
        string_agg(t.text, chr(10) ORDER BY t.line_no) AS text
      FROM spans p JOIN {TEXT} t USING (line_no)
      GROUP BY p.k, p.first, p.last),
    records AS (
      SELECT k, first, last, text FROM joined
      WHERE readable = last - first + 1
        AND regexp_full_match({literal(delim)} || text, {literal(full)})
        AND len(regexp_extract_all({literal(delim)} || text, {literal(extract)}, 1)) = {width}),
    runs AS (SELECT *, k - row_number() OVER (ORDER BY k) AS run FROM records)
    SELECT first, last, text FROM runs
    QUALIFY row_number() OVER (PARTITION BY run ORDER BY k) % 2 = 1""")
    try:
        joined = int(engine.scalar(f"SELECT coalesce(sum(last - first), 0) FROM {_JOINS}"))
        if joined:
            engine.execute(f"""
            CREATE OR REPLACE TEMP TABLE {TEXT} AS
            SELECT t.line_no, t.raw, coalesce(j.text, t.text) AS text
            FROM {TEXT} t LEFT JOIN {_JOINS} j ON t.line_no = j.first
            ANTI JOIN (SELECT unnest(range(first + 1, last + 1)) AS line_no FROM {_JOINS}) c
              USING (line_no)""")
    finally:
        engine.execute(f"DROP TABLE IF EXISTS {_JOINS}")
    return joined
