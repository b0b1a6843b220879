"""An account under its latest number: Metro 2's L1 segment renumbers accounts."""

from __future__ import annotations

from openbureau.ledger._schema import MAX_RENUMBERINGS


def renumbered_sql(status_rows: str) -> str:
    """The account status rows of the FROM item ``status_rows``, each account under its latest
    number: a report naming a new number (Metro 2's L1 segment, ``new_account_id``) makes the
    account's reports before it, under its old number, the same account as those after it, so
    that it is counted once. Chains (A to B, then B to C) are followed; only the reports in
    ``status_rows`` (those known on D) say so. A subquery."""
    return f"""(WITH RECURSIVE rows_ AS (SELECT * FROM {status_rows}),
        links AS (SELECT DISTINCT account_id AS old, new_account_id AS new FROM rows_
                  WHERE new_account_id IS NOT NULL AND new_account_id <> account_id),
        walk(old, new, depth) AS (
          SELECT old, new, 1 FROM links UNION ALL
          SELECT w.old, l.new, w.depth + 1 FROM walk w JOIN links l ON l.old = w.new
          WHERE w.depth < {MAX_RENUMBERINGS}),
        latest AS (SELECT old, arg_max(new, depth) AS new FROM walk GROUP BY old)
        SELECT r.* REPLACE (coalesce(l.new, r.account_id) AS account_id) FROM rows_ r
        LEFT JOIN latest l ON l.old = r.account_id)"""
