"""Why two records are (or are not) one person: the match-weight waterfall."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.identity import _splink
from openbureau.identity.link import INPUT_COLUMNS, resolve_record


def explain_link(engine: Engine, model_path: Path, a: str, b: str) -> list[dict[str, Any]]:
    """Each comparison's values, level and match weight for records ``a`` and ``b`` (record or
    identity ids), then the total weight and match probability. For the service to show too."""
    if not model_path.exists():
        raise UserError(f"{model_path}: no linkage model yet; run `openbureau link` first")
    ids = [resolve_record(engine, r) for r in (a, b)]
    model = _splink.load_model(model_path).settings
    with _splink.scratch(engine) as (db_api, wh):
        engine.execute(f"CREATE TABLE {_splink.SCRATCH}.link_input AS SELECT {INPUT_COLUMNS} "
                       f"FROM {wh}.identity_records WHERE usable")
        for side, given, identity in zip(("left", "right"), (a, b), ids, strict=True):
            engine.execute(f"CREATE TABLE {_splink.SCRATCH}.explain_{side} AS SELECT * FROM "
                           f"{_splink.SCRATCH}.link_input WHERE unique_id = ?", [identity])
            if not engine.scalar(f"SELECT count(*) FROM {_splink.SCRATCH}.explain_{side}"):
                raise UserError(f"{given}: record has no usable identifier, so it is never linked")
        return _splink.waterfall(db_api, "link_input", model, "explain_left", "explain_right")
