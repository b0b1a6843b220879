"""Source specs: a readable YAML description of one furnisher feed.

A spec says how to parse the file (format and parse options), how each source column maps onto a
canonical field, how to read its values (type, date formats, code tables) and which **data
category** each field belongs to (``ingest.categories``). Categories matter downstream: a field
of any category may be stored, but only credit behaviour can become a score factor.

Example (abridged)::

    name: northbank_accounts
    furnisher: Northbank
    feed: accounts
    format: csv
    parse: {delimiter: ",", encoding: utf-8}
    record_key: [account_id, period]
    require_one_of: [[national_id], [last_name, dob]]
    fields:
      - {column: ACCT_NO, target: account_id, category: reference, required: true}
      - {column: DOB, target: dob, type: date, formats: ["%Y-%m-%d"], category: identity}
      - {column: STATUS, target: payment_status, type: code, category: credit,
         codes: {"11": current, "71": dpd30}}
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from openbureau.errors import SpecError
from openbureau.ingest import _fixed, _metro2, bounds, vocabulary
from openbureau.ingest._mapping import (  # (re-exported: where callers have found them)
    EVENT_REQUIRES as EVENT_REQUIRES,
)
from openbureau.ingest._mapping import EventType
from openbureau.ingest._mapping import LedgerMapping as LedgerMapping
from openbureau.ingest._mapping import historical as _historical
from openbureau.ingest._yaml import load_yaml
from openbureau.ingest.categories import KEPT_OUT_OF_LEDGER, DataCategory
from openbureau.ingest.categories import (  # (re-exported: where callers have found them)
    PROTECTED_CATEGORIES as PROTECTED_CATEGORIES,
)
from openbureau.ingest.vocabulary import (
    BOOLEAN,
    DATE_TYPES,
    PUBLIC_RECORD_KIND,
    Vocabulary,
)

SPEC_VERSION = 1
# What `openbureau spec draft` writes where a person must decide (a code's canonical value, a
# date format it could not choose, the furnisher's name): a spec holding it is refused.
PLACEHOLDER = "FILL_IN"


FieldType = Literal["string", "date", "month", "amount", "integer", "code", "boolean"]

# Canonical identity fields: fixed type and category, shared by every furnisher so the identity
# stage can compare them across feeds. Those saying where a person lives are ``location`` (the
# others ``identity``): the catalog records that whatever the spec says (see ``catalog_category``).
IDENTITY_FIELDS: dict[str, FieldType] = {
    "first_name": "string",
    "middle_name": "string",
    "last_name": "string",
    "name_suffix": "string",
    "full_name": "string",  # when the furnisher only has one name string
    "dob": "date",
    "address_line1": "string",
    "address_line2": "string",
    "city": "string",
    "region": "string",
    "postcode": "string",
    "address_full": "string",  # when the furnisher only has one address string
    "phone": "string",
    "email": "string",
    "national_id": "string",  # never stored in clear: replaced by a keyed token at ingest
}

LOCATION_FIELDS = frozenset(
    {"address_line1", "address_line2", "city", "region", "postcode", "address_full"}
)

# Columns every loaded table has, so they cannot be used as targets.
RESERVED_TARGETS = frozenset(
    {"record_id", "batch_id", "line_no", "source_record_id", "supersedes", "national_id_token"}
)

_SLUG = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Field keys left out of a spec's fingerprint and YAML when not set (added after specs existed).
_OPTIONAL_FIELD_KEYS = ("min", "max", "max_length", "start", "width", "end", "scale", "sign")
# The field types a spec's min and max apply to.
BOUNDED_TYPES = ("amount", "integer", "date", "month")


def code_key(key: str) -> str:
    """A code as the engine matches it: surrounding spaces trimmed, case ignored."""
    return key.strip(" ").lower()


class FieldSpec(BaseModel):
    """One source column and the canonical field it becomes."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(description="Source column name; for JSONL a dotted path like a.b.c")
    target: str = Field(description="Canonical field name (snake_case)")
    type: FieldType = Field(
        default="string",
        description="string | date | month | amount | integer | code | boolean",
    )
    category: DataCategory = Field(
        description="The data category (Data categories): what a score factor may make of it"
    )
    required: bool = Field(
        default=False, description="A row without a value is quarantined (missing_required)"
    )
    description: str = Field(default="", description="Free text about the field")
    formats: list[str] | None = Field(
        default=None, description="strptime formats tried in order (date and month types)"
    )
    codes: dict[str, str] | None = Field(
        default=None, description="source code -> canonical value (code and boolean types)"
    )
    decimal_comma: bool = Field(default=False, description="amounts written as 1.234,56")
    min: Decimal | dt.date | None = Field(
        default=None,
        description="lowest plausible value (amount, integer, date, month); "
        "tightens the declared bounds",
    )
    max: Decimal | dt.date | None = Field(
        default=None,
        description="highest plausible value (amount, integer, date, month); "
        "tightens the declared bounds",
    )
    max_length: int | None = Field(
        default=None,
        ge=1,
        le=bounds.MAX_LENGTH_LIMIT,
        description=f"longest value accepted, in characters "
        f"(default {bounds.DEFAULT_MAX_LENGTH:,})",
    )
    invalid: Literal["quarantine", "null"] = Field(
        default="quarantine",
        description="a value that does not parse: quarantine the row, or load it with this "
        "field empty (counted on the batch)",
    )
    # format: fixed only (see ingest._fixed): 1-based, inclusive, as layouts are written
    start: int | None = Field(default=None, description="fixed width: first character, from 1")
    width: int | None = Field(default=None, description="fixed width: number of characters")
    end: int | None = Field(default=None, description="fixed width: last character, inclusive")
    scale: Decimal | None = Field(
        default=None,
        description="amount and integer: the number as written is multiplied by this power of "
        "ten (0.01: written in cents)",
    )
    sign: _fixed.SignPosition | None = Field(
        default=None, description="amount and integer: where a sign is written (default leading)"
    )

    @field_validator("invalid", mode="before")
    @classmethod
    def _null_quoted(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None:  # `invalid: null` unquoted: YAML reads it as no value at all
            raise ValueError(
                f"{info.data.get('column', 'this field')}: YAML reads an unquoted null as no "
                'value; write invalid: "null" (in quotes)'
            )
        return v

    @field_validator("target")
    @classmethod
    def _target_is_slug(cls, v: str) -> str:
        if not _SLUG.match(v):
            raise ValueError(f"{v!r} is not a snake_case name (a-z, 0-9, _)")
        if v in RESERVED_TARGETS:
            raise ValueError(f"{v!r} is reserved for a column openbureau adds itself")
        return v

    @field_validator("codes", mode="before")
    @classmethod
    def _codes_as_text(cls, v: Any, info: ValidationInfo) -> Any:
        # Codes are matched as text, trimmed and ignoring case: two keys that match the same
        # values (11 and "11", "L" and "l") would make one of them silently unused.
        if not isinstance(v, dict):
            return v
        table: dict[str, str] = {}
        seen: dict[str, str] = {}
        for k, val in v.items():
            key = str(k)
            value = str(val).lower() if isinstance(val, bool) else str(val)
            norm = code_key(key)
            if not _historical(info):
                if not norm:
                    raise ValueError(
                        f"key {key!r} can never match: an empty value is a missing value"
                    )
                if norm in seen:
                    raise ValueError(
                        f"keys {seen[norm]!r} and {key!r} are the same code "
                        "(codes match ignoring case and surrounding spaces)"
                    )
                if not value.strip():
                    raise ValueError(f"key {key!r} maps to an empty value")
            seen[norm] = key
            table[key] = value
        return table

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> FieldSpec:
        typed = vocabulary.types_of(self.target)
        if typed and self.type not in typed and not _historical(info):
            # (a batch loaded before types were fixed is read by the ledger, which names the
            # values it cannot read)
            raise ValueError(f"{self.target} must have type {' or '.join(typed)}, not {self.type}")
        if self.target in IDENTITY_FIELDS:
            # (unknown: a drafted spec's start; the catalog records the field's own category)
            allowed_here = (DataCategory.identity, DataCategory.unknown, self.catalog_category)
            if self.category not in allowed_here:
                kind = self.catalog_category.value
                # (a location field may still say identity: every spec had to, until location
                # existed; the catalog records location either way)
                allowed = "location (or identity)" if kind == "location" else kind
                raise ValueError(
                    f"{self.target} is {'an' if kind == 'identity' else 'a'} {kind} field; its "
                    f"category must be {allowed}, not {self.category.value}"
                )
            if self.type != IDENTITY_FIELDS[self.target]:
                raise ValueError(
                    f"{self.target} must have type {IDENTITY_FIELDS[self.target]}, not {self.type}"
                )
        if self.required and self.invalid == "null":
            raise ValueError("a required field cannot have invalid: null")
        if self.type == "code" and not self.codes:
            raise ValueError("a field of type code needs a codes table")
        if self.type == "boolean" and self.codes is None:
            self.codes = {
                "true": "true",
                "false": "false",
                "1": "true",
                "0": "false",
                "y": "true",
                "n": "false",
                "yes": "true",
                "no": "false",
            }
        if self.type in ("date", "month") and not self.formats:
            self.formats = ["%Y-%m-%d"] if self.type == "date" else ["%Y-%m"]
        if (self.min is not None or self.max is not None) and self.type not in BOUNDED_TYPES:
            raise ValueError(
                f"min and max apply to fields of type {', '.join(BOUNDED_TYPES)}, not {self.type}"
            )
        bounds.field_bounds(self)  # raises ValueError when min or max widen the bounds
        _fixed.check_position(self.start, self.width, self.end)
        if (self.scale is not None or self.sign is not None) and self.type not in (
            "amount",
            "integer",
        ):
            raise ValueError(f"scale and sign apply to amount and integer fields, not {self.type}")
        _fixed.check_scale(self.scale)
        if self.type == "integer" and self.scale is not None and self.scale < 1:
            raise ValueError("an integer field's scale must be a whole power of ten (10, 100...)")
        # (the defaults written out mean what leaving them out means: one fingerprint)
        if self.scale == 1:
            self.scale = None
        if self.sign == "leading":
            self.sign = None
        return self

    @property
    def catalog_category(self) -> DataCategory:
        """The category the field catalog records: a canonical identity field's own
        (``location`` for an address, a city, a region or a postcode, ``identity`` for the
        rest), whatever the spec says; the spec's for any other field."""
        if self.target in LOCATION_FIELDS:
            return DataCategory.location
        if self.target in IDENTITY_FIELDS:
            return DataCategory.identity
        return self.category

    @property
    def length_limit(self) -> int:
        """The most characters a value of this field may have."""
        return self.max_length or bounds.DEFAULT_MAX_LENGTH


class ParseOptions(BaseModel):
    """How to read the bytes of the file."""

    model_config = ConfigDict(extra="forbid")

    encoding: str = Field(
        default="utf-8", description="Any Python codec: latin-1, cp1252, utf-8-sig, utf-16..."
    )
    delimiter: str = Field(default=",", description="csv: the one character between columns")
    quote: str = Field(default='"', description="csv: the one character quoting a value")
    header: bool = Field(
        default=True, description='csv: false when the file has no header (columns "1", "2"...)'
    )
    compression: Literal["none", "gzip"] = Field(
        default="none", description="none | gzip (read as a stream)"
    )
    final_newline: Literal["required", "optional"] = Field(
        default="required",
        description="required: a text file whose last line has no line break is truncated",
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        import codecs

        try:
            codecs.lookup(v)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {v!r}") from exc
        return v

    @field_validator("delimiter", "quote")
    @classmethod
    def _one_char(cls, v: str) -> str:
        if len(v) != 1:
            raise ValueError("must be exactly one character")
        return v


class SourceSpec(BaseModel):
    """A furnisher feed: its file layout and the meaning of each column."""

    model_config = ConfigDict(extra="forbid")

    spec_version: int = Field(
        default=SPEC_VERSION, description="The spec language's version this spec is written in"
    )
    name: str = Field(description="Unique feed name, snake_case; names the warehouse table")
    furnisher: str = Field(description="Who sends the file, as shown to persons and auditors")
    feed: str = Field(description="What the feed carries: accounts, inquiries, bills, ...")
    description: str = Field(default="", description="Free text about the feed")
    format: Literal["csv", "jsonl", "parquet", "fixed", "metro2"] = Field(
        description="csv | jsonl | parquet | fixed (Fixed-width files) | metro2 (Metro 2)"
    )
    parse: ParseOptions = Field(
        default=ParseOptions(), description="How the file's bytes are read (below)"
    )
    layout: _fixed.FixedLayout | None = Field(
        default=None, description="format fixed: record length, record types, trailer totals"
    )
    record_key: list[str] = Field(
        default_factory=list,
        description="Targets that identify a record; a repeat within a batch is quarantined",
    )
    require_one_of: list[list[str]] = Field(
        default_factory=list,
        description="Identifier groups; a row must fill every target of at least one group",
    )
    fields: list[FieldSpec] = Field(
        description="The columns read and the canonical target each becomes (below)"
    )
    ledger: LedgerMapping | None = Field(
        default=None, description="The ledger event each row becomes; none: identity only"
    )

    @model_validator(mode="before")
    @classmethod
    def _metro2_builtin(cls, data: Any, info: ValidationInfo) -> Any:
        """``format: metro2`` brings its own fields, record key and ledger mapping (the spec a
        batch was loaded with keeps them written out, and is read as written)."""
        if not isinstance(data, dict) or data.get("format") != "metro2":
            return data
        given = [k for k in _metro2.BUILTIN_KEYS if k in data]
        if given and _historical(info) and "fields" in data:
            return data
        if given:
            raise ValueError(
                f"{given[0]}: format metro2 has its {', '.join(given)} built in (see "
                "docs/ingest.md, Metro 2); leave them out"
            )
        return {**data, **_metro2.builtin_spec()}

    @field_validator("name")
    @classmethod
    def _name_is_slug(cls, v: str, info: ValidationInfo) -> str:
        if not _SLUG.match(v):
            raise ValueError(f"{v!r} is not a snake_case name (a-z, 0-9, _)")
        # `event.column` names a ledger column in lineage and custom factor sources: a feed
        # of the same name would read as that column (another feed's data) to the guard
        if v in get_args(EventType) and not _historical(info):
            raise ValueError(
                f"{v!r} is the name of a ledger event ({', '.join(get_args(EventType))}); "
                f"name the feed after its furnisher, e.g. northbank_{v}"
            )
        return v

    @field_validator("spec_version")
    @classmethod
    def _supported_version(cls, v: int) -> int:
        if v != SPEC_VERSION:
            raise ValueError(f"spec_version {v} is not supported (expected {SPEC_VERSION})")
        return v

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> SourceSpec:
        if not self.fields:
            raise ValueError("fields: a spec needs at least one field")
        targets = [f.target for f in self.fields]
        dupes = sorted({t for t in targets if targets.count(t) > 1})
        if dupes:
            raise ValueError(f"fields: target {dupes[0]!r} is mapped more than once")
        columns = [f.column for f in self.fields]
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        if dupes:
            raise ValueError(f"fields: column {dupes[0]!r} is mapped more than once")
        known = set(targets)
        for t in self.record_key:
            if t not in known:
                raise ValueError(f"record_key: {t!r} is not a target of any field")
            # A key with an empty part names no report: two persons' rows would share it.
            # (A batch loaded before this check keeps its spec; its rows with an empty key
            # part are each a report of their own, see _compare.)
            if not _historical(info) and not self.field(t).required:
                raise ValueError(
                    f"record_key: {t!r} must be a required field (required: true): a row "
                    "with an empty key part cannot say which report it is"
                )
        for group in self.require_one_of:
            for t in group:
                if t not in known:
                    raise ValueError(f"require_one_of: {t!r} is not a target of any field")
        if self.ledger is not None:
            for t in self.ledger.targets():
                if t not in known:
                    raise ValueError(f"ledger: {t!r} is not a target of any field")
            for key in ("kind_from", "event_date", "reported_date"):
                t = getattr(self.ledger, key)
                kept_out = t and self.field(t).catalog_category in KEPT_OUT_OF_LEDGER
                if kept_out and not _historical(info):
                    category = self.field(t).catalog_category.value
                    raise ValueError(
                        f"ledger.{key}: {t!r} is declared {category}, which the ledger keeps "
                        "out of its events, so it cannot say what an event is or when: "
                        "name another field"
                    )
                if key == "kind_from":
                    continue
                if t and not _historical(info) and self.field(t).type not in DATE_TYPES:
                    raise ValueError(
                        f"ledger.{key}: {t!r} has type {self.field(t).type}; the ledger reads "
                        f"it as a date: give it type {' or '.join(DATE_TYPES)}"
                    )
            for needed in EVENT_REQUIRES[self.ledger.event]:
                if not known.intersection(needed):
                    raise ValueError(
                        f"ledger: a {self.ledger.event} feed needs a field with target "
                        + " or ".join(repr(t) for t in needed)
                    )
        if not _historical(info):
            for i, f in enumerate(self.fields):
                self._check_vocabulary(i, f)
        self._check_layout()
        return self

    def _check_layout(self) -> None:
        """A fixed-width spec places every field; the others place none (Metro 2's fields
        are placed by ``_metro2``, some over the same characters)."""
        if self.format == "metro2":
            return
        if self.format == "fixed":
            _fixed.check_fields(self.fixed_layout, self.fields)
            return
        if self.layout is not None:
            raise ValueError(f"layout: applies to format fixed, not {self.format}")
        for i, f in enumerate(self.fields):
            if f.start is not None:
                raise ValueError(
                    f"fields.{i}.start: positions apply to format fixed; a {self.format} "
                    "field is found by its column"
                )

    @property
    def fixed_layout(self) -> _fixed.FixedLayout:
        """The record structure of a fixed-width feed (records are lines without one)."""
        return self.layout or _fixed.FixedLayout()

    def _check_vocabulary(self, i: int, f: FieldSpec) -> None:
        """A coded field maps only onto its target's vocabulary (file, field and key named)."""
        where = f"fields.{i}"
        if f.codes and f.type not in ("code", "boolean"):
            raise ValueError(
                f"{where}.codes: a codes table applies to fields of type code or "
                f"boolean; {f.column} has type {f.type}"
            )
        vocab = self.vocabulary(f)
        if vocab is not None and vocab is not BOOLEAN and f.type not in ("code", "string"):
            raise ValueError(
                f"{where}: {f.target} takes {vocab.label} values "
                f"({vocab.listing()}): give it type code with a codes table, "
                f"not type {f.type}"
            )
        if vocab is None or f.type == "string":
            return  # a string with a vocabulary is checked value by value at ingest
        for key, value in (f.codes or {}).items():
            if value not in vocab:
                raise ValueError(
                    f"{where}.codes: {f.column} code {key!r} maps to {value!r}, not one of "
                    f"the {vocab.label} values ({vocab.listing()})"
                )

    # -- helpers used by the loader ------------------------------------------------------------

    def vocabulary(self, f: FieldSpec) -> Vocabulary | None:
        """The vocabulary a field's values must come from: its target's, the public record
        kind for the target the ledger block takes the kind from, booleans for a boolean."""
        if f.type == "boolean":
            return vocabulary.for_target(f.target) or BOOLEAN
        if self.ledger is not None and self.ledger.kind_from == f.target:
            return PUBLIC_RECORD_KIND
        return vocabulary.for_target(f.target)

    def field(self, target: str) -> FieldSpec:
        for f in self.fields:
            if f.target == target:
                return f
        raise KeyError(target)

    @property
    def table(self) -> str:
        """Warehouse table that holds this feed's loaded rows."""
        return f"src_{self.name}"

    def fingerprint(self) -> str:
        """Hash of the spec's meaning (not its formatting): recorded on every batch."""
        # The ledger mapping is left out: fixing a mapping must not make a spec look like
        # another one (it only decides which rows must say how late they are, and which target
        # holds a public record's kind).
        # Keys a spec does not set (bounds, positions, scale, sign, layout) are left out, so
        # specs written before they existed keep their fingerprint.
        unset = {
            i: {k for k in _OPTIONAL_FIELD_KEYS if getattr(f, k) is None}
            for i, f in enumerate(self.fields)
        }
        exclude: dict[str, Any] = {"description": True, "ledger": True, "fields": unset}
        if self.layout is None:
            exclude["layout"] = True
        canonical = self.model_dump_json(exclude=exclude)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def to_yaml(self) -> str:
        data = self.model_dump(mode="json", exclude_defaults=False)
        if data.get("ledger") is None:
            data.pop("ledger", None)
        else:
            data["ledger"] = {k: v for k, v in data["ledger"].items() if v is not None}
        if self.layout is None:
            data.pop("layout", None)
        else:
            data["layout"] = self.layout.to_data()
        for f, field_spec in zip(data["fields"], self.fields, strict=True):
            for key in ("formats", "codes", "description"):
                if not f.get(key):
                    f.pop(key, None)
            if not f.get("decimal_comma"):
                f.pop("decimal_comma", None)
            if not f.get("required"):
                f.pop("required", None)
            if f.get("invalid") == "quarantine":
                f.pop("invalid", None)
            for key in _OPTIONAL_FIELD_KEYS:
                value = getattr(field_spec, key)
                if value is None:
                    f.pop(key, None)
                elif isinstance(value, Decimal):  # JSON mode writes it as text
                    f[key] = int(value) if value == value.to_integral() else float(value)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _describe(err: ValidationError, origin: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    extra = f" (and {err.error_count() - 1} more problems)" if err.error_count() > 1 else ""
    where = f"{origin}: {loc}: " if loc else f"{origin}: "
    return f"{where}{msg}{extra}"


def _placeholder_at(data: Any, path: str = "") -> str | None:
    """Where ``data`` still holds :data:`PLACEHOLDER` (a key or a value), as a dotted path
    naming a field by its column; None when nowhere."""
    if isinstance(data, dict):
        items: list[tuple[Any, Any]] = list(data.items())
    elif isinstance(data, list):
        items = list(enumerate(data))
    else:
        return path if isinstance(data, str) and data.strip() == PLACEHOLDER else None
    for key, value in items:
        step = f"{path}.{key}" if path else str(key)
        if path == "fields" and isinstance(value, dict) and isinstance(value.get("column"), str):
            step += f" ({value['column']})"
        if isinstance(key, str) and key.strip() == PLACEHOLDER:
            return step
        found = _placeholder_at(value, step)
        if found is not None:
            return found
    return None


def parse_spec(data: Any, origin: str = "<spec>", *, historical: bool = False) -> SourceSpec:
    """Validate a spec given as a mapping; raise SpecError naming the key at fault.

    ``historical``: the spec a batch was loaded with, read again to map the batch. The checks
    of code tables against the vocabularies are then skipped: a batch loaded before they
    existed is checked row by row by the ledger instead, which names the records at fault.
    """
    if not isinstance(data, dict):
        raise SpecError(
            f"{origin}: a source spec must be a mapping of keys, got {type(data).__name__}"
        )
    where = None if historical else _placeholder_at(data)
    if where is not None:
        raise SpecError(
            f"{origin}: {where}: still {PLACEHOLDER}, left by `openbureau spec draft` for a "
            "person to fill in"
        )
    try:
        return SourceSpec.model_validate(data, context={"historical": historical})
    except ValidationError as err:
        raise SpecError(_describe(err, origin)) from None


def load_spec(path: str | Path) -> SourceSpec:
    """Read and validate a YAML source spec file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{p}: spec file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{p}: cannot read spec: {exc}") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SpecError(f"{p}{where}: {problem}") from None
    return parse_spec(data, str(p))


def save_spec(spec: SourceSpec, path: str | Path) -> Path:
    p = Path(path)
    p.write_text(spec.to_yaml(), encoding="utf-8")
    return p
