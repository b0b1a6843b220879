"""Ledger: furnisher rows as canonical events per person, and point-in-time features."""

from openbureau.ledger.build import LedgerReport, build_ledger, event_counts
from openbureau.ledger.corrections import (
    correct_record,
    lift_suppression,
    record_history,
    suppress_record,
)
from openbureau.ledger.features import FEATURES, Feature, compute_features
from openbureau.ledger.outcome import label_outcomes

__all__ = [
    "FEATURES",
    "Feature",
    "LedgerReport",
    "build_ledger",
    "compute_features",
    "correct_record",
    "event_counts",
    "label_outcomes",
    "lift_suppression",
    "record_history",
    "suppress_record",
]
