"""Synthetic population and the furnisher files a real bureau would receive.

``generate(out, SynthConfig(...))`` draws a deterministic population with latent credit risk,
writes nine furnisher feeds in seven different layouts (CSV, TSV, JSON lines, Parquet; UTF-8,
latin-1, cp1252), a source spec per feed, and the truth a later stage is tested against:
who is behind every row, which rows are deliberately malformed, and who defaults.
"""

from openbureau.synth._config import SynthConfig, SynthResult
from openbureau.synth._generate import FEEDS, generate

FEED_NAMES: tuple[str, ...] = tuple(f.name for f in FEEDS)

__all__ = ["FEED_NAMES", "SynthConfig", "SynthResult", "generate"]
