"""Service commands: ``serve`` the API and pages, ``publish`` a snapshot to them, and the
service's ``accounts``."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from openbureau.cli.app import (
    StoreOpt,
    WorkspaceOpt,
    app,
    console,
    handles_errors,
    open_service_store,
    progress_bar,
)
from openbureau.errors import UserError
from openbureau.workspace import Workspace

accounts_app = typer.Typer(
    help="Service accounts: people, lenders, auditors, admins.", no_args_is_help=True
)
app.add_typer(accounts_app, name="accounts")

LookupsOpt = Annotated[
    int | None,
    typer.Option(
        "--lookups-per-minute",
        min=0,
        max=1_000_000,
        help="A lender's lookups a minute, refused ones included (default: [service] "
        "lookups_per_minute; 0: none).",
    ),
]


@app.command()
@handles_errors
def serve(
    workspace: WorkspaceOpt = Path("."),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    store: StoreOpt = None,
    limit_concurrency: Annotated[
        int,
        typer.Option(
            min=1,
            help="Open connections (idle keep-alive ones too) or requests in progress; "
            "beyond it the service answers 503 at once instead of queueing work its "
            "clients will give up on.",
        ),
    ] = 256,
    proxy_headers: Annotated[
        bool | None,
        typer.Option(
            "--proxy-headers/--no-proxy-headers",
            help="Take the client's address from X-Forwarded-For, sent by a proxy at "
            "--forwarded-allow-ips (default: [service] proxy_headers, off). Only behind "
            "such a proxy: otherwise any caller can name its own address.",
        ),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated addresses or networks of the trusted proxies ('*': any; "
            "default: [service] forwarded_allow_ips, 127.0.0.1)."
        ),
    ] = None,
) -> None:
    """Serve the API and pages on the workspace's published score snapshot."""
    import uvicorn

    from openbureau.service.app import create_app

    application = create_app(
        workspace,
        store_url=store,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
    )
    ctx = application.state.ctx
    pub = ctx.published()
    console.print(
        f"Serving {'snapshot ' + pub.snapshot_id if pub else 'no snapshot yet'} on "
        f"http://{host}:{port}/  (API docs: /api/docs; Ctrl+C stops)"
    )
    if ctx.config.proxy_headers:
        console.print(
            f"Client addresses from X-Forwarded-For, trusted from {ctx.config.forwarded_allow_ips}."
        )
    # (the app reads forwarded headers itself, when told to: uvicorn's own reading, on by
    # default for 127.0.0.1, would let any local caller name its address)
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level="warning",
        limit_concurrency=limit_concurrency,
        proxy_headers=False,
    )


@accounts_app.command("add")
@handles_errors
def accounts_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="person, lender, auditor, admin or furnisher.")],
    person: Annotated[str | None, typer.Option(help="The person id a person account sees.")] = None,
    organisation: Annotated[str | None, typer.Option(help="A lender's organisation.")] = None,
    api_key: Annotated[
        bool, typer.Option("--api-key", help="Also issue an API key (printed once).")
    ] = False,
    lookups_per_minute: LookupsOpt = None,
    workspace: WorkspaceOpt = Path("."),
    store: StoreOpt = None,
) -> None:
    """Add an account, in the audit log as done by you (OS user@host). The password is read
    from OPENBUREAU_PASSWORD or asked for. A further account bound to a person's file, or a
    further admin, waits until an admin approves it in the service."""
    from openbureau.service import bindings

    if lookups_per_minute is not None and role != "lender":
        raise UserError("--lookups-per-minute: only a lender account looks people up")
    password = os.environ.get("OPENBUREAU_PASSWORD") or getpass.getpass("Password: ")
    factory = open_service_store(workspace, store)
    added = bindings.add_account(
        factory,
        bindings.store_log(factory),
        bindings.operator(),
        username=username,
        role=role,
        password=password,
        person_id=person,
        organisation=organisation,
        same_file=bindings.file_ids(Workspace.open(workspace).root, person) if person else (),
        api_key=api_key,
        lookups_per_minute=lookups_per_minute,
    )
    console.print(f"Account [bold]{username}[/] ({role}) created.")
    if added.account.pending:
        what = (
            f"person {added.account.person_id}'s file has a login already"
            if role == "person"
            else "there is an admin already"
        )
        console.print(
            f"It waits for an admin's approval ({what}): `POST /api/v1/accounts/"
            f"{username}/approve` or the admin page.",
            markup=False,
            highlight=False,
        )
    if added.key:
        console.print(f"API key (shown once): {added.key}")


