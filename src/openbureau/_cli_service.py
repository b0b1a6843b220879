"""CLI commands for the service: ``serve``, ``accounts``, ``audit`` and ``publish``."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from openbureau.cli import WorkspaceOpt, app, console, handles_errors, progress_bar
from openbureau.errors import UserError
from openbureau.workspace import Workspace

accounts_app = typer.Typer(
    help="Service accounts: people, lenders, auditors, admins.", no_args_is_help=True
)
audit_app = typer.Typer(
    help="The service's audit log, a transparency log: verify, sign, prove.", no_args_is_help=True
)
app.add_typer(accounts_app, name="accounts")
app.add_typer(audit_app, name="audit")

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Store URL (default: [service] store_url, else the workspace's SQLite file).",
    ),
]
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


def _store(workspace: Path, url: str | None) -> sessionmaker[Session]:
    from openbureau.service.app import service_config
    from openbureau.service.store import open_store

    return open_store(service_config(Workspace.open(workspace), url).store_url)


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
    factory = _store(workspace, store)
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

    factory = _store(workspace, store)
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
    with _store(workspace, store)() as session:
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
    with _store(workspace, store)() as session:
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


@audit_app.command("verify")
@handles_errors
def audit_verify(workspace: WorkspaceOpt = Path("."), store: StoreOpt = None) -> None:
    """Check every entry, the log's Merkle tree and every signed head (in the store and in
    public/audit-heads.jsonl); exit 1 with one line per problem found."""
    from openbureau.service.audit_check import record_check, verify_log

    ws = Workspace.open(workspace)
    factory = _store(workspace, store)
    check = verify_log(factory, ws.root)
    record_check(factory, check, "openbureau audit verify")
    for note in check.notes:
        console.print(f"[dim]note: {escape(note)}[/]", highlight=False)
    for line in check.acknowledged:
        console.print(f"[bold yellow]not vouched for:[/] {escape(line)}", highlight=False)
    if check.ok:
        latest = (
            f"; latest signed head: {check.heads[-1].describe()}"
            if check.heads
            else "; no head signed yet (`openbureau audit sign`)"
        )
        what = (
            "No problem found since the retired log(s) above"
            if check.acknowledged
            else "Audit log intact"
        )
        console.print(
            f"{what}: {check.entries:,} entries, consistent with "
            f"{len(check.heads):,} signed heads{latest}."
        )
        return
    console.print(
        f"[bold red]Audit log: {len(check.problems)} problem(s)[/] in "
        f"{check.entries:,} entries, {len(check.heads):,} signed heads:"
    )
    for problem in check.problems:
        console.print(f"- {escape(problem)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@audit_app.command("sign")
@handles_errors
def audit_sign(
    workspace: WorkspaceOpt = Path("."),
    store: StoreOpt = None,
    new_log: Annotated[
        str | None,
        typer.Option(
            "--new-log",
            metavar="REASON",
            help="The store was replaced on purpose (moved, restored, rebuilt): make its log "
            "this workspace's, retiring the one recorded in public/audit-log.json; written to "
            "the log as done by you, with REASON.",
        ),
    ] = None,
    acknowledge: Annotated[
        str | None,
        typer.Option(
            "--acknowledge",
            metavar="TEXT",
            help="With --new-log, when the store does not hold the entries the retired log's "
            "heads signed (verify reports it): what happened. Written with the problems to the "
            "log and public/audit-log.json; verify then says the retired log is not vouched for.",
        ),
    ] = None,
) -> None:
    """Sign the log's current size and root now (also done at every publication, and every
    audit_sign_every entries as bureau.toml's service section says). Refused (exit 1) when the
    log does not extend the last head signed, or is not this workspace's log."""
    from openbureau.service.audit_heads import HEADS_FILE, sign_head
    from openbureau.service.audit_signing import start_log
    from openbureau.service.bindings import operator

    ws = Workspace.open(workspace)
    factory = _store(workspace, store)
    if new_log is None:
        if acknowledge is not None:
            raise UserError("--acknowledge: only with --new-log REASON")
        head = sign_head(factory, ws.root)
    else:
        head = start_log(factory, ws.root, operator().name, new_log, acknowledge)
        console.print(f"Started a new audit log: {head.log_id} is this workspace's log now.")
    console.print(
        f"Signed tree head: {head.describe()}, root {head.root_hash.hex()} (key "
        f"{head.key_id}); kept in the store and {HEADS_FILE}."
    )


@audit_app.command("prove")
@handles_errors
def audit_prove(
    head_file: Annotated[
        Path,
        typer.Argument(
            help="A signed head saved as JSON (the "
            "`signed_head` of a person's access log, a line "
            "of audit-heads.jsonl, or a whole access log)."
        ),
    ],
    entry: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Also prove the entry at this position is in the head, and check its content.",
        ),
    ] = None,
    keys: Annotated[
        Path | None,
        typer.Option(
            help="The log's public key set (default: the workspace's public/audit-log-keys.json)."
        ),
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    store: StoreOpt = None,
) -> None:
    """Check a saved signed head: its signature, and that today's log extends it (RFC 9162
    consistency proof); exit 1 if not."""
    import json

    from openbureau.service.audit_heads import log_keys, read_key_set, verify_head
    from openbureau.service.audit_prove import prove_head

    ws = Workspace.open(workspace)
    try:
        data = json.loads(head_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{head_file}: not found") from None
    except (OSError, UnicodeDecodeError, ValueError):
        raise UserError(f"{head_file}: not a JSON file") from None
    if isinstance(data, dict) and isinstance(data.get("signed_head"), dict):
        data = data["signed_head"]  # (a whole access log, as the API gives it)
    head = verify_head(data, read_key_set(keys) if keys else log_keys(ws.root))
    console.print(
        f"Head: log {head.log_id}, {head.describe()}, key {head.key_id}: signature valid."
    )
    found = prove_head(_store(workspace, store), head, entry)
    if not found.problems:
        console.print(
            f"Today's log: {found.tree_size:,} entries, root "
            f"{found.root_hash.hex()[:16]}…: it extends the head (consistency proof "
            f"of {found.proof_hashes} hashes)."
        )
        if found.latest is not None:
            console.print(
                f"The bureau's latest signed head ({found.latest.describe()}) extends it too."
            )
        if found.entry is not None:
            e = found.entry
            console.print(
                f"Entry {entry} is in the head, and its fields give its hash: "
                f"{e['at']:%Y-%m-%d %H:%M:%S} {e['actor']} ({e['actor_role']}) "
                f"{e['action']} {e['subject'] or ''} {e['purpose'] or ''} "
                f"{e['outcome']}".rstrip()
            )
        return
    for problem in found.problems:
        console.print(
            f"[bold red]not proved:[/] {escape(problem)}", highlight=False, soft_wrap=True
        )
    raise typer.Exit(1)


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
