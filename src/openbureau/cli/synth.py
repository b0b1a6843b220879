"""``openbureau synth``: a synthetic population and the files its furnishers would send."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from openbureau.cli.app import app, console, handles_errors, parse_date, progress_bar
from openbureau.errors import UserError


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
    chunk_persons: Annotated[
        int,
        typer.Option(
            help="Persons generated and written at a time (a multiple of 1,000): bounds "
            "memory, does not change the files (standard generator)."
        ),
    ] = 20_000,
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
        start=parse_date(start, "--start"),
        months=months,
        as_of=parse_date(as_of, "--as-of"),
        defect_rate=defect_rate,
        chunk_persons=chunk_persons,
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
