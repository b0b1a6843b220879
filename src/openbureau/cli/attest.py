"""CLI commands for score attestations, ``verify`` and ``keys`` (registered on ``cli.app``).

``verify`` exits 0 for a valid token, 1 for an invalid one (``invalid: <reason>: <message>``) and
2 for a usage problem such as a missing key set.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from openbureau.cli.app import WorkspaceOpt, app, console, handles_errors
from openbureau.errors import UserError
from openbureau.workspace import Workspace

keys_app = typer.Typer(help="The bureau's attestation signing keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _read_token(token: str) -> str:
    text = sys.stdin.read() if token == "-" else token
    text = text.strip()
    if not text:
        raise UserError("no token given (pass it as TOKEN, or '-' to read it from stdin)")
    return text


@app.command()
@handles_errors
def verify(
    token: Annotated[
        str, typer.Argument(help="The attestation (compact JWS), or '-' to read it from stdin.")
    ],
    keys: Annotated[
        Path | None,
        typer.Option(
            help="The bureau's public key set (jwks.json); "
            "default: the workspace's public/jwks.json."
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Verify a score attestation offline: exit 0 if valid, 1 if not."""
    from openbureau.service.attest import JWKS_FILE, AttestationInvalid, verify_attestation

    text = _read_token(token)
    key_set = keys if keys is not None else Workspace.open(workspace).root / JWKS_FILE
    try:
        att = verify_attestation(text, key_set)
    except AttestationInvalid as exc:
        if json_out:
            print(json.dumps({"valid": False, "reason": exc.reason, "message": exc.message}))
        else:
            console.print(
                f"invalid: {exc.reason}: {exc.message}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        raise typer.Exit(1) from None
    if json_out:
        print(json.dumps({"valid": True, **att.as_dict()}))
        return
    rows = [
        ("score", f"{att.score} (band {att.band})"),
        ("as of", att.as_of.isoformat()),
        ("person", att.person_id),
        ("expires", f"{att.expires_at:%Y-%m-%d %H:%M} UTC"),
        ("issued", f"{att.issued_at:%Y-%m-%d %H:%M} UTC by {att.issuer}"),
        ("audience", att.audience or "anyone"),
        ("scorecard", f"{att.scorecard_version}, snapshot {att.snapshot_id}"),
        ("key", att.kid),
    ]
    console.print("valid", style="bold green")
    for name, value in rows:
        console.print(f"  {name:<10} {value}", markup=False, highlight=False, soft_wrap=True)


@keys_app.command("show")
@handles_errors
def keys_show(workspace: WorkspaceOpt = Path(".")) -> None:
    """Print the public key set (JWKS) to publish; creates the signing key on first use."""
    from openbureau.service.attest import public_jwks

    ws = Workspace.open(workspace)
    print(json.dumps(public_jwks(ws.root), indent=2))


@keys_app.command("rotate")
@handles_errors
def keys_rotate(
    workspace: WorkspaceOpt = Path("."),
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Store URL for the audit entry "
            "(default: [service] store_url, else the "
            "workspace's SQLite file).",
        ),
    ] = None,
) -> None:
    """Sign with a new key from now on; old public keys stay so earlier tokens still verify.
    The rotation is in the audit log, as done by you (OS user@host)."""
    from openbureau.service import bindings
    from openbureau.service.app import service_config
    from openbureau.service.attest import load_jwks, rotate_signing_key
    from openbureau.service.store import open_store

    ws = Workspace.open(workspace)
    # (the store first: one that cannot be reached stops the rotation before it happens)
    factory = open_store(service_config(ws, store).store_url)
    by = bindings.operator()
    kid = rotate_signing_key(ws.root)
    others = [k.get("kid") for k in load_jwks(ws.root)["keys"] if k.get("kid") != kid]
    bindings.store_log(factory)(
        actor=by.name,
        actor_role=by.role,
        action="rotate signing key",
        detail=f"signs with {kid} from now on; earlier keys still "
        f"published: {', '.join(map(str, others)) or 'none'}",
    )
    console.print(f"Signing key is now {kid}", markup=False, highlight=False, soft_wrap=True)
    if others:
        console.print(
            f"Still published for earlier tokens: {', '.join(map(str, others))}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
