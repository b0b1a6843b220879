"""``openbureau demo``: the whole system, end to end, on a synthetic population.

Each stage adds its step here, so one command keeps showing everything working.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from openbureau.config import SETTINGS_FILE
from openbureau.ingest import load_spec
from openbureau.ingest.load import BatchReport, ingest_file
from openbureau.synth import SynthConfig, generate
from openbureau.workspace import Workspace, init_workspace

ProgressFactory = Callable[..., AbstractContextManager[Callable[[str, int, int], None]]]

INCOMING = "incoming"
DEMO_CONTACT = "Demo bureau (not a real one): 1 Example Street, Springfield; 555-0100"


def demo_key(seed: int) -> str:
    """The demo workspace's national-ID key: 64 hex digits from the seed (public, like it)."""
    return hashlib.sha256(f"openbureau demo national-ID key, seed {seed}".encode()).hexdigest()


def run_demo(
    directory: Path, *, persons: int, seed: int, console: Console, progress: ProgressFactory
) -> list[BatchReport]:
    """Create a workspace, generate furnisher files into it, ingest them all, summarise."""
    # The key derived from the seed, not random: the same seed gives the same demo, persons and
    # scorecards included. It is no secret, so a demo workspace is for synthetic data only.
    ws = init_workspace(directory, national_id_key=demo_key(seed))
    # (a made-up contact, so that the demo's lenders can issue adverse-action notices)
    settings = ws.root / SETTINGS_FILE
    settings.write_text(
        settings.read_text(encoding="utf-8").replace(
            "[bureau]\n", f'[bureau]\ncontact = "{DEMO_CONTACT}"\n', 1
        ),
        encoding="utf-8",
    )
    console.print(f"[bold]1. Workspace[/] {ws.root}")

    with progress() as tick:
        result = generate(
            ws.root / INCOMING, SynthConfig(persons=persons, seed=seed), progress=tick
        )
    console.print(
        f"[bold]2. Synthetic population[/] {persons:,} persons, "
        f"{sum(result.rows.values()):,} furnisher rows in {len(result.files)} feeds "
        f"(oracle AUC {result.oracle_auc:.3f})"
    )

    reports: list[BatchReport] = []
    key = ws.national_id_key()
    with ws.engine() as engine, progress(transient=True) as tick:
        for feed, spec_path in result.specs.items():
            spec_file = ws.specs_dir / spec_path.name
            shutil.copyfile(spec_path, spec_file)
            spec = load_spec(spec_file)
            reports.append(
                ingest_file(
                    engine,
                    spec,
                    result.files[feed],
                    key=key,
                    max_quarantine_share=ws.settings.ingest.max_quarantine_share,
                    progress=tick,
                    memory_limit=ws.settings.ingest.memory_limit,
                )
            )
    console.print("[bold]3. Ingest[/]")
    console.print(summary_table(reports))

    from openbureau.identity import evaluate_linkage, link

    with ws.engine() as engine, progress(transient=True) as tick:
        linked = link(
            engine,
            model_path=ws.root / "models" / "linkage-model.json",
            settings=ws.settings.identity,
            country=ws.settings.bureau.country,
            progress=tick,
        )
        quality = evaluate_linkage(engine, result.truth_dir)
    console.print(
        f"[bold]4. Identity[/] {linked.records:,} identity records -> "
        f"{linked.persons:,} persons ({linked.unlinked:,} unlinked) in "
        f"{linked.seconds:.1f} s; against the truth's {quality.true_persons:,} persons: "
        f"pairwise precision {quality.precision:.4f}, recall {quality.recall:.4f}, "
        f"F1 [bold]{quality.f1:.4f}[/]; {quality.exact_share:.1%} of persons exactly "
        f"one file ({quality.merged} merged, {quality.split} split)"
    )
    attributes_demo(ws, result.truth_dir, console=console)
    score_demo(ws.root, result.truth_dir, console=console, progress=progress)
    return reports


def attributes_demo(ws: Workspace, truth_dir: Path, *, console: Console) -> None:
    """The protected attributes a bureau would be supplied for fairness audits (here from the
    truth), loaded into their store apart from the warehouse; later steps may read them."""
    from openbureau.governance.protected_attributes import (
        attribute_counts,
        load_attributes,
        store_path,
    )
    from openbureau.scoring.evaluate import attributes_from_truth
    from openbureau.service.audit import workspace_log
    from openbureau.service.bindings import operator

    who, log = operator().name, workspace_log(ws)
    supplied = ws.root / INCOMING / "protected-attributes.csv"
    attributes_from_truth(ws, truth_dir, supplied)
    try:
        n = load_attributes(ws, supplied, actor=who, log=log)
    finally:  # (loaded, the plain copy goes: the store is the one place they are kept)
        supplied.unlink(missing_ok=True)
    counts = attribute_counts(ws, actor=who, log=log)
    shown = ", ".join(
        f"{value} {persons:,}"
        for attribute, value, persons in counts
        if attribute in ("ethnicity", "national_origin") and value not in (None, "domestic")
    )
    console.print(
        f"[bold]4b. Audit attributes[/] {n:,} persons' protected attributes loaded into "
        f"{store_path(ws).relative_to(ws.root)}, apart from the warehouse (never a factor; "
        f"every read logged): {shown}"
    )


