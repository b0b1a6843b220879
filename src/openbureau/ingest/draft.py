"""A starting source spec drafted from a furnisher file (``openbureau spec draft FILE``).

The draft reads a bounded sample of the file (``SAMPLE_ROWS`` data rows by default) and writes
what the bytes show: the format (CSV, JSON lines or Parquet, from the content), the encoding,
CSV's delimiter and header (DuckDB's sniffer), each column's type, date formats and, for a
target with a vocabulary, a code table of the values seen. Targets are guessed from column
names and marked as guesses. What the file cannot tell is left to a person:

- the data category of every field is ``unknown``: the feed loads, but the factor guard
  refuses any factor derived from a field until a person sets its real category;
- a code the draft cannot map onto the target's vocabulary, a date format it cannot choose
  (``%d/%m/%Y`` or ``%m/%d/%Y``), the furnisher's name: ``FILL_IN`` (``spec.PLACEHOLDER``),
  which ingest refuses, naming the field, until it is filled in.

Fixed-width files are not drafted (yet): only CSV, JSON lines and Parquet.
"""

from __future__ import annotations

import copy
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import yaml

from openbureau.engine import DuckDBEngine
from openbureau.errors import BureauError, SpecError
from openbureau.ingest import vocabulary
from openbureau.ingest._draft_columns import DATE_FORMATS, MONTH_FORMATS, profile_columns
from openbureau.ingest._draft_sample import Sample, read_sample
from openbureau.ingest._draft_targets import (
    DraftField,
    draft_fields,
    snake_name,
    suggestions,
)
from openbureau.ingest.spec import PLACEHOLDER, SPEC_VERSION, EventType, parse_spec

SAMPLE_ROWS = 10_000
_EVENTS = frozenset(get_args(EventType))


@dataclass
class Draft:
    """A drafted spec: its YAML text (with comments) and what a person has left to do."""

    text: str
    name: str
    fields: int
    guessed: int
    placeholders: int
    sample: Sample

    def sampled(self) -> str:
        """How much of the file the draft read, in words."""
        return _sampled(self.sample)


def _sampled(sample: Sample) -> str:
    if sample.whole_file:
        return f"all {sample.rows:,} data rows"
    return f"the first {sample.rows:,} data rows (a bounded sample, --sample-rows)"


def draft_spec(
    path: str | Path, *, sample_rows: int = SAMPLE_ROWS, skip_bad_rows: bool = False
) -> Draft:
    """Draft a source spec from the first ``sample_rows`` data rows of ``path``.

    Raises:
        FileRejected: the file is missing, empty, binary, unreadable in its format, or holds
            a bad row (a ragged CSV row, a line that is not a JSON object) among those
            sampled, unless ``skip_bad_rows``.
    """
    p = Path(path)
    with tempfile.TemporaryDirectory(prefix="openbureau-draft-") as folder:
        engine = DuckDBEngine(":memory:")
        engine.execute("SET enable_progress_bar = false")
        try:
            sample = read_sample(engine, p, Path(folder), sample_rows, skip_bad_rows=skip_bad_rows)
            fields = draft_fields(profile_columns(engine, sample.columns))
        finally:
            engine.close()
    name, feed = _names(p)
    data = _spec_data(sample, fields, name, feed)
    _check_loads_when_filled(data, p)
    return Draft(
        text=_render(data, sample, fields),
        name=name,
        fields=len(fields),
        guessed=sum(f.guessed for f in fields),
        placeholders=_count_placeholders(data),
        sample=sample,
    )


def _names(path: Path) -> tuple[str, str]:
    """The feed's name (folder and file: northbank/accounts.csv is northbank_accounts) and
    what it carries (the file's name)."""
    stem = path.name.removesuffix(".gz").split(".")[0]
    feed = snake_name(stem)
    folder = path.resolve().parent.name
    name = snake_name(f"{folder}_{stem}") if folder else feed
    return (f"{name}_feed" if name in _EVENTS else name), feed


