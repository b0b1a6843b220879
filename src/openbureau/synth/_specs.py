"""Source specs for the synthetic feeds, built from the same layouts that wrote the files."""

from __future__ import annotations

from pathlib import Path

from openbureau.ingest.spec import FieldSpec, ParseOptions, SourceSpec, save_spec
from openbureau.synth._layout import Feed


def build_spec(feed: Feed) -> SourceSpec:
    """The ``SourceSpec`` a bureau analyst would write for this feed."""
    fields = [
        FieldSpec(
            column=c.name, target=c.target, type=c.type, category=c.category,  # type: ignore[arg-type]
            required=c.required, formats=list(c.formats) or None, codes=c.codes,
            decimal_comma=c.decimal_comma,
        )
        for c in feed.columns
    ]
    parse = ParseOptions()
    if feed.format == "csv":
        parse = ParseOptions(encoding=feed.encoding, delimiter=feed.delimiter, header=True)
    elif feed.format == "jsonl":
        parse = ParseOptions(encoding=feed.encoding)
    return SourceSpec(
        name=feed.name, furnisher=feed.furnisher, feed=feed.feed, description=feed.description,
        format=feed.format,  # type: ignore[arg-type]
        parse=parse, record_key=list(feed.record_key),
        require_one_of=[list(g) for g in feed.require_one_of], fields=fields,
    )


def write_spec(feed: Feed, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return save_spec(build_spec(feed), folder / f"{feed.name}.yaml")
