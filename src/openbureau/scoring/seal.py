"""``openbureau seal PATH``: a scorecard file sealed as a new version.

A reviewer reads a scorecard by diffing versions, so a version must name exactly one content:
the seal is the hash of everything that decides scores (``Scorecard.content_hash``) and the
version's hash part is its first 8 hex digits. Scoring refuses a card that is not sealed or
was edited after sealing (``load_scorecard``); sealing is the one way to make an edited card
scorable again, and it runs the factor guard first, so a card with a protected field is never
sealed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.governance.factor_guard import FactorRefused
from openbureau.scoring.factors import guard_scorecard
from openbureau.scoring.scorecard import Scorecard, read_scorecard, save_scorecard


@dataclass(frozen=True)
class SealReport:
    path: Path
    old_version: str  # "" for a card that had none
    card: Scorecard  # as sealed
    written: bool  # False when its seal already held: the file is as it was


def seal_scorecard(path: str | Path, engine: Engine | None = None) -> SealReport:
    """Validate the scorecard at ``path``, run the factor guard on it (on its declared fields;
    with ``engine``, on the warehouse's field catalog too, as scoring does), and rewrite it
    atomically with a new seal and version, unless its seal already holds.

    Raises:
        UserError: the file cannot be read or does not validate, or the guard refuses a factor
            (the line names the file).
    """
    p = Path(path)
    card = read_scorecard(p)
    try:
        guard_scorecard(card, engine)
    except FactorRefused as exc:
        raise FactorRefused(f"{p}: {exc}") from exc
    except UserError as exc:
        raise UserError(f"{p}: {exc}") from exc
    sealed = card.sealed()
    if sealed is not card:
        save_scorecard(sealed, p)
    return SealReport(p, card.version, sealed, written=sealed is not card)


__all__ = ["SealReport", "seal_scorecard"]
