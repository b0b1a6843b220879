"""Link identity records into persons: full relinks, incremental batches, manual overrides.

A **full** link scores every candidate pair with the Splink model and clusters the whole graph;
an **incremental** link scores only the records not yet in the person index, against the
indexed ones and among themselves, and updates just the persons they touch. Both then hand
their clustering to the person index, which keeps IDs stable (see ``_index``).

Warehouse tables written here:

``link_edges``      scored pairs at or above the edge threshold, plus deterministic edges
                    (shared national-ID token) and forced links: (identity_id_l, identity_id_r,
                    match_probability, source, run_id)
``link_overrides``  forced links and splits, honoured by every later run
``link_runs``       one row per run: mode, model version, counts, seconds, the country whose
                    conventions standardised its batches and the values standardisation
                    emptied in them (``phone:not_a_valid_number_for_country 7, ...``)
``unlinked``        identity records with no usable identifier, and why; never linked to anyone
``link_batches``    the identity batches linked so far: an incremental run links the usable
                    records first seen in any other
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from openbureau.config import IdentitySection
from openbureau.engine import Engine
from openbureau.engine.sql import literal
from openbureau.errors import UserError
from openbureau.identity import _cluster, _index, _splink, _training, standardise
from openbureau.identity._cluster import conflict_sql as conflict_sql  # (for callers)
from openbureau.identity._training import DEFAULT_MODEL as DEFAULT_MODEL  # (for callers)
from openbureau.identity._training import DEFAULT_MODEL_NAME as DEFAULT_MODEL_NAME
from openbureau.warehouse import identity as tables

Progress = Callable[[str, int, int], None]
S = _splink.SCRATCH

SCHEMA = [
    t.create_sql()
    for t in (
        tables.LINK_EDGES,
        tables.LINK_OVERRIDES,
        tables.LINK_RUNS,
        tables.UNLINKED,
        tables.LINK_BATCHES,
    )
]

INPUT_COLUMNS = """identity_id AS unique_id, first_name_std AS first_name, last_name,
    name_suffix, dob, national_id_token, address_line1, house_number, street, postcode, city,
    phone, email"""


@dataclass
class LinkReport:
    run_id: int
    mode: str  # full | incremental | none
    model_version: int
    records: int
    new_records: int
    persons: int
    unlinked: int
    edges: int
    events: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    country: str = ""  # whose conventions standardised the batches linked
    # rows of the batches linked whose value of a field standardisation emptied, by
    # "field:reason" (see standardise.EMPTIED)
    emptied: dict[str, int] = field(default_factory=dict)
    # batches standardised earlier with another country's conventions (bureau.toml's country
    # changed since), by country
    other_countries: dict[str, int] = field(default_factory=dict)
    # how the model was made, if not by training on a workspace (the default model's recipe,
    # in words); "" for a model trained on one
    model_made_by: str = ""


@dataclass(frozen=True)
class Run:
    """What a run is, for its record in link_runs."""

    run_id: int
    mode: str
    model_version: int
    records: int
    new_records: int
    country: str
    emptied: dict[str, int]


@dataclass(frozen=True)
class Override:
    """A forced link or split of two records, as given (record ids like ``B000001.17``, or
    identity ids): recorded by the run it is given to, and honoured by every later one."""

    kind: str  # link | split
    a: str
    b: str

    def __post_init__(self) -> None:
        if self.kind not in ("link", "split"):
            raise ValueError(self.kind)


@dataclass(frozen=True)
class _Forced:
    """An override with the identity ids behind what was given."""

    override: Override
    ids: tuple[str, str]


def resolve_record(engine: Engine, given: str, staged: standardise.Staged | None = None) -> str:
    """The identity id behind a record id (``B000001.17``) or an identity id (``I...``); with
    ``staged``, the records of the batches it staged too."""
    if staged is not None:
        found = engine.scalar(
            "SELECT identity_id FROM temp._id_new WHERE identity_id = ? UNION ALL "
            "SELECT identity_id FROM (SELECT identity_id, unnest(rows).record_id AS record_id "
            "FROM temp._id_std) WHERE record_id = ? LIMIT 1",
            [given, given],
        )
        if found:
            return str(found)
    if engine.table_exists("identity_records"):
        if engine.scalar("SELECT count(*) FROM identity_records WHERE identity_id = ?", [given]):
            return given
        found = engine.scalar(
            "SELECT identity_id FROM identity_record_map WHERE record_id = ?", [given]
        )
        if found:
            return str(found)
    raise UserError(
        f"{given}: no such record (give a record id like B000001.17, or an "
        "identity id; run `openbureau link` after ingesting)"
    )


def _resolve(engine: Engine, override: Override, staged: standardise.Staged | None) -> _Forced:
    ids = (resolve_record(engine, override.a, staged), resolve_record(engine, override.b, staged))
    if ids[0] == ids[1]:
        raise UserError(
            f"{override.a} and {override.b} are the same identity record; "
            f"nothing to {override.kind}"
        )
    return _Forced(override, ids)


def _record_overrides(engine: Engine, table: str, forced: list[_Forced]) -> None:
    """Write the overrides to ``table`` (link_overrides, or the run's scratch copy), each in
    place of its opposite for the same pair."""
    for f in forced:
        (a, b), kind = f.ids, f.override.kind
        engine.execute(
            f"DELETE FROM {table} WHERE kind = ? AND ((identity_id_a = ? AND "
            "identity_id_b = ?) OR (identity_id_a = ? AND identity_id_b = ?))",
            ["split" if kind == "link" else "link", a, b, b, a],
        )
        engine.execute(
            f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP, NULL)",
            [kind, a, b, f.override.a, f.override.b],
        )


def ensure_schema(engine: Engine) -> None:
    for ddl in SCHEMA:
        engine.execute(ddl)
    _index.ensure_schema(engine)
    migrate(engine)


def migrate(engine: Engine) -> None:
    """Bring the link tables an earlier openbureau made up to date (rows kept); creates none."""
    standardise.migrate(engine)
    _index.migrate(engine)


# The warehouse tables a run reads while it works in the scratch catalog: there as views, the
# identity tables with the batches this run standardises (not written until its end), an empty
# table for one that does not exist yet.
READ_IN_SCRATCH = (
    "identity_records",
    "identity_batches",
    "link_overrides",
    "link_batches",
    "person_index",
)


def link(
    engine: Engine,
    *,
    model_path: Path,
    settings: IdentitySection,
    country: str,
    full: bool = False,
    retrain: bool = False,
    model_from: Path | None = None,
    overrides: Sequence[Override] = (),
    progress: Progress | None = None,
) -> LinkReport:
    """Bring the person index up to date with everything ingested so far.

    All or nothing, like an ingest batch: the batches not standardised yet are standardised,
    and the person index, ID history, edges, overrides and the run's record written, in one
    transaction at the end; a run that fails leaves every identity table as it was, and the
    model too.

    Args:
        engine: the warehouse.
        model_path: the workspace's linkage model: used if it exists, else trained and saved.
        settings: ``bureau.toml``'s ``[identity]``.
        country: the bureau's country (``bureau.toml``): phone and postcode conventions.
        full: relink every record, not only those of new batches.
        retrain: estimate a new model (implies ``full``).
        model_from: a saved model to link with instead (implies ``full``); it becomes the
            workspace's model.
        overrides: forced links and splits to record (in this order) and honour, from this
            run on; their records may be in the batches this run standardises.
        progress: called as ``progress(step, done, total)``.

    Raises:
        UserError: nothing to link, too little data to train a model (see ``_training``),
            or an override of a record that is none.
    """
    tick = progress or (lambda step, done, total: None)
    started = time.perf_counter()
    tick("standardising identity fields", 0, 5)
    migrate(engine)
    try:
        staged = standardise.stage_identity_records(engine, country=country)
        forced = [_resolve(engine, o, staged) for o in overrides]
        return _run(
            engine,
            staged,
            forced,
            model_path=model_path,
            settings=settings,
            country=country.upper(),
            full=full or retrain or model_from is not None,
            retrain=retrain,
            model_from=model_from,
            tick=tick,
            started=started,
        )
    finally:
        standardise.drop_staged(engine)


def _run(
    engine: Engine,
    staged: standardise.Staged | None,
    forced: list[_Forced],
    *,
    model_path: Path,
    settings: IdentitySection,
    country: str,
    full: bool,
    retrain: bool,
    model_from: Path | None,
    tick: Progress,
    started: float,
) -> LinkReport:
    run_id = (
        int(engine.scalar("SELECT coalesce(max(run_id), 0) + 1 FROM link_runs"))
        if engine.table_exists("link_runs")
        else 1
    )
    indexed = (
        int(engine.scalar("SELECT count(*) FROM person_index"))
        if engine.table_exists("person_index")
        else 0
    )
    mode = "full" if full or indexed == 0 else "incremental"
    with _splink.scratch(engine) as (db_api, wh):
        _read_in_scratch(engine, wh, staged, copied=("link_overrides",) if forced else ())
        # (the run honours the overrides given as if recorded: in its copy of the table)
        _record_overrides(engine, f"{S}.link_overrides", forced)
        # A link that trains copies the records (in a fixed order: u sampling draws rows from
        # it); others read them where they are (Splink's predict copies them once, with their
        # term frequencies), and an incremental one copies only the new records and the
        # indexed ones that could pair with them (see _incremental_edges).
        trains = retrain or (model_from is None and not model_path.exists())
        engine.execute(
            f"CREATE TABLE {S}.link_input AS SELECT {INPUT_COLUMNS} "
            f"FROM {S}.identity_records WHERE usable ORDER BY identity_id"
            if trains
            else f"CREATE VIEW {S}.link_input AS SELECT {INPUT_COLUMNS} "
            f"FROM {S}.identity_records WHERE usable"
        )
        records = int(engine.scalar(f"SELECT count(*) FROM {S}.link_input"))
        if records == 0:
            raise UserError(
                "nothing to link: no identity records with a usable identifier; "
                "ingest some furnisher files first"
            )
        try:
            model, to_save = _training.model_for_run(
                engine,
                db_api,
                model_path,
                settings,
                retrain=retrain,
                model_from=model_from,
                tick=tick,
            )
            tick(f"{mode} link: scoring pairs", 2, 5)
            # (the scratch catalog holds views of the warehouse tables these read: see above)
            if mode == "full":
                new = records
                _full_edges(
                    engine,
                    db_api,
                    _splink.linker_for(db_api, "link_input", model.settings),
                    settings,
                    S,
                )
                if to_save is not None and model_from is None:  # (a model trained in this run)
                    _training.check_links(engine, settings)
        except (_training.TooLittleToTrain, _training.DegenerateModel) as refused:
            # (values standardisation emptied, as when bureau.country is not the data's, are
            # often why: the refusal names them)
            emptied = standardise.describe_emptied(
                standardise.staged_emptied(engine, staged), country
            )
            if not emptied:
                raise
            raise refused.noting(
                f"standardisation ({country} conventions) emptied {emptied}, values training "
                f"could not use (if the data is not of {country}, set bureau.country)"
            ) from None
        if mode != "full":
            new = _incremental_edges(engine, db_api, model, settings, S)
        tick(f"{mode} link: clustering", 3, 5)
        if mode == "full":
            _cluster.cluster_full(engine, db_api, settings, S, model)
        elif new:
            _cluster.cluster_incremental(engine, settings, S, model)
        engine.execute(f"USE {wh}")
        _splink.resume_checkpoints(engine)
        tick("updating the person index", 4, 5)
        with engine.transaction():
            if staged is not None:
                standardise.publish_identity_records(engine, staged)
            ensure_schema(engine)
            _record_overrides(engine, "link_overrides", forced)
            events: dict[str, int] = {}
            if mode == "full" or new:
                events = _index.apply_assignment(
                    engine,
                    f"{S}.assign",
                    run_id=run_id,
                    cause=f"{mode} link",
                    replace_all=mode == "full",
                    with_prev=mode == "incremental",
                )
            if mode == "full":
                engine.execute("DELETE FROM link_edges")
            engine.execute(
                f"INSERT INTO link_edges SELECT unique_id_l, unique_id_r, "
                f"match_probability, source, {run_id} FROM {S}.edges"
            )
            for kind, n in _apply_overrides(engine, settings, run_id).items():
                events[kind] = events.get(kind, 0) + n
            linked = [
                r[0]
                for r in engine.query(
                    "SELECT batch_id FROM identity_batches ANTI JOIN link_batches USING (batch_id)"
                )
            ]
            engine.execute(
                "INSERT INTO link_batches SELECT unnest(?::VARCHAR[]), ?", [linked, run_id]
            )
            # (whether a record is usable never changes: only new ones can join)
            engine.execute(
                "INSERT INTO unlinked SELECT identity_id, unusable_reason "
                "FROM identity_records r ANTI JOIN unlinked u USING (identity_id) "
                "WHERE NOT r.usable"
            )
            report = _record_run(
                engine,
                Run(
                    run_id,
                    mode,
                    model.version,
                    records,
                    new,
                    country,
                    standardise.emptied_counts(engine, linked),
                ),
                events,
                started,
            )
            report.model_made_by = _splink.made_by_in_words(model.made_by)
            # (before countries were recorded, link standardised with US conventions)
            report.other_countries = {
                str(c): int(n)
                for c, n in engine.query(
                    "SELECT coalesce(country, 'US') AS c, count(*) FROM identity_batches "
                    "WHERE c <> ? GROUP BY 1 ORDER BY 1",
                    [country],
                )
            }
    if to_save is not None:  # (only once the run is in: a run that failed keeps the old one)
        _splink.save_model(to_save, model_path, model.version)
    tick("linked", 5, 5)
    return report


def _read_in_scratch(
    engine: Engine, wh: str, staged: standardise.Staged | None, copied: tuple[str, ...] = ()
) -> None:
    """The warehouse tables of READ_IN_SCRATCH as views in the scratch catalog (in use); those
    ``copied`` as tables the run may write to."""
    for name in READ_IN_SCRATCH:
        have = engine.table_exists(name)
        if name == "identity_records" and staged is not None:
            cols = ", ".join(standardise.RECORD_COLUMNS) + (
                ", n_records, first_batch_id, last_batch_id"
            )
            rows = [
                f"SELECT {cols} FROM {standardise.STAGED_NEW_RECORDS}",
                *([f"SELECT {cols} FROM {wh}.identity_records"] if have else []),
            ]
            engine.execute(f"CREATE VIEW {S}.{name} AS {' UNION ALL '.join(rows)}")
        elif name == "identity_batches" and staged is not None:
            ids = ", ".join(literal(b) for b in staged.batch_ids)
            rows = [
                f"SELECT unnest([{ids}]) AS batch_id",
                *([f"SELECT batch_id FROM {wh}.identity_batches"] if have else []),
            ]
            engine.execute(f"CREATE VIEW {S}.{name} AS {' UNION ALL '.join(rows)}")
        elif have:
            kind = "TABLE" if name in copied else "VIEW"
            engine.execute(f"CREATE {kind} {S}.{name} AS SELECT * FROM {wh}.{name}")
        else:
            ddl = next(
                d for d in (*SCHEMA, *standardise.SCHEMA, *_index.SCHEMA) if f"EXISTS {name} (" in d
            )
            engine.execute(ddl.replace(f"EXISTS {name} (", f"EXISTS {S}.{name} ("))


def _deterministic_edges(new_filter: str, tokens: str = "") -> str:
    """Records sharing a national-ID token: a star onto the smallest identity id (of the
    tokens in SQL ``tokens``, if given)."""
    some = f"AND national_id_token IN ({tokens})" if tokens else ""
    return f"""
        SELECT t.unique_id AS unique_id_l, s.root AS unique_id_r, 1.0 AS match_probability,
               'national_id' AS source
        FROM {S}.link_input t
        JOIN (SELECT national_id_token, min(unique_id) AS root FROM {S}.link_input
              WHERE national_id_token IS NOT NULL {some} GROUP BY 1) s USING (national_id_token)
        WHERE t.unique_id <> s.root {new_filter}"""


def _override_edges(wh: str, new_filter: str) -> str:
    return f"""
        SELECT identity_id_a, identity_id_b, 1.0, 'override' FROM {wh}.link_overrides o
        WHERE kind = 'link'
          AND identity_id_a IN (SELECT unique_id FROM {S}.link_input)
          AND identity_id_b IN (SELECT unique_id FROM {S}.link_input) {new_filter}"""


def _split_filter(wh: str) -> str:
    """SQL on edge ``e``: no forced split of its two records, either way round (two anti
    joins: one subquery with OR is joined pair by pair, 0.3 s for 600,000 edges)."""
    return " AND ".join(
        f"""NOT EXISTS (SELECT 1 FROM {wh}.link_overrides o WHERE o.kind = 'split'
            AND o.identity_id_a = e.unique_id_{a} AND o.identity_id_b = e.unique_id_{b})"""
        for a, b in (("l", "r"), ("r", "l"))
    )


def _full_edges(
    engine: Engine, db_api: object, linker: object, settings: IdentitySection, wh: str
) -> None:
    scored = _splink.predict_all(linker, settings.edge_threshold)  # type: ignore[arg-type]
    engine.execute(f"""
        CREATE TABLE {S}.edges AS SELECT * FROM (
          SELECT unique_id_l, unique_id_r, match_probability, 'model' AS source FROM {scored}
          UNION ALL {_deterministic_edges("")}
          UNION ALL {_override_edges(wh, "")}) e WHERE {_split_filter(wh)}""")


def _incremental_edges(
    engine: Engine, db_api: object, model: _splink.LinkageModel, settings: IdentitySection, wh: str
) -> int:
    """Score the records not in the person index against the indexed ones and among
    themselves. Only indexed records that meet a new one under some blocking rule can form a
    candidate pair, so only those are handed to Splink (the same pairs, a far smaller input)."""
    # Records of batches not linked yet (or, in a workspace linked before link_batches
    # existed, records not in the index). Every other usable record is in the index.
    if engine.scalar(f"SELECT count(*) FROM {wh}.link_batches"):
        batches = [
            literal(r[0])
            for r in engine.query(
                f"SELECT batch_id FROM {wh}.identity_batches ANTI JOIN {wh}.link_batches "
                "USING (batch_id) ORDER BY 1"
            )
        ] or ["NULL"]
        # (as constants: the scan then skips the earlier batches' row groups by their bounds)
        engine.execute(f"""CREATE TABLE {S}.new_input AS SELECT {INPUT_COLUMNS}
                           FROM {wh}.identity_records
                           WHERE usable AND first_batch_id IN ({", ".join(batches)})""")
        # (the others by the same constants: cheaper than joining the new records' ids)
        indexed = (
            f"(SELECT {INPUT_COLUMNS} FROM {wh}.identity_records WHERE usable AND "
            f"first_batch_id NOT IN ({', '.join(batches)})) r"
        )
    else:
        engine.execute(f"""CREATE TABLE {S}.new_input AS SELECT i.* FROM {S}.link_input i
                           ANTI JOIN {wh}.person_index p ON p.identity_id = i.unique_id""")
        indexed = f"{S}.link_input r ANTI JOIN {S}.new_input n USING (unique_id)"
    new = int(engine.scalar(f"SELECT count(*) FROM {S}.new_input"))
    if not new:
        engine.execute(
            f"CREATE TABLE {S}.edges (unique_id_l VARCHAR, unique_id_r VARCHAR, "
            "match_probability DOUBLE, source VARCHAR)"
        )
        return 0
    rules = _batch_rules(engine, model)
    engine.execute(f"""CREATE TABLE {S}.old_input AS SELECT r.* FROM {indexed}
                       WHERE {_reachable(rules, model)}""")
    union = ""  # (the scored pairs, and UNION ALL)
    if rules != []:  # (Splink without blocking rules would score every pair)
        # term frequencies over all records, of the values the pairs can hold: the new
        # records' ones suffice where the model adjusts exact matches only
        linker = _splink.linker_for(
            db_api,  # type: ignore[arg-type]
            "link_input",
            _splink.with_blocking_rules(model.settings, rules) if rules else model.settings,
            tf_for=("new_input",)
            if _splink.tf_on_exact_match_only(model.settings)
            else ("new_input", "old_input"),
        )
        scored = _splink.predict_new(
            db_api,  # type: ignore[arg-type]
            linker,
            "new_input",
            "old_input",
            settings.edge_threshold,
        )
        union = (
            f"SELECT unique_id_l, unique_id_r, match_probability, 'model' AS source "
            f"FROM {scored} UNION ALL "
        )
    is_new = f"(SELECT unique_id FROM {S}.new_input)"
    engine.execute(f"""
        CREATE TABLE {S}.edges AS SELECT * FROM (
          {union}{
        _deterministic_edges(
            f"AND (t.unique_id IN {is_new} OR s.root IN {is_new})",
            f"SELECT national_id_token FROM {S}.new_input",
        )
    }
          UNION ALL {
        _override_edges(wh, f"AND (identity_id_a IN {is_new} OR identity_id_b IN {is_new})")
    }) e
        WHERE {_split_filter(wh)}""")
    return new


def _batch_rules(engine: Engine, model: _splink.LinkageModel) -> list[_splink.Rule] | None:
    """The saved model's blocking rules that the new records can meet: those whose key
    columns some new record has (a batch from a court registry has no phones or emails).
    None for a model with a rule not in _splink.RULES or RETIRED_RULES."""
    known = {rule.sql: rule for rule in (*_splink.RULES, *_splink.RETIRED_RULES)}
    saved = _splink.blocking_rules(model.settings)
    if not saved or any(sql not in known for sql in saved):
        return None
    held = engine.query(
        "SELECT " + ", ".join(f"count({c}) > 0" for c in _splink.COLUMNS) + f" FROM {S}.new_input"
    )[0]
    present = {c for c, has in zip(_splink.COLUMNS, held, strict=True) if has}
    return [known[sql] for sql in saved if known[sql].key_columns <= present]


def _reachable(rules: list[_splink.Rule] | None, model: _splink.LinkageModel) -> str:
    """SQL on record ``r``: some new record may form a candidate pair with it.

    With the current ``rules``: ``r``'s keys under one of them hash like a new record's (one
    pass over the records; a hash collision or a rule's other conditions only let a few more
    through, which Splink's blocking then leaves out). A model saved with other rules gets
    their pairs joined."""
    if rules is not None:
        any_rule = []
        for rule in rules:
            new_keys = ", ".join(a.format(s="l") for a, _ in rule.keys)
            keys = [b.format(s="r") for _, b in rule.keys]
            present = " AND ".join(f"{k} IS NOT NULL" for k in keys)
            any_rule.append(
                f"({present} AND hash({', '.join(keys)}) IN "
                f"(SELECT hash({new_keys}) FROM {S}.new_input l))"
            )
        return " OR ".join(any_rule) or "FALSE"
    pairs = " UNION ".join(
        f"SELECT r.unique_id FROM {S}.new_input l JOIN {S}.link_input r ON {rule}"
        for rule in _splink.blocking_rules(model.settings)
    )
    return f"r.unique_id IN ({pairs})" if pairs else "TRUE"


def _apply_overrides(engine: Engine, settings: IdentitySection, run_id: int) -> dict[str, int]:
    """Honour forced links and splits that the index does not yet reflect."""
    events: dict[str, int] = {}
    links = engine.query("""
        SELECT pa.person_id, pb.person_id FROM link_overrides o
        JOIN person_index pa ON pa.identity_id = o.identity_id_a
        JOIN person_index pb ON pb.identity_id = o.identity_id_b
        WHERE o.kind = 'link' AND pa.person_id <> pb.person_id""")
    for a, b in links:
        engine.execute(
            "CREATE OR REPLACE TEMP TABLE _forced AS SELECT identity_id, 'forced' "
            "AS cluster_id FROM person_index WHERE person_id IN (?, ?)",
            [a, b],
        )
        for k, n in _index.apply_assignment(
            engine, "_forced", run_id=run_id, cause="forced link", replace_all=False
        ).items():
            events[k] = events.get(k, 0) + n
    splits = engine.query("""
        SELECT DISTINCT pa.person_id FROM link_overrides o
        JOIN person_index pa ON pa.identity_id = o.identity_id_a
        JOIN person_index pb ON pb.identity_id = o.identity_id_b
        WHERE o.kind = 'split' AND pa.person_id = pb.person_id""")
    for (person,) in splits:
        members = [
            r[0]
            for r in engine.query(
                "SELECT identity_id FROM person_index WHERE person_id = ?", [person]
            )
        ]
        # (forced links first: a run that stored no edges for them still keeps them together)
        edges = engine.query(
            """SELECT l, r, p FROM (
                 SELECT identity_id_a AS l, identity_id_b AS r, 2.0 AS p FROM link_overrides
                 WHERE kind = 'link'
                 UNION ALL
                 SELECT identity_id_l, identity_id_r, match_probability FROM link_edges
                 WHERE match_probability >= ?)
               WHERE l IN (SELECT unnest(?::VARCHAR[])) AND r IN (SELECT unnest(?::VARCHAR[]))
               ORDER BY p DESC, l, r""",
            [settings.link_threshold, members, members],
        )
        cannot = engine.query(
            "SELECT identity_id_a, identity_id_b FROM link_overrides WHERE kind = 'split'"
        )
        labels = _cluster.constrained_clustering(members, edges, cannot)
        relabel = {"identity_id": list(labels), "cluster_id": list(labels.values())}
        with engine.registered("_relabel", relabel):
            engine.execute("CREATE OR REPLACE TEMP TABLE _forced AS SELECT * FROM _relabel")
        for k, n in _index.apply_assignment(
            engine, "_forced", run_id=run_id, cause="forced split", replace_all=False
        ).items():
            events[k] = events.get(k, 0) + n
    engine.execute("UPDATE link_overrides SET run_id = ? WHERE run_id IS NULL", [run_id])
    return events


def _record_run(engine: Engine, run: Run, events: dict[str, int], started: float) -> LinkReport:
    # (each active ID holds records: a person whose records all went elsewhere was merged)
    persons = int(engine.scalar("SELECT count(*) FROM person_ids WHERE status = 'active'"))
    unlinked = int(engine.scalar("SELECT count(*) FROM unlinked"))
    edges = int(engine.scalar("SELECT count(*) FROM link_edges WHERE run_id = ?", [run.run_id]))
    seconds = time.perf_counter() - started
    engine.execute(
        "INSERT INTO link_runs (run_id, linked_at, mode, model_version, records, new_records, "
        "edges, persons, events, seconds, country, emptied) "
        "VALUES (?, now()::TIMESTAMP, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run.run_id,
            run.mode,
            run.model_version,
            run.records,
            run.new_records,
            edges,
            persons,
            ", ".join(f"{k} {v}" for k, v in sorted(events.items())),
            seconds,
            run.country,
            ", ".join(f"{k} {v}" for k, v in sorted(run.emptied.items())),
        ],
    )
    return LinkReport(
        run.run_id,
        run.mode,
        run.model_version,
        run.records,
        run.new_records,
        persons,
        unlinked,
        edges,
        events,
        seconds,
        run.country,
        run.emptied,
    )
