"""The person index: persistent person IDs over changing clusters, and their history.

Given a new clustering of some identity records (a table ``assign(identity_id, cluster_id)``
covering every record of every person it touches), IDs carry over by these rules:

1. Each existing person goes with the cluster holding most of its records (ties: the cluster
   whose smallest identity id sorts first), leaving aside clusters that rule 4 gives back to a
   retired ID where it has others.
2. A cluster that several persons go with keeps the ID of the one with most records there
   (ties: the ID created first, then the smaller ID), or the ID rule 4 gives it back; the others
   are **merged** into it: they are retired and resolve to it from then on.
3. A cluster no existing person goes with gets a new ID. If some of its records had an ID before,
   it is a **split** from that person (the larger part kept the ID, by rule 1, unless rule 4
   gave it back); otherwise it is a **new** person.
4. A split gives a merged ID back. When a person's records are split among clusters, a retired ID
   that resolves to it takes back a cluster holding more than half of the records it held when
   it was merged (not counting those of IDs merged into it before), and more of them than of the
   records its survivors held then (the one it was merged into, and any that one was merged into
   later); of several such IDs, the one with most of its records there (ties: created first, then
   the smaller ID). Not where another person has as many records as it there, and never every
   cluster of the person it resolves to. Records that joined the file after the merge do not
   count. A wrong merge undone by a forced split thus leaves each person the ID they had,
   whichever part is larger.
5. A retired ID resolves to the person holding most of the records it held when it was retired
   (ties: the person it resolves to already, then the smaller ID): the survivor of its merge
   until a split or a full relink moves those records on; it is then pointed at their person
   (a **redirect**).

New IDs are ``P`` + 12 hex digits of a hash of the cluster's smallest identity id, so linking the
same data from scratch gives the same IDs.
"""

from __future__ import annotations

from openbureau.engine import Engine, EngineError
from openbureau.engine.sql import literal
from openbureau.warehouse import identity as tables

SCHEMA = [
    t.create_sql()
    for t in (
        tables.PERSON_IDS,
        tables.PERSON_INDEX,
        tables.PERSON_ID_MEMBERS,
        tables.PERSON_ID_HISTORY,
    )
]
HISTORY_COLUMNS = "run_id, linked_at, event, person_id, other_person_id, records, cause, since"


def _history(select: str) -> str:
    """Append the events ``select`` gives (HISTORY_COLUMNS), numbered in order."""
    return (
        f"INSERT INTO person_id_history ({HISTORY_COLUMNS}, seq) "
        f"SELECT *, nextval('person_id_history_seq') FROM ({select})"
    )


def ensure_schema(engine: Engine) -> None:
    for ddl in SCHEMA:
        engine.execute(ddl)
    migrate(engine)
    engine.execute("CREATE SEQUENCE IF NOT EXISTS person_id_history_seq")


def migrate(engine: Engine) -> None:
    """Bring the tables an earlier openbureau made up to date (rows kept); creates none."""
    if engine.table_exists("person_index"):
        engine.rebuild_without_primary_key("person_index", tables.PERSON_INDEX.create_sql())


# The person whose records a cluster mostly holds (ties: created first, then the smaller ID): the
# person a split is from.
SOURCE = """SELECT cluster_id, person_id FROM (
    SELECT o.cluster_id, o.person_id, row_number() OVER (
             PARTITION BY o.cluster_id ORDER BY o.n DESC, i.created_seq, o.person_id) AS r
    FROM _overlap o JOIN person_ids i USING (person_id)) WHERE r = 1"""


def new_person_id_sql(expr: str) -> str:
    return f"'P' || upper(left(md5({expr}), 12))"


