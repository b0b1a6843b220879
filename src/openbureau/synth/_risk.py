"""The generative risk model: latent risk, monthly default hazard, and the truth it implies.

Each person has latent risk z ~ N(0, 1) and a constant monthly hazard of a serious default
h = sigmoid(A + B z). The default event month D is geometric from the first reporting month:
P(D = t) = h (1 - h)^t. Everything a furnisher reports that depends on risk (lates,
utilisation, inquiries, unpaid bills, public records) is drawn from z; see docs/synth.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openbureau.synth._config import Calendar
from openbureau.synth._population import NEVER

HAZARD_A = -5.0  # intercept of the monthly default hazard (logit scale)
HAZARD_B = 1.5  # effect of one standard deviation of latent risk
LATE_A, LATE_B = -4.6, 0.9  # monthly chance a tradeline starts a 30-day late episode
BILL_LATE_A, BILL_LATE_B = -3.0, 0.9  # chance a utility / telecom / rent bill is paid late
UTIL_A, UTIL_B = -1.0, 0.8  # card utilisation
INQ_RATE, INQ_B = 0.9, 0.5  # inquiries over the window: Poisson(INQ_RATE * exp(INQ_B z))
COURT_A, COURT_B = -4.6, 1.0  # chance of a court case unrelated to a default
TAX_A, TAX_B = -5.2, 0.8  # chance of a tax lien

MODEL_PARAMETERS = {
    "hazard": {"a": HAZARD_A, "b": HAZARD_B, "formula": "h = sigmoid(a + b*z), monthly"},
    "tradeline_late": {"a": LATE_A, "b": LATE_B},
    "bill_late": {"a": BILL_LATE_A, "b": BILL_LATE_B},
    "card_utilisation": {"a": UTIL_A, "b": UTIL_B},
    "inquiries": {"rate": INQ_RATE, "b": INQ_B},
    "court_case": {"a": COURT_A, "b": COURT_B},
    "tax_lien": {"a": TAX_A, "b": TAX_B},
    "default_roll": "dpd30 at D-2, dpd60 at D-1, dpd90 at D, dpd120 D+1, dpd150 D+2, "
    "charge-off from D+3; bills unpaid from D-2",
}


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Risk:
    z: np.ndarray
    hazard: np.ndarray
    default_month: np.ndarray  # month index of the default event (90+ dpd), NEVER if later
    pd_12m: np.ndarray
    default_12m: np.ndarray
    defaulted_before_as_of: np.ndarray


def draw_risk(rng: np.random.Generator, n: int, cal: Calendar) -> Risk:
    z = rng.standard_normal(n)
    h = sigmoid(HAZARD_A + HAZARD_B * z)
    d = rng.geometric(h) - 1
    d = np.where(d < cal.months, d, NEVER)
    t = cal.as_of_month
    return Risk(
        z=z,
        hazard=h,
        default_month=d,
        pd_12m=1.0 - (1.0 - h) ** 12,
        default_12m=(d > t) & (d <= t + 12),
        defaulted_before_as_of=d <= t,
    )


def rank_auc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve from ranks (ties share their average rank)."""
    label = label.astype(bool)
    n1 = int(label.sum())
    n0 = len(label) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    _, inv, counts = np.unique(score, return_inverse=True, return_counts=True)
    ranks = (np.bincount(inv, weights=ranks) / counts)[inv]
    return float((ranks[label].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def oracle_auc(risk: Risk) -> float:
    """AUC of the true pd_12m against the realised default, over persons not yet in default."""
    alive = ~risk.defaulted_before_as_of
    return rank_auc(risk.pd_12m[alive], risk.default_12m[alive])
