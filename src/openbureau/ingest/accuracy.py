"""Accuracy checks on what furnishers send: rules over a batch and its feed's history.

After a batch is loaded, every rule (``RULES``, declared once in ``_accuracy_accounts`` and
``_accuracy_records``; listed in docs/accuracy.md from them) runs on the batch's rows in
canonical columns (``_accuracy_view``). Per rule the batch gets the rows it examined, the rows
that offend and a few examples (record, line and the values at fault), in
``accuracy_findings``; every offending row is marked in ``accuracy_flags``. Both are published
whole per batch, and a rule the feed's fields cannot feed is recorded as not applicable, with
the targets it lacks.

Checks only report: a finding never blocks a batch, nor changes or drops a row.

``accuracy_findings``  one row per batch and rule: applicable or why not, rows checked,
                       rows offending, up to five examples
``accuracy_flags``     one row per offending row and rule: batch, feed, record and line
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast

from openbureau.engine import Engine
from openbureau.engine.sql import literal
from openbureau.errors import UserError
from openbureau.ingest import _accuracy_view as view
from openbureau.ingest._accuracy_accounts import AMOUNTS, DELINQUENCY_DATES, STATUSES
from openbureau.ingest._accuracy_records import ACCOUNT_DATES, CONSUMER, LIFELONG, OTHER_RECORDS
from openbureau.ingest._accuracy_rule import SEVERITIES, Rule, Severity, check_rules
from openbureau.ingest._yaml import load_yaml
from openbureau.ingest.spec import parse_spec
from openbureau.warehouse import ingest as tables

RULES: tuple[Rule, ...] = (
    *DELINQUENCY_DATES,
    *STATUSES,
    *AMOUNTS,
    *ACCOUNT_DATES,
    *LIFELONG,
    *CONSUMER,
    *OTHER_RECORDS,
)
check_rules(RULES)
BY_ID = {r.id: r for r in RULES}
EXAMPLES = 5  # examples kept per rule and batch

SCHEMA = [t.create_sql() for t in (tables.ACCURACY_FINDINGS, tables.ACCURACY_FLAGS)]


@dataclass(frozen=True)
class Example:
    record_id: str
    line_no: int
    shown: str  # the values at fault: "status=dpd60, first_delinquency_date=(empty)"


@dataclass(frozen=True)
class Finding:
    """What one rule found in one batch."""

    rule: Rule
    applicable: bool
    not_applicable: str | None  # why not
    checked: int | None
    offending: int | None
    examples: list[Example] = field(default_factory=list)


@dataclass
class AccuracyReport:
    """The findings of every rule on one batch."""

    batch_id: str
    feed: str
    furnisher: str
    rows: int  # the batch's rows in its feed table: its new and superseding reports
    checked_at: datetime
    findings: list[Finding]

    @property
    def offending(self) -> list[Finding]:
        """The rules that found rows, most severe and most frequent first."""
        order = list(SEVERITIES)
        found = [f for f in self.findings if f.offending]
        return sorted(found, key=lambda f: (order.index(f.rule.severity), -(f.offending or 0)))

    @property
    def not_applicable(self) -> int:
        return sum(not f.applicable for f in self.findings)

    def line(self) -> str:
        """One line for the ingest summary."""
        ran = len(self.findings) - self.not_applicable
        skipped = f"; {self.not_applicable} not applicable to the feed's fields"
        if not self.offending:
            return f"accuracy: {ran} rules checked, nothing found{skipped}"
        top = ", ".join(f"{f.rule.id} {f.offending:,}" for f in self.offending[:3])
        more = f" and {len(self.offending) - 3} more" if len(self.offending) > 3 else ""
        return (
            f"accuracy: {len(self.offending)} of {ran} rules found rows ({top}{more})"
            f"{skipped}: openbureau accuracy {self.batch_id}"
        )

    def to_json(self) -> dict[str, Any]:
        """The report a furnisher is sent: every rule, what it found, and why it matters."""
        return {
            "batch_id": self.batch_id,
            "feed": self.feed,
            "furnisher": self.furnisher,
            "rows": self.rows,
            "checked_at": self.checked_at.isoformat(),
            "severities": SEVERITIES,
            "rules": [
                {
                    "id": f.rule.id,
                    "category": f.rule.category,
                    "severity": f.rule.severity,
                    "description": f.rule.description,
                    "harm": f.rule.harm,
                    "status": "checked" if f.applicable else "not_applicable",
                    "not_applicable": f.not_applicable,
                    "rows_checked": f.checked,
                    "rows_offending": f.offending,
                    "examples": [e.__dict__ for e in f.examples],
                }
                for f in self.findings
            ],
        }


def ensure_schema(engine: Engine) -> None:
    for ddl in SCHEMA:
        engine.execute(ddl)


def _cond(sql: str) -> str:
    return f"coalesce(({sql}), false)"


def _hit(rule: Rule) -> str:
    """SQL: a row the rule examines and finds wrong."""
    return _cond(f"({rule.scope}) AND ({rule.offends})")


def _shown(rule: Rule) -> str:
    parts = [f"'{c}=' || coalesce(CAST({c} AS VARCHAR), '(empty)')" for c in rule.shows]
    return f"concat_ws(', ', {', '.join(parts)})" if parts else "''"


def _batch(engine: Engine, batch_id: str) -> tuple[str, str, str, date]:
    rows = engine.query(
        "SELECT feed, furnisher, spec_yaml, CAST(loaded_at AS DATE) FROM ingest_batches "
        "WHERE batch_id = ?",
        [batch_id],
    )
    if not rows:
        raise UserError(f"no batch {batch_id}: `openbureau batches` lists them")
    feed, furnisher, spec_yaml, loaded = rows[0]
    return str(feed), str(furnisher), str(spec_yaml), loaded


def check_batch(engine: Engine, batch_id: str) -> AccuracyReport:
    """Run every rule on a loaded batch and publish its findings (replacing any earlier ones
    of the batch, whole). Reads the batch's own spec, so a batch loaded before can be checked
    again as it was loaded.

    Raises:
        UserError: no such batch.
    """
    feed, furnisher, spec_yaml, loaded = _batch(engine, batch_id)
    spec = parse_spec(load_yaml(spec_yaml), f"the spec of batch {batch_id}", historical=True)
    feed_columns = view.FeedColumns.of(spec, view.column_types(engine, spec.table))
    applicable = [r for r in RULES if not r.missing(feed_columns.usable)]
    checked_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    ensure_schema(engine)
    try:
        rows = view.stage_rows(engine, spec, feed_columns, batch_id, loaded)
        counts = _count(engine, applicable)
        findings = []
        for r in RULES:
            if r in counts:
                checked, offending, examples = counts[r]
                findings.append(Finding(r, True, None, checked, offending, examples))
            else:
                findings.append(Finding(r, False, _why_not(r, feed_columns), None, None))
        report = AccuracyReport(batch_id, feed, furnisher, rows, checked_at, findings)
        _publish(engine, report, applicable)
    finally:
        engine.execute(f"DROP TABLE IF EXISTS {view.ROWS}")
    return report


def _why_not(rule: Rule, feed: view.FeedColumns) -> str:
    said = []
    for need in rule.missing(feed.usable):
        typed = [f"{t} ({feed.unusable[t]})" for t in need.split("|") if t in feed.unusable]
        said.append(typed[0] if typed else " or ".join(need.split("|")))
    return "the feed has no " + ", ".join(said)


def _count(engine: Engine, rules: list[Rule]) -> dict[Rule, tuple[int, int, list[Example]]]:
    """Per rule: rows in scope, rows offending, and the first examples (one scan for the
    counts, one more for the examples of the rules that found rows)."""
    if not rules:
        return {}
    counts = []
    for r in rules:
        counts += [f"count(*) FILTER ({_cond(r.scope)})", f"count(*) FILTER ({_hit(r)})"]
    got = engine.query(f"SELECT {', '.join(counts)} FROM {view.ROWS}")[0]
    found = [r for i, r in enumerate(rules) if got[2 * i + 1]]
    examples: dict[Rule, list[Example]] = {r: [] for r in rules}
    if found:
        firsts = [
            f"arg_min({{'record_id': record_id, 'line_no': line_no, 'shown': {_shown(r)}}}, "
            f"line_no, {EXAMPLES}) FILTER ({_hit(r)})"
            for r in found
        ]
        lists = engine.query(f"SELECT {', '.join(firsts)} FROM {view.ROWS}")[0]
        for r, listed in zip(found, lists, strict=True):
            examples[r] = [Example(e["record_id"], int(e["line_no"]), e["shown"]) for e in listed]
    return {r: (int(got[2 * i]), int(got[2 * i + 1]), examples[r]) for i, r in enumerate(rules)}


def _publish(engine: Engine, report: AccuracyReport, rules: list[Rule]) -> None:
    b = literal(report.batch_id)
    with engine.transaction():
        engine.execute(f"DELETE FROM accuracy_findings WHERE batch_id = {b}")
        engine.execute(f"DELETE FROM accuracy_flags WHERE batch_id = {b}")
        for f in report.findings:
            engine.execute(
                "INSERT INTO accuracy_findings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    report.batch_id,
                    report.feed,
                    report.furnisher,
                    f.rule.id,
                    f.rule.severity,
                    f.applicable,
                    f.not_applicable,
                    report.rows,
                    f.checked,
                    f.offending,
                    [e.__dict__ for e in f.examples],
                    report.checked_at,
                ],
            )
        flagged = [r for r in rules if any(f.rule is r and f.offending for f in report.findings)]
        if flagged:
            feed = literal(report.feed)
            engine.execute(
                "INSERT INTO accuracy_flags "
                + " UNION ALL ".join(
                    f"SELECT {b}, {feed}, {literal(r.id)}, record_id, line_no FROM {view.ROWS} "
                    f"WHERE {_hit(r)}"
                    for r in flagged
                )
            )


def read_report(engine: Engine, batch_id: str) -> AccuracyReport | None:
    """The published findings of a batch; None when it was never checked."""
    if not engine.table_exists("accuracy_findings"):
        return None
    rows = engine.query(
        "SELECT feed, furnisher, batch_rows, checked_at, rule_id, severity, applicable, "
        "not_applicable, rows_checked, rows_offending, examples FROM accuracy_findings "
        "WHERE batch_id = ?",
        [batch_id],
    )
    if not rows:
        return None
    order = {r.id: i for i, r in enumerate(RULES)}
    findings = []
    for *_, rule_id, severity, applicable, why, checked, offending, examples in sorted(
        rows, key=lambda r: order.get(r[4], len(order))
    ):
        rule = BY_ID.get(rule_id) or _retired(rule_id, severity)
        shown = [Example(e["record_id"], int(e["line_no"]), e["shown"]) for e in examples or []]
        findings.append(Finding(rule, applicable, why, checked, offending, shown))
    feed, furnisher, batch_rows, checked_at = rows[0][:4]
    return AccuracyReport(batch_id, feed, furnisher, int(batch_rows), checked_at, findings)


def _retired(rule_id: str, severity: str) -> Rule:
    """A rule an earlier openbureau ran that this one no longer declares."""
    gone = "(a rule this version of openbureau no longer has)"
    return Rule(rule_id, "retired", cast(Severity, severity), gone, gone, (), "false", "false")


def flagged_lines(engine: Engine, batch_id: str, rule_id: str, limit: int) -> list[tuple[str, int]]:
    """The records and lines of a batch a rule flagged, first lines first."""
    if not engine.table_exists("accuracy_flags"):
        return []
    return [
        (str(r), int(n))
        for r, n in engine.query(
            "SELECT record_id, line_no FROM accuracy_flags WHERE batch_id = ? AND rule_id = ? "
            "ORDER BY line_no LIMIT ?",
            [batch_id, rule_id, limit],
        )
    ]


def batch_summaries(engine: Engine, feed: str | None = None) -> list[tuple[Any, ...]]:
    """Per checked batch: batch, feed, furnisher, rows, rules checked, not applicable, rules
    that found rows, rows they flagged (each once), and those flagged by a rule of high
    severity."""
    if not engine.table_exists("accuracy_findings"):
        return []
    flagged = """SELECT g.batch_id, count(DISTINCT g.record_id) AS flagged,
            count(DISTINCT g.record_id) FILTER (f.severity = 'high') AS high
        FROM accuracy_flags g JOIN accuracy_findings f USING (batch_id, rule_id)
        GROUP BY g.batch_id"""
    return engine.query(
        f"""SELECT f.batch_id, f.feed, f.furnisher, any_value(f.batch_rows),
                count(*) FILTER (f.applicable), count(*) FILTER (NOT f.applicable),
                count(*) FILTER (f.rows_offending > 0),
                coalesce(any_value(g.flagged), 0), coalesce(any_value(g.high), 0)
            FROM accuracy_findings f LEFT JOIN ({flagged}) g USING (batch_id)
            {"WHERE f.feed = ?" if feed else ""}
            GROUP BY f.batch_id, f.feed, f.furnisher ORDER BY f.batch_id""",
        [feed] if feed else [],
    )


def rules_table() -> str:
    """docs/accuracy.md's table of the rules, written from ``RULES``."""
    rows = []
    for r in RULES:
        needs = ", ".join(" or ".join(f"`{t}`" for t in n.split("|")) for n in r.all_needs)
        rows.append(
            f"| `{r.id}` | {r.category} | {r.severity} | {r.description} | {r.harm} | {needs} |"
        )
    severities = "\n".join(f"| {s} | {meaning} |" for s, meaning in SEVERITIES.items())
    return (
        f"| severity | a finding of it |\n|---|---|\n{severities}\n\n"
        "| rule | about | severity | finds | harm to the consumer | the feed needs |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(rows)
    )


DOC_BLOCKS = {"accuracy rules": rules_table}

if __name__ == "__main__":
    from openbureau.ingest import docgen

    sys.exit(
        docgen.main(blocks=DOC_BLOCKS, doc="docs/accuracy.md", module="openbureau.ingest.accuracy")
    )
