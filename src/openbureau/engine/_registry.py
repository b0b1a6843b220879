"""The engines a workspace can name in ``bureau.toml`` (``[warehouse] engine``).

Each entry is a module path, imported only when that engine is used: a backend's library
(pyspark) is never loaded for a workspace that does not ask for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openbureau.engine._base import Engine

# name in bureau.toml -> "module:class"
ENGINES: dict[str, str] = {
    "duckdb": "openbureau.engine._duckdb:DuckDBEngine",
    "spark": "openbureau.engine._spark:SparkEngine",
}
DEFAULT_ENGINE = "duckdb"


def engine_class(name: str) -> type[Engine]:
    """The engine class registered as ``name`` (imported now).

    Raises:
        KeyError: no engine of that name (settings are validated against ``ENGINES``).
    """
    module, _, attr = ENGINES[name].partition(":")
    cls: type[Engine] = getattr(importlib.import_module(module), attr)
    return cls
