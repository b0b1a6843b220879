"""Typed bureau settings, read from a workspace's ``bureau.toml``.

Every setting has a default, so a fresh ``bureau.toml`` can be nearly empty; a wrong key or value
is reported as one line that names the key and what was expected.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from openbureau.errors import ConfigError

SETTINGS_FILE = "bureau.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BureauSection(_Section):
    name: str = "openbureau"
    country: str = Field(
        default="US",
        min_length=2,
        max_length=2,
        description="ISO 3166 country of the bureau: its phone and postcode conventions apply",
    )
    contact: str = Field(
        default="",
        max_length=300,
        description="how a person reaches the bureau (postal address, phone, web), printed "
        "on every adverse-action notice; a lender's decline cannot be recorded without it",
    )

    @field_validator("contact")
    @classmethod
    def _plain_contact(cls, value: str) -> str:
        import unicodedata

        value = value.strip()
        bad = [ch for ch in value if unicodedata.category(ch).startswith("C")]
        if bad:
            raise ValueError(
                f"holds a control character (U+{ord(bad[0]):04X}): one line of plain text"
            )
        return value

    @field_validator("country")
    @classmethod
    def _a_country(cls, value: str) -> str:
        import phonenumbers  # (only here: reading settings stays cheap otherwise)

        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not an ISO 3166 country code (e.g. US, GB, DE)")
        return value.upper()


class SparkSection(_Section):
    master: str = Field(
        default="local[2]", min_length=1, description="Spark's master URL (a cluster's, or local)"
    )
    path: str = Field(
        default="warehouse-spark",
        min_length=1,
        description="the directory of the warehouse's Parquet tables, relative to the workspace",
    )
    driver_memory: str = Field(default="4g", description="the Spark driver's memory")


class WarehouseSection(_Section):
    engine: str = Field(default="duckdb", description="the engine holding the warehouse")
    path: str = Field(default="warehouse.duckdb", description="relative to the workspace")
    threads: int | None = Field(default=None, ge=1, description="engine threads; default: all")
    memory_limit: str | None = Field(default=None, description="e.g. '8GB'; default: engine's")
    spark: SparkSection = SparkSection()  # (engine = "spark")

    @field_validator("engine")
    @classmethod
    def _a_known_engine(cls, value: str) -> str:
        from openbureau.engine import ENGINES  # (only here: reading settings stays cheap)

        if value not in ENGINES:
            raise ValueError(f"unknown engine (known engines: {', '.join(sorted(ENGINES))})")
        return value


class IngestSection(_Section):
    max_quarantine_share: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="refuse a batch when more than this share of its rows is quarantined",
    )
    memory_limit: str | None = Field(
        default="1.5GB",
        description="the engine's memory while a file is staged, validated and written (past "
        "it, the engine spills to disk, so a file of any size fits); unset: the warehouse's",
    )


class IdentitySection(_Section):
    link_threshold: float = Field(
        default=0.9,
        gt=0.0,
        lt=1.0,
        description="match probability at or above which two identity records are one person",
    )
    edge_threshold: float = Field(
        default=0.5,
        gt=0.0,
        lt=1.0,
        description="pairs scored at or above this are kept (for explanations and re-clustering)",
    )
    u_max_pairs: float = Field(default=5e6, ge=1e4, description="pairs sampled to estimate u")
    seed: int = Field(default=42, description="seed for u sampling, so training repeats")

    @model_validator(mode="after")
    def _edges_kept_for_every_link(self) -> IdentitySection:
        # (pairs below edge_threshold are never kept, so none could join persons either, and
        # explain-link could not show the links that did)
        if self.edge_threshold > self.link_threshold:
            raise ValueError(
                f"edge_threshold ({self.edge_threshold}) is above link_threshold "
                f"({self.link_threshold}); it must not be"
            )
        return self


class SecretsSection(_Section):
    national_id_key: str = Field(
        default="secrets/national_id.key",
        description="file holding the HMAC key for national-ID tokens; kept out of the warehouse",
    )


class ServiceSection(_Section):
    store_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the operational store (accounts, sessions, audit log); "
        "default: a SQLite file in the workspace's service folder",
    )
    secure_cookies: bool = Field(
        default=True,
        description="send session cookies only over HTTPS (browsers treat "
        "http://127.0.0.1 and localhost as secure)",
    )
    session_minutes: int = Field(default=480, ge=5, le=10080)
    login_failures_per_account: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="failed logins to an account within the window "
        "after which its logins are refused for a while",
    )
    login_failures_per_address: int = Field(
        default=20,
        ge=1,
        le=100000,
        description="the same for one client address, whatever the accounts tried",
    )
    login_window_minutes: int = Field(default=15, ge=1, le=1440)
    attestation_days: int = Field(
        default=30, ge=1, le=90, description="default lifetime of a shared score"
    )
    lookups_per_minute: int = Field(
        default=60,
        ge=0,
        le=1_000_000,
        description="a lender's lookups a minute (refused "
        "ones included), unless its account sets its own; counted in the store, so across "
        "every service process on it",
    )
    lookups_at_once_per_lender: int = Field(
        default=2,
        ge=1,
        le=64,
        description="a lender's lookups searched at the same time in "
        "one service process; the rest wait their turn",
    )
    lookup_threads: int = Field(
        default=4,
        ge=1,
        le=64,
        description="threads of one service process that search "
        "identities (apart from those serving requests)",
    )
    verify_per_minute_per_address: int = Field(
        default=30,
        ge=1,
        le=1_000_000,
        description="score verifications (anonymous) a minute from one client address",
    )
    verify_per_minute: int = Field(
        default=600,
        ge=1,
        le=10_000_000,
        description="score verifications a minute from all addresses together, per process",
    )
    proxy_headers: bool = Field(
        default=False,
        description="take the client's address from X-Forwarded-For (and "
        "the scheme from X-Forwarded-Proto), as sent by a proxy at "
        "forwarded_allow_ips; only behind such a proxy",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        max_length=2000,
        description="comma-separated addresses or networks of the proxies trusted with "
        "proxy_headers ('*': any)",
    )
    audit_sign_every: int = Field(
        default=1000,
        ge=0,
        le=10_000_000,
        description="sign a head of the audit log every this many entries (0: only at "
        "publications, on demand, and when a person's access log needs one)",
    )
    audit_sign_interval: int = Field(
        default=10,
        ge=1,
        le=86_400,
        description="seconds between heads signed on demand: when a person's access log shows "
        "entries the latest head does not cover, a head is signed only if the latest is this "
        "old (else those entries' proofs are pending until the next head)",
    )


_PERIOD = re.compile(r"^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)d)?$")


@dataclass(frozen=True)
class Period:
    """A length of time as years, months and days (``7y``, ``18m``, ``7y180d``)."""

    months: int
    days: int

    @classmethod
    def parse(cls, text: str) -> Period:
        found = _PERIOD.match(text.strip().lower()) if isinstance(text, str) else None
        if not found or not any(found.groups()):
            raise ValueError("a period like '7y', '18m' or '7y180d' is expected")
        years, months, days = (int(g or 0) for g in found.groups())
        period = cls(12 * years + months, days)
        if period.approx_days < 28:
            raise ValueError("a period of at least one month is expected")
        if period.approx_days > 50 * 366:
            raise ValueError("a period of at most 50 years is expected")
        return period

    @property
    def approx_days(self) -> float:
        return self.months * 30.44 + self.days

    def sql(self) -> str:
        """The period as a SQL interval, to add to a date."""
        return f"INTERVAL '{self.months} months {self.days} days'"

    def __str__(self) -> str:
        years, months = divmod(self.months, 12)
        text = (f"{years}y" if years else "") + (f"{months}m" if months else "")
        return text + (f"{self.days}d" if self.days or not text else "")


class AgeingSection(_Section):
    """How long negative items count (FCRA 605; docs/ledger.md "Ageing-off"), per kind."""

    delinquency: str = Field(
        default="7y",
        description="late payments on an account: from the date of first delinquency",
    )
    charged_off: str = Field(
        default="7y",
        description="a charged-off account (the whole tradeline): from the date of first "
        "delinquency",
    )
    late_bill: str = Field(
        default="7y",
        description="a utility, telecom or rent bill paid late or unpaid: from its due date",
    )
    civil_judgment: str = Field(default="7y", description="from the filing date")
    tax_lien: str = Field(default="7y", description="from the release, or the filing date")
    bankruptcy_ch7: str = Field(default="10y", description="from the filing date")
    bankruptcy_ch11: str = Field(default="10y", description="from the filing date")
    bankruptcy_ch12: str = Field(default="10y", description="from the filing date")
    bankruptcy_ch13: str = Field(default="10y", description="from the filing date")
    bankruptcy_undesignated: str = Field(default="10y", description="from the filing date")
    inquiry: str = Field(default="2y", description="an inquiry on file: from its date")
    inquiry_in_score: str = Field(
        default="1y", description="an inquiry counted in features and scores: from its date"
    )

    @field_validator("*")
    @classmethod
    def _a_period(cls, value: str) -> str:
        Period.parse(value)
        return value

    @model_validator(mode="after")
    def _scored_while_on_file(self) -> AgeingSection:
        if self.period("inquiry_in_score").approx_days > self.period("inquiry").approx_days:
            raise ValueError(
                f"inquiry_in_score ({self.inquiry_in_score}) is longer than inquiry "
                f"({self.inquiry}); an inquiry no longer on file cannot count"
            )
        return self

    def period(self, kind: str) -> Period:
        """The period of ``kind`` (a field name)."""
        return Period.parse(getattr(self, kind))


#: The protected attributes a fairness audit compares groups by, one column each in the audit
#: store (governance/protected_attributes.py). Declared here, below every stage, because the
#: settings name them too (a business-necessity override covers one).
ATTRIBUTES: tuple[str, ...] = (
    "sex",
    "age_band",
    "ethnicity",
    "national_origin",
    "political_engagement",
)


class BusinessNecessity(_Section):
    """A documented business necessity: ``factor`` may stay in a scorecard although it is a
    proxy for protected ``attribute`` (the proxy test, governance/proxies.py). Both training and
    scoring honour it only for this (factor, attribute) pair, and only while it is declared."""

    factor: str = Field(min_length=1, description="the factor (built-in or custom) it covers")
    attribute: str = Field(description="the protected attribute it covers (e.g. age_band)")
    justification: str = Field(
        description="why the factor is needed despite the association (recorded in the "
        "scorecard and the model report)"
    )
    approved_by: str = Field(description="who approved the override (a person or committee)")

    @field_validator("factor", "justification", "approved_by")
    @classmethod
    def _given(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("attribute")
    @classmethod
    def _an_attribute(cls, value: str) -> str:
        if value not in ATTRIBUTES:
            raise ValueError(f"{value!r} is not a protected attribute ({', '.join(ATTRIBUTES)})")
        return value


class ModelRiskSection(_Section):
    """Model risk: the proxy test (docs/scoring.md "Proxy test"): a factor whose values are
    associated with a protected attribute is refused at training and at scoring, unless a
    business-necessity override covers the pair; and the model report's fairness figures
    (docs/scoring.md "Fairness")."""

    proxy_max_cramers_v: float = Field(
        default=0.3,
        gt=0.0,
        le=1.0,
        description="refuse a factor whose bias-corrected Cramér's V with any protected "
        "attribute is above this",
    )
    proxy_min_persons: int = Field(
        default=1000,
        ge=1,
        description="judge a (factor, attribute) pair only on at least this many persons with "
        "a known value; on fewer, a V above the threshold is reported as not judged",
    )
    require_proxy_test: bool = Field(
        default=False,
        description="refuse to train or score when no protected attributes are loaded, so the "
        "proxy test cannot run (default: run it when they are, warn when they are not)",
    )
    business_necessity: list[BusinessNecessity] = Field(default_factory=list)
    fairness_cutoffs: list[int] = Field(
        default=[670, 730, 760],
        min_length=1,
        max_length=8,
        description="scores at or above which lenders approve, for the fairness figures "
        "(approval rates, adverse impact ratios) of the model report",
    )
    fairness_min_group: int = Field(
        default=30,
        ge=1,
        le=100_000,
        description="groups with fewer persons are shown in the fairness figures but "
        "never flagged (their rates are too noisy)",
    )

    @field_validator("fairness_cutoffs")
    @classmethod
    def _scores(cls, value: list[int]) -> list[int]:
        outside = [c for c in value if not 300 <= c <= 850]
        if outside:
            raise ValueError(f"{outside[0]} is not a score between 300 and 850")
        if len(set(value)) < len(value):
            raise ValueError("a cut-off appears twice")
        return sorted(value)

    @model_validator(mode="after")
    def _one_per_pair(self) -> ModelRiskSection:
        seen: set[tuple[str, str]] = set()
        for o in self.business_necessity:
            if (o.factor, o.attribute) in seen:
                raise ValueError(
                    f"business_necessity: ({o.factor}, {o.attribute}) is declared twice"
                )
            seen.add((o.factor, o.attribute))
        return self

    def override(self, factor: str, attribute: str) -> BusinessNecessity | None:
        """The override declared for (factor, attribute), or None."""
        return next(
            (o for o in self.business_necessity if (o.factor, o.attribute) == (factor, attribute)),
            None,
        )


class Settings(_Section):
    bureau: BureauSection = BureauSection()
    warehouse: WarehouseSection = WarehouseSection()
    ingest: IngestSection = IngestSection()
    identity: IdentitySection = IdentitySection()
    secrets: SecretsSection = SecretsSection()
    service: ServiceSection = ServiceSection()
    ageing: AgeingSection = AgeingSection()
    model_risk: ModelRiskSection = ModelRiskSection()


DEFAULT_TOML = """\
# openbureau workspace settings. Every key is optional; these are the defaults.

