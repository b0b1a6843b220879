"""Why two records are (or are not) one person: the match-weight waterfall, and the files
they are in with the chain of links that joins them."""

from __future__ import annotations

import heapq
import math
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
        engine.execute(
            f"CREATE TABLE {_splink.SCRATCH}.link_input AS SELECT {INPUT_COLUMNS} "
            f"FROM {wh}.identity_records WHERE usable"
        )
        for side, given, identity in zip(("left", "right"), (a, b), ids, strict=True):
            engine.execute(
                f"CREATE TABLE {_splink.SCRATCH}.explain_{side} AS SELECT * FROM "
                f"{_splink.SCRATCH}.link_input WHERE unique_id = ?",
                [identity],
            )
            if not engine.scalar(f"SELECT count(*) FROM {_splink.SCRATCH}.explain_{side}"):
                raise UserError(f"{given}: record has no usable identifier, so it is never linked")
        return _splink.waterfall(db_api, "link_input", model, "explain_left", "explain_right")


def files_of(engine: Engine, a: str, b: str, threshold: float) -> dict[str, Any]:
    """Which person's file each of records ``a`` and ``b`` is in and, when it is one file, the
    chain of stored links that joins them: the most probable chain through links the
    clustering could follow (a match probability of at least ``threshold``, a shared national
    ID, a forced link). For a dispute about a mixed file: which link to question, or where a
    forced split would cut.

    ``{"records": [{"given", "identity_id", "person_id", "not_in_a_file"}, ...],
    "path": [{"from", "to", "match_probability", "source", "run_id"}, ...]}``; the path is
    empty for two files, and for one file that no chain at today's ``threshold`` joins (a
    threshold raised since they were linked)."""
    records = []
    ids = [resolve_record(engine, given) for given in (a, b)]
    for given, identity in zip((a, b), ids, strict=True):
        person = (
            engine.scalar("SELECT person_id FROM person_index WHERE identity_id = ?", [identity])
            if engine.table_exists("person_index")
            else None
        )
        reason = None
        if person is None:
            unlinked = (
                engine.scalar("SELECT reason FROM unlinked WHERE identity_id = ?", [identity])
                if engine.table_exists("unlinked")
                else None
            )
            reason = (
                f"unlinked ({str(unlinked).replace('_', ' ')})"
                if unlinked
                else "not linked yet (run `openbureau link`)"
            )
        records.append(
            {
                "given": given,
                "identity_id": identity,
                "person_id": None if person is None else str(person),
                "not_in_a_file": reason,
            }
        )
    person_a, person_b = (r["person_id"] for r in records)
    path: list[dict[str, Any]] = []
    if person_a is not None and person_a == person_b and ids[0] != ids[1]:
        links = engine.query(
            f"""
            WITH members AS (SELECT identity_id FROM person_index WHERE person_id = ?),
            links AS (
              SELECT identity_id_l AS l, identity_id_r AS r, match_probability AS p, source,
                     run_id FROM link_edges WHERE match_probability >= ? OR source <> 'model'
              {
                "UNION ALL SELECT identity_id_a, identity_id_b, 1.0, 'override', run_id "
                "FROM link_overrides WHERE kind = 'link'"
                if engine.table_exists("link_overrides")
                else ""
            })
            SELECT least(l, r) AS x, greatest(l, r) AS y, p, source, run_id FROM links
            WHERE l IN (SELECT * FROM members) AND r IN (SELECT * FROM members)
            -- one link per pair: the most probable; of equals a forced link, then a shared
            -- national ID, then the latest run
            QUALIFY row_number() OVER (PARTITION BY x, y ORDER BY p DESC,
              CASE source WHEN 'override' THEN 0 WHEN 'national_id' THEN 1 ELSE 2 END,
              run_id DESC) = 1
            ORDER BY x, y""",
            [person_a, threshold],
        )
        path = _most_probable_chain(links, *ids)
    return {"records": records, "path": path}


def _most_probable_chain(
    links: list[tuple[Any, ...]], start: str, end: str
) -> list[dict[str, Any]]:
    """The chain of ``links`` (l, r, p, source, run_id; either way round) from ``start`` to
    ``end`` whose probabilities multiply to the most, the shorter of equals: Dijkstra over one
    person's links, a few dozen."""
    graph: dict[str, list[tuple[str, tuple[Any, ...]]]] = {}
    for link in links:
        graph.setdefault(link[0], []).append((link[1], link))
        graph.setdefault(link[1], []).append((link[0], link))
    best: dict[str, float] = {start: 0.0}
    came: dict[str, tuple[str, tuple[Any, ...]]] = {}
    queue: list[tuple[float, str]] = [(0.0, start)]
    while queue:
        cost, node = heapq.heappop(queue)
        if node == end:
            break
        if cost > best[node]:
            continue
        for other, link in graph.get(node, []):
            step = cost - math.log(max(float(link[2]), 1e-12)) + 1e-9  # (+: fewer hops win)
            if step < best.get(other, math.inf):
                best[other], came[other] = step, (node, link)
                heapq.heappush(queue, (step, other))
    if end not in came:
        return []
    chain, node = [], end
    while node != start:
        prev, link = came[node]
        chain.append(
            {
                "from": prev,
                "to": node,
                "match_probability": float(link[2]),
                "source": str(link[3]),
                "run_id": link[4],
            }
        )
        node = prev
    return chain[::-1]
