"""Fixed-width layouts: where each field sits in a record, which records are rows, and what the
trailer's totals must match.

Positions are written as furnisher manuals write them: 1-based and inclusive, a field by its
``start`` and ``width`` or by its ``start`` and ``end`` (``start: 12, end: 31`` is 20
characters). They count characters of the declared encoding; in a single-byte encoding (latin-1,
cp1252, ascii), where layouts are usually written, a character is a byte.

A file may mix record types, told apart by the value of one field (``record_type``): a header
and a trailer record (counted, never rows) around the detail records (the rows). A record of a
type the layout does not list is quarantined (``unknown_record_type``), never skipped. The
trailer's ``totals`` are reconciled against what was read: the number of records, and the sum of
a field over the detail records; a mismatch rejects the file whole.

The same model is meant to carry a built-in Metro 2 layout later: a 426-character base segment
(``record_length``), the header, base and trailer records told apart by position 5
(``record_type: {start: 5, width: 1}``, ``HEADER``/``1``/``TRAILER``), and the trailer's
totals; what it would add is a record descriptor word (a record's length in its first four
bytes) and fixed-length segments (J1, J2, K1-K4, L1, N1) appended to a base segment, each
known by its segment identifier.

This module holds the model and its checks only; ``_records`` reads a file with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from openbureau.engine.sql import literal

RecordKind = Literal["header", "detail", "trailer"]
RECORD_KINDS: tuple[RecordKind, ...] = ("header", "detail", "trailer")
# What a trailer's count counts: the records between the header and the trailer (detail
# records, and those of an unknown type or not readable), or every record of the file.
CountOf = Literal["records", "all_records"]
SignPosition = Literal["leading", "trailing"]
# The scales a number may be multiplied by: powers of ten, 0.000001 to 1,000,000.
SCALES = tuple(Decimal(1).scaleb(k) for k in range(-6, 7))


class Positioned(Protocol):
    """Anything placed in a record: a field, the record type, a trailer total."""

    @property
    def start(self) -> int | None: ...
    @property
    def width(self) -> int | None: ...
    @property
    def end(self) -> int | None: ...


def check_position(start: int | None, width: int | None, end: int | None) -> None:
    """A position is a start and exactly one of width and end (raises ValueError)."""
    if start is None:
        if width is not None or end is not None:
            raise ValueError("a position needs its start (1-based) besides its width or end")
        return
    if start < 1:
        raise ValueError(f"start {start}: positions count from 1, as layouts write them")
    if (width is None) == (end is None):
        raise ValueError(f"give exactly one of width and end with start {start}")
    if width is not None and width < 1:
        raise ValueError(f"width {width} must be at least 1")
    if end is not None and end < start:
        raise ValueError(f"end {end} is before start {start} (both are inclusive)")


def last_position(p: Positioned) -> int:
    """The last character (1-based, inclusive) of a placed item."""
    assert p.start is not None
    return p.end if p.end is not None else p.start + (p.width or 1) - 1


def substr_sql(p: Positioned, text: str = "text") -> str:
    """The SQL reading a placed item's characters out of a record."""
    assert p.start is not None
    return f"substr({text}, {p.start}, {last_position(p) - p.start + 1})"


def check_scale(scale: Decimal | None) -> None:
    if scale is not None and scale not in SCALES:
        raise ValueError(
            f"scale {scale} is not a power of ten from 0.000001 to 1000000 "
            "(0.01: amounts written in cents)"
        )


class Position(BaseModel):
    """Where one value sits in a record."""

    model_config = ConfigDict(extra="forbid")

    start: int = Field(description="first character, counting from 1")
    width: int | None = Field(default=None, description="how many characters (or end)")
    end: int | None = Field(default=None, description="last character, inclusive")

    @model_validator(mode="after")
    def _valid(self) -> Position:
        check_position(self.start, self.width, self.end)
        return self