def apply_assignment(
    engine: Engine,
    assign: str,
    *,
    run_id: int,
    cause: str,
    replace_all: bool,
    with_prev: bool = False,
) -> dict[str, int]:
    """Turn a clustering into person IDs (rules in the module docstring); return event counts.

    ``assign`` names a table (identity_id, cluster_id). With ``replace_all`` it covers every
    linked record and the index is rebuilt from it; otherwise only the records it covers move.
    ``with_prev``: it also has ``prev_person``, each record's person in the index (NULL for a
    record not in it), which saves reading the index to find them. Call inside a transaction.
    """
    current = (
        f"(SELECT identity_id, prev_person AS person_id FROM {assign} "
        "WHERE prev_person IS NOT NULL)"
        if with_prev
        else "person_index"
    )
    earlier = {
        k: int(v)
        for k, v in engine.query(
            f"SELECT event, count(*) FROM person_id_history WHERE run_id = {run_id} GROUP BY 1"
        )
    }
    engine.execute(f"""
        CREATE OR REPLACE TEMP TABLE _overlap AS
        SELECT a.cluster_id, p.person_id, count(*) AS n
        FROM {assign} a JOIN {current} p USING (identity_id) GROUP BY ALL""")
    engine.execute(f"""
        CREATE OR REPLACE TEMP TABLE _cluster_key AS
        SELECT cluster_id, min(identity_id) AS min_id, count(*) AS size
        FROM {assign} GROUP BY cluster_id""")
    # (a person split among clusters: rules 3 and 4; none in an incremental run, whose nodes
    # are whole persons)
    splits = bool(
        engine.scalar("""SELECT count(*) FROM (
        SELECT person_id FROM _overlap GROUP BY 1 HAVING count(*) > 1 LIMIT 1)""")
    )
    claims = _claim_clusters(engine, assign) if splits else 0
    claimed = "(SELECT cluster_id FROM _claims)" if claims else "(SELECT NULL)"
    engine.execute(f"""
        CREATE OR REPLACE TEMP TABLE _best AS
        SELECT person_id, cluster_id, n FROM (
          SELECT o.*, row_number() OVER (
                   PARTITION BY o.person_id
                   ORDER BY coalesce(o.cluster_id IN {claimed}, FALSE), o.n DESC, k.min_id) r
          FROM _overlap o JOIN _cluster_key k USING (cluster_id)) WHERE r = 1""")
    engine.execute(f"""
        CREATE OR REPLACE TEMP TABLE _keep AS
        SELECT cluster_id, person_id FROM (
          SELECT b.*, row_number() OVER (PARTITION BY b.cluster_id
                                         ORDER BY b.n DESC, i.created_seq, b.person_id) r
          FROM _best b JOIN person_ids i USING (person_id)
          WHERE coalesce(b.cluster_id NOT IN {claimed}, TRUE)) WHERE r = 1
        {"UNION ALL SELECT cluster_id, person_id FROM _claims" if claims else ""}""")
    now = "now()::TIMESTAMP"
    if claims:  # rule 4: the retired IDs given back, active again
        engine.execute(
            _history(f"""
            SELECT {run_id}, {now}, 'split', c.person_id, c.holder, k.size, {literal(cause)}, NULL
            FROM _claims c JOIN _cluster_key k USING (cluster_id)""")
        )
        engine.execute("""UPDATE person_ids SET status = 'active', resolves_to = NULL,
                          retired_run = NULL WHERE person_id IN (SELECT person_id FROM _claims)""")
        engine.execute(
            "DELETE FROM person_id_members WHERE person_id IN (SELECT person_id FROM _claims)"
        )
    _mint_new_ids(engine)
    # merges: persons whose best cluster kept another ID
    engine.execute("""
        CREATE OR REPLACE TEMP TABLE _merged AS
        SELECT b.person_id, k.person_id AS survivor, b.n
        FROM _best b JOIN _keep k USING (cluster_id) WHERE b.person_id <> k.person_id""")
    engine.execute(
        _history(f"""
        SELECT {run_id}, {now}, 'merge', survivor, person_id, n, {literal(cause)}, NULL
        FROM _merged""")
    )
    # what each side held (of a person's records, those of IDs merged into it before are
    # theirs); IDs merged into a person before now also go with the survivor's records
    engine.execute(f"""
        INSERT INTO person_id_members
        SELECT m.person_id, p.identity_id, 'retired' FROM _merged m
        JOIN {current} p ON p.person_id = m.person_id
        WHERE p.identity_id NOT IN (
          SELECT x.identity_id FROM person_id_members x JOIN person_ids r USING (person_id)
          WHERE x.role = 'retired' AND r.status = 'retired' AND r.resolves_to = m.person_id)
        UNION ALL
        SELECT m.person_id, p.identity_id, 'kept' FROM _merged m
        JOIN {current} p ON p.person_id = m.survivor
        UNION ALL
        SELECT r.person_id, p.identity_id, 'kept' FROM _merged m
        JOIN person_ids r ON r.resolves_to = m.person_id AND r.status = 'retired'
        JOIN {current} p ON p.person_id = m.survivor""")
    engine.execute(f"""
        UPDATE person_ids SET status = 'retired', resolves_to = m.survivor,
               retired_run = {run_id}
        FROM _merged m WHERE person_ids.person_id = m.person_id""")
    # earlier merges into a retired ID now resolve to the survivor directly
    engine.execute("""
        UPDATE person_ids SET resolves_to = r.resolves_to FROM person_ids r
        WHERE person_ids.resolves_to = r.person_id AND r.status = 'retired'""")
    # new and split-off clusters; for a part split off, since when its records had been in the
    # file it is split from: the earliest run that put one of them there (this one if it did)
    since = "NULL"
    if splits:
        engine.execute(f"""
            CREATE OR REPLACE TEMP TABLE _since AS
            SELECT a.cluster_id, p.person_id, min(coalesce(r.linked_at, {now})) AS since
            FROM {assign} a JOIN person_index p USING (identity_id)
            LEFT JOIN link_runs r ON r.run_id = p.run_id AND p.run_id <> {run_id}
            WHERE a.cluster_id IN (SELECT cluster_id FROM _minted) GROUP BY ALL""")
        since = (
            "(SELECT s.since FROM _since s WHERE s.cluster_id = m.cluster_id "
            "AND s.person_id = src.person_id)"
        )
    engine.execute(
        _history(f"""
        SELECT {run_id}, {now}, CASE WHEN src.person_id IS NULL THEN 'new' ELSE 'split' END,
               m.person_id, src.person_id, k.size, {literal(cause)}, {since}
        FROM _minted m JOIN _cluster_key k USING (cluster_id)
        LEFT JOIN ({SOURCE}) src USING (cluster_id)""")
    )
    engine.execute(f"""
        INSERT INTO person_ids
        SELECT person_id, 'active', NULL,
               (SELECT coalesce(max(created_seq), 0) FROM person_ids)
                 + row_number() OVER (ORDER BY person_id), {run_id}, NULL
        FROM _minted""")
    engine.execute(f"""
        CREATE OR REPLACE TEMP TABLE _assigned AS
        SELECT a.identity_id, coalesce(k.person_id, m.person_id) AS person_id
        FROM {assign} a LEFT JOIN _keep k USING (cluster_id)
        LEFT JOIN _minted m USING (cluster_id)""")
    # (the index has no key: one row per record is this function's to keep)
    twice = engine.scalar("SELECT count(*) - count(DISTINCT identity_id) FROM _assigned")
    if twice:
        raise EngineError(
            f"person index: {twice} records assigned twice in one clustering; nothing was written"
        )
    if replace_all:
        engine.execute(
            "DELETE FROM person_index WHERE identity_id NOT IN (SELECT identity_id FROM _assigned)"
        )
    # write only what changed: most records keep their person from run to run
    engine.execute(f"""
        DELETE FROM person_index WHERE identity_id IN (
          SELECT n.identity_id FROM _assigned n JOIN {current} p USING (identity_id)
          WHERE p.person_id <> n.person_id)""")
    engine.execute(f"""
        INSERT INTO person_index SELECT n.identity_id, n.person_id, {run_id}
        FROM _assigned n ANTI JOIN {current} p USING (identity_id, person_id)""")
    if splits or replace_all:
        _redirect_retired_ids(engine, run_id, cause)
    counts = dict(
        engine.query(
            f"SELECT event, count(*) FROM person_id_history WHERE run_id = {run_id} GROUP BY 1"
        )
    )
    for t in (
        "_overlap",
        "_cluster_key",
        "_best",
        "_keep",
        "_minted",
        "_assigned",
        "_claims",
        "_merged",
        "_since",
    ):
        engine.execute(f"DROP TABLE IF EXISTS {t}")
    # (this call's events: a run may apply several clusterings, forced links and splits)
    return {k: int(v) - earlier.get(k, 0) for k, v in counts.items() if int(v) > earlier.get(k, 0)}


