"""Governance: what may count in a score, and who changed what."""

from openbureau.governance.factor_guard import PROTECTED, FactorRefused, guard_factor

__all__ = ["PROTECTED", "FactorRefused", "guard_factor"]
