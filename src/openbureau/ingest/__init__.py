"""Ingest: source specs, readers, validation and quarantine; loss-free batches."""

from openbureau.ingest.categories import PROTECTED_CATEGORIES, DataCategory
from openbureau.ingest.spec import (
    FieldSpec,
    ParseOptions,
    SourceSpec,
    load_spec,
    parse_spec,
    save_spec,
)

__all__ = [
    "PROTECTED_CATEGORIES",
    "DataCategory",
    "FieldSpec",
    "ParseOptions",
    "SourceSpec",
    "load_spec",
    "parse_spec",
    "save_spec",
]
