"""``openbureau score --as-of D``: an immutable score snapshot for every person in the index.

A snapshot is computed as of the date D and as known at the time K (``known_at``, default: now,
after the ledger has taken in every loaded batch), and records both: computed again as known at
its K (``openbureau score --recompute``, see ``recompute``), it gives its published scores,
whatever was corrected, suppressed or loaded since.

Scoring runs in the engine: the scorecard is compiled to ``CASE`` expressions over the
point-in-time features; reason codes and the records behind them are ranked and gathered in
SQL. The snapshot (``score_snapshots`` + its rows in ``scores``) is written in one
transaction: published whole or not at all, and never updated afterwards.

Reason codes: the factors where the person lost the most points against that factor's best bin,
up to four; inquiries are added as a fifth when they cost points and are not already listed
(the rule: ``reasons``). Each reason carries the ids of the records that put the person in
that bin.

Unscorable: no record as of D (``no_file``), or no credit account and under the minimum months
of utility, telecom or rent history (``insufficient_history``). Such persons get a row with no
score and the reason, never a made-up number.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from openbureau.config import AgeingSection
from openbureau.engine import Engine
from openbureau.engine.sql import literal
from openbureau.errors import UserError
from openbureau.governance.factor_guard import Resolved
from openbureau.ledger import build_ledger
from openbureau.ledger.features import compute_features, evidence_sql
from openbureau.scoring._compile import band_sql, factor_points_sql, round_clip_sql
from openbureau.scoring.factors import (
    add_custom_features,
    guard_scorecard,
)
from openbureau.scoring.reasons import reasons_sql
from openbureau.scoring.scorecard import Scorecard
from openbureau.warehouse import scoring as tables
from openbureau.warehouse.identity import PERSON_IDS, PERSON_INDEX

if TYPE_CHECKING:
    from openbureau.governance.proxies import ProxyGate, ProxyReport

UNSCORABLE = {
    "no_file": "No credit or payment records on file as of the score date",
    "insufficient_history": "No credit account, and less than {m} months of utility, telecom "
    "or rent payment history",
}
# A core scorecard's insufficient history (alternative data counts only with consent).
NO_CREDIT_ACCOUNT = (
    "No credit account on file (utility, telecom and rent payments count only with your consent)"
)

SCHEMA = [tables.SCORE_SNAPSHOTS.create_sql(), tables.SCORES.create_sql()]
# The score with alternative data (with consent, scoring/alternative.py), per person.
ALT_SCORE_COLUMNS = {c.name: c.type for c in tables.SCORES.columns if c.name.startswith("alt_")}


@dataclass
class SnapshotReport:
    snapshot_id: str
    as_of: dt.date
    known_at: dt.datetime
    scorecard_version: str
    persons: int
    scored: int
    unscorable: dict[str, int]
    seconds: float
    proxy: tuple[ProxyReport, ...] = ()  # the proxy test per scorecard (core, alternative)


def ensure_schema(engine: Engine) -> None:
    """Create the score tables (columns added since are the warehouse's migrations:
    ``openbureau.warehouse``)."""
    for sql in SCHEMA:
        engine.execute(sql)


def snapshot_ageing(engine: Engine, snapshot_id: str) -> AgeingSection | None:
    """The ageing-off periods ``snapshot_id`` was scored with (None: none recorded, as for a
    snapshot scored before items aged off)."""
    ensure_schema(engine)
    recorded = engine.scalar(
        "SELECT ageing FROM score_snapshots WHERE snapshot_id = ?", [snapshot_id]
    )
    return AgeingSection.model_validate_json(recorded) if recorded else None


def snapshot_alt_card(engine: Engine, snapshot_id: str) -> Scorecard | None:
    """The scorecard with alternative data ``snapshot_id`` was scored with (None: a snapshot
    scored with the core scorecard only)."""
    ensure_schema(engine)
    recorded = engine.scalar(
        "SELECT alt_scorecard_yaml FROM score_snapshots WHERE snapshot_id = ?", [snapshot_id]
    )
    return Scorecard.model_validate(yaml.safe_load(recorded)) if recorded else None


def engine_now(engine: Engine) -> dt.datetime:
    """The warehouse clock (the one ``recorded_at``, ``created_at`` and ``lifted_at`` use)."""
    now = engine.scalar("SELECT now()::TIMESTAMP")
    assert isinstance(now, dt.datetime)
    return now


def _points_select(card: Scorecard) -> str:
    cols = [f"{factor_points_sql(f, 'f.' + f.name)} AS p_{f.name}" for f in card.factors]
    return ", ".join(cols)


def _scored_sql(card: Scorecard, features: str) -> str:
    crit = card.minimum_criteria
    total = " + ".join(f"p_{f.name}" for f in card.factors)
    score = round_clip_sql(total, card)
    return f"""WITH pts AS (
            SELECT f.*, {_points_select(card)} FROM {features} f),
        scored AS (
            SELECT *, CASE WHEN records = 0 THEN 'no_file'
                           WHEN NOT {crit.eligible_sql()}
                               THEN 'insufficient_history' END AS unscorable_reason
            FROM pts)
        SELECT *, CASE WHEN unscorable_reason IS NULL THEN {score} END AS score
        FROM scored"""


def score_snapshot(
    engine: Engine,
    card: Scorecard,
    as_of: dt.date,
    known_at: dt.datetime | None = None,
    *,
    alt: Scorecard | None = None,
    ageing: AgeingSection | None = None,
    proxy: ProxyGate | None = None,
) -> SnapshotReport:
    """Score every indexed person as of ``as_of``, as known at ``known_at`` (None: now), and
    publish one immutable snapshot that records both.

    ``card`` is the core scorecard (no alternative data); ``alt``, the scorecard with
    alternative data, gives each person's ``alt_score`` too (scoring/alternative.py).
    Items aged off by ``as_of`` under ``ageing`` (bureau.toml's ``[ageing]``; default: the
    law's periods) never count in features or reasons.

    ``proxy``: the workspace's protected attributes and ``[model_risk]`` settings; each
    scorecard's factors are tested on the persons it scores, after the features are computed
    and before anything is published (None: not tested).

    Raises:
        FactorRefused: the scorecard uses a protected or uncheckable field.
        ProxyRefused: a factor is a proxy for a protected attribute that no override (recorded
            in the scorecard and declared in bureau.toml) covers; nothing is published.
        UserError: nothing is linked yet, ``known_at`` is in the future, or the core
            scorecard uses alternative data.
    """
    from openbureau.scoring.alternative import check_pair

    start = time.perf_counter()
    if not engine.table_exists(PERSON_INDEX.name):
        raise UserError("records are not linked to persons yet: run `openbureau link` first")
    # (the factor guard first: a protected field is refused as such, whatever else is wrong)
    seen: Resolved = {}
    for c in (card, *([alt] if alt is not None else [])):
        guard_scorecard(c, engine, seen)
    check_pair(card, alt, engine)
    if proxy is not None:
        proxy.require()
    build_ledger(engine)
    now = engine_now(engine)  # (after the build: every loaded batch is known by now)
    if known_at is not None and known_at > now:
        raise UserError(f"--known-at {known_at.isoformat(sep=' ')} is in the future")
    k = known_at or now
    ageing = ageing or AgeingSection()
    compute_scores(engine, card, as_of, k, alt=alt, ageing=ageing, guarded=True)
    try:
        proxies = _proxy_test(engine, card, alt, proxy) if proxy is not None else ()
    except UserError:
        drop_score_tables(engine)
        raise
    seq = int(engine.scalar("SELECT count(*) FROM score_snapshots")) + 1
    snapshot_id = f"S{as_of:%Y%m%d}-{seq:04d}"
    with engine.transaction():
        engine.execute(
            f"INSERT INTO scores BY NAME {scores_sql(card, alt)}",
            [snapshot_id, as_of, card.version, alt.version if alt else None],
        )
        counts = dict(
            engine.query(
                "SELECT coalesce(unscorable_reason, 'scored'), count(*) FROM scores "
                "WHERE snapshot_id = ? GROUP BY 1",
                [snapshot_id],
            )
        )
        persons = sum(int(v) for v in counts.values())
        scored = int(counts.pop("scored", 0))
        engine.execute(
            """INSERT INTO score_snapshots (snapshot_id, as_of, created_at, scorecard_name,
                scorecard_version, scorecard_yaml, persons, scored, unscorable, seconds,
                known_at, ageing, alt_scorecard_version, alt_scorecard_yaml)
            VALUES (?, ?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                snapshot_id,
                as_of,
                card.name,
                card.version,
                card.to_yaml(),
                persons,
                scored,
                persons - scored,
                time.perf_counter() - start,
                k,
                ageing.model_dump_json(),
                alt.version if alt else None,
                alt.to_yaml() if alt else None,
            ],
        )
    drop_score_tables(engine)
    return SnapshotReport(
        snapshot_id,
        as_of,
        k,
        card.version,
        persons,
        scored,
        {str(r): int(n) for r, n in counts.items()},
        time.perf_counter() - start,
        proxies,
    )


