"""``openbureau spec draft``: a starting source spec drafted from a furnisher file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openbureau.cli.app import app, console, err_console, handles_errors, write_whole
from openbureau.errors import UserError
from openbureau.ingest.draft import SAMPLE_ROWS, draft_spec

spec_app = typer.Typer(
    help="Source specs: draft one from a furnisher file for a person to complete.",
    no_args_is_help=True,
)
app.add_typer(spec_app, name="spec")


@spec_app.command("draft")
@handles_errors
def spec_draft(
    file: Annotated[Path, typer.Argument(help="A furnisher file: CSV, JSON lines or Parquet.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Spec file to write (default: standard output)."),
    ] = None,
    sample_rows: Annotated[
        int, typer.Option(min=1, help="Data rows read from the start of the file, at most.")
    ] = SAMPLE_ROWS,
    skip_bad_rows: Annotated[
        bool,
        typer.Option(
            help="Draft from the other rows when a sampled row is ragged or not a JSON object "
            "(by default the draft stops at it)."
        ),
    ] = False,
    force: Annotated[bool, typer.Option(help="Replace the output file if it exists.")] = False,
) -> None:
    """Draft a source spec from a file's first rows: format, encoding, CSV delimiter and
    header, each column's type, date formats and codes seen, targets guessed from column
    names. Every field's category starts as `unknown` (loadable, never a score factor until a
    person sets it); what the file cannot tell is FILL_IN, which ingest refuses until it is
    filled in."""
    if output is not None and output.exists() and not force:
        raise UserError(f"{output}: already exists (--force replaces it)")
    draft = draft_spec(file, sample_rows=sample_rows, skip_bad_rows=skip_bad_rows)
    summary = (
        f"Drafted {draft.name} from {file}, read from {draft.sampled()}: {draft.fields} fields, "
        f"{draft.guessed} targets guessed (check them), {draft.placeholders} FILL_IN to fill in; "
        "every field's category is unknown until a person sets it."
    )
    if output is None:
        typer.echo(draft.text, nl=False)
        err_console.print(summary, highlight=False, markup=False, soft_wrap=True)
        return
    write_whole(output, draft.text)
    console.print(f"Wrote {output}. {summary}", highlight=False, markup=False, soft_wrap=True)
