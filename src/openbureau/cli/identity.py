"""Identity commands: ``link`` records into persons, ``explain-link`` two records, and show a
``person``'s file on the identity side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from openbureau.cli.app import WorkspaceOpt, app, console, handles_errors, progress_bar
from openbureau.errors import UserError
from openbureau.workspace import Workspace

# `link` suggests `compact` when this share of the warehouse file is free blocks
COMPACT_HINT_SHARE = 0.3


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
        free = engine.free_share()
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
    from openbureau.publication import served_links

    ws = Workspace.open(workspace)
    with ws.engine(read_only=True) as engine:
        f = person_file(engine, person_id)
        elsewhere = held_elsewhere(engine, person_id, served_links(engine))
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
