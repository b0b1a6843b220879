"""Fairness of a score across protected groups, for the model report and the auditor's page.

Per protected attribute (:data:`~openbureau.config.ATTRIBUTES`) and group, with fairlearn's
``MetricFrame``:

- **persons**, and those the scorecard **scored**;
- **approval rate** at each cut-off: the share of the group's persons scoring at or above it
  (a person the scorecard cannot score is not approved);
- the **adverse impact ratio** (AIR): a group's approval rate over the most favoured group's
  (the highest approval rate among groups of at least ``min_persons``), **flagged** under 0.8,
  the four-fifths rule. Groups smaller than ``min_persons`` and persons of unknown group are
  shown but never flagged nor the reference: their rates are too noisy to act on;
- with outcomes (held-out persons of a training run): the **AUC** within the group and the
  **default rate per score band** (calibration: in one band, a group that defaults less than
  the others is scored lower than its risk warrants).

Groups come only from the audit store, read on record (``read_attributes``, purpose
:data:`PURPOSE`); never from features. Rendering is in ``_fairness_html``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from sklearn.metrics import roc_auc_score

from openbureau.governance.protected_attributes import (
    ATTRIBUTES,
    AuditLog,
    attributes_loaded,
    read_attributes,
)

if TYPE_CHECKING:
    from openbureau.workspace import Workspace

PURPOSE = "model risk: fairness"  # the purpose every read of attributes for this states
FOUR_FIFTHS = 0.8
MIN_GROUP = 30  # default: fewer persons than this make a group too small to flag
UNKNOWN = "(unknown)"  # persons whose value is unknown, or who are not in the store
ALL = "(all persons)"  # the overall row

# Columns of a group table (one row per group, then ALL).
PERSONS, SCORED, AUC, SMALL = "persons", "scored", "auc", "small"


def approval_column(cutoff: int) -> str:
    return f"approval_{cutoff}"


def air_column(cutoff: int) -> str:
    return f"air_{cutoff}"


def flag_column(cutoff: int) -> str:
    return f"flag_{cutoff}"


def band_rate_column(band: str) -> str:
    return f"bad_rate:{band}"


def band_persons_column(band: str) -> str:
    return f"persons:{band}"


Bands = Sequence[tuple[str, float, float]]  # (name, lowest score, highest score), integers


@dataclass(frozen=True)
class GroupMetrics:
    """One attribute's groups under one scorecard.

    ``table``: one row per group (sorted, :data:`UNKNOWN` last), then :data:`ALL`; columns
    :data:`PERSONS`, :data:`SCORED`, ``approval_column(c)``, ``air_column(c)`` and
    ``flag_column(c)`` per cut-off, :data:`SMALL`; with outcomes also :data:`AUC`,
    ``band_rate_column(b)`` and ``band_persons_column(b)`` per band.
    ``reference``: the most favoured group per cut-off (None: no group large enough).
    """

    attribute: str
    scorecard: str
    table: pd.DataFrame
    reference: dict[int, str | None]

    def flagged(self) -> list[tuple[str, int, float]]:
        """(group, cut-off, AIR) of every group failing the four-fifths rule."""
        return [
            (str(g), c, float(self.table.at[g, air_column(c)]))
            for c in self.reference
            for g in self.table.index[self.table[flag_column(c)]]
        ]


def _approval(y_true: Any, scores: Any, *, cutoff: int) -> float:
    s = np.asarray(scores, dtype=float)
    return float(np.mean(s >= cutoff)) if s.size else np.nan  # (NaN >= c is False)


def _scored(y_true: Any, scores: Any) -> int:
    return int(np.isfinite(np.asarray(scores, dtype=float)).sum())


def _auc(y_true: Any, scores: Any) -> float:
    """P(a member who did not default scores higher than one who did); NaN without both."""
    s, y = np.asarray(scores, dtype=float), np.asarray(y_true)
    ok = np.isfinite(s)
    if len(np.unique(y[ok])) < 2:
        return np.nan
    return float(roc_auc_score(y[ok], -s[ok]))  # a lower score is riskier


def _in_band(scores: Any, low: float, high: float) -> Any:
    r = np.rint(np.asarray(scores, dtype=float))  # bands have integer bounds, as scores do
    return (r >= low) & (r <= high)


def _band_rate(y_true: Any, scores: Any, *, low: float, high: float) -> float:
    m = _in_band(scores, low, high)
    return float(np.asarray(y_true)[m].mean()) if m.any() else np.nan


def _band_persons(y_true: Any, scores: Any, *, low: float, high: float) -> int:
    return int(_in_band(scores, low, high).sum())


def group_metrics(
    scores: Any,
    groups: Any,
    cutoffs: Sequence[int],
    *,
    outcomes: Any = None,
    bands: Bands = (),
    min_persons: int = MIN_GROUP,
    attribute: str = "",
    scorecard: str = "",
) -> GroupMetrics:
    """Approval rates, adverse impact ratios and four-fifths flags per group (and, given
    ``outcomes``, AUC and default rate per band), as described in the module docstring.

    Args:
        scores: One score per person; NaN where the scorecard cannot score the person.
        groups: The person's group (None or NaN: unknown).
        cutoffs: Scores at or above which a lender approves.
        outcomes: 1 = defaulted, 0 = did not, per person; None when not known yet.
        bands: Score bands for the default rates (with outcomes only).
        min_persons: Groups with fewer persons are reported but not flagged.

    Raises:
        ValueError: arrays of different lengths, no cut-off, or outcomes other than 0/1.
    """
    s = np.asarray(scores, dtype=float).ravel()
    g = pd.Series(np.asarray(groups, dtype=object).ravel(), name=attribute or "group")
    if g.size != s.size:
        raise ValueError(f"scores and groups differ in length ({s.size} vs {g.size})")
    if not cutoffs:
        raise ValueError("no cut-off given")
    g = g.where(g.notna(), UNKNOWN).astype(str)
    metrics: dict[str, Any] = {PERSONS: lambda y, p: len(p), SCORED: _scored}
    metrics |= {approval_column(c): partial(_approval, cutoff=c) for c in cutoffs}
    if outcomes is not None:
        y = np.asarray(outcomes).ravel()
        if y.size != s.size or not np.isin(y, (0, 1)).all():
            raise ValueError("outcomes must be 0 or 1, one per score")
        metrics[AUC] = _auc
        for name, low, high in bands:
            metrics[band_rate_column(name)] = partial(_band_rate, low=low, high=high)
            metrics[band_persons_column(name)] = partial(_band_persons, low=low, high=high)
    else:
        y = np.zeros(s.size, dtype=int)
    frame = MetricFrame(metrics=metrics, y_true=y, y_pred=s, sensitive_features=g)
    by_group = frame.by_group
    order = sorted(by_group.index, key=lambda v: (v == UNKNOWN, v))
    table = pd.concat([by_group.loc[order], frame.overall.to_frame(ALL).T])
    table.index.name = attribute or "group"
    counts = [PERSONS, SCORED, *(c for c in table.columns if c.startswith("persons:"))]
    table[counts] = table[counts].astype(int)
    named = (table.index != UNKNOWN) & (table.index != ALL)
    table[SMALL] = named & (table[PERSONS] < min_persons)
    eligible = named & ~table[SMALL].to_numpy()
    reference: dict[int, str | None] = {}
    for c in cutoffs:
        rates = table[approval_column(c)]
        ref = rates[eligible].idxmax() if eligible.any() else None
        top = float(rates[ref]) if ref is not None else np.nan
        table[air_column(c)] = rates.where(named) / top if top > 0 else np.nan
        # (rates are ratios of counts: 4/6 over 5/6 is 0.7999999999999999 in floating point,
        # and exactly four fifths passes the rule)
        fails = (table[air_column(c)] < FOUR_FIFTHS - 1e-9).to_numpy()
        table[flag_column(c)] = eligible & fails
        reference[c] = None if ref is None else str(ref)
    return GroupMetrics(attribute, scorecard, table, reference)


@dataclass(frozen=True)
class Fairness:
    """A fairness analysis over every attribute and scorecard, or why none was run."""

    metrics: list[GroupMetrics] = field(default_factory=list)
    cutoffs: tuple[int, ...] = ()
    min_persons: int = MIN_GROUP
    sample: str = ""  # who the figures are about
    with_outcomes: bool = False
    why_not: str = ""  # non-empty: the analysis was not run, and this says why
    unsupplied: tuple[str, ...] = ()  # attributes nobody in the sample has a value for

    def flagged(self) -> list[tuple[GroupMetrics, str, int, float]]:
        return [(m, g, c, air) for m in self.metrics for g, c, air in m.flagged()]


def assess(
    attributes: pd.DataFrame,
    person_ids: Sequence[str],
    scores: Mapping[str, Any],
    cutoffs: Sequence[int],
    *,
    outcomes: Any = None,
    bands: Bands = (),
    min_persons: int = MIN_GROUP,
    sample: str = "",
) -> Fairness:
    """:func:`group_metrics` for each attribute (columns of ``attributes``, indexed by
    person_id, as ``read_attributes`` returns it) and each scorecard (``scores``: label ->
    one score per person of ``person_ids``). Persons not in ``attributes`` are of unknown
    group."""
    cuts = tuple(sorted(set(cutoffs)))
    aligned = attributes.reindex(pd.Index(list(person_ids), dtype=object))
    metrics, unsupplied = [], []
    for attribute in [a for a in ATTRIBUTES if a in aligned.columns]:
        groups = aligned[attribute].to_numpy(dtype=object)
        if pd.isna(groups).all():
            unsupplied.append(attribute)
            continue
        for label, s in scores.items():
            metrics.append(
                group_metrics(
                    s,
                    groups,
                    cuts,
                    outcomes=outcomes,
                    bands=bands,
                    min_persons=min_persons,
                    attribute=attribute,
                    scorecard=label,
                )
            )
    return Fairness(metrics, cuts, min_persons, sample, outcomes is not None, "", tuple(unsupplied))


NOT_LOADED = (
    "no protected attributes are loaded in the audit store "
    "(openbureau audit-attributes load FILE), so there are no groups to compare"
)
NO_WORKSPACE = (
    "training was not given a workspace's audit store to read groups from "
    "(the command line gives it)"
)


@dataclass(frozen=True)
class AttributeSource:
    """A workspace's audit store, read for a model report's fairness section (each read in
    the audit log, through ``log``, as by ``actor`` with purpose :data:`PURPOSE`)."""

    ws: Workspace
    actor: str
    log: AuditLog
    cutoffs: tuple[int, ...]
    min_persons: int = MIN_GROUP

    @classmethod
    def of(cls, ws: Workspace, actor: str, log: AuditLog) -> AttributeSource:
        """With the cut-offs and group size of the workspace's ``[model_risk]`` settings."""
        mr = ws.settings.model_risk
        return cls(ws, actor, log, tuple(mr.fairness_cutoffs), mr.fairness_min_group)

    def read(self, persons: Sequence[str]) -> pd.DataFrame | None:
        """The persons' attributes (audited), or None when nothing is loaded (no read)."""
        if not attributes_loaded(self.ws):
            return None
        return read_attributes(self.ws, persons, actor=self.actor, purpose=PURPOSE, log=self.log)


def report_section(
    source: AttributeSource | None,
    attributes: pd.DataFrame | None,
    person_ids: Sequence[str],
    scores: Mapping[str, Any],
    outcomes: Any,
    bands: Bands,
    sample: str,
) -> str:
    """The model report's Fairness section (HTML): the analysis on held-out persons with
    their outcomes, or why it was not run."""
    from openbureau.governance._fairness_html import report_html

    if source is None or attributes is None:
        return report_html(Fairness(why_not=NO_WORKSPACE if source is None else NOT_LOADED))
    return report_html(
        assess(
            attributes,
            person_ids,
            scores,
            source.cutoffs,
            outcomes=outcomes,
            bands=bands,
            min_persons=source.min_persons,
            sample=sample,
        )
    )