PROXY_PURPOSE = "proxy test of scorecard factors at scoring"


def _proxy_test(
    engine: Engine, card: Scorecard, alt: Scorecard | None, gate: ProxyGate
) -> tuple[ProxyReport, ...]:
    """Each scorecard's factors tested on the persons it scores (``compute_scores``' tables);
    the attributes read once, for every person scored by either, and joined in memory only.

    Raises:
        ProxyRefused: see :func:`score_snapshot`.
    """
    from openbureau.governance.proxies import NOT_LOADED, enforce, measure, not_run

    cards = [("score_scored", card)] + ([("score_alt_scored", alt)] if alt is not None else [])
    frames = []
    for table, c in cards:
        columns = ", ".join(f"f.{f.name}" for f in c.factors)
        frames.append(
            engine.arrow(
                f"SELECT f.person_id, {columns} FROM score_features f "
                f"JOIN {table} s USING (person_id) WHERE s.score IS NOT NULL ORDER BY 1"
            ).to_pandas()
        )
    import pandas as pd

    everyone = pd.concat([f[["person_id"]] for f in frames]).drop_duplicates()
    attrs = gate.attributes(everyone, PROXY_PURPOSE)
    policy = gate.policy
    reports = []
    for (_, c), frame in zip(cards, frames, strict=True):
        if attrs is None:
            reports.append(not_run(policy, NOT_LOADED))
            continue
        recorded = {(o.factor, o.attribute) for o in c.business_necessity or []}
        tested = measure(
            frame,
            [(f.name, f.kind) for f in c.factors],
            attrs,
            policy.proxy_max_cramers_v,
            policy.proxy_min_persons,
        )
        reports.append(
            enforce(tested, policy, recorded.__contains__, where=f"{c.name} {c.version}: ")
        )
    return tuple(reports)


