"""The ``openbureau`` command: one command per stage, plus ``demo``.

User mistakes print one line on stderr and exit with status 2; nothing prints a traceback
unless openbureau itself is at fault.
"""

from __future__ import annotations

import functools
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from openbureau import __version__
from openbureau.engine import DuckDBEngine
from openbureau.errors import BureauError, UserError
from openbureau.ingest import store
from openbureau.ingest.load import BatchReport, ingest_files
from openbureau.ingest.reasons import REASONS
from openbureau.workspace import Workspace, init_workspace

app = typer.Typer(
    name="openbureau",
    help="An open-source credit bureau engine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Piped output gets room for the summary tables; a terminal uses its own width.
console = Console(width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])
# `link` suggests `compact` when this share of the warehouse file is free blocks
COMPACT_HINT_SHARE = 0.3

WorkspaceOpt = Annotated[
    Path, typer.Option("--workspace", "-w", help="Workspace folder.", show_default="current folder")
]


def handles_errors(fn: F) -> F:
    """Turn a UserError into one line on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            err_console.print(
                f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(exc.exit_code) from None
        except BureauError as exc:  # our bug, not the user's: say so, keep it to one line
            err_console.print(
                f"[bold red]internal error:[/] {escape(str(exc).splitlines()[0])}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def progress_bar(transient: bool = False) -> Iterator[Callable[[str, int, int], None]]:
    """A Rich progress bar driven by ``callback(step, done, total)``."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=transient) as bar:
        task = bar.add_task("starting", total=None)

        def update(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total or None)

        yield update


