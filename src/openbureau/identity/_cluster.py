"""Clustering a link run's scored pairs into persons, with the pairs that can never be one.

A full link clusters every record (Splink's connected components); an incremental one clusters
the new records together with the persons they touch, each person one node (one recursive
query). A cluster holding two records that cannot be one person (Jr against Sr, and where the
model found them decisive, birth dates or national IDs and given names far apart, or a forced
split) is re-clustered greedily, strongest links first, never joining such a pair. Reads and
writes tables of the scratch catalog (``_splink.SCRATCH``); ``wh`` names the catalog that holds
``person_index`` and ``link_overrides`` (for a link run, the scratch catalog's views of them).
"""

from __future__ import annotations

import math

from openbureau.config import IdentitySection
from openbureau.engine import Engine
from openbureau.identity import _splink

S = _splink.SCRATCH


def cluster_full(
    engine: Engine,
    db_api: object,
    settings: IdentitySection,
    wh: str,
    model: _splink.LinkageModel,
) -> None:
    table = _splink.cluster(
        db_api,  # type: ignore[arg-type]
        "link_input",
        "edges",
        settings.link_threshold,
    )
    engine.execute(
        f"CREATE TABLE {S}.assign AS SELECT unique_id AS identity_id, "
        f"CAST(cluster_id AS VARCHAR) AS cluster_id FROM {table}"
    )
    enforce_splits(engine, settings, wh, f"{S}.edges", model)


def components(engine: Engine, nodes: str, edges: str, threshold: float) -> str:
    """Connected components of an incremental run's graph: the table (unique_id, cluster_id)
    of each node of ``nodes`` (unique_id) and the smallest node of its component, joined by
    ``edges`` (unique_id_l, unique_id_r, match_probability) at or above ``threshold``.

    One recursive query: each node takes the smallest name its neighbours hold until none
    changes; only nodes whose name changed pass it on (DuckDB's USING KEY keeps one row a
    node). The same partition as Splink's clustering, whose twenty-odd statements cost more
    than the work on a graph this small: 0.14 s against 0.34 s on the 47,269 links of a 1%
    batch at 1,000,000 records. On a full link's graph Splink's is the quicker (5.1 s against
    6.2 s), and a full link uses it (`bench/linkage.py components`, docs/benchmarks.md)."""
    strong = f"FROM {edges} WHERE match_probability >= {threshold}"
    engine.execute(f"""
        CREATE OR REPLACE TABLE {S}.components AS
        WITH RECURSIVE adjacent AS (
          SELECT unique_id_l AS a, unique_id_r AS b {strong}
          UNION ALL SELECT unique_id_r, unique_id_l {strong}),
        walk(node, name) USING KEY (node) AS (
          SELECT unique_id, unique_id FROM {nodes}
          UNION
          SELECT w.node, n.name
          FROM (SELECT j.a AS node, min(c.name) AS name FROM walk c JOIN adjacent j ON j.b = c.node
                GROUP BY j.a) n
          JOIN recurring.walk w ON w.node = n.node WHERE n.name < w.name)
        SELECT node AS unique_id, name AS cluster_id FROM walk""")
    return f"{S}.components"


# An incremental run's clustering node for an indexed person (a new record is its own node):
# the prefix keeps person IDs apart from identity ids.
PERSON_NODE = "person:"


def _person_node(person_id: str) -> str:
    """SQL: the node of the person whose ID is the SQL ``person_id``."""
    return f"'{PERSON_NODE}' || {person_id}"


