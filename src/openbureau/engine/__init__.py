"""The engine layer: one small interface, one class per backend.

Stage code talks to an :class:`Engine` and writes portable SQL; a backend fills a few hooks.
DuckDB is the embedded default.
"""

from openbureau.engine._base import Engine, EngineError
from openbureau.engine._duckdb import DuckDBEngine, compact

__all__ = ["DuckDBEngine", "Engine", "EngineError", "compact"]
