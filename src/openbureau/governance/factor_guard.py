"""The factor guard: a score factor derives only from data that describes credit behaviour.

A credit score, never a social score. Every factor lists the fields it is derived from; each
field has a data category (declared in its source spec and kept in the warehouse's
``field_catalog``). The guard is an allowlist (``ingest.categories``): a factor may take its
value only from credit, payment, inquiry and public record data, and may date its rows by
reference data; every other category is refused at training and at load, with one line naming
the factor, the field and the category: who a person is (identity), where they live (location),
how they are reached (contact), what they buy (purchase), every protected category (GDPR
Art. 9, ECOA, the EU AI Act: political opinion, religion, race or ethnicity, national origin,
health, sex life or orientation, trade-union membership, genetic or biometric data, sex,
marital status), and any name that is not a category. There is no switch to turn this off.
"""

from __future__ import annotations

from collections.abc import Iterable

from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.ingest.categories import (
    DATING_CATEGORIES,
    FACTOR_CATEGORIES,
    KEPT_OUT_OF_LEDGER,
    PROTECTED_CATEGORIES,
    PROTECTED_WHY,
    listing,
    rule_of,
)
from openbureau.ledger._schema import EVENTS
from openbureau.ledger.lineage import column_sources
from openbureau.warehouse.ingest import FIELD_CATALOG
from openbureau.warehouse.ledger import LEDGER_BATCHES

PROTECTED = frozenset(c.value for c in PROTECTED_CATEGORIES)
# What a factor may list among its fields: its value's categories and the ones dating it.
ALLOWED = frozenset(c.value for c in FACTOR_CATEGORIES | DATING_CATEGORIES)
# The label of a ledger column no loaded field feeds (a public record's kind fixed by the
# mapping, a column every feed leaves empty): the ledger's own value, never a person's data.
DERIVED = "derived"
_KEPT_OUT = frozenset(c.value for c in KEPT_OUT_OF_LEDGER)
_MAPPING_DATES = ("event_date", "reported_date")


class FactorRefused(UserError):
    """A factor derives from a category no factor may use, or its lineage cannot be checked."""


def _why(category: str) -> str:
    rule = rule_of(category)
    if rule is None:
        return (
            f"not a data category openbureau knows; a factor may derive only from "
            f"{listing(FACTOR_CATEGORIES)} data"
        )
    return rule.why


def check_fields(
    factor: str, fields: Iterable[tuple[str, str]], *, through_ledger: bool = False
) -> None:
    """Refuse ``factor`` if any of its (field, category) pairs is of a category no factor
    may derive from (``through_ledger``: the fields were found behind a ledger column)."""
    for field, category in fields:
        owner = field.partition(".")[0]
        if category in ALLOWED or (category == DERIVED and owner in EVENTS):
            continue
        why = _why(category)
        sep = ", " if why == PROTECTED_WHY else ": "
        hint = ""
        if through_ledger and category in _KEPT_OUT:
            hint = (
                "; its values reached the ledger before openbureau kept such fields out of "
                "its events: `openbureau ledger --keep-out` takes them out"
            )
        raise FactorRefused(
            f"factor {factor!r} is refused: it derives from field {field!r} whose data "
            f"category is {category!r}{sep}{why}{hint}"
        )


def check_value(factor: str, fields: list[tuple[str, str]]) -> None:
    """Refuse ``factor`` unless every field its value is read from describes credit
    behaviour (a custom factor's source field: reference data may only date its rows)."""
    check_fields(factor, fields)
    for field, category in fields:
        if category not in {c.value for c in FACTOR_CATEGORIES}:
            raise FactorRefused(
                f"factor {factor!r} is refused: it derives from field {field!r} whose data "
                f"category is {category!r}: {_why(category)}"
            )


def catalog_categories(engine: Engine, field: str) -> list[tuple[str, str]]:
    """(source field, category) behind ``event.column`` or ``feed.target`` in this warehouse.

    For a ledger column, every loaded field whose values are in it (see
    ``ledger.lineage.column_sources``; a field the ledger kept out is not), or ``derived``
    when none is. Returns an empty list for an unknown field.
    """
    if not engine.table_exists(FIELD_CATALOG.name):
        return []
    owner, _, column = field.partition(".")
    if owner in EVENTS:
        if column in _MAPPING_DATES:
            return [(field, "reference")]
        cols = {c.name: c.sources for c in EVENTS[owner].columns}
        if column not in cols:
            return []
        if not engine.table_exists(LEDGER_BATCHES.name):
            return [(field, DERIVED)]
        return column_sources(engine, owner, column, cols[column]) or [(field, DERIVED)]
    return feed_categories(engine, owner, column)


def feed_categories(engine: Engine, feed: str, target: str) -> list[tuple[str, str]]:
    """(feed.target, category) of one loaded field of one feed, from ``field_catalog`` only.

    A custom factor reads its feed's own table, so its source is checked here, never as a
    ledger column of the same name. Returns an empty list for an unknown field.
    """
    if not engine.table_exists(FIELD_CATALOG.name):
        return []
    rows = engine.query(
        f"SELECT DISTINCT feed || '.' || target, category FROM {FIELD_CATALOG.name} "
        "WHERE feed = ? AND target = ?",
        [feed, target],
    )
    return [(str(f), str(c)) for f, c in rows]


# Catalogued fields per ledger column or feed field, kept by a caller checking several
# features or scorecards at once (they share columns) against one state of the warehouse.
Resolved = dict[str, list[tuple[str, str]]]


def cached_categories(engine: Engine, field: str, seen: Resolved) -> list[tuple[str, str]]:
    """``catalog_categories``, looked up once per ``seen``."""
    if field not in seen:
        seen[field] = catalog_categories(engine, field)
    return seen[field]


def resolve_lineage(
    engine: Engine, lineage: Iterable[str], seen: Resolved | None = None
) -> list[tuple[str, str]]:
    """The catalogued (field, category) pairs behind a built-in feature's ledger columns."""
    seen = {} if seen is None else seen
    out: list[tuple[str, str]] = []
    for ref in lineage:
        for pair in cached_categories(engine, ref, seen) or [(ref, "unknown")]:
            if pair not in out:
                out.append(pair)
    return out


def guard_lineage(
    name: str, lineage: Iterable[str], engine: Engine, seen: Resolved | None = None
) -> list[tuple[str, str]]:
    """Check a built-in feature through the ledger columns it reads; returns its fields."""
    fields = resolve_lineage(engine, lineage, seen)
    check_fields(name, fields, through_ledger=True)
    return fields


def guard_factor(name: str, fields: list[tuple[str, str]], engine: Engine | None = None) -> None:
    """Check one factor's declared fields and, with a warehouse, their catalogued categories.

    Raises:
        FactorRefused: a category no factor may use, no fields at all, or (with a warehouse)
            a field the catalog does not know, so its category cannot be checked.
    """
    if not fields:
        raise FactorRefused(
            f"factor {name!r} is refused: it lists no fields, so its data "
            "categories cannot be checked"
        )
    check_fields(name, fields)
    if engine is None:
        return
    for field, _ in fields:
        found = catalog_categories(engine, field)
        if not found:
            raise FactorRefused(
                f"factor {name!r} is refused: field {field!r} is not in this "
                "workspace's field catalog, so its data category cannot be "
                "checked"
            )
        check_fields(name, found, through_ledger=field.partition(".")[0] in EVENTS)