def cluster_incremental(
    engine: Engine, settings: IdentitySection, wh: str, model: _splink.LinkageModel
) -> None:
    """Cluster the new records together with the persons they touch (as one node each)."""
    node = f"CASE WHEN p.person_id IS NULL THEN x ELSE {_person_node('p.person_id')} END"
    # (the index entries of the records of edges that join, first: a join's build side is
    # then small)
    strong = f"FROM {S}.edges WHERE match_probability >= {settings.link_threshold}"
    engine.execute(f"""
        CREATE TABLE {S}.edge_persons AS SELECT p.identity_id, p.person_id
        FROM {wh}.person_index p SEMI JOIN (
          SELECT unique_id_l AS id {strong} UNION SELECT unique_id_r {strong}
        ) e ON e.id = p.identity_id""")
    engine.execute(f"""
        CREATE TABLE {S}.graph_edges AS
        SELECT {node.replace("x", "e.unique_id_l").replace("p.", "pl.")} AS unique_id_l,
               {node.replace("x", "e.unique_id_r").replace("p.", "pr.")} AS unique_id_r,
               e.match_probability
        FROM {S}.edges e
        LEFT JOIN {S}.edge_persons pl ON pl.identity_id = e.unique_id_l
        LEFT JOIN {S}.edge_persons pr ON pr.identity_id = e.unique_id_r
        WHERE e.match_probability >= {settings.link_threshold}""")
    engine.execute(f"""
        CREATE TABLE {S}.graph_nodes AS
        SELECT unique_id FROM {S}.new_input
        UNION SELECT unique_id_l FROM {S}.graph_edges WHERE unique_id_l LIKE '{PERSON_NODE}%'
        UNION SELECT unique_id_r FROM {S}.graph_edges WHERE unique_id_r LIKE '{PERSON_NODE}%'""")
    table = components(engine, f"{S}.graph_nodes", f"{S}.graph_edges", settings.link_threshold)
    engine.execute(f"""
        CREATE TABLE {S}.assign AS
        SELECT unique_id AS identity_id, CAST(cluster_id AS VARCHAR) AS cluster_id,
               NULL::VARCHAR AS prev_person
        FROM {table} WHERE unique_id NOT LIKE '{PERSON_NODE}%'
        UNION ALL
        SELECT p.identity_id, c.cluster_id, p.person_id
        FROM {wh}.person_index p JOIN (
          SELECT CAST(cluster_id AS VARCHAR) AS cluster_id,
                 substr(unique_id, {len(PERSON_NODE) + 1}) AS person_id
          FROM {table} WHERE unique_id LIKE '{PERSON_NODE}%') c USING (person_id)""")
    enforce_splits(engine, settings, wh, f"{S}.graph_edges", model, incremental=True)


# Two records this far apart are never one person, however strong the path between them:
# Jr against Sr; when the model found national IDs decisive (see _splink.NID_DECISIVE_KEY),
# different national IDs together with given names that are not alike (twins and other
# members of one household share a surname, an address and sometimes a birth date; for one
# person each of these two differs rarely, together almost never); and when the model found
# birth dates decisive (see _splink.DOB_DECISIVE_KEY), birth dates that neither a single typo
# (1951 for 1915 is one transposition away) nor day and month exchanged explain: partners
# born months apart are two people as surely as a father and son.
SUFFIX_CONFLICT = "x.name_suffix <> y.name_suffix"
# Given names unlike: below the name comparisons' "similar" levels (DANIEL and DARNELL, twins,
# are 0.879 alike; a typo leaves a name 0.9 or more alike), and not crossed between fields.
GIVEN_NAMES_UNLIKE = """(jaro_winkler_similarity(x.first_name, y.first_name) < 0.88
    AND x.first_name <> y.last_name AND x.last_name <> y.first_name)"""
NID_CONFLICT = f"(x.national_id_token <> y.national_id_token AND {GIVEN_NAMES_UNLIKE})"
DOB_CONFLICT = """(x.dob <> y.dob
    AND damerau_levenshtein(strftime(x.dob, '%Y%m%d'), strftime(y.dob, '%Y%m%d')) > 1
    AND NOT (year(x.dob) = year(y.dob) AND month(x.dob) = day(y.dob)
             AND day(x.dob) = month(y.dob)))"""


# For each conflict, an aggregate over a cluster's records that is true whenever two of them
# conflict so: pairs are checked only in the clusters that meet one (a few in a hundred).
MAY_CONFLICT = {
    SUFFIX_CONFLICT: "count(DISTINCT name_suffix) > 1",
    NID_CONFLICT: "count(DISTINCT national_id_token) > 1",
    DOB_CONFLICT: "count(DISTINCT dob) > 1",
}


def _conflicts(model: _splink.LinkageModel) -> list[str]:
    return [
        SUFFIX_CONFLICT,
        *([NID_CONFLICT] if model.national_ids_decisive else []),
        *([DOB_CONFLICT] if model.birth_dates_decisive else []),
    ]


def conflict_sql(model: _splink.LinkageModel) -> str:
    """SQL on records ``x`` and ``y``: they cannot be one person (under this model)."""
    return " OR ".join(_conflicts(model))


