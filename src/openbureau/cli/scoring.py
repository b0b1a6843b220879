"""Scoring commands: ``train`` a scorecard, ``seal`` one, ``score`` a snapshot, list
``snapshots`` and ``show-score``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from openbureau.cli.app import WorkspaceOpt, app, console, handles_errors, parse_date, progress_bar
from openbureau.errors import UserError
from openbureau.scoring.alternative import ALT_SCORECARD
from openbureau.scoring.scorecard import END_SHARE_LIMIT
from openbureau.terminal import score_distribution_table
from openbureau.workspace import Workspace

if TYPE_CHECKING:
    from openbureau.governance.proxies import ProxyGate, ProxyReport


def _scorecard_path(ws: Workspace, given: Path | None) -> Path:
    path = given or ws.root / "models" / "scorecard.yaml"
    if given is None and not path.exists():
        raise UserError(
            "no scorecard yet: run `openbureau train --as-of DATE` or pass --scorecard FILE"
        )
    return path


def _alt_scorecard_path(ws: Workspace, given: Path | None, core_given: bool) -> Path | None:
    """The scorecard with alternative data: given, or the one trained last beside the core
    one (none with a core scorecard given alone: the pair is chosen together)."""
    if given is not None:
        return given
    path = ws.root / "models" / ALT_SCORECARD
    return path if path.exists() and not core_given else None


@app.command()
@handles_errors
def train(
    as_of: Annotated[
        str,
        typer.Option(
            "--as-of",
            help="Date of the features; the outcome is the default rate in the months after it.",
        ),
    ],
    horizon: Annotated[int, typer.Option(help="Outcome window in months.")] = 12,
    holdout: Annotated[
        float, typer.Option(help="Share of persons held out for the report's figures.")
    ] = 0.3,
    factors: Annotated[
        Path | None, typer.Option(help="YAML file of custom candidate factors.")
    ] = None,
    name: Annotated[str, typer.Option(help="Scorecard name.")] = "openbureau",
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Fit a points scorecard on the outcome after --as-of; write it and an HTML report."""
    try:
        from openbureau.governance.fairness import AttributeSource
        from openbureau.scoring._out_of_time import summary as oot_summary
        from openbureau.scoring.factors import load_custom_factors
        from openbureau.scoring.train import train as run_train
    except ImportError as exc:  # optbinning and fairlearn are the `train` extra
        raise UserError(
            f"training needs the train extra ({exc.name} is missing): "
            "pip install 'openbureau[train]'"
        ) from exc
    from openbureau.service.bindings import operator

    if not 0 < holdout < 1:
        raise UserError("--holdout must be between 0 and 1")
    day = parse_date(as_of, "--as-of")
    ws = Workspace.open(workspace)
    customs = load_custom_factors(factors) if factors else []
    gate = proxy_gate(ws)
    with ws.engine() as engine, progress_bar(transient=True) as tick:
        result = run_train(
            engine,
            as_of=day,
            models_dir=ws.root / "models",
            reports_dir=ws.root / "reports",
            horizon_months=horizon,
            holdout=holdout,
            name=name,
            customs=customs,
            progress=tick,
            ageing=ws.settings.ageing,
            fairness=AttributeSource.of(ws, operator().name, gate.log),
            proxy=gate,
        )
    for label, r in (("core (credit data only)", result), ("with alternative data", result.alt)):
        if r is None:
            continue
        card = r.scorecard
        console.print(
            f"Scorecard [bold]{card.name} {card.version}[/], {label}, as of {day}: "
            f"{len(card.factors)} factors from {len(card.factors) + len(card.excluded)} "
            f"candidates; trained on {r.persons_train:,} persons (bad rate {r.bad_rate:.1%}); "
            f"held-out {r.persons_holdout:,}: AUC [bold]{r.auc_holdout:.3f}[/], "
            f"KS {r.ks_holdout:.3f}" + (f", PSI {r.psi:.3f}" if r.psi is not None else "")
        )
        console.print(f"  scorecard file: {r.scorecard_path}")
        console.print(f"  model report:   {r.report_path}")
        if r.out_of_time:
            console.print(f"  out of time:    {oot_summary(r.out_of_time)}", highlight=False)
        low, high = r.at_ends
        sc = card.scaling
        console.print(
            f"  scale:          {low:.1%} of the persons scorable on {day} score "
            f"{sc.min_score}, {high:.1%} score {sc.max_score}"
        )
        for share, end in ((low, sc.min_score), (high, sc.max_score)):
            if share > END_SHARE_LIMIT:
                console.print(
                    f"  [yellow]warning:[/] more than {END_SHARE_LIMIT:.0%} score {end}: the "
                    "fixed scale does not fit this population (see the model report)"
                )
        if r.proxy is not None:
            print_proxy(r.proxy)
    c = result.consent
    if c:
        console.print(
            f"Consent, if every held-out person with alternative data opted in: "
            f"{c['share_rising']:.1%} of those with a core score score higher (median "
            f"+{c['median_rise']:.0f} points), {c['share_newly_scorable']:.1%} become "
            f"scorable; {result.seconds:.1f} s"
        )


