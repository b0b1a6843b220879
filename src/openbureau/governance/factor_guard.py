"""The factor guard: no score factor may derive from a protected data category.

A credit score, never a social score. Every factor lists the fields it is derived from; each
field has a data category (declared in its source spec and kept in the warehouse's
``field_catalog``). A factor touching a field of a protected category (GDPR Art. 9, ECOA,
the EU AI Act: political opinion, religion, race or ethnicity, national origin, health, sex life
or orientation, trade-union membership, genetic or biometric data, sex, marital status) is
refused at training and at load, with one line naming the factor, the field and the category.
There is no switch to turn this off.
"""

from __future__ import annotations

from collections.abc import Iterable

from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.ingest.spec import PROTECTED_CATEGORIES
from openbureau.ledger._schema import EVENTS

PROTECTED = frozenset(c.value for c in PROTECTED_CATEGORIES)


class FactorRefused(UserError):
    """A factor derives from a protected data category, or its lineage cannot be checked."""


def check_fields(factor: str, fields: Iterable[tuple[str, str]]) -> None:
    """Refuse ``factor`` if any of its (field, category) pairs is protected."""
    for field, category in fields:
        if category in PROTECTED:
            raise FactorRefused(
                f"factor {factor!r} is refused: it derives from field {field!r} whose data "
                f"category is {category!r}, a protected category that a credit score may "
                "never use"
            )


def catalog_categories(engine: Engine, field: str) -> list[tuple[str, str]]:
    """(source field, category) behind ``event.column`` or ``feed.target`` in this warehouse.

    For a ledger column, every feed mapped onto that event contributes the category of the
    targets the column is taken from. Returns an empty list for an unknown field.
    """
    if not engine.table_exists("field_catalog"):
        return []
    owner, _, column = field.partition(".")
    if owner in EVENTS:
        if column in ("event_date", "reported_date"):
            return [(field, "reference")]
        cols = {c.name: c.sources for c in EVENTS[owner].columns}
        if column not in cols:
            return []
        if not engine.table_exists("ledger_batches"):
            return [(field, "derived")]
        rows = engine.query(
            f"""SELECT DISTINCT c.feed || '.' || c.target, c.category
                FROM field_catalog c JOIN ledger_batches b ON b.feed = c.feed
                WHERE b.event = ? AND c.target IN ({", ".join("?" * len(cols[column]))})""",
            [owner, *cols[column]],
        )
        return [(str(f), str(c)) for f, c in rows] or [(field, "derived")]
    rows = engine.query(
        "SELECT DISTINCT feed || '.' || target, category FROM field_catalog "
        "WHERE feed = ? AND target = ?",
        [owner, column],
    )
    return [(str(f), str(c)) for f, c in rows]


def guard_factor(name: str, fields: list[tuple[str, str]], engine: Engine | None = None) -> None:
    """Check one factor's declared fields and, with a warehouse, their catalogued categories.

    Raises:
        FactorRefused: a protected category, no fields at all, or (with a warehouse) a field
            the catalog does not know, so its category cannot be checked.
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
        check_fields(name, found)