[bureau]
name = "openbureau"
country = "US"                 # ISO 3166 alpha-2: its phone and postcode conventions
# how a person reaches the bureau, printed on adverse-action notices (needed for them):
# contact = "Consumer relations, PO Box 1000, Springfield IL 62701; 1-800-555-0100"

[warehouse]
engine = "duckdb"              # the embedded default (docs/engines.md)
path = "warehouse.duckdb"      # relative to the workspace
# threads = 2
# memory_limit = "8GB"
# [warehouse.spark]            # engine = "spark" (docs/engines.md)
# master = "local[2]"          # or a cluster's URL
# path = "warehouse-spark"     # a directory of Parquet tables, relative to the workspace

[ingest]
max_quarantine_share = 0.5     # refuse a batch when more than half of its rows are bad
memory_limit = "1.5GB"         # the engine's memory while a file loads (it spills past it)

[identity]
link_threshold = 0.9           # match probability for two records to be one person
edge_threshold = 0.5           # scored pairs kept for explanations and re-clustering
u_max_pairs = 5e6              # random pairs sampled to estimate the model's u values
seed = 42

[secrets]
national_id_key = "secrets/national_id.key"   # HMAC key for national-ID tokens

[service]
# store_url = "postgresql+psycopg://bureau@db/bureau"   # default: service/store.sqlite
secure_cookies = true
session_minutes = 480
login_failures_per_account = 5   # failed logins within the window before logins are refused
login_failures_per_address = 20  # the same for one client address, whatever the accounts
login_window_minutes = 15
attestation_days = 30          # default lifetime of a shared score (at most 90)
lookups_per_minute = 60        # a lender's lookups a minute, unless its account sets its own
lookups_at_once_per_lender = 2 # a lender's lookups searched at once, per service process
lookup_threads = 4             # threads searching identities, per service process
verify_per_minute_per_address = 30  # anonymous score verifications a minute, per address
verify_per_minute = 600        # ... from all addresses together, per service process
proxy_headers = false          # trust X-Forwarded-For from forwarded_allow_ips (behind a proxy)
forwarded_allow_ips = "127.0.0.1"
audit_sign_every = 1000        # sign a head of the audit log every N entries (0: not by count)
audit_sign_interval = 10       # ... and on demand (an access log) at most once every N seconds

