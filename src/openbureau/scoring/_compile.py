"""Compile a scorecard file into scorers: SQL ``CASE`` expressions for the engine, numpy lookups.

Both give exactly the points of the file's bins; neither imports the training stack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from openbureau.engine.sql import literal
from openbureau.scoring.scorecard import Factor, Scorecard


def _num(v: float) -> str:
    return repr(float(v))


def factor_points_sql(factor: Factor, column: str, points: Sequence[str] | None = None) -> str:
    """``CASE`` giving the factor's points for the value in ``column``; ``points``: SQL
    expressions to give instead, one per bin of ``factor.bins`` (what each bin is worth to
    another rule: the points lost of ``reasons``)."""
    worth = list(points) if points is not None else [_num(b.points) for b in factor.bins]
    bins = list(zip(factor.bins, worth, strict=True))
    missing = next(w for b, w in bins if b.missing)
    rest = [(b, w) for b, w in bins if not b.missing]
    if factor.kind == "categorical":
        whens = [
            f"WHEN CAST({column} AS VARCHAR) IN "
            f"({', '.join(map(literal, b.categories or []))}) THEN {w}"
            for b, w in rest
        ]
        return f"CASE WHEN {column} IS NULL THEN {missing} {' '.join(whens)} ELSE {missing} END"
    x = f"CAST({column} AS DOUBLE)"
    whens = [f"WHEN {x} < {_num(b.upper)} THEN {w}" for b, w in rest[:-1] if b.upper is not None]
    return (
        f"CASE WHEN {column} IS NULL OR isnan({x}) THEN {missing} {' '.join(whens)} "
        f"ELSE {rest[-1][1]} END"
    )


def round_clip_sql(total: str, card: Scorecard) -> str:
    s = card.scaling
    # Half up, the same as the numpy scorer (round() would differ on exact halves).
    # Points have two decimals: rounding the sum to 6 first makes the summation order (SQL vs
    # numpy) irrelevant at exact halves.
    return (
        f"CAST(least(greatest(floor(round({total}, 6) + 0.5), {s.min_score}), "
        f"{s.max_score}) AS INTEGER)"
    )


def band_sql(score: str, card: Scorecard) -> str:
    whens = " ".join(
        f"WHEN {score} <= {b.max_score} THEN {literal(b.name)}"
        for b in sorted(card.bands, key=lambda b: b.min_score)
    )
    return f"CASE {whens} END"


class NumpyScorer:
    """Vectorised lookup of a scorecard's points: ``points(data)`` and ``score(data)``."""

    def __init__(self, card: Scorecard) -> None:
        self.card = card

    @staticmethod
    def factor_bins(factor: Factor, values: Any) -> np.ndarray:
        """Index into ``factor.bins`` of the bin each value falls in (the missing bin for no
        value and for unseen categories): the lookup scoring uses, so bins match it exactly."""
        rest = [i for i, b in enumerate(factor.bins) if not b.missing]
        missing = next(i for i, b in enumerate(factor.bins) if b.missing)
        if factor.kind == "categorical":
            lookup = {c: i for i in rest for c in (factor.bins[i].categories or [])}
            cat = getattr(values, "cat", None)
            if cat is not None:  # pandas categorical: a bin per category once, take by code
                per_code = np.array(
                    [lookup.get(str(c), missing) for c in cat.categories] + [missing], dtype=int
                )
                codes = np.asarray(cat.codes)
                return per_code[np.where(codes < 0, len(per_code) - 1, codes)]
            # Hash lookup in Arrow (C), not a Python loop or a sort over the values.
            if isinstance(values, (list, tuple)):
                values = np.asarray(values, dtype=object)
            arr = pa.array(values, from_pandas=True)
            if not pa.types.is_string(arr.type):
                arr = pc.cast(arr, pa.string())
            cats = list(lookup)
            table = np.array([*lookup.values(), missing], dtype=int)
            idx = pc.index_in(arr, value_set=pa.array(cats, pa.string()))
            pos = idx.fill_null(len(cats)).to_numpy(zero_copy_only=False)
            return table[pos]
        x = np.asarray(values, dtype=float)
        edges = np.array([factor.bins[i].upper for i in rest[:-1]], dtype=float)
        out = np.array(rest)[np.searchsorted(edges, np.nan_to_num(x, nan=0.0), side="right")]
        out[np.isnan(x)] = missing
        return out

    @staticmethod
    def factor_points(factor: Factor, values: Any) -> np.ndarray:
        points = np.array([b.points for b in factor.bins], dtype=float)
        return points[NumpyScorer.factor_bins(factor, values)]

    def points(self, data: Mapping[str, Any]) -> np.ndarray:
        """(n, factors) array of points, columns in the scorecard's factor order."""
        return np.column_stack([self.factor_points(f, data[f.name]) for f in self.card.factors])

    def score(self, data: Mapping[str, Any]) -> np.ndarray:
        s = self.card.scaling
        total = np.floor(np.round(self.points(data).sum(axis=1), 6) + 0.5)
        return np.clip(total, s.min_score, s.max_score).astype(np.int64)
