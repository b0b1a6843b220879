"""Settings of one synthetic run, its result, and the calendar every phase shares."""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from openbureau.errors import UserError

GENERATOR_VERSION = "3"
# Persons are drawn in blocks of this many, each block from random streams of its own, so a
# population comes out the same whatever number of blocks a chunk holds.
BLOCK = 1_000

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SynthConfig:
    """What to generate: how many people, which seed and which reporting window."""

    persons: int = 20_000
    seed: int = 42
    start: datetime.date = date(2023, 1, 1)  # first reporting month
    months: int = 36  # months of history written
    as_of: datetime.date = date(2024, 12, 31)  # truth is measured over the 12 months after this
    defect_rate: float = 0.002  # share of text-file rows deliberately malformed
    # persons generated and written at a time: bounds memory, does not change the output
    # (a whole number of blocks; the hard generator draws its population whole)
    chunk_persons: int = 20_000


@dataclass
class SynthResult:
    """Where a run wrote its files, and the headline figures."""

    out: Path
    files: dict[str, Path] = field(default_factory=dict)  # feed name -> furnisher file
    specs: dict[str, Path] = field(default_factory=dict)  # feed name -> YAML spec file
    rows: dict[str, int] = field(default_factory=dict)  # feed name -> data rows written
    truth_dir: Path = Path()
    oracle_auc: float = float("nan")


@dataclass(frozen=True)
class Calendar:
    """Reporting months as indexes 0..months-1; month t starts on ``month_start[t]``."""

    start: np.datetime64  # first day of month 0
    months: int
    as_of_month: int  # index of the month that contains as_of
    as_of: np.datetime64

    @property
    def month_start(self) -> np.ndarray:
        """First day of each month, plus one extra entry for the month after the window."""
        first = self.start.astype("datetime64[M]")
        return (first + np.arange(self.months + 1)).astype("datetime64[D]")

    @property
    def extract_date(self) -> np.datetime64:
        """Day the furnishers cut their files: two weeks after the window closes."""
        return self.month_start[-1] + np.timedelta64(14, "D")

    def month_label(self, t: int) -> str:
        return str(self.month_start[t])[:7]


def validate(config: SynthConfig, out: Path) -> Calendar:
    """Check the settings; raise UserError with one line saying what to fix."""
    if not isinstance(config.persons, int) or config.persons < 1:
        raise UserError(f"persons must be a whole number of at least 1, got {config.persons!r}")
    if not isinstance(config.months, int) or config.months < 24:
        raise UserError(f"months must be at least 24 (got {config.months!r})")
    if not isinstance(config.seed, int) or config.seed < 0:
        raise UserError(f"seed must be a non-negative whole number, got {config.seed!r}")
    chunk = config.chunk_persons
    if not isinstance(chunk, int) or chunk < BLOCK or chunk % BLOCK:
        raise UserError(
            f"chunk_persons must be a whole multiple of {BLOCK:,} (persons are drawn in blocks "
            f"of {BLOCK:,}), got {chunk!r}"
        )
    if not 0.0 <= config.defect_rate <= 0.2:
        raise UserError(f"defect_rate must be between 0 and 0.2, got {config.defect_rate!r}")
    as_of_month = (
        (config.as_of.year - config.start.year) * 12 + config.as_of.month - config.start.month
    )
    if config.as_of < config.start or as_of_month + 12 > config.months - 1:
        last = np.datetime64(config.start, "M") + config.months - 13
        raise UserError(
            f"as_of {config.as_of} must fall inside the reporting window and leave 12 months "
            f"after it: choose a date between {config.start} and the end of {last}"
        )
    _check_writable(out)
    return Calendar(
        start=np.datetime64(config.start.replace(day=1), "D"),
        months=config.months,
        as_of_month=as_of_month,
        as_of=np.datetime64(config.as_of, "D"),
    )


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".openbureau-write-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserError(f"cannot write to output folder {out}: {reason}") from None
    if not os.access(out, os.W_OK):
        raise UserError(f"cannot write to output folder {out}: permission denied")
