"""Workspace commands: ``init`` creates one, ``compact`` rewrites its warehouse file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openbureau.cli.app import WorkspaceOpt, app, console, handles_errors, progress_bar
from openbureau.errors import UserError
from openbureau.workspace import Workspace, init_workspace


@app.command()
@handles_errors
def init(directory: Annotated[Path, typer.Argument(help="Folder for the new workspace.")]) -> None:
    """Create a bureau workspace: settings, warehouse, specs folder, secrets."""
    ws = init_workspace(directory)
    console.print(
        f"Created workspace [bold]{ws.root}[/]: bureau.toml, "
        f"{ws.settings.warehouse.path}, specs/, secrets/"
    )


@app.command()
@handles_errors
def compact(workspace: WorkspaceOpt = Path(".")) -> None:
    """Rewrite the warehouse without the free space that dropped and deleted rows leave.

    Run it while nothing else uses the workspace."""
    from openbureau.engine import EngineUnsupported
    from openbureau.engine import compact as compact_file

    ws = Workspace.open(workspace)
    if not ws.engine_class.capabilities.single_file:
        raise EngineUnsupported(ws.engine_class.name, "compact", ["single_file"])
    path = ws.warehouse_path
    if not path.is_file():
        raise UserError(f"{path}: no warehouse yet; nothing to compact")
    with progress_bar(transient=True) as tick:
        tick(f"rewriting {path.name}", 0, 1)
        before, after = compact_file(path)
    console.print(f"{path}: {before / 1e6:,.1f} MB -> {after / 1e6:,.1f} MB")
