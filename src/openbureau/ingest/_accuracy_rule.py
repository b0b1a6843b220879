"""What an accuracy rule is: an id, what it finds, the harm it can do a consumer, and the SQL
that finds the offending rows among the batch's rows (``_accuracy_view.ROWS``).

A rule is data: ``scope`` says which rows it examines (counted as *checked*) and ``offends``
which of those are wrong; both are SQL conditions over the canonical columns, a NULL counting
as false. ``needs`` names the canonical targets the feed must carry for the rule to apply
(``a|b``: either); a feed without them gets the rule as *not applicable*, counted apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from openbureau.ingest._accuracy_view import ACCOUNT_HISTORY, COLUMNS, DERIVED, HISTORY, SOURCES
from openbureau.ingest.spec import IDENTITY_FIELDS
from openbureau.ingest.vocabulary import (
    CHARGED_OFF,
    DAYS_PAST_DUE,
    GOOD_STANDING,
    PRODUCT,
    REVOLVING,
)

Severity = Literal["high", "medium", "low"]

SEVERITIES: dict[str, str] = {
    "high": "can wrongly lower a consumer's score, keep negative information on their file "
    "longer than the law allows, or put a record on the wrong person's file",
    "medium": "misstates the account in a way a lender may read against the consumer",
    "low": "an inconsistency or implausible value that makes the record harder to trust",
}

_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")


@dataclass(frozen=True)
class Rule:
    """One accuracy check on what a furnisher sends."""

    id: str  # lower-case words joined by hyphens: dofd-missing
    category: str
    severity: Severity
    description: str  # one line: what the offending rows have
    harm: str  # what it can do to a consumer
    needs: tuple[str, ...]  # canonical targets the feed must carry; "a|b": either
    scope: str  # SQL: the rows it examines
    offends: str  # SQL: which of those are wrong
    shows: tuple[str, ...] = ()  # columns an example shows, never identity values
    history: bool = False  # reads the account's earlier reports (prev_* columns)

    @property
    def all_needs(self) -> tuple[str, ...]:
        """``needs``, and the account and month a rule reading the history needs."""
        return (*ACCOUNT_HISTORY, *self.needs) if self.history else self.needs

    def missing(self, usable: Iterable[str]) -> list[str]:
        """The needed targets the feed does not carry (usably): empty when it applies."""
        have = set(usable)
        return [n for n in self.all_needs if not have.intersection(n.split("|"))]


def in_list(values: Iterable[str]) -> str:
    """Values as a SQL list, for ``IN (...)``."""
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


DELINQUENT = tuple(DAYS_PAST_DUE)  # past due, not yet written off
DEROGATORY = (*DELINQUENT, CHARGED_OFF)
LOANS = tuple(p for p in PRODUCT.values if p != REVOLVING)
STATUS = "payment_status|days_past_due"  # (a row without a status is ranked by its days)


def days_contradict_status() -> str:
    """SQL: a row's days past due fall outside the band its status names (a status in good
    standing: fewer days than the first band's)."""
    bands = sorted(DAYS_PAST_DUE.items(), key=lambda item: item[1])
    arms = [f"WHEN payment_status IN {in_list(GOOD_STANDING)} THEN days_past_due >= {bands[0][1]}"]
    for (status, low), nxt in zip(bands, [*bands[1:], None], strict=True):
        band = f"< {low}" if nxt is None else f"NOT BETWEEN {low} AND {nxt[1] - 1}"
        arms.append(f"WHEN payment_status = '{status}' THEN days_past_due {band}")
    return "CASE " + " ".join(arms) + " END"


def check_rules(rules: tuple[Rule, ...]) -> None:
    """The declarations hold together: unique ids, known targets and columns, and no example
    that would show a consumer's identity."""
    names = {c.name for c in COLUMNS} | set(DERIVED) | set(HISTORY)
    seen: set[str] = set()
    for r in rules:
        if not _ID.match(r.id) or r.id in seen:
            raise AssertionError(f"accuracy rule id {r.id!r} is not a unique hyphenated slug")
        seen.add(r.id)
        for need in r.needs:
            for target in need.split("|"):
                if target not in SOURCES:
                    raise AssertionError(f"{r.id}: needs {target!r}, which no column reads")
        for shown in r.shows:
            if shown not in names or shown in IDENTITY_FIELDS:
                raise AssertionError(f"{r.id}: cannot show {shown!r}")
        if r.severity not in SEVERITIES or not r.description or not r.harm:
            raise AssertionError(f"{r.id}: needs a severity, a description and a harm")