def _set_disabled(username: str, workspace: Path, store: str | None, disabled: bool) -> None:
    from openbureau.service import bindings

    factory = open_service_store(workspace, store)
    root = Workspace.open(workspace).root
    account = bindings.set_disabled(
        factory,
        bindings.store_log(factory),
        bindings.operator(),
        username,
        disabled,
        lambda person_id: bindings.file_ids(root, person_id),
    )
    console.print(f"Account [bold]{username}[/] {'disabled' if disabled else 'enabled'}.")
    if account.pending:
        console.print(
            f"It waits for an admin's approval (person {account.person_id}'s file has another "
            f"login): `POST /api/v1/accounts/{username}/approve` or the admin page.",
            markup=False,
            highlight=False,
        )


@accounts_app.command("disable")
@handles_errors
def accounts_disable(
    username: Annotated[str, typer.Argument(help="Login name.")],
    workspace: WorkspaceOpt = Path("."),
    store: StoreOpt = None,
) -> None:
    """Disable an account: its sessions and API keys stop working (audited)."""
    _set_disabled(username, workspace, store, True)


@accounts_app.command("enable")
@handles_errors
def accounts_enable(
    username: Annotated[str, typer.Argument(help="Login name.")],
    workspace: WorkspaceOpt = Path("."),
    store: StoreOpt = None,
) -> None:
    """Enable a disabled account again (audited)."""
    _set_disabled(username, workspace, store, False)


@accounts_app.command("quota")
@handles_errors
def accounts_quota(
    username: Annotated[str, typer.Argument(help="The lender's login name.")],
    lookups_per_minute: LookupsOpt = None,
    default: Annotated[
        bool,
        typer.Option("--default", help="Back to the workspace's [service] lookups_per_minute."),
    ] = False,
    workspace: WorkspaceOpt = Path("."),
    store: StoreOpt = None,
) -> None:
    """Set a lender's lookups a minute (every service process on the store sees it)."""
    from sqlalchemy import select

    from openbureau.service.store import Account

    if (lookups_per_minute is None) == (not default):
        raise UserError("give --lookups-per-minute N or --default")
    with open_service_store(workspace, store)() as session:
        account = session.execute(select(Account).where(Account.username == username)).scalar()
        if account is None:
            raise UserError(f"username: no account {username!r}")
        if account.role != "lender":
            raise UserError(f"username: {username!r} is a {account.role} account, not a lender's")
        account.lookups_per_minute = lookups_per_minute
        session.commit()
    quota = (
        f"{lookups_per_minute} lookups a minute"
        if lookups_per_minute is not None
        else "the workspace's default lookups a minute"
    )
    console.print(f"Lender [bold]{username}[/]: {quota}.")


@accounts_app.command("list")
@handles_errors
def accounts_list(workspace: WorkspaceOpt = Path("."), store: StoreOpt = None) -> None:
    """List accounts: who made each, and whether it works."""
    from sqlalchemy import select

    from openbureau.service import logins
    from openbureau.service.store import Account

    table = Table()
    for col in (
        "username",
        "role",
        "person",
        "organisation",
        "created",
        "by",
        "state",
        "lookups/min",
    ):
        table.add_column(col)
    with open_service_store(workspace, store)() as session:
        for a in session.execute(select(Account).order_by(Account.id)).scalars():
            quota = (
                ""
                if a.role != "lender"
                else ("default" if a.lookups_per_minute is None else str(a.lookups_per_minute))
            )
            table.add_row(
                a.username,
                a.role,
                a.person_id or "",
                a.organisation or "",
                f"{a.created_at:%Y-%m-%d}",
                a.created_by or "",
                logins.status(a),
                quota,
            )
    console.print(table)


@app.command()
@handles_errors
def publish(
    snapshot: Annotated[str | None, typer.Option(help="Snapshot id (default: the latest).")] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Publish a score snapshot to the service (``score`` does this itself)."""
    from openbureau.scoring.score import latest_snapshot
    from openbureau.service.serving import republish

    ws = Workspace.open(workspace)
    with ws.engine() as engine, progress_bar(transient=True) as tick:
        sid = snapshot or latest_snapshot(engine)
        tick("publishing", 0, 0)
        path = republish(engine, ws.root, sid)
    console.print(f"Published snapshot [bold]{sid}[/] to {path.relative_to(ws.root)}.")
