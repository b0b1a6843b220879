"""The table publication keeps in the warehouse: when each serving copy was published."""

from openbureau.warehouse._declare import Table, opt, req

STAGE = "publication"

PUBLICATIONS = Table(
    "publications",
    STAGE,
    "Each serving copy published: when, and the newest link run it shows.",
    (
        req("snapshot_id", "VARCHAR", "The score snapshot published"),
        req("published_at", "TIMESTAMP", "When its copy began to be served"),
        opt("identity_as_of", "TIMESTAMP", "The newest link run's time (NULL: none yet)"),
    ),
)

TABLES = (PUBLICATIONS,)