def compute_scores(
    engine: Engine,
    card: Scorecard,
    as_of: dt.date,
    known_at: dt.datetime,
    persons: list[str] | None = None,
    *,
    ageing: AgeingSection | None,
    alt: Scorecard | None = None,
    guarded: bool = False,
) -> None:
    """The temp tables ``scores_sql`` reads: features (``score_features``), points and scores,
    reasons and their evidence, as of ``as_of`` as known at ``known_at``, items aged off
    under ``ageing`` left out (None: the law's periods); for the core scorecard ``card``
    (``score_scored``, ``score_reasons``) and the alternative one ``alt``
    (``score_alt_scored``, ``score_alt_reasons``) from the same features. ``persons``: of
    these persons only (a person-level rescore, by the same rules as a snapshot).
    ``guarded``: the caller ran the factor guard on these cards and warehouse catalog."""
    cards = [("score_", card)] + ([("score_alt_", alt)] if alt is not None else [])
    if not guarded:
        seen: Resolved = {}
        for _, c in cards:
            guard_scorecard(c, engine, seen)
    ensure_schema(engine)
    compute_features(
        engine, as_of, into="score_features", known_at=known_at, ageing=ageing, persons=persons
    )
    customs = {f.name: f.custom for _, c in cards for f in c.factors if f.custom is not None}
    add_custom_features(
        engine,
        "score_features",
        as_of,
        list(customs.items()),
        known_at=known_at,
        ageing=ageing,
    )
    for prefix, c in cards:
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE {prefix}scored AS {_scored_sql(c, 'score_features')}"
        )
        source = prefix + "scored"
        if prefix == "score_alt_":
            # A score with alternative data is served only where it is above the core one
            # (alternative.better): only there are its reasons and their records looked up.
            engine.execute(
                "CREATE OR REPLACE TEMP TABLE score_alt_servable AS SELECT a.* "
                "FROM score_alt_scored a LEFT JOIN score_scored c USING (person_id) "
                "WHERE a.score IS NOT NULL AND (c.score IS NULL OR a.score > c.score)"
            )
            source = "score_alt_servable"
        engine.execute(f"CREATE OR REPLACE TEMP TABLE {prefix}reasons AS {reasons_sql(c, source)}")
    wanted = " UNION ".join(
        f"SELECT person_id, factor AS feature FROM {prefix}reasons" for prefix, _ in cards
    )
    engine.execute(f"CREATE OR REPLACE TEMP TABLE score_wanted AS {wanted}")
    builtin = sorted({f.name for _, c in cards for f in c.factors if f.custom is None})
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE score_evidence AS "
        f"{evidence_sql(as_of, 'score_wanted', builtin)}"
    )


