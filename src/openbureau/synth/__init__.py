"""Synthetic population and the furnisher files a real bureau would receive.

``generate(out, SynthConfig(...))`` draws a deterministic population with latent credit risk,
writes ten furnisher feeds in eight different layouts (CSV, TSV, JSON lines, Parquet, Metro 2;
UTF-8, latin-1, cp1252), a source spec per feed, and the truth a later stage is tested against:
who is behind every row, which rows are deliberately malformed, and who defaults.
``openbureau.synth.hard`` is a second, independent population built to be hard to link.
"""

from openbureau.synth._config import SynthConfig, SynthResult
from openbureau.synth._config import validate as validate_config
from openbureau.synth._generate import FEEDS, generate
from openbureau.synth._metro2_writer import HARBOR_ACCOUNTS

FEED_NAMES: tuple[str, ...] = (*(f.name for f in FEEDS), HARBOR_ACCOUNTS.name)
# `openbureau synth --generator`: this package's population, or ``openbureau.synth.hard``'s.
GENERATORS: tuple[str, ...] = ("standard", "hard")

__all__ = ["FEED_NAMES", "GENERATORS", "SynthConfig", "SynthResult", "generate", "validate_config"]