def _version(value: bool) -> None:
    if value:
        console.print(f"openbureau {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """An open-source credit bureau engine."""


@app.command()
@handles_errors
def init(directory: Annotated[Path, typer.Argument(help="Folder for the new workspace.")]) -> None:
    """Create a bureau workspace: settings, warehouse, specs folder, secrets."""
    ws = init_workspace(directory)
    console.print(
        f"Created workspace [bold]{ws.root}[/]: bureau.toml, "
        f"{ws.settings.warehouse.path}, specs/, secrets/"
    )


def _parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option}: expected a date like 2024-12-31, got {value!r}") from None


@app.command()
@handles_errors
def synth(
    out: Annotated[Path, typer.Option(help="Folder to write furnisher files, specs and truth.")],
    persons: Annotated[int, typer.Option(help="Number of persons.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same files.")] = 42,
    start: Annotated[str, typer.Option(help="First reporting month (date).")] = "2023-01-01",
    months: Annotated[int, typer.Option(help="Months of history.")] = 36,
    as_of: Annotated[
        str, typer.Option(help="Date the truth's 12-month outcome starts.")
    ] = "2024-12-31",
    defect_rate: Annotated[
        float, typer.Option(help="Share of deliberately malformed rows.")
    ] = 0.002,
    generator: Annotated[
        str,
        typer.Option(
            help="standard, or hard: an independent population built to be hard to link "
            "(households, Jr/Sr, twins, namesakes, married names, romanised names...)."
        ),
    ] = "standard",
    difficulty: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME=RATE",
            help="With --generator hard: a difficulty's rate instead of its default "
            "(repeatable; see docs/synth.md), e.g. --difficulty twin=0.05.",
        ),
    ] = None,
) -> None:
    """Generate a synthetic population and the files its furnishers would send."""
    from openbureau.synth import GENERATORS, SynthConfig, generate, validate_config

    if generator not in GENERATORS:
        raise UserError(f"--generator {generator}: one of {', '.join(GENERATORS)}")
    if difficulty and generator != "hard":
        raise UserError("--difficulty sets a rate of the hard generator: add --generator hard")
    config = SynthConfig(
        persons=persons,
        seed=seed,
        start=_parse_date(start, "--start"),
        months=months,
        as_of=_parse_date(as_of, "--as-of"),
        defect_rate=defect_rate,
    )
    validate_config(config, out)  # (bad settings are one line, before the progress bar)
    if generator == "hard":
        from openbureau.synth import hard

        rates = hard.parse(difficulty or [])
    with progress_bar() as tick:
        if generator == "hard":
            result = hard.generate(out, config, rates, progress=tick)
        else:
            result = generate(out, config, progress=tick)
    table = Table(title=f"{persons:,} persons ({generator}), seed {seed} -> {out}")
    table.add_column("feed")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for feed, path in result.files.items():
        table.add_row(feed, str(path.relative_to(out)), f"{result.rows[feed]:,}")
    console.print(table)
    console.print(
        f"Truth in {result.truth_dir} (oracle AUC {result.oracle_auc:.3f}); "
        f"specs in {out / 'specs'}"
    )


def _print_reports(reports: list[BatchReport]) -> None:
    for r in reports:
        if r.status == "already_loaded":
            console.print(
                f"[yellow]{r.file}[/]: already loaded as batch {r.batch_id}; nothing to do"
            )
            continue
        mark = "[green]ok[/]" if r.reconciled else "[red]MISMATCH[/]"
        reverting = (
            f" ({r.reverting:,} of them reverting: equal to an earlier version of the report)"
            if r.reverting
            else ""
        )
        console.print(
            f"{r.file}: batch [bold]{r.batch_id}[/] read {r.read:,} = loaded {r.loaded:,} + "
            f"quarantined {r.quarantined:,} {mark} (loaded: {r.new:,} new, {r.identical:,} "
            f"identical to the current report, {r.superseding:,} superseding it{reverting}, "
            f"{r.stale:,} stale: reported before it)"
        )
        if r.control_records:
            matched = f"; trailer totals match: {', '.join(r.totals)}" if r.totals else ""
            console.print(
                f"  + {r.control_records:,} header and trailer records (counted, not rows)"
                + matched
            )
        for reason, count, first in r.reasons:  # every reason: a rare one may matter most
            console.print(f"  quarantined {count:,} x {reason} (first at line {first})")
        if r.several_reasons:
            console.print(
                f"  ({r.several_reasons:,} of the {r.quarantined:,} quarantined rows have more "
                "than one reason and are counted under each, so these counts add up to more)"
            )
        for w in r.warnings:
            console.print(f"  [yellow]warning:[/] {w}")
        if r.accuracy is not None:
            console.print(f"  {r.accuracy.line()}", highlight=False)


@app.command()
@handles_errors
def ingest(
    spec: Annotated[str, typer.Argument(help="Spec file, or name of a spec in specs/.")],
    files: Annotated[list[Path], typer.Argument(help="Furnisher files, one batch each.")],
    again: Annotated[
        bool,
        typer.Option(
            "--again",
            help="Load a file even if its exact bytes were loaded for the feed before "
            "(recorded on the batch); its rows are compared like any re-send's.",
        ),
    ] = False,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Load furnisher files as batches: every row loaded or quarantined with a reason."""
    ws = Workspace.open(workspace)
    source = ws.resolve_spec(spec)
    with ws.engine() as engine, progress_bar(transient=True) as tick:
        reports = ingest_files(
            engine,
            source,
            files,
            key=ws.national_id_key(),
            max_quarantine_share=ws.settings.ingest.max_quarantine_share,
            progress=tick,
            again=again,
        )
    _print_reports(reports)


@app.command()
@handles_errors
def batches(
    feed: Annotated[str | None, typer.Option(help="Only this feed.")] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """List loaded batches with their reconciliation: of the loaded rows, how many were new
    reports, identical to the feed's current report of their key, superseding it (reverting:
    of those, equal to an earlier version of the report), or stale (reported before it), and
    when they were compared."""
    ws = Workspace.open(workspace)
    with ws.engine(read_only=True) as engine:
        rows = store.batches(engine, feed) if engine.table_exists("ingest_batches") else []
    table = Table(title=f"Batches in {ws.warehouse_path}")
    # store.REPORTS, and the superseding rows that revert to an earlier version next to them
    reports_shown = ("new", "identical", "superseding", "reverting", "stale")
    counts = ("read", "loaded", *reports_shown, "quarantined")
    for col in ("batch", "feed", "file", "loaded at", *counts, "compared"):
        table.add_column(col, justify="right" if col in counts else "left")
    for b in rows:
        reports = (
            b.rows_new,
            b.rows_identical,
            b.rows_superseding,
            b.rows_reverting,
            b.rows_stale,
        )
        if not b.compared:
            compared = "not yet"
        elif b.chained_at is not None:
            compared = f"by ledger {b.chained_at:%Y-%m-%d}"
        else:
            compared = "at ingest" + (f" (--again: {b.again_of})" if b.again_of else "")
        table.add_row(
            b.batch_id,
            b.feed,
            b.file_name,
            f"{b.loaded_at:%Y-%m-%d %H:%M}",
            f"{b.rows_read:,}",
            f"{b.rows_loaded:,}",
            *(f"{n:,}" if b.compared and n is not None else "?" for n in reports),
            f"{b.rows_quarantined:,}",
            compared,
        )
    console.print(table)
    if any(not b.compared for b in rows):
        console.print(
            "not yet: loaded before ingest compared rows (the counts are unknown); the next "
            "`openbureau ledger` compares them, chaining re-sent reports"
        )
    if any(b.compared and b.rows_reverting is None for b in rows):
        console.print(
            "reverting ?: not counted for the batch (compared by the ledger, or at ingest "
            "before superseding rows equal to an earlier version of their report were counted)"
        )


@app.command()
@handles_errors
def quarantine(
    batch: Annotated[str | None, typer.Option(help="Only this batch.")] = None,
    reason: Annotated[
        str | None,
        typer.Option(
            help="Only rows with this reason among theirs: a code (bad_amount) or a code and "
            "its field (bad_amount:balance)."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Show quarantined rows: line, every reason, the column and value of the first, and the
    raw line (national IDs masked)."""
    ws = Workspace.open(workspace)
    where, params = [], []
    if batch:
        where.append("batch_id = ?")
        params.append(batch)
    if reason:
        if reason.split(":")[0] not in REASONS:
            raise UserError(
                f"--reason: {reason.split(':')[0]!r} is not a quarantine reason code; one of "
                + ", ".join(REASONS)
            )
        where.append(
            "(list_contains(reasons, ?) "
            "OR list_contains(list_transform(reasons, lambda r: split_part(r, ':', 1)), ?))"
        )
        params += [reason, reason]
    sql = (
        "SELECT batch_id, feed, line_no, array_to_string(reasons, ', '), "
        "coalesce(source_column, ''), coalesce(value, ''), raw FROM quarantine"
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" ORDER BY batch_id, line_no LIMIT {int(limit)}"
    )
    with ws.engine(read_only=True) as engine:
        rows = engine.query(sql, params) if engine.table_exists("quarantine") else []
    table = Table(title="Quarantined rows")
    for col in ("batch", "feed", "line", "reasons", "column", "value", "raw"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*[str(v) for v in r])
    console.print(table)


def _model_path(ws: Workspace) -> Path:
    return ws.root / "models" / "linkage-model.json"


@app.command()
@handles_errors
def link(
    full: Annotated[
        bool, typer.Option("--full", help="Relink everything, not just new records.")
    ] = False,
    retrain: Annotated[
        bool, typer.Option(help="Re-estimate the linkage model (implies --full).")
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            metavar="FILE|default",
            help="Link with this saved linkage model instead of the workspace's (implies "
            "--full); it becomes the workspace's model. `default`: the model shipped with "
            "openbureau, for records too few to train one.",
        ),
    ] = None,
    force_link: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--force-link",
            metavar="A B",
            help="Record ids (or identity ids) that are one person, whatever the model says.",
        ),
    ] = None,
    force_split: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--force-split",
            metavar="A B",
            help="Record ids (or identity ids) that are never one person.",
        ),
    ] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Link records into persons with persistent person IDs (new records only, by default)."""
    from openbureau.identity import link as run_link
    from openbureau.identity.link import DEFAULT_MODEL, DEFAULT_MODEL_NAME, Override
    from openbureau.identity.standardise import describe_emptied

    ws = Workspace.open(workspace)
    country = ws.settings.bureau.country
    model_from = None if model is None else Path(model)
    if model == DEFAULT_MODEL_NAME:  # (a file of that name: ./default)
        model_from = DEFAULT_MODEL
    elif model_from is not None and not model_from.is_file():
        raise UserError(f"{model}: no such model file")
    overrides = [
        Override(kind, *pair)
        for kind, pair in (("link", force_link), ("split", force_split))
        if pair
    ]
    with ws.engine() as engine, progress_bar(transient=True) as tick:
        # (the overrides are recorded by the run, with it or not at all)
        report = run_link(
            engine,
            model_path=_model_path(ws),
            settings=ws.settings.identity,
            country=country,
            full=full,
            retrain=retrain,
            model_from=model_from,
            overrides=overrides,
            progress=tick,
        )
        free = engine.free_share() if isinstance(engine, DuckDBEngine) else 0.0
    for o in overrides:
        console.print(f"Recorded forced {o.kind} of {o.a} and {o.b}; later runs honour it")
    events = ", ".join(f"{n:,} {k}" for k, n in sorted(report.events.items())) or "none"
    console.print(
        f"Link run {report.run_id} ({report.mode}, model v{report.model_version}): "
        f"{report.records:,} identity records ({report.new_records:,} new) -> "
        f"{report.persons:,} persons; {report.unlinked:,} unlinked; ID changes: {events}; "
        f"{report.seconds:.1f} s"
    )
    if report.model_made_by:
        console.print(
            f"The model is the default one ({report.model_made_by}), not trained on this "
            "workspace's records; `openbureau link --retrain` trains one once they can"
        )
    console.print(
        f"Emptied by standardisation ({report.country} conventions): "
        f"{escape(describe_emptied(report.emptied, report.country) or 'nothing')}"
    )
    if report.other_countries:
        others = ", ".join(f"{n:,} with {c}'s" for c, n in report.other_countries.items())
        console.print(
            f"[yellow]warning:[/] batches standardised with another country's "
            f"conventions before bureau.toml said {report.country}: {others}; their "
            "phones and postcodes stay as those left them"
        )
    if free >= COMPACT_HINT_SHARE:
        console.print(
            f"{free:.0%} of the warehouse file is free space, which slows each "
            "command's first write; `openbureau compact` rewrites it without"
        )


@app.command()
@handles_errors
def compact(workspace: WorkspaceOpt = Path(".")) -> None:
    """Rewrite the warehouse without the free space that dropped and deleted rows leave.

    Run it while nothing else uses the workspace."""
    from openbureau.engine import compact as compact_file

    path = Workspace.open(workspace).warehouse_path
    if not path.is_file():
        raise UserError(f"{path}: no warehouse yet; nothing to compact")
    with progress_bar(transient=True) as tick:
        tick(f"rewriting {path.name}", 0, 1)
        before, after = compact_file(path)
    console.print(f"{path}: {before / 1e6:,.1f} MB -> {after / 1e6:,.1f} MB")


@app.command("explain-link")
@handles_errors
def explain_link_cmd(
    a: Annotated[str, typer.Argument(help="Record id (e.g. B000001.17) or identity id.")],
    b: Annotated[str, typer.Argument(help="The other record.")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Why two records are scored as they are, and which person files they are in.

    Each field's match weight and the resulting match probability; then each record's person
    file and, for one file, the chain of links that joins them."""
    from openbureau.identity.explain import explain_link, files_of

    ws = Workspace.open(workspace)
    with ws.engine() as engine:
        steps = explain_link(engine, _model_path(ws), a, b)
        files = files_of(engine, a, b, ws.settings.identity.link_threshold)
    table = Table(title=f"Why {a} and {b} are scored as they are")
    for col in ("comparison", a, b, "level", "weight (bits)"):
        table.add_column(col, justify="right" if col == "weight (bits)" else "left")
    for step in steps[:-1]:
        table.add_row(
            step["comparison"],
            step["left"],
            step["right"],
            step["level"],
            f"{step['match_weight']:+.2f}",
        )
    total = steps[-1]
    table.add_row("[bold]total[/]", "", "", "", f"[bold]{total['match_weight']:+.2f}[/]")
    console.print(table)
    console.print(f"match probability {total['match_probability']:.4f}")
    console.print(escape(files_text(files, ws.settings.identity.link_threshold)))


LINK_SOURCES = {
    "model": "model, match probability {p:.4f}",
    "national_id": "same national ID",
    "override": "forced link",
}


def files_text(files: dict[str, Any], threshold: float) -> str:
    """explain-link's account of the person files two records are in."""
    (ra, rb), path = files["records"], files["path"]
    if ra["identity_id"] == rb["identity_id"]:
        where = (
            f"in {ra['person_id']}"
            if ra["person_id"] is not None
            else f"in no file: {ra['not_in_a_file']}"
        )
        return f"{ra['given']} and {rb['given']} are one identity record, {where}."
    if ra["person_id"] is not None and ra["person_id"] == rb["person_id"]:
        if not path:
            return (
                f"{ra['given']} and {rb['given']} are in one file, {ra['person_id']}, but "
                f"no chain of stored links at today's link_threshold ({threshold}) joins "
                "them (it was lower when they were linked)."
            )
        lines = [
            f"{ra['given']} and {rb['given']} are in one file, {ra['person_id']}, joined by "
            f"{len(path)} link{'s' if len(path) != 1 else ''}:"
        ]
        for hop in path:
            how = LINK_SOURCES.get(hop["source"], hop["source"])
            lines.append(
                f"  {hop['from']} - {hop['to']}: "
                f"{how.format(p=hop['match_probability'])} (link run {hop['run_id']})"
            )
        return "\n".join(lines)
    return (
        "; ".join(
            f"{r['given']} is in file {r['person_id']}"
            if r["person_id"] is not None
            else f"{r['given']} is in no file: {r['not_in_a_file']}"
            for r in (ra, rb)
        )
        + "."
    )


@app.command("person")
@handles_errors
def person_cmd(
    person_id: Annotated[
        str,
        typer.Argument(
            help="Person ID (P...); a retired one leads to the file holding most of its records."
        ),
    ],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """A person's file on the identity side: its records, the IDs merged into it, its history."""
    from openbureau.identity.person import held_elsewhere, person_file
    from openbureau.service import serving

    ws = Workspace.open(workspace)
    with ws.engine(read_only=True) as engine:
        f = person_file(engine, person_id)
        elsewhere = held_elsewhere(engine, person_id, serving.served_links(engine))
    pid, records = f["person_id"], f["records"]
    if f["retired"]:
        console.print(f"{escape(f['asked'])} was merged; it now leads to {pid}.")
    feeds = len({r["feed"] for r in records})
    console.print(
        f"[bold]{pid}[/]: {len(records)} identity record"
        f"{'s' if len(records) != 1 else ''} from {feeds} feed"
        f"{'s' if feeds != 1 else ''}"
    )
    table = Table(title="Identity records (one per distinct identity a feed shows)")
    for col in (
        "identity id",
        "reported by",
        "record ids",
        "name",
        "birth date",
        "address",
        "phone, email",
        "national ID",
        "run",
    ):
        # (the ids whole: they are what explain-link and link --force-split take)
        table.add_column(
            col, no_wrap=col in ("identity id", "reported by", "record ids", "birth date")
        )
    for r in records:
        name = " ".join(
            str(r[k]) for k in ("first_name", "middle_name", "last_name", "name_suffix") if r[k]
        )
        address = ", ".join(
            str(r[k]) for k in ("address_line1", "city", "region", "postcode") if r[k]
        )
        more = f"\n+ {r['rows'] - 1:,} more" if r["rows"] > 1 else ""
        # (the feed's furnisher, and when the first and the last row showing it were loaded)
        dates = " to ".join(
            sorted({str(r[k]) for k in ("first_reported", "last_reported") if r[k]})
        )
        table.add_row(
            r["identity_id"],
            f"{r['furnisher'] or r['feed']}\n{dates}",
            f"{r['first_record_id'] or ''}{more}",
            name,
            str(r["dob"] or ""),
            address,
            ", ".join(str(r[k]) for k in ("phone", "email") if r[k]),
            "yes" if r["national_id"] else "",
            str(r["run_id"]),
        )
    console.print(table)
    if f["merged"]:
        console.print(
            "Merged into it: "
            + ", ".join(f"{m['person_id']} (link run {m['run_id']})" for m in f["merged"])
        )
    history = Table(title="ID history")
    for col in ("run", "time", "event", "person ID", "other ID", "records", "cause"):
        history.add_column(col)
    for h in f["history"]:
        history.add_row(
            str(h["run_id"]),
            f"{h['linked_at']:%Y-%m-%d %H:%M:%S}",
            h["event"],
            h["person_id"],
            h["other_person_id"] or "",
            f"{h['records']:,}",
            h["cause"],
        )
    console.print(history)
    if elsewhere:
        # (whose reads then touched this person's records: the service's access log lists them)
        held = Table(title="Its records in another file (a mixed file since taken apart)")
        for col in ("file", "from", "until"):
            held.add_column(col, no_wrap=True)
        for e in elsewhere:
            held.add_row(
                e["person_id"],
                *(f"{e[k]:%Y-%m-%d %H:%M:%S}" if e[k] else "-" for k in ("since", "until")),
            )
        console.print(held)


@app.command()
@handles_errors
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Workspace folder to create.")] = Path(
        "demo-workspace"
    ),
    persons: Annotated[int, typer.Option(help="Number of persons.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    replace: Annotated[bool, typer.Option(help="Replace an earlier demo workspace there.")] = False,
) -> None:
    """The whole system on a synthetic population: generate, ingest, summarise."""
    from openbureau.demo import run_demo

    if (directory / "bureau.toml").exists():
        if not replace:
            raise UserError(f"{directory}: a workspace exists; pass --replace to start afresh")
        shutil.rmtree(directory)
    elif directory.exists() and any(directory.iterdir()):
        raise UserError(f"{directory}: folder is not empty and is not a workspace")
    started = time.perf_counter()
    run_demo(directory, persons=persons, seed=seed, console=console, progress=progress_bar)
    console.print(f"Done in {time.perf_counter() - started:.0f} s. Workspace: {directory}")


# Stage commands kept in their own modules register themselves on ``app``.
from openbureau import (  # noqa: E402, F401
    _cli_accuracy,
    _cli_attest,
    _cli_attributes,
    _cli_consent,
    _cli_disputes,
    _cli_export,
    _cli_identity,
    _cli_scoring,
    _cli_service,
    _cli_spec,
)


def main() -> None:
    """Entry point of the ``openbureau`` script."""
    sys.exit(app())


if __name__ == "__main__":
    main()