TRAIN_AS_OF = dt.date(2024, 12, 31)  # the synthetic population's as-of date
SCORE_AS_OF = dt.date(2025, 12, 31)  # the last month the furnisher files report
HISTORY = (dt.date(2025, 3, 31), dt.date(2025, 6, 30), dt.date(2025, 9, 30))


def score_demo(root: Path, truth_dir: Path, *, console: Console, progress: ProgressFactory) -> None:
    """Ledger, scorecard, snapshot; then the distribution and three persons' reasons."""
    from openbureau.governance.fairness import AttributeSource
    from openbureau.governance.proxies import ProxyGate
    from openbureau.ledger import build_ledger, event_counts
    from openbureau.scoring import score_snapshot
    from openbureau.scoring.score import describe_records, person_score, score_distribution
    from openbureau.scoring.train import train
    from openbureau.service.audit import workspace_log
    from openbureau.service.bindings import operator
    from openbureau.service.serving import publish_snapshot
    from openbureau.terminal import score_distribution_table
    from openbureau.workspace import Workspace

    ws = Workspace.open(root)
    # (the attributes loaded in step 4b test every factor; each read in the audit log)
    gate = ProxyGate(ws, operator().name, workspace_log(ws))
    with ws.engine() as engine, progress(transient=True) as tick:
        ledger = build_ledger(engine)
        counts = event_counts(engine)
        console.print(
            f"[bold]5. Ledger[/] {sum(counts.values()):,} events "
            + ", ".join(f"{n:,} {e}" for e, n in counts.items())
            + f" ({ledger.seconds:.1f} s)"
        )
        trained = train(
            engine,
            as_of=TRAIN_AS_OF,
            models_dir=root / "models",
            reports_dir=root / "reports",
            progress=tick,
            ageing=ws.settings.ageing,
            fairness=AttributeSource.of(ws, operator().name, gate.log),
            proxy=gate,
        )
        card = trained.scorecard
        alt = trained.alt.scorecard if trained.alt else None
        for label, t in (
            ("core (credit data only)", trained),
            ("with alternative data", trained.alt),
        ):
            if t is None:
                continue
            c = t.scorecard
            console.print(
                f"[bold]6. Scorecard[/] {c.version}, {label}: {len(c.factors)} factors kept of "
                f"{len(c.factors) + len(c.excluded)}, trained as of {TRAIN_AS_OF} on "
                f"{t.persons_train:,} persons; held-out AUC [bold]{t.auc_holdout:.3f}"
                f"[/], KS {t.ks_holdout:.3f}; report {t.report_path.relative_to(root)}"
            )
            if t.proxy is not None:
                console.print(f"   Proxy test: {t.proxy.summary()}", highlight=False)
        # A year of quarterly snapshots gives each person a score history; the last one is
        # published to the service.
        for day in HISTORY:
            score_snapshot(engine, card, day, alt=alt, ageing=ws.settings.ageing, proxy=gate)
        snap = score_snapshot(
            engine, card, SCORE_AS_OF, alt=alt, ageing=ws.settings.ageing, proxy=gate
        )
        publish_snapshot(engine, root, snap.snapshot_id, "score_features")
        console.print(
            f"[bold]7. Scores[/] as of {SCORE_AS_OF}, snapshot {snap.snapshot_id}: "
            f"{snap.scored:,} scored, {snap.persons - snap.scored:,} unscorable "
            f"({snap.seconds:.1f} s); history at {', '.join(map(str, HISTORY))}; "
            "published to the service"
        )
        console.print(
            score_distribution_table(score_distribution(engine, snap.snapshot_id), snap.persons)
        )
        # Three persons across the range: low, middle and high scores that have reasons.
        picks = [
            str(p)
            for (p,) in engine.query(
                """SELECT person_id FROM (
                SELECT person_id, third, row_number() OVER (PARTITION BY third
                                                            ORDER BY md5(person_id)) AS n
                FROM (SELECT person_id, ntile(3) OVER (ORDER BY score, person_id) AS third
                      FROM scores WHERE snapshot_id = ? AND len(reasons) >= 2))
               WHERE n = 1 ORDER BY third""",
                [snap.snapshot_id],
            )
        ]
        for pid in picks:
            row = person_score(engine, snap.snapshot_id, pid)
            reasons = row["reasons"] or []
            ids = [i for r in reasons for i in r["record_ids"][:2]]
            described = describe_records(engine, ids, SCORE_AS_OF)
            console.print(f"\n[bold]{pid}[/]: score [bold]{row['score']}[/] ({row['band']})")
            for r in reasons:
                console.print(
                    f"  {r['rank']}. {r['code']} {r['statement']} (-{r['points_lost']:.0f} points)"
                )
                for rid in r["record_ids"][:2]:
                    console.print(f"       {rid}  {described.get(rid, '')}")
                if len(r["record_ids"]) > 2:
                    console.print(f"       ... and {len(r['record_ids']) - 2} more records")
    service_demo(root, picks, console=console)