[ageing]                       # negative items stop counting after (FCRA 605): "7y", "18m"...
delinquency = "7y"             # late payments on an account, from the date of first delinquency
charged_off = "7y"             # a charged-off account (all of it), from the same date
late_bill = "7y"               # a utility, telecom or rent bill paid late or unpaid, from due date
civil_judgment = "7y"          # from filing
tax_lien = "7y"                # from its release (payment), or from filing while unreleased
bankruptcy_ch7 = "10y"         # from filing
bankruptcy_ch11 = "10y"        # from filing
bankruptcy_ch12 = "10y"        # from filing
bankruptcy_ch13 = "10y"        # from filing (US bureaus remove a completed one at 7y by practice)
bankruptcy_undesignated = "10y"  # from filing (a Metro 2 report that names no chapter)
inquiry = "2y"                 # an inquiry stays on file
inquiry_in_score = "1y"        # ... and counts in features and scores

[model_risk]                   # the proxy test and fairness figures (docs/scoring.md)
proxy_max_cramers_v = 0.3      # refuse a factor this associated with sex, age band, ethnicity...
proxy_min_persons = 1000       # ...measured on at least this many persons (fewer: not judged)
require_proxy_test = false     # true: refuse to train or score without attributes loaded
fairness_cutoffs = [670, 730, 760]  # approval at or above each score: rates, adverse impact
fairness_min_group = 30        # smaller groups are shown but never flagged
# A factor over the threshold is kept only under a documented business necessity, per pair:
# [[model_risk.business_necessity]]
# factor = "oldest_account_months"
# attribute = "age_band"
# justification = "length of credit history predicts repayment; older persons score higher"
# approved_by = "Model risk committee, 2025-01-15"
"""


def _describe(err: ValidationError, origin: str) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        problem = "unknown key"
    else:
        problem = first["msg"].removeprefix("Value error, ")
        if "input" in first and not isinstance(first["input"], dict):
            problem += f", got {first['input']!r}"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{origin}: {key}: {problem}{more}"


def parse_settings(data: dict[str, Any], origin: str = SETTINGS_FILE) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_describe(err, origin)) from None


def load_settings(path: Path) -> Settings:
    """Read and validate ``bureau.toml``; raise ConfigError with one clear line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: not found; is this a workspace? Create one with `openbureau init DIR`"
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return parse_settings(data, str(path))
