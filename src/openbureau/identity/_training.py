"""The model a link run uses: the workspace's saved one, one given, or one trained on the
records, refused when they are too few or too alike to train it.

Training (``_splink.train``) estimates u from random pairs of records and m by EM on pairs
that share a national ID, a name and birth date, a birth date and postcode, or a name and
postcode. It needs records of several persons, some of them in more than one record. What it
refuses, each with one line that says what is missing and what to do:

- fewer than two usable identity records;
- records so alike that most pairs agree on name and birth date (or national ID): one or two
  persons, whom no model can learn to tell apart from others;
- no pair of records in any EM block (one record per person, as a single feed often has; no
  two records with a field in common): nothing says how often one person's records agree.

A model it trains is refused too (DegenerateModel) where training could not estimate the names'
m values though the records have names, or where, scored, it links fewer than half of the pairs
of records that are plainly one person (check_links).

A run that a saved model serves trains nothing, and links whatever the workspace holds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from openbureau.config import IdentitySection
from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.identity import _cluster, _splink

S = _splink.SCRATCH
Progress = Callable[[str, int, int], None]
# A prior above this (more than half of all pairs of records one person) is no population.
MAX_PRIOR = 0.5
# The model shipped with openbureau, trained on a synthetic population by
# bench/default_model.py (which records how in the file): for a workspace whose own records
# cannot train one. Its comparisons read only link.INPUT_COLUMNS, which every workspace has.
DEFAULT_MODEL_NAME = "default"
DEFAULT_MODEL = Path(__file__).parent / "data" / "default-linkage-model.json"
WHAT_TO_DO = (
    "ingest more feeds (records of the same persons from other furnishers), or link with "
    f"the default model: openbureau link --model {DEFAULT_MODEL_NAME} (or a saved one: "
    "--model FILE)"
)


class _Refused(UserError):
    """A link run refused for its training; ``noting`` adds what may explain it."""

    def __init__(self, detail: str, note: str = "") -> None:
        self.detail = detail
        super().__init__(self._words(detail) + (f"; {note}" if note else "") + f"; {WHAT_TO_DO}")

    def _words(self, detail: str) -> str:
        raise NotImplementedError

    def noting(self, note: str) -> _Refused:
        return type(self)(self.detail, note)


class TooLittleToTrain(_Refused):
    """The records cannot train a linkage model; linking needs a saved one."""

    def _words(self, detail: str) -> str:
        return f"too little data to train the linkage model: {detail}"


class DegenerateModel(_Refused):
    """The records trained a model that cannot link them; linking needs a saved one."""

    def _words(self, detail: str) -> str:
        return (
            f"the linkage model trained on this workspace is unusable: {detail}; nothing was linked"
        )


def model_for_run(
    engine: Engine,
    db_api: object,
    path: Path,
    settings: IdentitySection,
    *,
    retrain: bool,
    model_from: Path | None,
    tick: Progress,
) -> tuple[_splink.LinkageModel, dict[str, object] | None]:
    """The model to link with, and what to save at ``path`` once the run is in (None when
    the workspace's model is used as it is)."""
    current = _splink.load_model(path).version if path.exists() else 0
    if model_from is not None:
        given = _splink.load_model(model_from)
        model = _splink.as_model(_splink.as_saved(given), current + 1)
        return model, _splink.as_saved(model)
    if path.exists() and not retrain:
        return _splink.load_model(path), None
    tick("training the linkage model (u sampling, EM)", 1, 5)
    trained = _train(engine, db_api, settings)
    return _splink.as_model(trained, current + 1), trained


def _train(engine: Engine, db_api: object, settings: IdentitySection) -> dict[str, object]:
    records, shared, agreeing = engine.query(f"""
        SELECT count(*),
          (SELECT count(*) FROM (SELECT national_id_token FROM {S}.link_input
             WHERE national_id_token IS NOT NULL GROUP BY 1 HAVING count(*) > 1 LIMIT 1)),
          ({_deterministic_pairs()})
        FROM {S}.link_input""")[0]
    agreeing = int(agreeing)
    if records < 2:
        raise TooLittleToTrain(
            f"{records} usable identity record (it needs records of several persons)"
        )
    pairs = records * (records - 1) // 2
    if agreeing / _splink.INITIAL_RECALL / pairs > MAX_PRIOR:
        raise TooLittleToTrain(
            f"{agreeing:,} of the {pairs:,} pairs of the {records:,} usable identity "
            "records share a national ID or a name and birth date: too few distinct persons"
        )
    # the share of records with each field of the deterministic rules (see _splink.train)
    fields = ("national_id_token", *_splink.DETERMINISTIC_FIELDS)
    shares = engine.query(
        f"SELECT {', '.join(f'avg(({f} IS NOT NULL)::DOUBLE)' for f in fields)} FROM {S}.link_input"
    )[0]
    completeness = {f: float(v or 0.0) for f, v in zip(fields, shares, strict=True)}
    trained = _splink.train(
        db_api,  # type: ignore[arg-type]
        "link_input",
        seed=settings.seed,
        max_pairs=settings.u_max_pairs,
        national_id_pairs=bool(shared),
        deterministic_pairs=bool(agreeing),
        completeness=completeness,
        agreement=_agreement(engine),
        birth_dates_split=_birth_dates_split(engine),
        national_ids_split=_national_ids_split(engine),
        at_same_line=_at_same_line(engine),
    )
    if not trained.u_sampled:
        raise TooLittleToTrain(
            f"no random pairs could be drawn from the {records:,} usable identity records"
        )
    if not trained.em_blocks:
        raise TooLittleToTrain(
            f"no two of the {records:,} usable identity records share a national ID, a name "
            "and birth date, a birth date and postcode, or a name and postcode, the pairs "
            "training learns from"
        )
    held = engine.query(
        "SELECT " + ", ".join(f"count({c}) > 0" for c in _splink.COLUMNS) + f" FROM {S}.link_input"
    )[0]
    unweighed = _splink.unestimated(
        trained.model, {c for c, has in zip(_splink.COLUMNS, held, strict=True) if has}
    )
    if unweighed:
        raise DegenerateModel(
            f"training on the {records:,} usable identity records could not estimate how "
            f"often one person's records agree on {', '.join(unweighed)} (the pairs it learns "
            f"from: {'; '.join(trained.em_blocks)}), so agreement there would count for nothing"
        )
    return trained.model


# Pairs of records that agree on first name, last name and suffix, on every one of these that
# both have, and on one of OBVIOUS_KEYS at least: one person's, but for a Jr/Sr pair without
# suffixes. (Not those sharing a national-ID token: they are linked whatever the model.)
OBVIOUS_FIELDS = ("dob", "national_id_token", "address_line1", "postcode", "city", "phone", "email")
OBVIOUS_KEYS = ("dob", "address_line1", "phone", "email")
# A model trained in a run that links fewer than this share of at least MIN_OBVIOUS such pairs
# is refused: it has learnt nothing of the records (a healthy one links all but a few).
MIN_OBVIOUS, MIN_OBVIOUS_LINKED = 20, 0.5


def check_links(engine: Engine, settings: IdentitySection) -> None:
    """Refuse a model trained in this run under which the run's scored pairs (``edges`` in the
    scratch catalog) link too few of the pairs of records that are plainly one person.

    Raises:
        DegenerateModel: it links fewer than MIN_OBVIOUS_LINKED of MIN_OBVIOUS or more.
    """
    agree = " AND ".join(
        f"(l.{f} IS NULL OR r.{f} IS NULL OR l.{f} = r.{f})" for f in OBVIOUS_FIELDS
    )
    some = " OR ".join(f"l.{f} = r.{f}" for f in OBVIOUS_KEYS)
    obvious, linked = engine.query(
        f"""
        WITH obvious AS (
          SELECT l.unique_id AS a, r.unique_id AS b FROM {S}.link_input l
          JOIN {S}.link_input r ON l.first_name = r.first_name AND l.last_name = r.last_name
           AND l.unique_id < r.unique_id
          WHERE l.name_suffix IS NOT DISTINCT FROM r.name_suffix AND {agree} AND ({some})
            AND (l.national_id_token IS NULL OR r.national_id_token IS NULL)),
        linked AS (
          SELECT least(unique_id_l, unique_id_r) AS a, greatest(unique_id_l, unique_id_r) AS b
          FROM {S}.edges WHERE source = 'model' AND match_probability >= ?)
        SELECT count(*), count(linked.a) FROM obvious LEFT JOIN linked USING (a, b)""",
        [settings.link_threshold],
    )[0]
    if obvious >= MIN_OBVIOUS and linked < MIN_OBVIOUS_LINKED * obvious:
        raise DegenerateModel(
            f"it links {linked:,} of the {obvious:,} pairs of records that agree on name and "
            "on every other field both have (at a match probability of "
            f"identity.link_threshold, {settings.link_threshold})"
        )


def _deterministic_pairs() -> str:
    """SQL: the pairs of records that share a national ID, or a first name, last name and
    birth date (the pairs _splink.train counts for the prior)."""

    def pairs(*columns: str) -> str:
        present = " AND ".join(f"{c} IS NOT NULL" for c in columns)
        return (
            f"(SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (SELECT count(*) AS n "
            f"FROM {S}.link_input WHERE {present} GROUP BY {', '.join(columns)}))"
        )

    names = _splink.DETERMINISTIC_FIELDS
    return f"{pairs('national_id_token')} + {pairs(*names)} - {pairs('national_id_token', *names)}"


def _birth_dates_split(engine: Engine) -> float | None:
    """Of the pairs of records that share a national-ID token and both have a birth date, the
    share whose birth dates the conflict rule reads as two people's (None: no such pairs)."""
    pairs, split = engine.query(f"""
        SELECT count(*), count(*) FILTER (WHERE {_cluster.DOB_CONFLICT})
        FROM {S}.link_input x JOIN {S}.link_input y
          ON x.national_id_token = y.national_id_token AND x.unique_id < y.unique_id
        WHERE x.dob IS NOT NULL AND y.dob IS NOT NULL""")[0]
    return split / pairs if pairs else None


def _national_ids_split(engine: Engine) -> float | None:
    """The share of one person's pairs of records (both with a national ID) that the
    national-ID rule would part: how often their IDs differ, counted on pairs sharing given
    name, surname and birth date, times how often their given names are unlike, counted on
    pairs sharing a national ID (None: no pairs of either kind)."""
    differ, unlike = engine.query(f"""
        SELECT (SELECT avg((x.national_id_token <> y.national_id_token)::DOUBLE)
                FROM {S}.link_input x JOIN {S}.link_input y
                  ON x.first_name = y.first_name AND x.last_name = y.last_name
                 AND x.dob = y.dob AND x.unique_id < y.unique_id
                WHERE x.national_id_token IS NOT NULL AND y.national_id_token IS NOT NULL),
               (SELECT avg({_cluster.GIVEN_NAMES_UNLIKE}::DOUBLE)
                FROM {S}.link_input x JOIN {S}.link_input y
                  ON x.national_id_token = y.national_id_token AND x.unique_id < y.unique_id
                WHERE x.first_name IS NOT NULL AND y.first_name IS NOT NULL
                  AND x.last_name IS NOT NULL AND y.last_name IS NOT NULL)""")[0]
    return None if differ is None or unlike is None else float(differ) * float(unlike)


MIN_HOUSEHOLD_PAIRS = 30
# A street line with more distinct records than this is no household (a block of flats
# without unit numbers, a PO box, general delivery): its pairs, which grow as its records
# squared, are left out of the household shares.
MAX_HOUSEHOLD_RECORDS = 50


def _at_same_line(engine: Engine) -> dict[str, float]:
    """For each column of _splink.AT_SAME_LINE: of the pairs of records at one street line
    (of at most MAX_HOUSEHOLD_RECORDS), both giving the column, whose given names are unlike
    (two people: a household), the share agreeing on it (no entry: no such pairs)."""
    shares = {}
    for col in _splink.AT_SAME_LINE:
        pairs, same = engine.query(f"""
            WITH d AS (SELECT DISTINCT address_line1, first_name, last_name, dob, {col}
                       FROM {S}.link_input WHERE address_line1 IS NOT NULL
                       AND first_name IS NOT NULL AND dob IS NOT NULL AND {col} IS NOT NULL),
            p AS (SELECT * FROM d QUALIFY count(*) OVER (PARTITION BY address_line1)
                                          <= {MAX_HOUSEHOLD_RECORDS})
            SELECT count(*), count(*) FILTER (WHERE x.{col} = y.{col})
            FROM p x JOIN p y ON x.address_line1 = y.address_line1
             AND x.first_name < y.first_name
            WHERE {_cluster.GIVEN_NAMES_UNLIKE} AND {_cluster.DOB_CONFLICT}""")[0]
        if pairs >= MIN_HOUSEHOLD_PAIRS:
            shares[col] = same / pairs
    return shares


def _agreement(engine: Engine) -> dict[str, float]:
    """For each comparison of _splink.COUNTED_LEVELS: of all pairs of records that both have
    one of its columns, the share that agree on all of them."""
    shares = {}
    for name, columns in _splink.COUNTED_LEVELS.items():
        cols = ", ".join(columns)
        present = " OR ".join(f"{c} IS NOT NULL" for c in columns)
        agreeing, records = engine.query(f"""
            SELECT (SELECT sum(n * (n - 1)) FROM (
                      SELECT count(*)::DOUBLE AS n FROM {S}.link_input
                      WHERE {" AND ".join(f"{c} IS NOT NULL" for c in columns)} GROUP BY {cols})),
                   (SELECT count(*)::DOUBLE FROM {S}.link_input WHERE {present})""")[0]
        if agreeing and records and records > 1:
            shares[name] = float(agreeing) / (records * (records - 1))
    return shares