@app.command()
@handles_errors
def seal(
    path: Annotated[Path, typer.Argument(help="Scorecard file, rewritten in place.")],
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Check the factors against this workspace's field catalog too, as scoring "
            "does (default: their declared fields only).",
        ),
    ] = None,
) -> None:
    """Seal a scorecard file as a new version: validate it, run the factor guard, and write
    its content hash (seal) and a version naming it. Scoring refuses an unsealed card."""
    from openbureau.scoring import seal_scorecard

    if workspace is None:
        report = seal_scorecard(path)
    else:
        with Workspace.open(workspace).engine(read_only=True) as engine:
            report = seal_scorecard(path, engine)
    card, shown = report.card, escape(str(path))
    if not report.written:
        console.print(f"{shown}: already sealed as {card.name} {card.version}; not rewritten")
        return
    console.print(
        f"Sealed {shown}: {card.name} {report.old_version or '(no version)'} -> "
        f"[bold]{card.version}[/]"
    )


@app.command()
@handles_errors
def score(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Score as of this date.")] = None,
    known_at: Annotated[
        str | None,
        typer.Option(
            "--known-at",
            help="Score with what the bureau knew at this time (YYYY-MM-DD[ HH:MM:SS]; a date "
            "alone is its start; default: now).",
        ),
    ] = None,
    recompute: Annotated[
        str | None,
        typer.Option(
            "--recompute",
            help="Compute this snapshot again (its date, known-at time and scorecard) and "
            "check it gives the published scores; writes nothing.",
        ),
    ] = None,
    scorecard: Annotated[
        Path | None,
        typer.Option(
            help="Core scorecard file, no alternative data (default: the one trained last)."
        ),
    ] = None,
    alt_scorecard: Annotated[
        Path | None,
        typer.Option(
            help="Scorecard with alternative data, served to persons who consent when it "
            "scores them higher (default: the one trained last, unless --scorecard is given)."
        ),
    ] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Score every person as of a date into a new, immutable snapshot (or recompute one)."""
    from openbureau.scoring import load_scorecard, score_snapshot
    from openbureau.scoring.score import score_distribution
    from openbureau.service.serving import publish_snapshot

    if recompute is not None:
        if as_of or known_at or scorecard or alt_scorecard:
            raise UserError(
                "--recompute uses the snapshot's own date, known-at time and scorecard: "
                "give no --as-of, --known-at or --scorecard with it"
            )
        _recompute(recompute, workspace)
        return
    if as_of is None:
        raise UserError("--as-of is required (or --recompute SNAPSHOT)")
    day = parse_date(as_of, "--as-of")
    known = _parse_time(known_at, "--known-at") if known_at else None
    ws = Workspace.open(workspace)
    card = load_scorecard(_scorecard_path(ws, scorecard))
    alt_path = _alt_scorecard_path(ws, alt_scorecard, scorecard is not None)
    alt = load_scorecard(alt_path) if alt_path is not None else None
    with ws.engine() as engine, progress_bar(transient=True) as tick:
        tick("scoring", 0, 0)
        report = score_snapshot(
            engine, card, day, known, alt=alt, ageing=ws.settings.ageing, proxy=proxy_gate(ws)
        )
        tick("publishing for the service", 0, 0)
        publish_snapshot(engine, ws.root, report.snapshot_id, "score_features")
        dist = score_distribution(engine, report.snapshot_id)
    console.print(
        f"Snapshot [bold]{report.snapshot_id}[/] ({card.name} {card.version}"
        + (f", with alternative data {alt.version}" if alt else "")
        + f", as of "
        f"{day}, as known at {report.known_at:%Y-%m-%d %H:%M:%S}): {report.scored:,} of "
        f"{report.persons:,} persons scored, {report.persons - report.scored:,} unscorable; "
        f"{report.seconds:.1f} s"
    )
    for tested in report.proxy:
        print_proxy(tested)
    console.print(score_distribution_table(dist, report.persons))


def proxy_gate(ws: Workspace) -> ProxyGate:
    """The proxy test's access to the workspace's protected attributes, as the operator (each
    read in the workspace's audit log)."""
    from openbureau.governance.proxies import ProxyGate
    from openbureau.service.audit import workspace_log
    from openbureau.service.bindings import operator

    return ProxyGate(ws, operator().name, workspace_log(ws))


def print_proxy(report: ProxyReport) -> None:
    """The proxy test in one line; a warning when it did not run."""
    if report.ran:
        warn = "[bold red]WARNING[/]: " if report.not_judged() or report.incomplete else ""
        console.print(f"  proxy test:     {warn}{escape(report.summary())}")
    else:
        console.print(
            f"  [bold red]WARNING[/]: proxy test {escape(report.summary())}; no factor was "
            "checked for standing in for a protected attribute (`openbureau "
            "audit-attributes load FILE`)"
        )


def _parse_time(value: str, option: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError:
        raise UserError(
            f"{option}: expected a time like 2025-06-30 or 2025-06-30 17:45:00, got {value!r}"
        ) from None


def _recompute(snapshot_id: str, workspace: Path) -> None:
    from openbureau.scoring import recompute_snapshot

    ws = Workspace.open(workspace)
    with ws.engine() as engine, progress_bar(transient=True) as tick:
        tick("recomputing", 0, 0)
        report = recompute_snapshot(engine, snapshot_id)
    head = (
        f"Snapshot [bold]{report.snapshot_id}[/] recomputed as of {report.as_of}, as known at "
        f"{report.known_at:%Y-%m-%d %H:%M:%S}: "
    )
    if report.equal:
        console.print(
            head + f"all {report.persons:,} persons' scores and reasons equal the published "
            f"ones; {report.seconds:.1f} s"
        )
        return
    console.print(
        head + f"[bold red]{report.differ:,} persons differ[/] from the published snapshot "
        f"({report.persons:,} persons): {', '.join(report.first)}"
        + (" ..." if report.differ > len(report.first) else "")
    )
    raise typer.Exit(1)


@app.command()
@handles_errors
def snapshots(workspace: WorkspaceOpt = Path(".")) -> None:
    """List the score snapshots: as of when, as known at when, scorecard and counts."""
    ws = Workspace.open(workspace)
    with ws.engine(read_only=True) as engine:
        rows = []
        if engine.table_exists("score_snapshots"):
            # (a warehouse not yet written by this version has no known_at: its created_at)
            have = engine.columns("score_snapshots")
            known = "known_at" if "known_at" in have else "created_at"
            rows = engine.query(
                f"SELECT snapshot_id, as_of, {known}, created_at, scorecard_name, "
                "scorecard_version, persons, scored FROM score_snapshots "
                "ORDER BY created_at, snapshot_id"
            )
    if not rows:
        console.print("No score snapshot yet: run `openbureau score --as-of DATE`.")
        return
    table = Table(title="Score snapshots")
    for col in ("snapshot", "as of", "known at", "created", "scorecard", "persons", "scored"):
        table.add_column(col, justify="right" if col in ("persons", "scored") else "left")
    for sid, day, known_at, created, name, version, persons, scored in rows:
        table.add_row(
            sid,
            str(day),
            f"{known_at:%Y-%m-%d %H:%M:%S}",
            f"{created:%Y-%m-%d %H:%M:%S}",
            f"{name} {version}",
            f"{persons:,}",
            f"{scored:,}",
        )
    console.print(table)


@app.command("show-score")
@handles_errors
def show_score(
    person: Annotated[str, typer.Argument(help="Person id (P...).")],
    snapshot: Annotated[str | None, typer.Option(help="Snapshot id (default: the latest).")] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """A person's score, band and reasons, with the records behind each reason."""
    from openbureau.scoring.score import latest_snapshot, person_score

    ws = Workspace.open(workspace)
    with ws.engine(read_only=True) as engine:
        snap = snapshot or latest_snapshot(engine)
        row = person_score(engine, snap, person)
    print_person_score(row)


def print_person_score(row: dict[str, Any]) -> None:
    head = f"[bold]{row['person_id']}[/] as of {row['as_of']} (snapshot {row['snapshot_id']}): "
    if row["score"] is None:
        console.print(head + f"no score: {row['unscorable_text']}")
        return
    console.print(head + f"score [bold]{row['score']}[/] ({row['band']})")
    for r in row["reasons"] or []:
        ids = r["record_ids"]
        shown = ", ".join(ids[:6]) + (f" and {len(ids) - 6} more" if len(ids) > 6 else "")
        console.print(
            f"  {r['rank']}. {r['code']} {r['statement']} "
            f"(-{r['points_lost']:.0f} points)" + (f"; records: {shown}" if ids else "")
        )
