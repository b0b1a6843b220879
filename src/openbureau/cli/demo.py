"""``openbureau demo``: the whole system on a synthetic population (openbureau/demo.py)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

import typer

from openbureau.cli.app import app, console, handles_errors, progress_bar
from openbureau.errors import UserError


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
