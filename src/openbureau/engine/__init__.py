"""The engine layer: one small interface, one class per backend.

Stage code talks to an :class:`Engine` and writes portable SQL; a backend fills a few hooks.
DuckDB is the embedded default; Spark (``SparkEngine``, pyspark imported only when one is
made) runs identity's linking so far (docs/engines.md).
"""

from openbureau.engine._base import Engine, EngineError
from openbureau.engine._duckdb import DuckDBEngine, compact
from openbureau.engine._spark import SparkEngine, java_missing

__all__ = ["DuckDBEngine", "Engine", "EngineError", "SparkEngine", "compact", "java_missing"]
