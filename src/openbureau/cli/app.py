"""The ``openbureau`` Typer app and what its command modules share.

User mistakes print one line on stderr and exit with status 2; nothing prints a traceback
unless openbureau itself is at fault. The commands live in one module per stage
(``openbureau.cli.ingest``, ``openbureau.cli.identity`` ...); each registers itself on ``app``
when ``openbureau.cli`` imports it. This module imports none of them.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

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

from openbureau import __version__
from openbureau.errors import BureauError, UserError
from openbureau.workspace import Workspace

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

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

WorkspaceOpt = Annotated[
    Path, typer.Option("--workspace", "-w", help="Workspace folder.", show_default="current folder")
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Store URL (default: [service] store_url, else the workspace's SQLite file).",
    ),
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


def parse_date(value: str, option: str) -> date:
    """``value`` as a date, or a UserError naming ``option``."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option}: expected a date like 2024-12-31, got {value!r}") from None


def open_service_store(workspace: Path, url: str | None) -> sessionmaker[Session]:
    """The service's operational store (``--store``, else the workspace's setting)."""
    from openbureau.service.app import service_config
    from openbureau.service.store import open_store

    return open_store(service_config(Workspace.open(workspace), url).store_url)


def write_whole(path: Path, text: str) -> None:
    """Write ``text`` whole or not at all."""
    folder = path.parent
    if not folder.is_dir():
        raise UserError(f"{path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"{path}: cannot write: {exc.strerror}") from None


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
