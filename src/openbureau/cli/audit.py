"""``openbureau audit``: the service's audit log, a transparency log: verify it, sign its
head, prove a saved head is extended by today's log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from openbureau.cli.app import (
    StoreOpt,
    WorkspaceOpt,
    app,
    console,
    handles_errors,
    open_service_store,
)
from openbureau.errors import UserError
from openbureau.workspace import Workspace

audit_app = typer.Typer(
    help="The service's audit log, a transparency log: verify, sign, prove.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
@handles_errors
def audit_verify(workspace: WorkspaceOpt = Path("."), store: StoreOpt = None) -> None:
    """Check every entry, the log's Merkle tree and every signed head (in the store and in
    public/audit-heads.jsonl); exit 1 with one line per problem found."""
    from openbureau.service.audit_check import record_check, verify_log

    ws = Workspace.open(workspace)
    factory = open_service_store(workspace, store)
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
    factory = open_service_store(workspace, store)
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
    found = prove_head(open_service_store(workspace, store), head, entry)
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