class TrailerTotal(BaseModel):
    """A total the trailer record carries, reconciled against what was read."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="the total's name, as the manual writes it")
    start: int = Field(description="first character, counting from 1")
    width: int | None = Field(default=None, description="how many characters (or end)")
    end: int | None = Field(default=None, description="last character, inclusive")
    count: CountOf | None = Field(
        default=None,
        description="records: the records between header and trailer; "
        "all_records: every record, header and trailer included",
    )
    sum: str | None = Field(default=None, description="target whose detail values it adds up")
    scale: Decimal | None = Field(
        default=None, description="the total as written times this power of ten (0.01: cents)"
    )
    sign: SignPosition | None = Field(
        default=None, description="leading or trailing sign, as the field's own"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> TrailerTotal:
        check_position(self.start, self.width, self.end)
        if (self.count is None) == (self.sum is None):
            raise ValueError(f"total {self.name!r}: give exactly one of count and sum")
        check_scale(self.scale)
        if self.count is not None and self.scale is not None and self.scale < 1:
            raise ValueError(f"total {self.name!r}: a count cannot have a fractional scale")
        return self


class FixedLayout(BaseModel):
    """The record structure of a fixed-width file (``format: fixed``)."""

    model_config = ConfigDict(extra="forbid")

    record_length: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="every record is this many characters long (line break not counted); "
        "a file without line breaks is cut into records of this length",
    )
    record_type: Position | None = Field(
        default=None, description="the value that says which kind a record is"
    )
    header: list[str] = Field(default_factory=list, description="record types of the header")
    detail: list[str] = Field(default_factory=list, description="record types of the rows")
    trailer: list[str] = Field(default_factory=list, description="record types of the trailer")
    totals: list[TrailerTotal] = Field(
        default_factory=list, description="trailer fields reconciled against what was read"
    )

    @field_validator("header", "detail", "trailer", mode="before")
    @classmethod
    def _as_list(cls, v: object) -> object:
        values: list[object] = v if isinstance(v, list) else [v]  # one value or a list
        texts: list[str] = []
        for t in values:
            if not isinstance(t, str):
                # (YAML reads 01 as the number 1 and Y as true: the record type would change)
                raise ValueError(f'record type {t!r}: write it in quotes, as text ("{t}")')
            if not t.strip():
                raise ValueError("a record type cannot be empty")
            texts.append(t.strip())
        return texts

    @model_validator(mode="after")
    def _consistent(self) -> FixedLayout:
        kinds = {k: getattr(self, k) for k in RECORD_KINDS}
        declared = [t for k in RECORD_KINDS for t in kinds[k]]
        if self.record_type is None:
            if declared:
                raise ValueError(
                    "record types need record_type: where the value that tells them apart sits"
                )
        else:
            if not self.detail:
                raise ValueError("detail: list the record types of the detail records (the rows)")
            repeated = sorted({t for t in declared if declared.count(t) > 1})
            if repeated:
                raise ValueError(f"record type {repeated[0]!r} is listed twice")
            width = last_position(self.record_type) - self.record_type.start + 1
            for t in declared:
                if len(t) > width:
                    raise ValueError(f"record type {t!r} is wider than record_type ({width})")
        if self.totals and not self.trailer:
            raise ValueError("totals: a layout with totals needs its trailer record type")
        for i, t in enumerate(self.totals):
            self._within(t, f"totals.{i}: {t.name}")
        if self.record_type is not None:
            self._within(self.record_type, "record_type")
        return self

    def _within(self, p: Positioned, what: str) -> None:
        if self.record_length is not None and last_position(p) > self.record_length:
            raise ValueError(
                f"{what} ends at position {last_position(p)}, past record_length "
                f"{self.record_length}"
            )

    def to_data(self) -> dict[str, object]:
        """The layout as a spec writes it: keys not set left out, a scale as a number."""
        data = self.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        for total, model in zip(data.get("totals", []), self.totals, strict=True):
            if model.scale is not None:
                total["scale"] = float(model.scale) if model.scale < 1 else int(model.scale)
        return data

    def kind_sql(self, text: str = "text") -> str:
        """The SQL naming a record's kind: header, detail, trailer or unknown."""
        if self.record_type is None:
            return "'detail'"
        value = f"trim({substr_sql(self.record_type, text)})"
        arms = " ".join(
            f"WHEN {value} IN ({', '.join(literal(t) for t in getattr(self, k))}) THEN '{k}'"
            for k in RECORD_KINDS
            if getattr(self, k)
        )
        return f"CASE {arms} ELSE 'unknown' END"


class LaidOutField(Positioned, Protocol):
    @property
    def column(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def type(self) -> str: ...


def check_fields(layout: FixedLayout, fields: Sequence[LaidOutField]) -> None:
    """Every field of a fixed-width spec has a position inside the record, and no two overlap
    (nor a field and the record type): a typo in a start would otherwise read the wrong
    characters without a word. Raises ValueError naming the field."""
    spans: list[tuple[int, int, str]] = []
    if layout.record_type is not None:
        spans.append((layout.record_type.start, last_position(layout.record_type), "record_type"))
    for i, f in enumerate(fields):
        if f.start is None:
            raise ValueError(
                f"fields.{i}: {f.column} needs its position in the record (start, and width "
                "or end): the spec's format is fixed"
            )
        stop = last_position(f)
        if layout.record_length is not None and stop > layout.record_length:
            raise ValueError(
                f"fields.{i}.{'end' if f.end is not None else 'width'}: {f.column} ends at "
                f"position {stop}, past layout.record_length {layout.record_length}"
            )
        for start, end, name in spans:
            if f.start <= end and start <= stop:
                raise ValueError(
                    f"fields.{i}: {f.column} (positions {f.start}-{stop}) overlaps {name} "
                    f"(positions {start}-{end})"
                )
        spans.append((f.start, stop, f.column))
    types = {f.target: f.type for f in fields}
    for i, t in enumerate(layout.totals):
        if t.sum is not None and types.get(t.sum) not in ("amount", "integer"):
            raise ValueError(
                f"layout.totals.{i}: {t.name} sums {t.sum!r}, which is not a target of an "
                "amount or integer field"
            )
        if t.sum is not None and types[t.sum] == "integer" and t.scale and t.scale < 1:
            raise ValueError(
                f"layout.totals.{i}: {t.name} sums the integer field {t.sum!r}: its scale "
                "cannot be fractional"
            )
