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

accounts_app = typer.Typer(help="Service accounts: people, lenders, auditors, admins.",
                           no_args_is_help=True)
audit_app = typer.Typer(help="The service's audit log, a transparency log: verify, sign, "
                         "prove.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(audit_app, name="audit")

StoreOpt = Annotated[str | None, typer.Option("--store", help="Store URL (default: "
                                              "[service] store_url, else the workspace's "
                                              "SQLite file).")]


@app.command()
@handles_errors
def serve(
    workspace: WorkspaceOpt = Path("."),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    store: StoreOpt = None,
    limit_concurrency: Annotated[int, typer.Option(
        min=1, help="Open connections (idle keep-alive ones too) or requests in progress; "
                    "beyond it the service answers 503 at once instead of queueing work its "
                    "clients will give up on.")] = 256,
) -> None:
    """Serve the API and pages on the workspace's published score snapshot."""
    import uvicorn

    from openbureau.service.app import create_app

    application = create_app(workspace, store_url=store)
    pub = application.state.ctx.published()
    console.print(f"Serving {'snapshot ' + pub.snapshot_id if pub else 'no snapshot yet'} on "
                  f"http://{host}:{port}/  (API docs: /api/docs; Ctrl+C stops)")
    uvicorn.run(application, host=host, port=port, log_level="warning",
                limit_concurrency=limit_concurrency)


def _store(workspace: Path, url: str | None) -> sessionmaker[Session]:
    from openbureau.service.app import service_config
    from openbureau.service.store import open_store

    return open_store(service_config(Workspace.open(workspace), url).store_url)


@accounts_app.command("add")
@handles_errors
def accounts_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="person, lender, auditor or admin.")],
    person: Annotated[str | None, typer.Option(help="The person id a person account "
                                               "sees.")] = None,
    organisation: Annotated[str | None, typer.Option(help="A lender's organisation.")] = None,
    api_key: Annotated[bool, typer.Option("--api-key", help="Also issue an API key "
                                          "(printed once).")] = False,
    workspace: WorkspaceOpt = Path("."),
    store: StoreOpt = None,
) -> None:
    """Add an account. The password is read from OPENBUREAU_PASSWORD or asked for."""
    from openbureau.service.auth import create_account, issue_api_key

    password = os.environ.get("OPENBUREAU_PASSWORD") or getpass.getpass("Password: ")
    factory = _store(workspace, store)
    with factory() as session:
        account = create_account(session, username=username, role=role, password=password,
                                 person_id=person, organisation=organisation)
        key = issue_api_key(session, account, "issued at creation") if api_key else None
        session.commit()
    console.print(f"Account [bold]{username}[/] ({role}) created.")
    if key:
        console.print(f"API key (shown once): {key}")


@accounts_app.command("list")
@handles_errors
def accounts_list(workspace: WorkspaceOpt = Path("."), store: StoreOpt = None) -> None:
    """List accounts."""
    from sqlalchemy import select

    from openbureau.service.store import Account

    table = Table()
    for col in ("username", "role", "person", "organisation", "created"):
        table.add_column(col)
    with _store(workspace, store)() as session:
        for a in session.execute(select(Account).order_by(Account.id)).scalars():
            table.add_row(a.username, a.role, a.person_id or "", a.organisation or "",
                          f"{a.created_at:%Y-%m-%d}")
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
    if check.ok:
        latest = (f"; latest signed head: {check.heads[-1].describe()}" if check.heads
                  else "; no head signed yet (`openbureau audit sign`)")
        console.print(f"Audit log intact: {check.entries:,} entries, consistent with "
                      f"{len(check.heads):,} signed heads{latest}.")
        return
    console.print(f"[bold red]Audit log: {len(check.problems)} problem(s)[/] in "
                  f"{check.entries:,} entries, {len(check.heads):,} signed heads:")
    for problem in check.problems:
        console.print(f"- {escape(problem)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@audit_app.command("sign")
@handles_errors
def audit_sign(workspace: WorkspaceOpt = Path("."), store: StoreOpt = None) -> None:
    """Sign the log's current size and root now (also done at every publication, and every
    audit_sign_every entries as bureau.toml's service section says)."""
    from openbureau.service.audit_heads import HEADS_FILE, sign_head

    ws = Workspace.open(workspace)
    head = sign_head(_store(workspace, store), ws.root)
    console.print(f"Signed tree head: {head.describe()}, root {head.root_hash.hex()} (key "
                  f"{head.key_id}); kept in the store and {HEADS_FILE}.")


@audit_app.command("prove")
@handles_errors
def audit_prove(
    head_file: Annotated[Path, typer.Argument(help="A signed head saved as JSON (the "
                                              "`signed_head` of a person's access log, a line "
                                              "of audit-heads.jsonl, or a whole access log).")],
    entry: Annotated[int | None, typer.Option(min=0, help="Also prove the entry at this "
                                              "position is in the head, and check its "
                                              "content.")] = None,
    keys: Annotated[Path | None, typer.Option(help="The log's public key set (default: the "
                                              "workspace's public/audit-log-keys.json).")]
    = None,
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
    console.print(f"Head: log {head.log_id}, {head.describe()}, key {head.key_id}: "
                  "signature valid.")
    found = prove_head(_store(workspace, store), head, entry)
    if not found.problems:
        console.print(f"Today's log: {found.tree_size:,} entries, root "
                      f"{found.root_hash.hex()[:16]}…: it extends the head (consistency proof "
                      f"of {found.proof_hashes} hashes).")
        if found.latest is not None:
            console.print(f"The bureau's latest signed head ({found.latest.describe()}) "
                          "extends it too.")
        if found.entry is not None:
            e = found.entry
            console.print(f"Entry {entry} is in the head, and its fields give its hash: "
                          f"{e['at']:%Y-%m-%d %H:%M:%S} {e['actor']} ({e['actor_role']}) "
                          f"{e['action']} {e['subject'] or ''} {e['purpose'] or ''} "
                          f"{e['outcome']}".rstrip())
        return
    for problem in found.problems:
        console.print(f"[bold red]not proved:[/] {escape(problem)}", highlight=False,
                      soft_wrap=True)
    raise typer.Exit(1)


@app.command()
@handles_errors
def publish(
    snapshot: Annotated[str | None, typer.Option(help="Snapshot id (default: the "
                                                 "latest).")] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Publish a score snapshot to the service (``score`` does this itself)."""
    from openbureau.ledger.features import compute_features
    from openbureau.scoring.factors import add_custom_features
    from openbureau.scoring.score import latest_snapshot
    from openbureau.service.serving import publish_snapshot, snapshot_card

    ws = Workspace.open(workspace)
    with ws.engine() as engine, progress_bar(transient=True) as tick:
        sid = snapshot or latest_snapshot(engine)
        card, as_of = snapshot_card(engine, sid)
        if card is None:
            raise UserError(f"no score snapshot {sid!r}")
        tick("features", 0, 0)
        compute_features(engine, as_of, into="publish_features")
        add_custom_features(engine, "publish_features", as_of,
                            [(f.name, f.custom) for f in card.factors if f.custom is not None])
        tick("publishing", 0, 0)
        path = publish_snapshot(engine, ws.root, sid, "publish_features")
    console.print(f"Published snapshot [bold]{sid}[/] to {path.relative_to(ws.root)}.")