def may_conflict_sql(model: _splink.LinkageModel) -> str:
    """SQL aggregate over the records of a cluster: two of them may conflict (under this
    model); false only when no two do."""
    return " OR ".join(MAY_CONFLICT[c] for c in _conflicts(model))


CONFLICT_COLUMNS = (
    "unique_id",
    "first_name",
    "last_name",
    "name_suffix",
    "dob",
    "national_id_token",
)
CONFLICT_SQL = """
    SELECT p.id_a, p.id_b FROM ({pairs}) p
    JOIN {input} x ON x.unique_id = p.id_a JOIN {input} y ON y.unique_id = p.id_b
    WHERE {conflict}"""
# The pairs of records of one cluster, ...
ALL_PAIRS = """
    SELECT a.identity_id AS id_a, b.identity_id AS id_b FROM {assign} a
    JOIN {assign} b ON a.cluster_id = b.cluster_id AND a.identity_id < b.identity_id"""
# ... in an incremental run those not checked before (two records one person held before were
# checked when it was formed): a new record with each other record of its cluster, and two
# records of different persons where a cluster merges persons (taken apart, so that the pairs
# inside each person are never formed: a cluster holds a few new records and persons of
# several records each)
NOT_CHECKED_BEFORE = """
    SELECT a.identity_id AS id_a, b.identity_id AS id_b FROM {assign} a
    JOIN {assign} b ON a.cluster_id = b.cluster_id AND a.identity_id <> b.identity_id
    WHERE a.prev_person IS NULL AND (b.prev_person IS NOT NULL OR a.identity_id < b.identity_id)
    UNION ALL
    SELECT a.identity_id, b.identity_id FROM {assign} a
    JOIN {assign} b ON a.cluster_id = b.cluster_id AND a.identity_id < b.identity_id
                   AND a.prev_person <> b.prev_person
    WHERE a.cluster_id IN (SELECT cluster_id FROM {assign} GROUP BY 1
                           HAVING count(DISTINCT prev_person) > 1)"""


def enforce_splits(
    engine: Engine,
    settings: IdentitySection,
    wh: str,
    edges: str,
    model: _splink.LinkageModel,
    *,
    incremental: bool = False,
) -> None:
    """Re-cluster the clusters that hold a forced split or a conflicting pair of records.

    ``edges`` (unique_id_l, unique_id_r, match_probability) join the clustering's nodes. In a
    full link a node is a record. In an incremental one it is a new record or a person of the
    index, whose records were checked when it was formed and stay together here (forced
    splits inside one are applied afterwards, see _apply_overrides); ``edges`` then join
    nodes as ``_cluster_incremental`` names them."""
    records, node = f"{S}.link_input", "a.identity_id"
    if incremental:
        # (the few records concerned, in one pass over the view of all)
        records = f"{S}.assign_input"
        node = f"coalesce({_person_node('a.prev_person')}, a.identity_id)"
        engine.execute(f"""
            CREATE TABLE {records} AS SELECT {", ".join(CONFLICT_COLUMNS)}
            FROM {S}.link_input i SEMI JOIN {S}.assign a ON a.identity_id = i.unique_id""")
    # (the clusters where two records may conflict, whole: their pairs alone are formed)
    engine.execute(f"""
        CREATE OR REPLACE TABLE {S}.may_conflict AS SELECT * FROM {S}.assign SEMI JOIN (
          SELECT a.cluster_id FROM {S}.assign a JOIN {records} x ON x.unique_id = a.identity_id
          GROUP BY 1 HAVING {may_conflict_sql(model)}) USING (cluster_id)""")
    engine.execute(f"""
        CREATE OR REPLACE TABLE {S}.cannot AS
        {
        CONFLICT_SQL.format(
            input=records,
            conflict=conflict_sql(model),
            pairs=(NOT_CHECKED_BEFORE if incremental else ALL_PAIRS).format(
                assign=f"{S}.may_conflict"
            ),
        )
    }
        UNION
        SELECT identity_id_a, identity_id_b FROM {wh}.link_overrides WHERE kind = 'split'""")
    engine.execute(f"""
        CREATE OR REPLACE TABLE {S}.conflicted AS
        SELECT a.identity_id, a.cluster_id, {node} AS node FROM {S}.assign a
        WHERE a.cluster_id IN (
          SELECT x.cluster_id FROM {S}.cannot c
          JOIN {S}.assign x ON x.identity_id = c.id_a
          JOIN {S}.assign y ON y.identity_id = c.id_b AND x.cluster_id = y.cluster_id)""")
    if not engine.scalar(f"SELECT count(*) FROM {S}.conflicted"):
        return
    nodes = f"(SELECT DISTINCT node, cluster_id FROM {S}.conflicted)"
    among = engine.query(
        f"""
        SELECT e.unique_id_l, e.unique_id_r, e.match_probability FROM {edges} e
        JOIN {nodes} l ON l.node = e.unique_id_l
        JOIN {nodes} r ON r.node = e.unique_id_r AND l.cluster_id = r.cluster_id
        WHERE e.match_probability >= ?
        ORDER BY e.match_probability DESC, e.unique_id_l, e.unique_id_r""",
        [settings.link_threshold],
    )
    members = [r[0] for r in engine.query(f"SELECT DISTINCT node FROM {S}.conflicted")]
    cannot = engine.query(f"""
        SELECT DISTINCT a.node, b.node FROM {S}.cannot c
        JOIN {S}.conflicted a ON a.identity_id = c.id_a
        JOIN {S}.conflicted b ON b.identity_id = c.id_b WHERE a.node <> b.node""")
    labels = constrained_clustering(members, among, cannot, ambiguous_alone=True)
    relabel = {"node": list(labels), "label": list(labels.values())}
    with engine.registered("_relabel", relabel):
        engine.execute(f"""
            UPDATE {S}.assign SET cluster_id = {S}.assign.cluster_id || '/' || r.label
            FROM _relabel r JOIN {S}.conflicted c ON c.node = r.node
            WHERE {S}.assign.identity_id = c.identity_id""")


