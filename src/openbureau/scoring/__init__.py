"""Scoring: scorecard files, training (optbinning, a training-time dependency), snapshots.

Importing this package, loading a scorecard and scoring never import optbinning or
scikit-learn; ``openbureau.scoring.fit`` and ``openbureau.scoring.train`` do.
"""

from openbureau.scoring._compile import NumpyScorer
from openbureau.scoring.recompute import RecomputeReport, recompute_snapshot
from openbureau.scoring.score import SnapshotReport, score_snapshot
from openbureau.scoring.scorecard import Scorecard, load_scorecard, save_scorecard
from openbureau.scoring.seal import SealReport, seal_scorecard

__all__ = [
    "NumpyScorer",
    "RecomputeReport",
    "Scorecard",
    "SealReport",
    "SnapshotReport",
    "load_scorecard",
    "recompute_snapshot",
    "save_scorecard",
    "score_snapshot",
    "seal_scorecard",
]