def _spec_data(sample: Sample, fields: list[DraftField], name: str, feed: str) -> dict[str, Any]:
    parse: dict[str, Any] = {}
    if sample.format != "parquet":
        parse["encoding"] = sample.encoding
        if sample.format == "csv":
            parse |= {"delimiter": sample.delimiter, "quote": sample.quote}
            parse["header"] = sample.header
        if sample.compression != "none":
            parse["compression"] = sample.compression
        if not sample.final_newline:
            parse["final_newline"] = PLACEHOLDER
    data: dict[str, Any] = {
        "spec_version": SPEC_VERSION,
        "name": name,
        "furnisher": PLACEHOLDER,
        "feed": feed,
        "format": sample.format,
    }
    if parse:
        data["parse"] = parse
    data["fields"] = [_field_data(f) for f in fields]
    return data


def _field_data(f: DraftField) -> dict[str, Any]:
    out: dict[str, Any] = {"column": f.column, "target": f.target, "type": f.type}
    out["category"] = "unknown"
    if f.formats:
        out["formats"] = f.formats
    if f.decimal_comma:
        out["decimal_comma"] = f.decimal_comma
    if f.codes:
        out["codes"] = f.codes
    if f.max_length:
        out["max_length"] = f.max_length
    return out


def _filled(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every placeholder given a value it could take (to check the draft)."""
    out = copy.deepcopy(data)
    out["furnisher"] = "A furnisher"
    if out.get("parse", {}).get("final_newline") == PLACEHOLDER:
        out["parse"]["final_newline"] = "optional"
    for f in out["fields"]:
        if f.get("formats") == [PLACEHOLDER]:
            f["formats"] = [(DATE_FORMATS if f["type"] == "date" else MONTH_FORMATS)[0]]
        if f.get("decimal_comma") == PLACEHOLDER:
            f["decimal_comma"] = False
        vocab = vocabulary.for_target(f["target"])
        for key, value in (f.get("codes") or {}).items():
            if value == PLACEHOLDER and vocab is not None:
                f["codes"][key] = vocab.values[0]
    return out


def _check_loads_when_filled(data: dict[str, Any], path: Path) -> None:
    try:
        parse_spec(_filled(data), f"draft of {path}")
    except SpecError as exc:  # the draft's own mistake, never the file's
        raise BureauError(f"spec draft wrote a spec that cannot load: {exc}") from None


def _count_placeholders(data: Any) -> int:
    if isinstance(data, dict):
        return sum(_count_placeholders(v) for v in data.values())
    if isinstance(data, list):
        return sum(_count_placeholders(v) for v in data)
    return int(data == PLACEHOLDER)


def _dump(value: Any, indent: str = "") -> list[str]:
    text = yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=100)
    return [indent + line for line in text.splitlines()]


def _comment(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(text, 98 - len(indent), initial_indent=indent + "# ",
                         subsequent_indent=indent + "#   ")  # fmt: skip


def _render(data: dict[str, Any], sample: Sample, fields: list[DraftField]) -> str:
    n = _count_placeholders(data)
    lines = [
        f"# Drafted by `openbureau spec draft` from {sample.path.name}.",
        f"# Read: {_sampled(sample)}.",
    ]
    lines += _comment(
        f"Before loading: fill in every {PLACEHOLDER} ({n} here; ingest refuses the spec, naming "
        "the field, while one is left). Every field's category is `unknown`: the feed loads, "
        "but no score factor may derive from a field until a person sets its data category "
        "(docs/ingest.md, Data categories). Check each target marked as a guess, say which "
        "fields are required, and add record_key, require_one_of and a ledger block where the "
        "feed needs them (docs/ingest.md, docs/ledger.md)."
    )
    for note in sample.notes:
        lines += _comment(note)
    top = {k: v for k, v in data.items() if k != "fields"}
    lines += _dump(top)
    hints = suggestions(fields)
    if hints:
        lines += _comment("Suggested from the guessed targets (uncomment and check):")
        lines += [f"# {h}" for h in hints]
    lines.append("fields:")
    for f, item in zip(fields, data["fields"], strict=True):
        notes = ["a guess: target from the column name; check it"] if f.guessed else []
        notes += f.notes
        if f.codes and PLACEHOLDER in f.codes.values():
            vocab = vocabulary.for_target(f.target)
            what = f"one of the {vocab.label} values ({vocab.listing()})" if vocab else "a value"
            notes.append(f"map each {PLACEHOLDER} code onto {what}")
        lines += [c for note in notes for c in _comment(note, "  ")]
        lines += _dump([item], "  ")
    return "\n".join(lines) + "\n"
