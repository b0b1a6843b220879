"""Candidate factors: the built-in features and custom ones, each checked by the factor guard.

Custom factors come from a YAML file (``openbureau train --factors FILE``)::

    factors:
      - name: months_with_overdraft
        code: X01
        statement: Overdrafts in the last 12 months
        trend: ascending
        source: {feed: northbank_current, field: overdraft_days, aggregate: count,
                 date_field: period, window_months: 12}

A custom factor reads one loaded field of one feed, aggregated per person over the feed's rows
whose ledger events the built-in features read on the as-of date D, as known at K: the
furnisher's latest report on D, reported and on file by D, learned by K, not suppressed (see
``ledger._pit``); with ``date_field``, only rows dated on or before D (and in the window). So a
custom factor never reads a row after D, a suppressed record or a row learned after K, and a
feed without a ledger block cannot give one. The guard runs on the field's catalogued data
category before anything is computed: the field must describe credit behaviour (credit,
payment, inquiry, public record data), and ``date_field`` may be reference data too.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from openbureau.config import AgeingSection
from openbureau.engine import Engine
from openbureau.engine.sql import literal
from openbureau.errors import UserError
from openbureau.governance.factor_guard import (
    FactorRefused,
    Resolved,
    cached_categories,
    check_fields,
    check_value,
    feed_categories,
    guard_factor,
    guard_lineage,
)
from openbureau.ledger._pit import date_literal, pit_events
from openbureau.ledger._schema import EVENTS
from openbureau.ledger.features import FEATURES, FEATURES_BY_NAME
from openbureau.scoring.scorecard import CustomSource, Scorecard

if TYPE_CHECKING:  # fit imports the training stack; scoring must not
    from openbureau.scoring.fit import FactorDef

INQUIRY_FACTORS = frozenset({"inquiries_6m", "inquiries_12m", "inquiries_24m"})


class CustomFactor(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    code: str
    statement: str
    description: str = ""
    trend: str = "auto_asc_desc"
    source: CustomSource


class CustomFactorFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    factors: list[CustomFactor]


def load_custom_factors(path: str | Path) -> list[CustomFactor]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
        return CustomFactorFile.model_validate(data).factors
    except OSError as exc:
        raise UserError(f"{p}: cannot read factor file ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise UserError(f"{p}: not valid YAML") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise UserError(f"{p}: {where}: {err['msg'].removeprefix('Value error, ')}") from exc


def _catalogued(engine: Engine, factor: str, feed: str, target: str) -> list[tuple[str, str]]:
    found = feed_categories(engine, feed, target)
    if not found:
        raise FactorRefused(
            f"factor {factor!r} is refused: field {f'{feed}.{target}'!r} is not in this "
            "workspace's field catalog, so its data category cannot be checked"
        )
    return found


def guard_custom(name: str, source: CustomSource, engine: Engine) -> list[tuple[str, str]]:
    """A custom factor's value field must describe credit behaviour, and its date field may
    be reference data too; returns both fields with their categories. Both are looked up
    among its own feed's fields: the factor reads ``src_<feed>``, never a ledger column."""
    fields = _catalogued(engine, name, source.feed, source.field)
    check_value(name, fields)
    if source.date_field is not None:
        dating = _catalogued(engine, name, source.feed, source.date_field)
        check_fields(name, dating)
        fields += [d for d in dating if d not in fields]
    return fields


def builtin_candidates(engine: Engine) -> list[FactorDef]:
    """Every built-in feature as a candidate, its fields resolved through the field catalog."""
    from openbureau.scoring.fit import FactorDef

    defs = []
    seen: Resolved = {}
    for f in FEATURES:
        fields = guard_lineage(f.name, f.lineage, engine, seen)
        defs.append(
            FactorDef(
                name=f.name,
                code=f.code,
                statement=f.statement,
                fields=fields,
                trend=f.trend,
                group=f.group,
                description=f.description,
            )
        )
    return defs


def custom_candidates(engine: Engine, customs: list[CustomFactor]) -> list[FactorDef]:
    """Custom factors, refused by the guard if their field is protected or unknown."""
    from openbureau.scoring.fit import FactorDef

    defs = []
    taken = set(FEATURES_BY_NAME)
    for c in customs:
        if c.name in taken:
            raise UserError(f"custom factor {c.name!r}: the name is already a factor")
        taken.add(c.name)
        fields = guard_custom(c.name, c.source, engine)
        if c.source.date_field is None and c.source.aggregate != "latest":
            raise UserError(
                f"custom factor {c.name!r}: source.date_field is required, so that "
                "only rows known on the as-of date count"
            )
        defs.append(
            FactorDef(
                name=c.name,
                code=c.code,
                statement=c.statement,
                fields=fields,
                trend=c.trend,
                group="custom",
                description=c.description,
            )
        )
    return defs


_AGG = {
    "count": "count({x})",
    "count_distinct": "count(DISTINCT {x})",
    "sum": "sum({x})",
    "avg": "avg({x})",
    "min": "min({x})",
    "max": "max({x})",
}


