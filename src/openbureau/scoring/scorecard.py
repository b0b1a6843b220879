"""The scorecard file: every factor, its bins and their points, in plain YAML.

A scorecard is what a person can read and a reviewer can diff. ``openbureau train`` writes one;
a hand-written file in the same format is accepted too. Loading a scorecard never imports the
training stack (optbinning, scikit-learn): scoring compiles the file itself (``compile``).

Format (``format_version: 1``)::

    name: openbureau-synthetic
    version: 2026-11-29.3f2a9c01        # date . first 8 hex of the seal
    seal: sha256:3f2a9c01...            # the content hash (see below)
    trained_as_of: 2024-12-31
    outcome: 90+ days past due ... within 12 months
    scaling: {base_score: 640, base_odds: 1, pdo: 30, min_score: 300, max_score: 850}
    bands: [{name: poor, min_score: 300, max_score: 669}, ...]
    minimum_criteria: {tradelines: 1, alt_months: null}   # 6 in a card with alternative data
    factors:
      - name: revolving_utilisation
        code: AO01
        group: amounts_owed
        statement: Proportion of balances to credit limits on revolving accounts is too high
        fields: [{field: account_status.balance, category: credit}, ...]
        bins:                                 # numeric bins are [lower, upper); null = open end
          - {lower: null, upper: 0.12, points: 61.5}
          - {lower: 0.12, upper: 0.47, points: 48.0}
          - {lower: 0.47, upper: null, points: 20.3}
          - {missing: true, points: 41.0}     # no value; also unseen categories
        # categorical factors use {categories: [a, b], points: ...} bins instead

Score = the sum of each factor's bin points, rounded and clipped to [min_score, max_score].
Scaling: ``score = base_score + pdo / ln 2 * ln(odds / base_odds)``, odds = good:bad, so every
``pdo`` points double the odds of repaying.

The seal: sha256 over a canonical serialisation (sorted-key JSON of the validated card) of
everything but ``version``, ``created_at`` and ``seal``; the version's hash part is its first 8
hex digits, so a version names exactly one content. ``load_scorecard`` refuses a file without a
seal, one edited after sealing and one whose version does not name its seal;
``openbureau seal PATH`` (``scoring/seal.py``) seals a card as a new version.

The default scale is fixed, not fitted to each training population, so that a score (a lender's
cut-off, a band) means the same odds across retrainings: 640 points at even odds (1:1, a 50 %
default probability), 30 points to double the odds; 850 is odds 128:1 (PD 0.78 %), 300 about
1:2,580 (PD 99.96 %). The model report warns when more than 1 % of the scorable persons sit at
either end (``END_SHARE_LIMIT``). Bands are ranges of odds (``BAND_ODDS``); their scores follow
from the scale (``bands_for``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from openbureau.errors import UserError

FORMAT_VERSION = 1
SEAL_PREFIX = "sha256:"
_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}\.(?P<hash>[0-9a-f]{8})")


class Scaling(BaseModel):
    """Points-to-double-odds scaling: every ``pdo`` points double the good:bad odds; defaults:
    640 points at even odds, 30 points to double them (module docstring)."""

    model_config = ConfigDict(extra="forbid")
    base_score: float = 640.0
    base_odds: float = Field(default=1.0, gt=0)
    pdo: float = Field(default=30.0, gt=0)
    min_score: int = 300
    max_score: int = 850

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def score_at_odds(self, odds: float) -> float:
        """The (unrounded, unclipped) score at good:bad ``odds``."""
        return self.offset + self.factor * math.log(odds)

    def odds(self, score: float) -> float:
        """The good:bad odds at ``score``: ``base_odds * 2 ** ((score - base_score) / pdo)``."""
        return self.base_odds * 2.0 ** ((score - self.base_score) / self.pdo)

    def default_probability(self, score: Any) -> Any:
        """PD implied by scores (a number or a numpy array) under this scaling:
        ``1 / (1 + odds)`` with ``odds = base_odds * 2 ** ((score - base_score) / pdo)``."""
        import numpy as np  # only the model report calls this

        s = np.asarray(score, dtype=float)
        with np.errstate(over="ignore"):  # absurd scores overflow to odds=inf, i.e. PD 0
            odds = self.base_odds * np.exp2((s - self.base_score) / self.pdo)
        return np.asarray(1.0 / (1.0 + odds))

    def odds_table(self, step: int = 50) -> list[tuple[int, float, float]]:
        """(score, good:bad odds, default probability) every ``step`` points from
        ``min_score`` to ``max_score`` (both included): the score-to-odds table."""
        scores = [*range(self.min_score, self.max_score, step), self.max_score]
        return [(s, self.odds(s), 1.0 / (1.0 + self.odds(s))) for s in scores]


class Band(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    min_score: int
    max_score: int


# Each band is a range of good:bad odds, from its floor to the next band's (PD = 1 / (1 + odds)):
# poor below 2:1 (PD above 33.3 %), fair 2:1 to 8:1 (11.1-33.3 %), good 8:1 to 16:1
# (5.9-11.1 %), very good 16:1 to 32:1 (3.0-5.9 %), exceptional 32:1 and above (3.0 % or less).
BAND_ODDS: tuple[tuple[str, float], ...] = (
    ("poor", 0.0),
    ("fair", 2.0),
    ("good", 8.0),
    ("very good", 16.0),
    ("exceptional", 32.0),
)

# Scores within this of a band's odds floor count as on it (floating point, not judgement).
_ODDS_EPS = 1e-9

# A scale the population fits uses its range: more than this share of the scorable persons at
# either end (min_score, max_score) and the report says so.
END_SHARE_LIMIT = 0.01


def bands_for(scaling: Scaling, band_odds: tuple[tuple[str, float], ...] = BAND_ODDS) -> list[Band]:
    """Bands of ``scaling``'s scores from ranges of odds: a band starts at the first whole score
    whose odds reach its floor (the first band at ``min_score``) and ends where the next starts.

    Raises:
        ValueError: floors not increasing from 0, or a band left without a score.
    """
    floors = [o for _, o in band_odds]
    if not floors or floors[0] != 0 or any(b <= a for a, b in itertools.pairwise(floors)):
        raise ValueError("band odds must start at 0 and increase")
    starts = [scaling.min_score] + [
        math.ceil(scaling.score_at_odds(o) - _ODDS_EPS) for o in floors[1:]
    ]
    ends = [s - 1 for s in starts[1:]] + [scaling.max_score]
    if any(lo > hi for lo, hi in zip(starts, ends, strict=True)):
        raise ValueError("a band has no score on this scale: choose fewer or wider bands")
    return [
        Band(name=name, min_score=lo, max_score=hi)
        for (name, _), lo, hi in zip(band_odds, starts, ends, strict=True)
    ]


DEFAULT_BANDS = bands_for(Scaling())


class Bin(BaseModel):
    """One bin: a numeric interval [lower, upper), a set of categories, or the missing bin."""

    model_config = ConfigDict(extra="forbid")
    lower: float | None = None
    upper: float | None = None
    categories: list[str] | None = None
    missing: bool = False
    points: float
    count: int | None = None  # training persons in the bin (for reading, not for scoring)
    event_rate: float | None = None
    woe: float | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Bin:
        if not math.isfinite(self.points):
            raise ValueError("points must be a finite number")
        if self.missing and (
            self.categories is not None or self.lower is not None or self.upper is not None
        ):
            raise ValueError("a missing bin has no bounds or categories")
        if self.categories is not None and (self.lower is not None or self.upper is not None):
            raise ValueError("a bin has either categories or bounds, not both")
        return self

    @property
    def label(self) -> str:
        if self.missing:
            return "missing"
        if self.categories is not None:
            return ", ".join(self.categories)
        lo = "-inf" if self.lower is None else f"{self.lower:g}"
        hi = "inf" if self.upper is None else f"{self.upper:g}"
        return f"[{lo}, {hi})"


class FieldRef(BaseModel):
    """A field a factor derives from: ``event.column`` or ``feed.target``, and its category."""

    model_config = ConfigDict(extra="forbid")
    field: str
    category: str = "unknown"


class CustomSource(BaseModel):
    """A factor computed from any loaded field instead of a built-in feature."""

    model_config = ConfigDict(extra="forbid")
    feed: str
    field: str
    aggregate: Literal["count", "count_distinct", "sum", "avg", "min", "max", "latest"]
    date_field: str | None = Field(
        default=None,
        description="Target dating each row: only rows dated on or before the "
        "as-of date count (without it the factor is not point-in-time and is refused)",
    )
    window_months: int | None = Field(default=None, ge=1, le=240)

    @property
    def field_ref(self) -> str:
        return f"{self.feed}.{self.field}"


class Factor(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    code: str
    group: str = "other"
    statement: str
    missing_statement: str | None = None  # the reason when having no value cost the points
    description: str = ""
    kind: str = "numeric"  # numeric | categorical
    fields: list[FieldRef] = Field(default_factory=list)
    iv: float | None = None
    trend: str | None = None
    custom: CustomSource | None = None
    bins: list[Bin]

    @model_validator(mode="after")
    def _bins_cover(self) -> Factor:
        missing = [b for b in self.bins if b.missing]
        if len(missing) != 1:
            raise ValueError(
                f"factor {self.name}: needs exactly one missing bin "
                f"(points for no value), found {len(missing)}"
            )
        rest = [b for b in self.bins if not b.missing]
        if not rest:
            raise ValueError(f"factor {self.name}: needs at least one bin besides missing")
        if self.kind == "categorical":
            seen: set[str] = set()
            for b in rest:
                if b.categories is None:
                    raise ValueError(f"factor {self.name}: categorical bins need categories")
                dup = seen.intersection(b.categories)
                if dup:
                    raise ValueError(
                        f"factor {self.name}: category {sorted(dup)[0]!r} is in two bins"
                    )
                seen.update(b.categories)
        elif self.kind == "numeric":
            if rest[0].lower is not None or rest[-1].upper is not None:
                raise ValueError(
                    f"factor {self.name}: numeric bins must start at lower: null "
                    "and end at upper: null"
                )
            for a, b in itertools.pairwise(rest):
                if a.upper is None or b.lower is None or a.upper != b.lower:
                    raise ValueError(
                        f"factor {self.name}: bins must be contiguous and ordered "
                        f"(upper {a.upper} then lower {b.lower})"
                    )
        else:
            raise ValueError(f"factor {self.name}: kind must be numeric or categorical")
        return self

    @property
    def max_points(self) -> float:
        return max(b.points for b in self.bins)

    @property
    def missing_bin(self) -> Bin:
        return next(b for b in self.bins if b.missing)


ALT_MONTHS = 6  # months of bills that make a file scorable with alternative data


class MinimumCriteria(BaseModel):
    """A file is scored only with enough data behind it; otherwise it is unscorable.

    ``alt_months``: months of utility, telecom or rent history that make a file without a
    credit account scorable (a scorecard with alternative data: ``ALT_MONTHS``); None, the
    default, for a core scorecard (alternative data counts only with consent, so it never
    makes a file scorable there)."""

    model_config = ConfigDict(extra="forbid")
    tradelines: int = 1
    alt_months: int | None = None

    def eligible_sql(self, prefix: str = "") -> str:
        """SQL: the file has history enough (columns ``tradelines``, ``alt_months``)."""
        by_credit = f"{prefix}tradelines >= {self.tradelines}"
        if self.alt_months is None:
            return f"({by_credit})"
        return f"({by_credit} OR {prefix}alt_months >= {self.alt_months})"

    def eligible(self, tradelines: float, alt_months: float) -> bool:
        """:meth:`eligible_sql` for one file."""
        return tradelines >= self.tradelines or (
            self.alt_months is not None and alt_months >= self.alt_months
        )


class ProxyOverride(BaseModel):
    """A factor kept though the proxy test measured it above the threshold for a protected
    attribute, under a business-necessity override declared in bureau.toml
    (``[[model_risk.business_necessity]]``; governance/proxies.py). Scoring honours it only
    while bureau.toml still declares the pair."""

    model_config = ConfigDict(extra="forbid")
    factor: str
    attribute: str
    cramers_v: float  # as measured on the training persons
    threshold: float
    justification: str = Field(min_length=1)
    approved_by: str = Field(min_length=1)


class Scorecard(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format_version: int = FORMAT_VERSION
    name: str
    version: str = ""
    seal: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$")
    description: str = ""
    created_at: str | None = None
    trained_as_of: dt.date | None = None
    outcome: str = ""
    scaling: Scaling = Scaling()
    bands: list[Band] = Field(default_factory=lambda: list(DEFAULT_BANDS))
    minimum_criteria: MinimumCriteria = MinimumCriteria()
    factors: list[Factor]
    excluded: list[dict[str, Any]] = Field(default_factory=list)
    # (None when there is none, so a card without one keeps its seal: see content_hash)
    business_necessity: list[ProxyOverride] | None = None

    @model_validator(mode="before")
    @classmethod
    def _bands_of_its_scale(cls, data: Any) -> Any:
        # Without bands: the default ranges of odds (BAND_ODDS) on this scorecard's own scale.
        if isinstance(data, dict) and "bands" not in data and "scaling" in data:
            try:
                scaling = Scaling.model_validate(data["scaling"])
            except ValidationError:
                return data  # (reported by the field's own validation)
            data = {**data, "bands": bands_for(scaling)}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Scorecard:
        if self.format_version != FORMAT_VERSION:
            raise ValueError(f"format_version {self.format_version} is not supported")
        if not self.factors:
            raise ValueError("a scorecard needs at least one factor")
        names = [f.name for f in self.factors]
        codes = [f.code for f in self.factors]
        for label, values in (("name", names), ("code", codes)):
            dup = sorted({v for v in values if values.count(v) > 1})
            if dup:
                raise ValueError(f"factor {label} {dup[0]!r} appears twice")
        bands = sorted(self.bands, key=lambda b: b.min_score)
        if (
            bands[0].min_score > self.scaling.min_score
            or bands[-1].max_score < self.scaling.max_score
        ):
            raise ValueError("bands must cover the whole score range")
        for a, b in itertools.pairwise(bands):
            if b.min_score != a.max_score + 1:
                raise ValueError(f"bands {a.name!r} and {b.name!r} must meet without a gap")
        if self.business_necessity is not None and not self.business_necessity:
            self.business_necessity = None
        for o in self.business_necessity or []:
            if o.factor not in names:
                raise ValueError(f"business_necessity: {o.factor!r} is not a factor of the card")
        return self

    def band_for(self, score: int) -> str:
        return next(b.name for b in self.bands if b.min_score <= score <= b.max_score)

    def content_hash(self) -> str:
        """sha256 (hex) of everything that decides scores: the card but for ``version``,
        ``created_at`` and ``seal``, as sorted-key JSON of the validated model (so layout,
        comments and key order in the file do not count; a None field counts as absent)."""
        data = self.model_dump(
            mode="json", exclude={"version", "created_at", "seal"}, exclude_none=True
        )
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def seal_problem(self) -> str | None:
        """Why this card's seal does not hold (None when it does)."""
        if self.seal is None:
            return "not sealed"
        digest = self.content_hash()
        if self.seal != SEAL_PREFIX + digest:
            return "edited after sealing"
        match = _VERSION.fullmatch(self.version)
        if match is None or match["hash"] != digest[:8]:
            return (
                f"version {self.version!r} does not name its seal "
                f"(expected DATE.{digest[:8]}, the seal's first 8 hex digits)"
            )
        return None

    def sealed(self, when: dt.date | None = None) -> Scorecard:
        """This card sealed: itself when its seal holds, else a copy with a new seal and a new
        version (``when`` or today, then the seal's first 8 hex digits)."""
        if self.seal_problem() is None:
            return self
        digest = self.content_hash()
        day = (when or dt.date.today()).isoformat()
        return self.model_copy(
            update={"seal": SEAL_PREFIX + digest, "version": f"{day}.{digest[:8]}"}
        )

    def to_yaml(self) -> str:
        data = self.model_dump(mode="json", exclude_none=True)
        # (alt_months: null is meaningful: a core scorecard, see MinimumCriteria)
        data["minimum_criteria"] = self.minimum_criteria.model_dump(mode="json")
        for factor in data["factors"]:
            for b in factor["bins"]:
                if not b.get("missing"):
                    b.pop("missing", None)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def read_scorecard(path: str | Path) -> Scorecard:
    """Read and validate a scorecard file, sealed or not (``openbureau seal`` reads with this;
    everything that scores uses :func:`load_scorecard`).

    Raises:
        UserError: unreadable file, bad YAML, or a scorecard that does not validate.
    """
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{p}: cannot read scorecard ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{p}:{where} not valid YAML") from exc
    if not isinstance(data, dict):
        raise UserError(f"{p}: a scorecard file must be a YAML mapping")
    try:
        return Scorecard.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        raise UserError(f"{p}: {where + ': ' if where else ''}{msg}") from exc


def load_scorecard(path: str | Path) -> Scorecard:
    """Read and validate a sealed scorecard file (the factor guard runs on top: ``governance``).

    Raises:
        UserError: unreadable file, bad YAML, a scorecard that does not validate, or one that
            is not sealed, was edited after sealing, or whose version does not name its seal.
    """
    card = read_scorecard(path)
    problem = card.seal_problem()
    if problem is not None:
        again = "" if card.seal is None else " as a new version"
        raise UserError(f"{path}: {problem}: run `openbureau seal {path}` to seal it{again}")
    return card


def save_scorecard(card: Scorecard, path: str | Path) -> Path:
    """Write ``card`` sealed (:meth:`Scorecard.sealed`), atomically: a reader never sees half a
    scorecard."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(card.sealed().to_yaml())
        if p.exists():  # (re-sealing keeps the file's permissions)
            os.chmod(tmp, p.stat().st_mode & 0o7777)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
