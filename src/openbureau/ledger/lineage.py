"""Which loaded fields the ledger's event columns hold, and the fields it keeps out of them.

A feed may map a field of a category the ledger keeps out (``KEPT_OUT_OF_LEDGER``: the
protected categories and purchases) onto an event column: a medical-debt collector declaring
its balances ``health``. The feed is still loaded and its other fields still make its events;
that field alone stays out of them (the column is empty for the batch's events), and each batch
records what it kept out in ``ledger_lineage``, with every column's other sources. The factor
guard reads this table to know which fields' values really are in a ledger column, so one
feed's protected field neither reaches a score nor blocks every factor on that column.

A batch mapped before the ledger kept such fields out holds their values in its events; the
guard still refuses every factor on the column until ``keep_out_earlier`` (``openbureau ledger
--keep-out``) has emptied them.
"""

from __future__ import annotations

from dataclasses import dataclass

from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.ingest._yaml import load_yaml
from openbureau.ingest.categories import KEPT_OUT_OF_LEDGER
from openbureau.ingest.spec import SourceSpec, parse_spec
from openbureau.ledger._schema import EVENTS, LINEAGE, EventTable
from openbureau.warehouse.ingest import FIELD_CATALOG, INGEST_BATCHES

# Lineage rows that are not event columns: what an event is and when; never kept out.
_MAPPING_COLUMNS = ("event_date", "reported_date", "record_kind")
_KEPT_OUT = ", ".join(f"'{c.value}'" for c in sorted(KEPT_OUT_OF_LEDGER))


@dataclass(frozen=True)
class Source:
    """One loaded field an event column is taken from."""

    column: str
    target: str
    category: str
    kept_out: bool


@dataclass
class KeptOut:
    """A field kept out of a ledger column, and how many events had a value for it."""

    feed: str
    target: str
    category: str
    column: str  # event.column
    rows: int

    def __str__(self) -> str:
        return f"{self.feed}.{self.target} ({self.category}, {self.column}): {self.rows:,} rows"


def sources(spec: SourceSpec, table: EventTable) -> list[Source]:
    """The fields of ``spec`` each column of ``table`` is taken from, dates and kind included."""
    assert spec.ledger is not None
    fields = {f.target: f for f in spec.fields}
    pairs = [(c.name, t) for c in table.columns for t in c.sources if t in fields]
    mapping = spec.ledger
    for column, target in zip(
        _MAPPING_COLUMNS,
        (mapping.event_date, mapping.reported_date, mapping.kind_from),
        strict=True,
    ):
        if target:
            pairs.append((column, target))
    out = []
    for column, target in pairs:
        category = fields[target].catalog_category
        kept = category in KEPT_OUT_OF_LEDGER and column not in _MAPPING_COLUMNS
        out.append(Source(column, target, category.value, kept))
    return out


def record_lineage(
    engine: Engine, batch_id: str, spec: SourceSpec, table: EventTable, found: list[Source]
) -> list[KeptOut]:
    """Record the sources ``found`` of the batch's events; returns what was kept out, with
    how many of the batch's rows had a value for it."""
    kept = [s for s in found if s.kept_out]
    rows: list[int] = []
    if kept:
        counts = ", ".join(f"count(s.{s.target})" for s in kept)
        rows = [
            int(n)
            for n in engine.query(
                f"SELECT {counts} FROM {spec.table} s WHERE s.batch_id = ?", [batch_id]
            )[0]
        ]
    by_target = {s.target: n for s, n in zip(kept, rows, strict=True)}
    for s in found:
        engine.execute(
            "INSERT INTO ledger_lineage VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                batch_id,
                spec.name,
                table.event,
                s.column,
                s.target,
                s.category,
                s.kept_out,
                by_target.get(s.target, 0),
            ],
        )
    return [
        KeptOut(spec.name, s.target, s.category, f"{table.event}.{s.column}", by_target[s.target])
        for s in kept
    ]


def column_sources(
    engine: Engine, event: str, column: str, targets: tuple[str, ...]
) -> list[tuple[str, str]]:
    """(``feed.target``, category) of every field whose values are in ``event.column``.

    A batch with recorded lineage contributes the sources it did not keep out, each with the
    category its spec declared and the one the field catalog holds now (a feed may have
    declared the field otherwise since); a batch mapped before lineage was recorded, every
    field of ``targets`` the catalog holds for its feed.
    """
    recorded = engine.table_exists("ledger_lineage")
    marks = ", ".join("?" * len(targets))
    earlier = f"""SELECT c.feed || '.' || c.target, c.category
        FROM {FIELD_CATALOG.name} c JOIN ledger_batches b ON b.feed = c.feed
        WHERE b.event = ? AND c.target IN ({marks})"""
    if not recorded:
        rows = engine.query(earlier, [event, *targets])
    else:
        rows = engine.query(
            f"""SELECT l.feed || '.' || l.target, l.category FROM ledger_lineage l
                WHERE l.event = ? AND l.ledger_column = ? AND NOT l.kept_out
            UNION SELECT l.feed || '.' || l.target, c.category FROM ledger_lineage l
                JOIN {FIELD_CATALOG.name} c ON c.feed = l.feed AND c.target = l.target
                WHERE l.event = ? AND l.ledger_column = ? AND NOT l.kept_out
            UNION {earlier}
                AND b.batch_id NOT IN (SELECT batch_id FROM ledger_lineage)
            ORDER BY 1, 2""",
            [event, column, event, column, event, *targets],
        )
    return [(str(f), str(c)) for f, c in rows]


