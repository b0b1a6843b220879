"""An account under its latest number: Metro 2's L1 segment renumbers accounts, and a sale
between two furnishers (K2) moves an account to its purchaser's number.

A sale: the seller reports the account sold (K2 indicator 2, "sold to", with the purchaser's
name: ``sold_to``; or status 05, transferred) and the purchaser reports it as an account of its
own, usually under a number of its own (K2 indicator 1, "purchased from", with the seller's
name). Neither report names the other's account number, so the two accounts are paired by
what they share: the same person; the purchaser's first report within ``SALE_WINDOW`` after
the month the seller first reported the sale (or the month before); a name that agrees (the
seller's "sold to" is the purchaser's furnisher name, or the purchaser's "purchased from" the
seller's, both read without case, punctuation or a legal suffix such as LLC); the same Date
Opened when both send one. Only a pairing that is one to one is made: two of a person's
accounts sold to one purchaser at once, with nothing to tell them apart, stay apart.
"""

from __future__ import annotations

from openbureau.engine.sql import literal
from openbureau.ingest import _metro2
from openbureau.ledger._schema import MAX_RENUMBERINGS

# How long after the seller's sale month the purchaser's first report may come.
SALE_WINDOW = "3 MONTH"
# Words a company name may carry or leave out: read past when names are compared.
LEGAL_SUFFIXES = ("LLC", "L L C", "INC", "CORP", "CORPORATION", "CO", "COMPANY", "NA", "N A",
                  "LTD", "LP", "PLC", "FSB")  # fmt: skip
PURCHASED_FROM = "1"  # K2 indicator: the reporting furnisher bought the account


def _name(column: str) -> str:
    """A company name as names are compared: capitals and digits only, legal suffixes out."""
    words = f"' ' || regexp_replace(upper({column}), '[^A-Z0-9]+', ' ', 'g') || ' '"
    for _ in range(2):  # (twice: two suffixes in a row share the space between them)
        words = f"regexp_replace({words}, ' ({'|'.join(LEGAL_SUFFIXES)}) ', ' ', 'g')"
    return f"nullif(replace({words}, ' ', ''), '')"


def sales_sql(rows: str) -> str:
    """(old, new): each sold account of the account status rows ``rows`` (a CTE name, with
    ``person_id``, ``furnisher``, ``sold_to``, ``metro2_status``, ``sale_indicator``,
    ``sale_party``, ``history_of``) and its purchaser's account (see the module docstring)."""
    transferred = literal(_metro2.TRANSFERRED)
    return f"""SELECT old, new FROM (
        SELECT DISTINCT s.account_id AS old, b.account_id AS new -- (max, not any_value: Spark)
        FROM (SELECT person_id, furnisher, account_id, min(event_date) AS month,
                     max(sold_to) AS sold_to, min(opened_date) AS opened
              FROM {rows} WHERE history_of IS NULL AND account_id IS NOT NULL
                AND (sold_to IS NOT NULL OR metro2_status IN ({transferred}))
              GROUP BY ALL) s
        JOIN (SELECT person_id, furnisher, account_id, min(event_date) AS month,
                     max(sale_party) FILTER (
                       WHERE sale_indicator = {literal(PURCHASED_FROM)}) AS bought_from,
                     min(opened_date) AS opened
              FROM {rows} WHERE history_of IS NULL AND account_id IS NOT NULL
                AND person_id IN (SELECT person_id FROM {rows} WHERE sold_to IS NOT NULL
                                  OR metro2_status IN ({transferred}))
              GROUP BY ALL) b
          ON b.person_id = s.person_id AND b.furnisher <> s.furnisher
         AND b.month BETWEEN s.month - INTERVAL 1 MONTH AND s.month + INTERVAL {SALE_WINDOW}
        WHERE ({_name("s.sold_to")} = {_name("b.furnisher")}
               OR {_name("b.bought_from")} = {_name("s.furnisher")})
          AND (s.opened IS NULL OR b.opened IS NULL OR s.opened = b.opened))
      QUALIFY count(*) OVER (PARTITION BY old) = 1 AND count(*) OVER (PARTITION BY new) = 1"""


def renumbered_sql(status_rows: str, *, sales: bool = False) -> str:
    """The account status rows of the FROM item ``status_rows``, each account under its latest
    number: a report naming a new number (Metro 2's L1 segment, ``new_account_id``) makes the
    account's reports before it, under its old number, the same account as those after it, so
    that it is counted once. Chains (A to B, then B to C) are followed; only the reports in
    ``status_rows`` (those known on D) say so. ``sales``: an account sold to another furnisher
    is the purchaser's account too (``sales_sql``; the rows need their person), and of the
    months both report, or one reports and the other's payment history profile gives, the
    account keeps one: a month's own report, the purchaser's. A subquery."""
    sold = "UNION SELECT old, new FROM sold_" if sales else ""
    final = "SELECT * FROM moved"
    if sales:  # (only the accounts a sale joined are read month by month)
        final = """joined AS (
              SELECT DISTINCT l.new AS account_id FROM sold_ s JOIN latest l ON l.old = s.old)
            SELECT m.* FROM moved m ANTI JOIN joined j ON j.account_id = m.account_id
            UNION ALL
            SELECT * FROM (
              SELECT m.* FROM moved m SEMI JOIN joined j ON j.account_id = m.account_id
              QUALIFY row_number() OVER (
                PARTITION BY m.person_id, m.account_id, date_trunc('month', m.event_date)
                ORDER BY m.history_of IS NOT NULL, m.sold_to IS NOT NULL,
                         m.reported_date DESC, m.record_id) = 1)"""
    sold_cte = f"sold_ AS ({sales_sql('rows_')})," if sales else ""
    return f"""(WITH RECURSIVE rows_ AS (SELECT * FROM {status_rows}), {sold_cte}
        links AS (SELECT DISTINCT account_id AS old, new_account_id AS new FROM rows_
                  WHERE new_account_id IS NOT NULL AND new_account_id <> account_id {sold}),
        walk(old, new, depth) AS (
          SELECT old, new, 1 FROM links UNION ALL
          SELECT w.old, l.new, w.depth + 1 FROM walk w JOIN links l ON l.old = w.new
          WHERE w.depth < {MAX_RENUMBERINGS}),
        latest AS (SELECT old, arg_max(new, depth) AS new FROM walk GROUP BY old),
        moved AS (SELECT r.* REPLACE (coalesce(l.new, r.account_id) AS account_id) FROM rows_ r
                  LEFT JOIN latest l ON l.old = r.account_id){"," if sales else ""}
        {final})"""