def constrained_clustering(
    members: list[str],
    edges: list[tuple[str, str, float]],
    cannot: list[tuple[str, str]],
    *,
    ambiguous_alone: bool = False,
) -> dict[str, str]:
    """Greedy clustering: edges strongest first (as given), never joining two records that
    cannot be one person (``edges``: strongest first, with their match probability). Returns
    each member's part label (its part's smallest member). ``ambiguous_alone``: a member that
    conflicts with none but links about as strongly to another part as to its own is a part
    of its own.

    Sequential by nature; it runs only on the few clusters that hold a conflict.
    """
    parent = {m: m for m in members}
    groups = {m: {m} for m in members}
    forbidden: dict[str, set[str]] = {m: set() for m in members}
    for a, b in cannot:
        if a in forbidden and b in forbidden:
            forbidden[a].add(b)
            forbidden[b].add(a)

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    constrained = {m for m in members if forbidden[m]}
    for left, right, _ in edges:
        a, b = find(left), find(right)
        if a == b or forbidden[a] & groups[b]:
            continue
        if len(groups[a]) < len(groups[b]):
            a, b = b, a
        parent[b] = a
        groups[a] |= groups.pop(b)
        forbidden[a] |= forbidden.pop(b)
    labels = {m: min(groups[find(m)]) for m in members}
    if not ambiguous_alone:
        return labels
    # A record that conflicts with none but links about as strongly to another part as to its
    # own (a record of a father or his son, with neither birth date nor suffix) could be
    # either's: it stands alone rather than show one's records to the other's lenders.
    strongest: dict[str, dict[str, float]] = {m: {} for m in members}
    for left, right, p in edges:
        for m, other in ((left, right), (right, left)):
            part, w = labels[other], _weight(p)
            strongest[m][part] = max(strongest[m].get(part, w), w)
    alone = set()
    for m in members:
        own = strongest[m].pop(labels[m], None)
        rival = max(strongest[m].values(), default=None)
        near = own is not None and rival is not None and rival >= own - AMBIGUOUS_WITHIN
        if near and m not in constrained:
            alone.add(m)
    # (a part is labelled by its smallest member that stays: one standing alone may be it)
    stays: dict[str, str] = {}
    for m in members:
        if m not in alone:
            stays[find(m)] = min(stays.get(find(m), m), m)
    return {m: m if m in alone else stays[find(m)] for m in members}


# Match weights (bits) within which a record's links to two parts are as good as each other.
AMBIGUOUS_WITHIN = 3.0


def _weight(p: float) -> float:
    """The match weight of a probability (capped where a double rounds it to 1)."""
    p = min(p, 1 - 1e-15)
    return math.log2(p / (1 - p))