def _claim_clusters(engine: Engine, assign: str) -> int:
    """Rule 4: the clusters given back to retired IDs, as ``_claims`` (cluster_id, person_id,
    holder: the person it resolved to); their number. Only clusters of a person split among
    several, for retired IDs resolving to it; not where another person has as many records as
    the retired ID has there, and never every cluster of the person it resolves to (that one
    keeps the cluster where it has most records)."""
    engine.execute(f"""
        CREATE OR REPLACE TEMP TABLE _claims AS
        SELECT cluster_id, person_id, holder FROM (
          SELECT c.cluster_id, c.person_id, i.resolves_to AS holder, row_number() OVER (
                   PARTITION BY c.cluster_id ORDER BY c.m DESC, i.created_seq, c.person_id) r
          FROM (SELECT a.cluster_id, x.person_id,
                       count(*) FILTER (x.role = 'retired') AS m,
                       count(*) FILTER (x.role = 'kept') AS k
                FROM person_id_members x JOIN {assign} a USING (identity_id) GROUP BY ALL) c
          JOIN (SELECT person_id, count(*) AS held FROM person_id_members
                WHERE role = 'retired' GROUP BY 1) h USING (person_id)
          JOIN person_ids i USING (person_id)
          JOIN _overlap o ON o.cluster_id = c.cluster_id AND o.person_id = i.resolves_to
          WHERE i.status = 'retired' AND c.m * 2 > h.held AND c.m > c.k
            AND i.resolves_to IN (SELECT person_id FROM _overlap GROUP BY 1
                                  HAVING count(*) > 1)
            AND NOT EXISTS (SELECT 1 FROM _overlap other WHERE other.cluster_id = c.cluster_id
                            AND other.person_id <> i.resolves_to AND other.n >= c.m))
        WHERE r = 1""")
    # (a retired ID takes at most one cluster: it held more than half of its records there)
    engine.execute("""
        DELETE FROM _claims WHERE cluster_id IN (
          SELECT cluster_id FROM (
            SELECT o.cluster_id, row_number() OVER (PARTITION BY o.person_id
                                                    ORDER BY o.n DESC, k.min_id) AS r
            FROM _overlap o JOIN _cluster_key k USING (cluster_id)
            WHERE o.person_id IN (SELECT holder FROM _claims) AND NOT EXISTS (
              SELECT 1 FROM _overlap u WHERE u.person_id = o.person_id
              AND u.cluster_id NOT IN (SELECT cluster_id FROM _claims)))
          WHERE r = 1)""")
    return int(engine.scalar("SELECT count(*) FROM _claims"))


