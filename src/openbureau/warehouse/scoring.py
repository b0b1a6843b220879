"""The tables scoring publishes: score snapshots, scores, and scorecard training runs."""

from openbureau.warehouse._declare import Table, opt, req

STAGE = "scoring"

REASONS = (
    "STRUCT(rank INTEGER, code VARCHAR, factor VARCHAR, statement VARCHAR, "
    "points_lost DOUBLE, value DOUBLE, record_ids VARCHAR[])[]"
)

SCORE_SNAPSHOTS = Table(
    "score_snapshots",
    STAGE,
    "One row per scoring of the whole file as of a date.",
    (
        req("snapshot_id", "VARCHAR", "The snapshot", primary_key=True),
        req("as_of", "DATE", "The date scored as of"),
        req("created_at", "TIMESTAMP", "When it was computed"),
        req("scorecard_name", "VARCHAR", "The scorecard's name"),
        req("scorecard_version", "VARCHAR", "Its version"),
        req("scorecard_yaml", "VARCHAR", "The scorecard, as YAML"),
        req("persons", "BIGINT", "Persons on file"),
        req("scored", "BIGINT", "Persons scored"),
        req("unscorable", "BIGINT", "Persons without a score"),
        opt("seconds", "DOUBLE", "How long it took"),
        opt("known_at", "TIMESTAMP", "The ledger as known at this time was scored"),
        opt("ageing", "VARCHAR", "JSON of the ageing-off periods used (NULL: none)"),
        opt("alt_scorecard_version", "VARCHAR", "The alternative-data scorecard, if any"),
        opt("alt_scorecard_yaml", "VARCHAR", "It, as YAML"),
    ),
)

SCORES = Table(
    "scores",
    STAGE,
    "Each person's score (or why none) and reasons, per snapshot.",
    (
        req("snapshot_id", "VARCHAR", "The snapshot"),
        req("person_id", "VARCHAR", "The person"),
        req("as_of", "DATE", "The date scored as of"),
        opt("score", "INTEGER", "The score (NULL: unscorable)"),
        opt("band", "VARCHAR", "The score's band"),
        opt("unscorable_reason", "VARCHAR", "Why no score (a code)"),
        opt("unscorable_text", "VARCHAR", "Why no score (words)"),
        opt("reasons", REASONS, "The reasons the score is not higher, most points lost first"),
        req("scorecard_version", "VARCHAR", "The scorecard"),
        opt("alt_score", "INTEGER", "The score with alternative data (with consent)"),
        opt("alt_band", "VARCHAR", "Its band"),
        opt("alt_unscorable_reason", "VARCHAR", "Why no such score (a code)"),
        opt("alt_unscorable_text", "VARCHAR", "Why no such score (words)"),
        opt("alt_reasons", REASONS, "Its reasons"),
        opt("alt_scorecard_version", "VARCHAR", "The alternative-data scorecard"),
    ),
    primary_key=("snapshot_id", "person_id"),
    checks=("(score IS NULL) <> (unscorable_reason IS NULL)",),
)

SCORECARD_RUNS = Table(
    "scorecard_runs",
    STAGE,
    "One row per scorecard trained: its data, quality and stability figures.",
    (
        req("version", "VARCHAR", "The scorecard's version", primary_key=True),
        req("name", "VARCHAR", "Its name"),
        req("as_of", "DATE", "The observation date"),
        req("trained_at", "TIMESTAMP", "When it was trained"),
        req("persons_train", "BIGINT", "Persons trained on"),
        req("persons_holdout", "BIGINT", "Persons held out"),
        req("bad_rate", "DOUBLE", "Share of bad outcomes"),
        opt("auc_holdout", "DOUBLE", "AUC on the held-out persons"),
        opt("ks_holdout", "DOUBLE", "KS on them"),
        opt("psi", "DOUBLE", "Population stability: scorable at training against a horizon later"),
        req("factors", "INTEGER", "Factors in the scorecard"),
        req("excluded", "INTEGER", "Factors left out"),
        req("scorecard_path", "VARCHAR", "The scorecard file"),
        req("report_path", "VARCHAR", "The model report"),
        opt("csi_max", "DOUBLE", "The largest characteristic stability index"),
        opt("csi_max_factor", "VARCHAR", "Its factor"),
        opt("shadow_as_of", "DATE", "The out-of-time shadow's observation date"),
        opt("shadow_auc_in_time", "DOUBLE", "The shadow's AUC in time"),
        opt("shadow_auc_out_of_time", "DOUBLE", "Its AUC out of time"),
        opt("auc_out_of_time", "DOUBLE", "This scorecard's AUC out of time"),
    ),
)

TABLES = (SCORE_SNAPSHOTS, SCORES, SCORECARD_RUNS)