def service_demo(root: Path, persons: list[str], *, console: Console) -> None:
    """Demo accounts for every role (the persons shown above get one each), and how to
    open the pages."""
    import secrets

    from openbureau.service.app import create_app
    from openbureau.service.auth import Principal, create_account

    app = create_app(root)  # migrates the store, makes the signing key
    ctx = app.state.ctx
    riser = _consent_riser(ctx.published(), exclude=persons)
    disputed = _disputed_inquiry(ctx.published(), persons)
    accounts: list[tuple[str, str, str | None, str | None]] = [
        ("admin", "admin", None, None),
        ("auditor", "auditor", None, None),
        ("lender", "lender", None, "Northwind Bank"),
    ]
    accounts += [(f"person{i}", "person", pid, None) for i, pid in enumerate(persons, 1)]
    if riser is not None:  # (the person who opts in to alternative data below)
        accounts.append((f"person{len(persons) + 1}", "person", riser, None))
    if disputed is not None:  # (the person who disputes below, and the furnisher answering)
        if disputed[0] not in persons and disputed[0] != riser:
            accounts.append((f"person{len(accounts) - 2}", "person", disputed[0], None))
        accounts.append(("furnisher", "furnisher", None, disputed[2]))
    lines = []
    made = {}
    with ctx.store() as session:
        for username, role, pid, org in accounts:
            password = f"demo-{secrets.token_hex(6)}"  # lower case: reads clearly
            made[username] = create_account(
                session,
                username=username,
                role=role,
                password=password,
                person_id=pid,
                organisation=org,
            )
            lines.append(f"{username:10} {password:22} {role:8} {pid or org or ''}")
        session.commit()
        opting = {u: (a.id, a.person_id) for u, a in made.items() if a.person_id == riser}
        by_person = {a.person_id: u for u, a in made.items() if a.person_id}
    path = root / "service" / "demo-accounts.txt"
    path.write_text(
        "username   password               role     sees\n" + "\n".join(lines) + "\n",
        encoding="utf-8",
    )
    path.chmod(0o600)
    console.print(f"\n[bold]8. Service[/] demo accounts (also in {path.relative_to(root)}):")
    for line in lines:
        console.print(f"   {line}", highlight=False)
    console.print(
        f"   Start it with [bold]openbureau serve -w {root}[/] (or `make serve`), then "
        "open http://127.0.0.1:8000/ and log in; API docs at /api/docs."
    )
    for username, (account_id, pid) in opting.items():
        consent_demo(ctx, Principal(account_id, username, "person", pid, None, "session"), console)
    if disputed is not None:
        dispute_demo(ctx, by_person[disputed[0]], "furnisher", disputed, console)


def _consent_riser(pub: Any, exclude: list[str]) -> str | None:
    """A scored person with alternative data whose score with it is higher than their core
    score (the one whose consent the demo shows), or None."""
    if pub is None:
        return None
    cur = pub.cursor()
    try:
        row = cur.execute(
            """SELECT person_id FROM scores WHERE snapshot_id = ? AND score IS NOT NULL
                 AND alt_score > score AND NOT list_contains(?, person_id)
               ORDER BY md5(person_id) LIMIT 1""",
            [pub.snapshot_id, exclude],
        ).fetchone()
    finally:
        cur.close()
    return str(row[0]) if row else None