def _card_rows_sql(card: Scorecard, prefix: str) -> str:
    """Per person: score, band, unscorable reason and text, reasons (with their records), from
    ``{prefix}scored`` and ``{prefix}reasons``."""
    crit = card.minimum_criteria
    hist = (
        NO_CREDIT_ACCOUNT
        if crit.alt_months is None
        else UNSCORABLE["insufficient_history"].format(m=crit.alt_months)
    )
    return f"""SELECT s.person_id, s.score,
               CASE WHEN s.score IS NOT NULL THEN {band_sql("s.score", card)} END AS band,
               s.unscorable_reason,
               CASE s.unscorable_reason WHEN 'no_file' THEN {literal(UNSCORABLE["no_file"])}
                    WHEN 'insufficient_history' THEN {literal(hist)} END AS unscorable_text,
               r.reasons
        FROM {prefix}scored s
        LEFT JOIN (
            -- (sorted after: rank comes first in each struct and is unique per person;
            -- cheaper than an ordered aggregate)
            SELECT rs.person_id, list_sort(list({{'rank': rs.rank::INTEGER, 'code': rs.code,
                'factor': rs.factor,
                'statement': rs.statement,
                'points_lost': round(rs.points_lost, 2), 'value': rs.value,
                'record_ids': coalesce(ev.record_ids, [])::VARCHAR[]}})) AS reasons
            FROM {prefix}reasons rs
            LEFT JOIN score_evidence ev
              ON ev.person_id = rs.person_id AND ev.feature = rs.factor
            GROUP BY rs.person_id) r USING (person_id)"""


def scores_sql(card: Scorecard, alt: Scorecard | None = None) -> str:
    """SELECT of the ``scores`` rows from ``compute_scores``' tables (insert them BY NAME);
    parameters: snapshot id, as-of date, scorecard version, alternative scorecard version."""
    if alt is None:
        alt_cols = ", ".join(
            f"NULL::{t} AS {c}"
            for c, t in ALT_SCORE_COLUMNS.items()
            if c != "alt_scorecard_version"
        )
        alt_join = ""
    else:
        alt_cols = (
            "a.score AS alt_score, a.band AS alt_band, "
            "a.unscorable_reason AS alt_unscorable_reason, "
            "a.unscorable_text AS alt_unscorable_text, a.reasons AS alt_reasons"
        )
        alt_join = f"LEFT JOIN ({_card_rows_sql(alt, 'score_alt_')}) a USING (person_id)"
    return f"""SELECT ? AS snapshot_id, c.person_id, ? AS as_of, c.score, c.band,
               c.unscorable_reason, c.unscorable_text, c.reasons, ? AS scorecard_version,
               {alt_cols}, ?::VARCHAR AS alt_scorecard_version
        FROM ({_card_rows_sql(card, "score_")}) c {alt_join}"""


def drop_score_tables(engine: Engine) -> None:
    for t in (
        "score_scored",
        "score_reasons",
        "score_alt_scored",
        "score_alt_reasons",
        "score_alt_servable",
        "score_wanted",
        "score_evidence",
    ):
        engine.execute(f"DROP TABLE IF EXISTS {t}")