def _redirect_retired_ids(engine: Engine, run_id: int, cause: str) -> None:
    """Rule 5, after records moved between persons (a split; a full relink): each retired ID
    resolves to the person now holding most of its records, recorded as a ``redirect``."""
    engine.execute("""
        CREATE OR REPLACE TEMP TABLE _redirect AS
        SELECT h.retired, h.holder, h.n FROM (
          SELECT m.person_id AS retired, p.person_id AS holder, count(*) AS n,
                 row_number() OVER (PARTITION BY m.person_id ORDER BY count(*) DESC,
                                    p.person_id = i.resolves_to DESC, p.person_id) AS r
          FROM person_id_members m JOIN person_index p USING (identity_id)
          JOIN person_ids i ON i.person_id = m.person_id
          WHERE m.role = 'retired' AND i.status = 'retired'
          GROUP BY m.person_id, p.person_id, i.resolves_to) h
        JOIN person_ids i ON i.person_id = h.retired
        WHERE h.r = 1 AND i.resolves_to IS DISTINCT FROM h.holder""")
    engine.execute(
        _history(f"""
        SELECT {run_id}, now()::TIMESTAMP, 'redirect', holder, retired, n, {literal(cause)}, NULL
        FROM _redirect""")
    )
    engine.execute("""UPDATE person_ids SET resolves_to = r.holder FROM _redirect r
                      WHERE person_ids.person_id = r.retired""")
    engine.execute("DROP TABLE _redirect")


def _mint_new_ids(engine: Engine) -> None:
    """IDs for clusters that keep none: derived from their smallest identity id, salted on the
    (rare) collision with an ID that exists or was ever used."""
    engine.execute(f"""
        CREATE OR REPLACE TEMP TABLE _minted AS
        SELECT k.cluster_id, k.min_id, 0 AS salt, {new_person_id_sql("k.min_id")} AS person_id
        FROM _cluster_key k ANTI JOIN _keep USING (cluster_id)""")
    for salt in range(1, 20):
        if not engine.query(f"""
                UPDATE _minted SET salt = {salt},
                       person_id = {new_person_id_sql(f"min_id || '#{salt}'")}
                WHERE person_id IN (SELECT person_id FROM person_ids) OR person_id IN (
                  SELECT person_id FROM _minted GROUP BY 1 HAVING count(*) > 1)
                RETURNING salt"""):
            return
    raise RuntimeError("could not mint unique person IDs")  # 48-bit hashes: not in practice


def resolve(engine: Engine, person_id: str) -> str | None:
    """The active person an ID stands for today (following merges), or None if unknown."""
    seen = person_id
    for _ in range(64):
        row = engine.query("SELECT status, resolves_to FROM person_ids WHERE person_id = ?", [seen])
        if not row:
            return None
        status, target = row[0]
        if status == "active":
            return seen
        seen = target
    return None