def _disputed_inquiry(pub: Any, persons: list[str]) -> tuple[str, str, str] | None:
    """(person id, record id, furnisher) of the inquiry the demo's dispute names: one that is
    the only record behind an inquiry reason of a scored person (so its deletion shows in the
    score), the first person shown who has one first; else any inquiry; or None."""
    from openbureau.scoring.factors import INQUIRY_FACTORS

    if pub is None:
        return None
    inquiry_factors = ", ".join(f"'{f}'" for f in sorted(INQUIRY_FACTORS))
    cur = pub.cursor()
    try:
        row = cur.execute(
            f"""WITH rs AS (
                  SELECT person_id, unnest(reasons) AS r FROM scores
                  WHERE snapshot_id = ? AND score IS NOT NULL),
                candidates AS (
                  SELECT rs.person_id, rs.r.record_ids[1] AS record_id, 0 AS rank
                  FROM rs WHERE rs.r.factor IN ({inquiry_factors}) AND len(rs.r.record_ids) = 1
                  UNION ALL
                  SELECT f.person_id, f.record_ids[1], 1 FROM file_items f
                  JOIN scores s ON s.person_id = f.person_id AND s.snapshot_id = ?
                  WHERE f.kind = 'inquiry' AND s.score IS NOT NULL)
            SELECT c.person_id, c.record_id, f.furnisher FROM candidates c
            JOIN file_items f ON f.person_id = c.person_id AND f.kind = 'inquiry'
             AND list_contains(f.record_ids, c.record_id)
            ORDER BY c.rank, coalesce(list_position(?, c.person_id), 1000000), md5(c.person_id)
            LIMIT 1""",
            [pub.snapshot_id, pub.snapshot_id, persons],
        ).fetchone()
    finally:
        cur.close()
    return (str(row[0]), str(row[1]), str(row[2])) if row else None


def dispute_demo(
    ctx: Any,
    person: str,
    furnisher: str,
    disputed: tuple[str, str, str],
    console: Console,
) -> None:
    """The person disputes an inquiry on their file as not theirs; its furnisher answers that
    it was reported in error and deletes it: the person is rescored at once (before, after)."""
    from openbureau.service import disputes, views

    desk, pub = ctx.dispute_desk(), ctx.published()
    person_id, record_id, org = disputed
    filed = disputes.file_record_dispute(
        desk,
        pub,
        views.merged_into(pub, person_id),
        person,
        "not_mine",
        "I never applied for credit there.",
        record_id,
    )
    done = disputes.answer(
        desk,
        ctx.published(),
        disputes.furnishers_of(org),
        furnisher,
        filed["dispute_id"],
        "deleted",
        None,
        "Reported in error; deleted.",
    )
    console.print(
        f"\n[bold]10. Dispute[/] {person} ({person_id}) disputes an inquiry by {org} as not "
        f"theirs ({record_id}); the furnisher deletes it ({done['state']}): score "
        f"{done['score_before']} -> [bold]{done['score_after']}[/], at once (left "
        f"unanswered until {str(done['due_at'])[:10]}, it would have stopped counting anyway)"
    )


def consent_demo(ctx: Any, who: Any, console: Console) -> None:
    """One person opts in to their utility, telecom and rent payments counting: their score
    before and after, as every reader is served it at once (and the page shows it)."""
    from openbureau.service.api_consent import change_consent, consent_state

    before = consent_state(ctx, who)
    after = change_consent(ctx, who, True, False)
    console.print(
        f"\n[bold]9. Consent[/] {who.username} ({who.person_id}) opts in to utility, telecom "
        f"and rent payments counting: score {before['score']} -> [bold]{after['score']}[/] "
        f"(served from the {after['served_from']} scorecard; core score {after['core_score']}, "
        f"with alternative data {after['alternative_score']}); withdrawing returns "
        f"{after['core_score']} at once"
    )


def summary_table(reports: list[BatchReport]) -> Table:
    """Per feed: batch, read = loaded + quarantined, the most common reason, and the accuracy
    rule that found most rows (``openbureau accuracy BATCH`` shows them all)."""
    table = Table()
    table.add_column("feed")
    table.add_column("batch")
    for col in ("read", "loaded", "quarantined"):
        table.add_column(col, justify="right")
    table.add_column("reconciled", justify="center")
    table.add_column("top quarantine reason")
    table.add_column("top accuracy finding")
    for r in reports:
        top = f"{r.reasons[0][0]} ({r.reasons[0][1]:,})" if r.reasons else ""
        found = r.accuracy.offending if r.accuracy else []
        most = max(found, key=lambda f: f.offending or 0) if found else None
        accuracy = f"{most.rule.id} ({most.offending:,})" if most else ""
        table.add_row(
            r.feed,
            r.batch_id,
            f"{r.read:,}",
            f"{r.loaded:,}",
            f"{r.quarantined:,}",
            "[green]yes[/]" if r.reconciled else "[red]NO[/]",
            top,
            accuracy,
        )
    read, loaded, quarantined = (
        sum(getattr(r, a) for r in reports) for a in ("read", "loaded", "quarantined")
    )
    table.add_row(
        "[bold]all feeds[/]",
        "",
        f"[bold]{read:,}[/]",
        f"[bold]{loaded:,}[/]",
        f"[bold]{quarantined:,}[/]",
        "[green]yes[/]" if read == loaded + quarantined else "[red]NO[/]",
        "",
        "",
    )
    return table