def latest_snapshot(engine: Engine) -> str:
    found = None
    if engine.table_exists("score_snapshots"):
        found = engine.scalar(
            "SELECT snapshot_id FROM score_snapshots "
            "ORDER BY created_at DESC, snapshot_id DESC LIMIT 1"
        )
    if found is None:
        raise UserError("no score snapshot yet: run `openbureau score --as-of DATE` first")
    return str(found)


def score_distribution(engine: Engine, snapshot_id: str) -> list[tuple[str, int, int, int]]:
    """(band, persons, min score, max score) per band, then unscorable reasons."""
    return [
        (str(b), int(n), int(lo) if lo is not None else 0, int(hi) if hi is not None else 0)
        for b, n, lo, hi in engine.query(
            """SELECT coalesce(band, 'unscorable: ' || unscorable_reason), count(*),
                       min(score), max(score) FROM scores WHERE snapshot_id = ?
                   GROUP BY 1 ORDER BY min(score) NULLS LAST, 1""",
            [snapshot_id],
        )
    ]


def person_score(engine: Engine, snapshot_id: str, person_id: str) -> dict[str, Any]:
    """One person's row of a snapshot, following a retired person id to its survivor.

    Raises:
        UserError: unknown snapshot or person.
    """
    if not engine.table_exists("score_snapshots") or not engine.scalar(
        "SELECT count(*) FROM score_snapshots WHERE snapshot_id = ?", [snapshot_id]
    ):
        raise UserError(f"no score snapshot {snapshot_id!r}")
    pid = person_id
    if engine.table_exists(PERSON_IDS.name):
        moved = engine.scalar(
            f"SELECT resolves_to FROM {PERSON_IDS.name} WHERE person_id = ?", [person_id]
        )
        pid = str(moved) if moved else person_id
    rows = engine.arrow(
        "SELECT * FROM scores WHERE snapshot_id = ? AND person_id = ?", [snapshot_id, pid]
    ).to_pylist()
    if not rows:
        raise UserError(f"person {person_id!r} is not in snapshot {snapshot_id}")
    return dict(rows[0])


def describe_records(
    engine: Engine, record_ids: list[str], as_of: dt.date | None = None
) -> dict[str, str]:
    """A short plain description of each ledger record: feed, date and what it says.

    With ``as_of``, a bill paid after that date is described as unpaid on it, as the score
    saw it.
    """
    day = f"DATE '{(as_of or dt.date.max).isoformat()}'"
    unpaid = f"'unpaid on {as_of.isoformat()}'" if as_of else "'unpaid'"
    if not record_ids:
        return {}
    marks = ", ".join("?" * len(record_ids))
    rows = engine.query(
        f"""
        SELECT record_id, feed || ' ' || strftime(event_date, '%Y-%m') || ': ' || product
               || ' ' || coalesce(payment_status, '') || ', balance '
               || coalesce(balance::VARCHAR, '-') || coalesce(' of limit '
               || credit_limit::VARCHAR, '')
        FROM ledger_account_status WHERE is_current AND record_id IN ({marks})
        UNION ALL
        SELECT record_id, feed || ' ' || strftime(event_date, '%Y-%m-%d') || ': inquiry '
               || coalesce(inquiry_type, '')
        FROM ledger_inquiries WHERE is_current AND record_id IN ({marks})
        UNION ALL
        SELECT record_id, feed || ' ' || payment_kind || ' bill due '
               || strftime(due_date, '%Y-%m-%d') || ': ' || CASE WHEN paid_date IS NULL
               OR paid_date > {day} THEN {unpaid} ELSE 'paid ' || strftime(paid_date, '%Y-%m-%d')
               END
        FROM ledger_payments WHERE is_current AND record_id IN ({marks})
        UNION ALL
        SELECT record_id, feed || ' ' || record_kind || ' filed '
               || strftime(filed_date, '%Y-%m-%d') || coalesce(', resolved '
               || strftime(resolved_date, '%Y-%m-%d'), ', unresolved')
        FROM ledger_public_records WHERE is_current AND record_id IN ({marks})""",
        record_ids * 4,
    )
    return {str(r): str(d) for r, d in rows}
