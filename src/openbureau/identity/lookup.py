"""Find the person whose file it is from an identity a lender types in, through the linker.

A lookup needs a minimum identity (``MINIMUM_IDENTITY``): a first name (more than an initial)
and a last name, a birth date, and an address (a line and a postcode) or a national ID. Less
than that is refused with :class:`NotEnoughToIdentify` before anything is searched, and so is
an identity that standardising leaves short of it (a postcode that is no postcode): a surname
with a birth date finds a person often enough that sweeping birth dates for a common surname
would find people the caller could not otherwise name.

The address or national ID must also tie the search to the person (``tied``): a person is
found only if one of their records matching the query agrees with it on the national ID (the
same token) or on the address (the same standardised postcode, and street lines at a level of
the model's address comparison that reads the line, above the lowest such level). A real name
and birth date with a made-up address ("x", 90210) or national ID (00000) answers not_found.

The lender's identity is standardised by the identity stage's rules (``_standardise_one``,
held equal to its SQL by tests), compared with the identity records that share a blocking key
with it using the saved linkage model (the same comparisons, weights and term frequencies as
``openbureau link``, compiled to SQL once per model: ``_lookup_score``), and the scores are
gathered per person: a person's score is that of their best-matching record.

Decision rule, with ``threshold`` the link threshold (0.9):

- **found**: one person at or above the threshold, and any other person there at least
  ``MARGIN_BITS`` (10) bits of match weight weaker, that is 1,024 times less likely to be the
  one (a rare name alone can pass the threshold; a name with birth date and address outweighs
  it by far);
- **ambiguous**: two or more persons at or above it, the best not that clearly ahead (twins,
  Jr and Sr, a split file): the lender must give more (a birth date, a national ID, a name
  suffix);
- **not_found**: nobody at or above it, or (held to the minimum identity) the best person
  there not tied to the query: nothing is said of them, not even that they are one of several.

As in ``openbureau link``, a record sharing the query's national-ID token matches with
certainty (probability 1). A person holding a record that cannot be one person with the query
(Jr against Sr; birth dates far apart or national IDs and given names both different, when the
model found those decisive) is not a match, as link would not put the query in that person's file.

Reads the lookup index (``_lookup_index``: the usable records with their persons, and their
blocking keys), which publishing writes into the serving copy and the first lookup on a
database connection loads into memory (on a database without it, the warehouse or a copy
published before it, it is computed from ``identity_records`` and ``person_index``); nothing is
written there. The keys and scores come from statements DuckDB plans once per model and search
(``_lookup_search``); searches are kept and reused, one thread at a time each, so lookups run
side by side without a lock held across them. A clear national ID is turned into its keyed token
in Python, before the engine sees anything: neither it nor the key is in any SQL text, log or
table.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal

from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.identity import _lookup_score, _names, _splink
from openbureau.identity._lookup_index import LookupIndex
from openbureau.identity._lookup_search import Search
from openbureau.identity._standardise_one import standardise_one

Status = Literal["found", "ambiguous", "not_found"]
MINIMUM_IDENTITY = (
    "a first name (more than an initial), a last name, a birth date, and an address (line and "
    "postcode) or a national ID"
)
LETTER = r"[^\W\d_]"  # a letter of any alphabet
# Of two persons at or above the threshold, the stronger is the one when its match weight is
# this much higher: odds of 1,024 to 1 between them.
MARGIN_BITS = 10.0


class NotEnoughToIdentify(UserError):
    """An identity short of the minimum a lookup needs; ``missing`` names the parts."""

    code = "not_enough_to_identify"

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = tuple(missing)
        super().__init__(
            f"not enough to identify a person: {_listed(self.missing)} missing; "
            f"a lookup needs {MINIMUM_IDENTITY}"
        )


def _listed(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _missing(values: dict[str, Any]) -> list[str]:
    """The parts of the minimum identity that ``values`` lack (blank counts as missing)."""

    def given(name: str) -> bool:
        value = values.get(name)
        return value is not None and (not isinstance(value, str) or bool(value.strip()))

    missing = []
    # A first name has two letters together or more (a nickname does: standardising turns it
    # into the given name); an initial narrows a sweep of birth dates for a surname by a 26th.
    first = str(values.get("first_name") or "")
    if not re.search(LETTER, first):
        missing.append("the first name")
    elif not re.search(LETTER * 2, first):
        missing.append("a full first name (not an initial)")
    missing += [
        label
        for name, label in (("last_name", "the last name"), ("dob", "the birth date"))
        if not given(name)
    ]
    if not (given("national_id") or (given("address_line1") and given("postcode"))):
        missing.append("an address (line and postcode) or a national ID")
    return missing


@dataclass(frozen=True)
class IdentityQuery:
    """An identity as a lender types it. A lookup needs at least ``MINIMUM_IDENTITY``; the
    other fields (town, phone, email, name suffix) help tell people apart."""

    first_name: str | None = None
    last_name: str | None = None
    dob: date | None = None
    address_line1: str | None = None
    postcode: str | None = None
    city: str | None = None
    phone: str | None = None
    email: str | None = None
    national_id: str | None = field(default=None, repr=False)  # clear; never stored
    name_suffix: str | None = None  # JR, SR, II..IV

    def missing(self) -> list[str]:
        """What this identity lacks of ``MINIMUM_IDENTITY`` (empty when it has it all)."""
        return _missing(
            {
                name: getattr(self, name)
                for name in (
                    "first_name",
                    "last_name",
                    "dob",
                    "address_line1",
                    "postcode",
                    "national_id",
                )
            }
        )


@dataclass(frozen=True)
class Candidate:
    person_id: str
    match_probability: float  # of the person's best-matching identity record
    match_weight: float  # its match weight (bits)
    matched_records: int  # the person's records at or above the threshold
    # one of those records agrees with the query on its address or national ID (the tie, see
    # the module docstring); always true for a query not held to the minimum identity
    tied: bool


@dataclass(frozen=True)
class LookupResult:
    """``best`` is set only when ``status`` is found. ``candidates`` are the best-scoring
    persons, best first, near misses included: for operators, not for the lender."""

    status: Status
    best: Candidate | None
    candidates: list[Candidate]


def find_person(
    engine: Engine,
    model_path: Path,
    query: IdentityQuery,
    *,
    national_id_key: bytes | None,
    country: str,
    threshold: float = 0.9,
    max_candidates: int = 5,
    minimum: bool = True,
) -> LookupResult:
    """Find the person whose file it is, with the linkage model ``openbureau link`` uses.

    Args:
        engine: the warehouse, or an engine over a published copy (DuckDB only). Lookups
            through one engine share its prepared searches (see the module docstring): the
            service passes one engine per published copy.
        model_path: the saved linkage model (``models/linkage-model.json``).
        query: the identity typed in.
        national_id_key: the workspace's national-ID key (needed only with a national ID).
        country: the bureau's country (``bureau.toml``), as for
            ``build_identity_records``: the phone and postcode conventions.
        threshold: the match probability a person must reach (the link threshold).
        max_candidates: how many persons to list in ``candidates``.
        minimum: hold the query to ``MINIMUM_IDENTITY``, and the person found to agree with
            its address or national ID. Without it, the linker's own rule for a usable record
            applies (a national ID, or a name with one more identifier), and the linker's
            answer stands: for measuring the linker on partial identities, never for a caller
            outside the bureau.

    Returns:
        found, ambiguous or not_found (rule in the module docstring) and the best candidates.

    Raises:
        NotEnoughToIdentify: short of the minimum identity (as typed, or once standardised).
        UserError: too little to identify anyone, a malformed national ID, or no model yet.
    """
    if minimum and (missing := query.missing()):
        raise NotEnoughToIdentify(missing)
    engine.require("looking a person up", "duckdb_connection")
    pool = _pool(model_path)
    token = _national_id_token(query.national_id, national_id_key)
    record = _standardised(query, token, country, minimum)
    with pool.search() as search:
        rows = search.run(_index(engine, search.tf_columns), record, threshold, minimum)
    persons = [Candidate(str(pid), float(p), float(w), int(k), bool(t)) for pid, p, w, k, t in rows]
    status = _decide(persons, threshold)
    return LookupResult(status, persons[0] if status == "found" else None, persons[:max_candidates])


def prepare(engine: Engine, model_path: Path) -> None:
    """Load the engine's lookup index and prepare a search with the model, ahead of the first
    lookup (which would otherwise wait for both: seconds at a million records)."""
    engine.require("looking a person up", "duckdb_connection")
    with _pool(model_path).search() as search:
        _index(engine, search.tf_columns)


def _decide(persons: list[Candidate], threshold: float) -> Status:
    """found, ambiguous or not_found (see the module docstring); ``persons`` best first."""
    above = [c for c in persons if c.match_probability >= threshold]
    if not above or not above[0].tied:
        return "not_found"
    best = above[0]
    if all(best.match_weight - other.match_weight >= MARGIN_BITS for other in above[1:]):
        return "found"
    return "ambiguous"


def _national_id_token(national_id: str | None, key: bytes | None) -> str | None:
    """The token ingest stores for a national ID (``ingest._validate``: letters and digits
    only, upper case, 5 to 20 of them; HMAC-SHA256 with the workspace key, 32 hex digits).
    Computed here rather than in the engine, so neither the value nor the key enters any SQL
    text, log or table."""
    if national_id is None or not national_id.strip():
        return None
    if key is None:
        raise UserError(
            "a national ID was given but no national-ID key: pass the workspace's key to match it"
        )
    normalised = re.sub("[^0-9A-Za-z]", "", national_id).upper()
    if not re.fullmatch("[0-9A-Z]{5,20}", normalised):
        raise UserError("the national ID is not 5-20 letters or digits")
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()[:32]


@cache
def _nicknames() -> dict[str, Sequence[str | None]]:
    return _names.nickname_table()


def _standardised(
    query: IdentityQuery, token: str | None, country: str, minimum: bool
) -> dict[str, Any]:
    """The query as the identity stage standardises it (a record to compare). Raises
    NotEnoughToIdentify when, standardised, it falls short of the minimum (with ``minimum``),
    UserError when it is too little to identify anyone."""
    raw = {
        "first_name": query.first_name,
        "last_name": query.last_name,
        "name_suffix": query.name_suffix,
        "dob": query.dob,
        "address_line1": query.address_line1,
        "city": query.city,
        "postcode": query.postcode,
        "phone": query.phone,
        "email": query.email,
        "national_id_token": token,
    }
    record = standardise_one(raw, country, _nickname_map())
    if minimum and (
        missing := _missing(
            {
                **{k: record[k] for k in ("first_name", "last_name", "dob", "address_line1")},
                "postcode": record["postcode"],
                "national_id": record["national_id_token"],
            }
        )
    ):
        raise NotEnoughToIdentify(missing)
    if not record["usable"]:
        named = record["first_name"] is not None or record["last_name"] is not None
        raise UserError(
            "too little to identify a person: give a birth date, an address, a phone or an "
            "email besides the name, or a national ID"
            if named
            else "too little to identify a person: give a name (with a birth date, an address, a "
            "phone or an email), or a national ID"
        )
    return record


@cache
def _nickname_map() -> dict[str, str]:
    table = _nicknames()
    return {str(k): str(v) for k, v in zip(table["nickname"], table["canonical"], strict=True) if v}


class _Pool:
    """The prepared searches of one model file, kept for reuse: one thread at a time each; a
    thread finding none idle prepares another (no lock is held while one runs)."""

    def __init__(self, model: _splink.LinkageModel) -> None:
        self.model = model
        self._idle: list[Search] = []
        self._lock = threading.Lock()

    @contextmanager
    def search(self) -> Iterator[Search]:
        with self._lock:
            search = self._idle.pop() if self._idle else None
        if search is None:
            search = Search(self.model, _lookup_score.compiled(self.model.settings))
        try:
            yield search
        except BaseException:
            search.close()  # (a search that failed is not trusted again)
            raise
        with self._lock:
            self._idle.append(search)


# Per model file as it stands (path, size, mtime, inode); a changed file's pool goes.
_POOLS: dict[str, tuple[tuple[int, int, int], _Pool]] = {}
_POOLS_LOCK = threading.Lock()


def _pool(model_path: Path) -> _Pool:
    """The searches of the model saved at ``model_path`` (UserError if none)."""
    try:
        st = model_path.stat()
    except FileNotFoundError:
        raise UserError(
            f"{model_path}: no linkage model yet; run `openbureau link` first"
        ) from None
    path, stamp = str(model_path), (st.st_size, st.st_mtime_ns, st.st_ino)
    with _POOLS_LOCK:
        found = _POOLS.get(path)
    if found is None or found[0] != stamp:
        pool = _Pool(_splink.load_model(model_path))  # (UserError for a file that is no model)
        with _POOLS_LOCK:
            found = _POOLS[path] = (stamp, pool)
    return found[1]


class _Indexes:
    """The lookup indexes loaded from one database connection, per set of term-frequency
    columns; loading one is done once, the connection's other lookups waiting for it (and
    only they: lookups on another connection, the snapshot before, go on)."""

    def __init__(self) -> None:
        self.loaded: dict[tuple[str, ...], LookupIndex] = {}
        self.lock = threading.Lock()


# Per database connection (weakly: they go with it).
_INDEXES: weakref.WeakKeyDictionary[Any, _Indexes] = weakref.WeakKeyDictionary()
_INDEXES_LOCK = threading.Lock()


def _index(engine: Engine, tf_columns: tuple[str, ...]) -> LookupIndex:
    connection = engine.connection
    with _INDEXES_LOCK:
        indexes = _INDEXES.setdefault(connection, _Indexes())
    with indexes.lock:
        found = indexes.loaded.get(tf_columns)
        if found is None:
            cursor = connection.cursor()
            try:
                found = indexes.loaded[tf_columns] = LookupIndex.load(cursor, tf_columns)
            finally:
                cursor.close()
    return found