def custom_factor_sql(as_of: dt.date, name: str, source: CustomSource, events: str) -> str:
    """(person_id, value) of a custom factor as of D, from the feed's loaded rows that
    ``events`` (a FROM item of event versions, with ``person_id``, ``loaded_record_id`` and
    ``event_date``) carries."""
    d = date_literal(as_of)
    x = f"s.{source.field}"
    where = []
    order = "(e.event_date, s.record_id)"  # the latest fact; of one day, the latest loaded
    if source.date_field:
        where.append(f"s.{source.date_field} <= {d}")
        order = f"(s.{source.date_field}, e.event_date, s.record_id)"
        if source.window_months:
            where.append(f"s.{source.date_field} > {d} - INTERVAL {source.window_months} MONTH")
    agg = (
        f"arg_max({x}, {order})"
        if source.aggregate == "latest"
        else _AGG[source.aggregate].format(x=x)
    )
    cond = f"WHERE {' AND '.join(where)}" if where else ""
    return f"""SELECT e.person_id, CAST({agg} AS DOUBLE) AS {name}
        FROM {events} e JOIN src_{source.feed} s ON s.record_id = e.loaded_record_id
        {cond} GROUP BY e.person_id"""


def _feed_events(
    engine: Engine,
    name: str,
    feed: str,
    as_of: dt.date,
    known_at: dt.datetime | None,
    ageing: AgeingSection | None,
) -> str:
    """FROM item of the feed's event versions the built-in features read on D as known at K."""
    if not engine.table_exists(f"src_{feed}"):
        raise UserError(f"custom factor {name!r}: no feed {feed!r} was loaded")
    found = (
        [
            str(e)
            for (e,) in engine.query(
                "SELECT DISTINCT event FROM ledger_batches WHERE feed = ? AND event IS NOT NULL "
                "ORDER BY 1",
                [feed],
            )
        ]
        if engine.table_exists("ledger_batches")
        else []
    )
    if not found:
        raise UserError(
            f"custom factor {name!r}: feed {feed!r} has no events in the ledger (its spec has "
            "no ledger block, or `openbureau ledger` has not run since it was loaded), so its "
            "rows cannot be dated or suppressed"
        )
    scopes = pit_events(engine, as_of, known_at, ageing)
    return (
        "("
        + " UNION ALL ".join(
            f"SELECT person_id, loaded_record_id, event_date FROM {scopes[e]} "
            f"WHERE feed = {literal(feed)}"
            for e in found
        )
        + ")"
    )


def add_custom_features(
    engine: Engine,
    table: str,
    as_of: dt.date,
    customs: list[tuple[str, CustomSource]],
    *,
    known_at: dt.datetime | None = None,
    ageing: AgeingSection | None = None,
) -> None:
    """Join custom factor values as of ``as_of``, as known at ``known_at`` (None: now), items
    aged off under ``ageing`` (None: the law's periods) left out, onto the features table
    ``table`` (in place)."""
    for name, source in customs:
        # (a report re-sent with new values counts once, as the version that counts on D)
        events = _feed_events(engine, name, source.feed, as_of, known_at, ageing)
        # (the features table has a column per factor of the scorecard: not a declared table)
        engine.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name} DOUBLE")
        engine.execute(f"""UPDATE {table} SET {name} = c.{name}
            FROM ({custom_factor_sql(as_of, name, source, events)}) c
            WHERE {table}.person_id = c.person_id""")


def guard_scorecard(
    card: Scorecard, engine: Engine | None = None, seen: Resolved | None = None
) -> None:
    """The guard at load: every factor's declared fields, and with a warehouse its real ones.
    ``seen``: the catalog's answers so far, shared by the scorecards checked against one
    state of the warehouse (each field is looked up once).

    Raises:
        FactorRefused: a protected field, or lineage that cannot be checked.
        UserError: a factor openbureau cannot compute.
    """
    seen = {} if seen is None else seen
    for f in card.factors:
        declared = [(r.field, r.category) for r in f.fields]
        guard_factor(f.name, declared)
        if f.custom is not None and f.name in FEATURES_BY_NAME:
            # overrides, reason codes and proxy figures are matched by factor name
            raise UserError(
                f"factor {f.name!r} has a custom source but is named after a built-in "
                "feature; a custom factor needs a name of its own"
            )
        if f.custom is None and f.name not in FEATURES_BY_NAME:
            raise UserError(
                f"factor {f.name!r} is neither a built-in feature nor a custom "
                "factor with a source, so it cannot be computed"
            )
        if engine is None:
            continue
        if f.custom is not None:
            guard_custom(f.name, f.custom, engine)
        else:
            guard_lineage(f.name, FEATURES_BY_NAME[f.name].lineage, engine, seen)
        for r in f.fields:  # the file's own lineage must also be what the catalog says
            if f.custom is not None:  # a custom factor's fields are its feed's own
                owner, _, target = r.field.partition(".")
                check_fields(f.name, feed_categories(engine, owner, target))
                continue
            found = cached_categories(engine, r.field, seen)
            if found:
                check_fields(f.name, found, through_ledger=r.field.partition(".")[0] in EVENTS)