def keep_out_earlier(engine: Engine) -> list[KeptOut]:
    """Empty, in the events of batches mapped before the ledger kept them out, the columns
    taken from a field of a category it keeps out (as the batch's spec or the field catalog
    now declares it); record it in ``ledger_lineage``. One transaction.

    Raises:
        UserError: such a column is also taken from another field of the batch, so it
            cannot be emptied without losing that field's values.
    """
    engine.execute(LINEAGE)  # (build_ledger makes it; a no-op then)
    done: list[KeptOut] = []
    with engine.transaction():
        _record_earlier(engine)
        found = engine.query(f"""
            SELECT DISTINCT l.batch_id, l.feed, l.event, l.ledger_column, l.target,
                CASE WHEN l.category IN ({_KEPT_OUT}) THEN l.category ELSE c.category END
            FROM ledger_lineage l
            LEFT JOIN {FIELD_CATALOG.name} c ON c.feed = l.feed AND c.target = l.target
            WHERE NOT l.kept_out
              AND l.ledger_column NOT IN ({", ".join(f"'{c}'" for c in _MAPPING_COLUMNS)})
              AND (l.category IN ({_KEPT_OUT}) OR c.category IN ({_KEPT_OUT}))
            ORDER BY 1, 4, 5""")
        for batch_id, feed, event, column, target, category in found:
            done.append(
                _empty(
                    engine,
                    str(batch_id),
                    str(feed),
                    str(event),
                    str(column),
                    str(target),
                    str(category),
                )
            )
    return done


def _record_earlier(engine: Engine) -> None:
    """The lineage of every batch mapped before it was recorded (its values are in)."""
    earlier = engine.query(f"""SELECT b.batch_id, i.spec_yaml FROM ledger_batches b
        JOIN {INGEST_BATCHES.name} i USING (batch_id)
        WHERE b.event IS NOT NULL
          AND b.batch_id NOT IN (SELECT batch_id FROM ledger_lineage) ORDER BY 1""")
    for batch_id, spec_yaml in earlier:
        spec = parse_spec(load_yaml(spec_yaml), origin=f"batch {batch_id}", historical=True)
        assert spec.ledger is not None
        table = EVENTS[spec.ledger.event]
        found = [Source(s.column, s.target, s.category, False) for s in sources(spec, table)]
        record_lineage(engine, str(batch_id), spec, table, found)


def _empty(
    engine: Engine, batch_id: str, feed: str, event: str, column: str, target: str, category: str
) -> KeptOut:
    """Empty ``column`` in the events of one batch, and note it kept out."""
    others = engine.query(  # (another field kept out of the column goes with it)
        f"""SELECT l.target FROM ledger_lineage l
            LEFT JOIN {FIELD_CATALOG.name} c ON c.feed = l.feed AND c.target = l.target
            WHERE l.batch_id = ? AND l.ledger_column = ? AND l.target <> ? AND NOT l.kept_out
              AND l.category NOT IN ({_KEPT_OUT})
              AND coalesce(c.category NOT IN ({_KEPT_OUT}), true)""",
        [batch_id, column, target],
    )
    if others:
        raise UserError(
            f"batch {batch_id}: {event}.{column} is taken from {target!r} ({category}) and "
            f"from {str(others[0][0])!r}, so it cannot be emptied of {target!r} alone; its "
            "events keep the value, and the factor guard keeps refusing the column"
        )
    t = EVENTS[event].table
    where = "WHERE batch_id = ? AND feed = ?"
    rows = int(engine.scalar(f"SELECT count({column}) FROM {t} {where}", [batch_id, feed]))
    # (an unreadable value of the field is kept as its text: it goes too; a target is a slug)
    engine.execute(
        f"""UPDATE {t} SET {column} = NULL,
            unreadable = list_filter(unreadable, lambda x: x.target <> '{target}') {where}""",
        [batch_id, feed],
    )
    engine.execute(
        """UPDATE ledger_lineage SET kept_out = true, rows = ?, category = ?
           WHERE batch_id = ? AND ledger_column = ? AND target = ?""",
        [rows, category, batch_id, column, target],
    )
    return KeptOut(feed, target, category, f"{event}.{column}", rows)


def kept_out_of(engine: Engine, table: EventTable, event_id: str, columns: list[str]) -> str | None:
    """The first of ``columns`` the lineage of the event's batch marks kept out (and takes
    from no other field), as ``column (feed.target, category)``; None when none is (or the
    batch has no lineage recorded). A correction must not write what the ledger kept out."""
    if not columns or not engine.table_exists("ledger_lineage"):
        return None
    marks = ", ".join("?" * len(columns))
    row = engine.query(
        f"""SELECT l.ledger_column || ' (' || l.feed || '.' || l.target || ', '
                || l.category || ')'
            FROM ledger_lineage l JOIN {table.table} e
              ON e.batch_id = l.batch_id AND e.feed = l.feed
            WHERE e.event_id = ? AND l.event = ? AND l.kept_out AND l.ledger_column IN ({marks})
              -- (a column also taken from a field it keeps holds that field's values)
              AND NOT EXISTS (SELECT 1 FROM ledger_lineage o WHERE o.batch_id = l.batch_id
                  AND o.ledger_column = l.ledger_column AND NOT o.kept_out)
            ORDER BY l.ledger_column, l.target LIMIT 1""",
        [event_id, table.event, *columns],
    )
    return str(row[0][0]) if row else None
