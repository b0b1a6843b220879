"""The engine layer: one small interface, one class per backend.

Stage code talks to an :class:`Engine`, asks its :class:`Capabilities` (never its class), and
writes SQL in DuckDB's dialect, quoting names and values with :mod:`openbureau.engine.sql`. A
backend fills a few hooks; ``bureau.toml``'s ``[warehouse] engine`` picks it from
:data:`ENGINES`. DuckDB is the embedded default; Spark (``SparkEngine``, pyspark imported only
when one is made) runs identity's linking and scoring so far (docs/engines.md).
"""

from openbureau.engine._base import Engine, EngineError
from openbureau.engine._capabilities import Capabilities, EngineUnsupported
from openbureau.engine._copy import copy_warehouse
from openbureau.engine._duckdb import DuckDBEngine, compact
from openbureau.engine._registry import DEFAULT_ENGINE, ENGINES, engine_class
from openbureau.engine._spark import SparkEngine, java_missing

__all__ = [
    "DEFAULT_ENGINE",
    "ENGINES",
    "Capabilities",
    "DuckDBEngine",
    "Engine",
    "EngineError",
    "EngineUnsupported",
    "SparkEngine",
    "compact",
    "copy_warehouse",
    "engine_class",
    "java_missing",
]
