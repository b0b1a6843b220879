"""Signed tree heads: the bureau's signature on the audit log's size and root at a moment.

A head is a compact JWS (Ed25519) with header ``typ: openbureau-tree-head`` over the claims
``{"log_id", "tree_size", "root_hash" (hex), "timestamp" (ms since 1970, UTC)}``. It is signed
with the log's own key, not the score attestations' one: a head can then never pass for a score
(whatever a verifier checks), and the key lives as long as the heads it signed (attestation keys
rotate, and a key set may drop old ones once their tokens have expired; a person may keep a head
for years).

Keys and heads in the workspace::

    secrets/audit_log_ed25519.jwk    the log's signing key (private JWK, mode 0600)
    public/audit-log-keys.json       its public key (a JWKS), also at
                                     /.well-known/audit-log-keys.json
    public/audit-heads.jsonl         every head signed, one JSON object a line
    public/audit-log.json            which log the heads are of (workspace_log.py)

Heads are also kept in the store (``audit_heads``), where the service finds the latest. A head
is signed only for the workspace's log: a store whose log is another (renamed, or replaced) is
refused until the operator starts a new log on purpose (:func:`start_new_log`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import OKPKey
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openbureau.errors import UserError
from openbureau.service import audit_tree
from openbureau.service.attest import ALGORITHM, _new_key, _public_part, _write_private
from openbureau.service.merkle import verify_consistency
from openbureau.service.store import AuditHead, TransparencyLog
from openbureau.service.workspace_log import read_log, record_log
from openbureau.workspace import SECRETS_DIR

HEAD_TYPE = "openbureau-tree-head"
LOG_KEY_FILE = "audit_log_ed25519.jwk"
LOG_KEYS_FILE = Path("public") / "audit-log-keys.json"
HEADS_FILE = Path("public") / "audit-heads.jsonl"
_REGISTRY = jws.JWSRegistry(algorithms=[ALGORITHM], strict_check_header=False)
_CLAIMS = {"log_id": str, "tree_size": int, "root_hash": str, "timestamp": int}


class HeadInvalid(UserError):
    """A head that is not one this bureau signed (or not a head at all)."""

    exit_code = 1


class LogInconsistent(UserError):
    """The log as stored does not extend the last head signed: it is not signed again."""

    exit_code = 1


class LogMismatch(LogInconsistent):
    """The store's log is not the workspace's (public/audit-log.json, or the heads file): its
    id was changed, or the store replaced. Not signed: that would start a log over unseen."""


NEW_LOG_HINT = (
    "run `openbureau audit verify`; a store replaced on purpose: `openbureau audit sign "
    "--new-log REASON`"
)


@dataclass(frozen=True)
class SignedHead:
    """A verified (or just made) signed tree head."""

    log_id: str
    tree_size: int
    root_hash: bytes
    timestamp: int  # milliseconds since 1970-01-01 UTC
    key_id: str
    jws: str

    @property
    def signed_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.timestamp / 1000, dt.UTC)

    def as_json(self) -> dict[str, Any]:
        """The head as given out and kept in the file: the claims, and the JWS that signs them
        (``signature``: all a verifier needs)."""
        return {
            "log_id": self.log_id,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp": self.timestamp,
            "signed_at": self.signed_at.isoformat(timespec="milliseconds"),
            "key_id": self.key_id,
            "signature": self.jws,
        }

    def describe(self) -> str:
        return f"size {self.tree_size:,}, signed {self.signed_at:%Y-%m-%d %H:%M:%S} UTC"


# --- keys ---------------------------------------------------------------------------------


def _key_path(ws_root: Path) -> Path:
    return Path(ws_root) / SECRETS_DIR / LOG_KEY_FILE


def ensure_log_key(ws_root: Path) -> dict[str, Any]:
    """The log's private JWK, created (and its public key published) on first use."""
    path = _key_path(ws_root)
    if not path.exists():
        _write_private(path, _new_key()[1], replace=False)
    try:
        private = json.loads(path.read_text(encoding="utf-8"))
        OKPKey.import_key(private)
        if private.get("crv") != "Ed25519" or "d" not in private or "kid" not in private:
            raise ValueError
    except (OSError, ValueError, TypeError, JoseError):
        raise UserError(f"{path}: not an Ed25519 private JWK with a kid") from None
    public = Path(ws_root) / LOG_KEYS_FILE
    keys = log_keys(ws_root)["keys"] if public.exists() else []
    if not any(isinstance(k, dict) and k.get("kid") == private["kid"] for k in keys):
        public.parent.mkdir(parents=True, exist_ok=True)
        tmp = public.with_name(f".{public.name}.{os.getpid()}.tmp")
        tmp.write_text(
            json.dumps({"keys": [_public_part(private), *keys]}, indent=2) + "\n", encoding="utf-8"
        )
        os.replace(tmp, public)
    return dict(private)


def log_keys(ws_root: Path) -> dict[str, Any]:
    """The log's public key set (``public/audit-log-keys.json``)."""
    return read_key_set(Path(ws_root) / LOG_KEYS_FILE)


def read_key_set(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(
            f"{path}: key set not found (the bureau publishes it as "
            "/.well-known/audit-log-keys.json)"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError):
        raise UserError(f"{path}: not a JSON key set") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise UserError(f'{path}: not a JWKS (expected {{"keys": [...]}})')
    return data


# --- signing ------------------------------------------------------------------------------


def log_id(session: Session) -> str:
    found = session.execute(select(TransparencyLog.log_id)).scalar()
    if found is None:
        raise UserError("the store has no transparency log id: is its schema up to date?")
    return str(found)


def latest_head(session: Session) -> SignedHead | None:
    """The largest (then newest) head the store holds for its log, as stored (not checked)."""
    row = session.execute(
        select(AuditHead)
        .where(AuditHead.log_id == log_id(session))
        .order_by(AuditHead.tree_size.desc(), AuditHead.id.desc())
        .limit(1)
    ).scalar()
    if row is None:
        return None
    claims = _segment(row.jws, 1)  # (its own: what it says, unchecked; verify checks them)
    return SignedHead(
        row.log_id,
        row.tree_size,
        bytes.fromhex(row.root_hash),
        int(claims.get("timestamp", 0)),
        row.key_id,
        row.jws,
    )


def sign_head(
    factory: sessionmaker[Session], ws_root: Path, key: dict[str, Any] | None = None
) -> SignedHead:
    """Sign the log's current size and root, keep the head in the file and the store.

    Raises:
        LogInconsistent: the log does not extend the last head signed (it is shorter, or its
            first entries are not those signed): signing it would bless the change.
        LogMismatch: the store's log is not the workspace's.
    """
    private = key or ensure_log_key(ws_root)
    with factory() as session:
        lid = log_id(session)
        size = audit_tree.tree_size(session)
        root = audit_tree.root_at(session, size)
        _claim_log(ws_root, lid, size, private)
        last = max(
            (
                h
                for h in (latest_head(session), _latest_in_file(ws_root, lid, private))
                if h is not None
            ),
            key=lambda h: h.tree_size,
            default=None,
        )
        if last is not None:
            if last.tree_size > size:
                raise LogInconsistent(
                    f"audit log: {size:,} entries, fewer than the {last.describe()}: entries "
                    "were removed; not signed (run `openbureau audit verify`)"
                )
            proof = audit_tree.consistency_proof(session, last.tree_size, size)
            if not verify_consistency(last.tree_size, size, last.root_hash, root, proof):
                raise LogInconsistent(
                    f"audit log: its first {last.tree_size:,} entries are not those of the "
                    f"head {last.describe()}; not signed (run `openbureau audit verify`)"
                )
        now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        claims = {"log_id": lid, "tree_size": size, "root_hash": root.hex(), "timestamp": now}
        header = {"alg": ALGORITHM, "kid": private["kid"], "typ": HEAD_TYPE}
        token = jws.serialize_compact(
            header,
            json.dumps(claims, sort_keys=True, separators=(",", ":")),
            OKPKey.import_key(private),
            registry=_REGISTRY,
        )
        head = SignedHead(lid, size, root, now, str(private["kid"]), token)
        _append_to_file(ws_root, head)  # (first: a head in the store is in the file too)
        session.add(
            AuditHead(
                log_id=lid,
                tree_size=size,
                root_hash=root.hex(),
                signed_at=head.signed_at.replace(tzinfo=None),
                key_id=head.key_id,
                jws=token,
            )
        )
        session.commit()
    return head


def _append_to_file(ws_root: Path, head: SignedHead) -> None:
    path = Path(ws_root) / HEADS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(head.as_json(), separators=(",", ":")) + "\n").encode("utf-8")
    # one write with O_APPEND: lines from several processes never interleave
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _claim_log(ws_root: Path, lid: str, size: int, private: dict[str, Any]) -> None:
    """Refuse to sign log ``lid`` unless it is the workspace's; record it as the workspace's
    at its first head over a non-empty log.

    Raises:
        LogMismatch: the workspace's log is another, or (none recorded yet) the heads file holds
            heads of another log that cover entries.
    """
    own = read_log(ws_root)
    if own is None:
        others = other_logs_in_file(ws_root, lid, {"keys": [_public_part(private)]})
        if others:
            other, largest = max(others.items(), key=lambda kv: kv[1])
            raise LogMismatch(
                f"audit log: {HEADS_FILE} holds signed heads of log {other} (up to size "
                f"{largest:,}), not of this store's log {lid}: the store's log was renamed or "
                f"replaced since; not signed ({NEW_LOG_HINT})"
            )
        if size == 0:
            return  # (a head of an empty log binds nothing: see workspace_log.py)
        own = record_log(ws_root, lid)
    if own.log_id != lid:
        raise LogMismatch(
            f"audit log: this store's log is {lid}, but this workspace's is {own.describe()}: "
            f"the store's log id was changed, or the store replaced; not signed ({NEW_LOG_HINT})"
        )


def other_logs_in_file(ws_root: Path, lid: str, keys: dict[str, Any]) -> dict[str, int]:
    """Logs other than ``lid`` with a valid head over a non-empty log in the heads file: each
    with the largest size signed. (Reads the whole file: done until the workspace records its
    log, and when a new one is started.)"""
    found: dict[str, int] = {}
    for _, data in read_heads_file(ws_root):
        if not isinstance(data, dict) or data.get("log_id") in (lid, None):
            continue
        if not isinstance(data.get("tree_size"), int) or data["tree_size"] <= 0:
            continue
        try:
            head = verify_head(data, keys)
        except HeadInvalid:
            continue
        if head.log_id != lid and head.tree_size > 0:
            found[head.log_id] = max(found.get(head.log_id, 0), head.tree_size)
    return found


def _latest_in_file(ws_root: Path, lid: str, private: dict[str, Any]) -> SignedHead | None:
    """The largest valid head of log ``lid`` among the last lines of the heads file (the store's
    heads may have been deleted; the file is read from its end, not whole)."""
    path = Path(ws_root) / HEADS_FILE
    try:
        with path.open("rb") as fh:
            start = max(0, fh.seek(0, os.SEEK_END) - 65536)
            fh.seek(start)
            tail = fh.read().decode("utf-8", "replace").splitlines()[1 if start else 0 :]
    except FileNotFoundError:
        return None
    keys = {"keys": [_public_part(private)]}
    candidates = []
    for line in tail:
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(data, dict)
            and data.get("log_id") == lid
            and isinstance(data.get("tree_size"), int)
        ):
            candidates.append(data)
    # the largest that is a valid head (one signature checked, as a rule)
    for data in sorted(candidates, key=lambda d: -int(d["tree_size"])):
        try:
            return verify_head(data, keys)
        except HeadInvalid:
            continue
    return None


def read_heads_file(ws_root: Path) -> list[tuple[int, Any]]:
    """``(line number, parsed JSON or None when the line is not JSON)`` for each line of the
    heads file; empty when there is none."""
    path = Path(ws_root) / HEADS_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out: list[tuple[int, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            out.append((number, json.loads(line)))
        except ValueError:
            out.append((number, None))
    return out


# --- checking -----------------------------------------------------------------------------


def _find_key(keys: dict[str, Any], kid: str) -> OKPKey:
    for jwk in keys.get("keys") or []:
        if isinstance(jwk, dict) and jwk.get("kid") == kid and jwk.get("crv") == "Ed25519":
            try:
                return OKPKey.import_key({"kty": "OKP", "crv": "Ed25519", "x": str(jwk["x"])})
            except (JoseError, KeyError, ValueError, TypeError):
                break
    raise HeadInvalid(
        f"signed with key {kid[:64]!r}, which is not in the log's key set (not "
        "this bureau's log, or the key set is out of date)"
    )


def _segment(token: str, i: int) -> dict[str, Any]:
    part = token.split(".")[i]
    try:
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise HeadInvalid("not a signed tree head (a part of the JWS is not a JSON object)")
    return value


def verify_head(head: dict[str, Any] | str, keys: dict[str, Any]) -> SignedHead:
    """Check a head's signature against the log's public key set, and that the fields beside
    the signature say what it signs.

    Args:
        head: The head as given out (a JSON object with ``signature``), or the JWS alone.
        keys: The log's public key set (``public/audit-log-keys.json``).

    Raises:
        HeadInvalid: not a head this bureau's log key signed, or altered since.
    """
    token = head.get("signature") if isinstance(head, dict) else head
    if not isinstance(token, str) or token.count(".") != 2:
        raise HeadInvalid("not a signed tree head (no compact JWS in 'signature')")
    header = _segment(token, 0)
    if header.get("alg") != ALGORITHM or header.get("typ") != HEAD_TYPE:
        raise HeadInvalid(
            f"not a signed tree head (alg {str(header.get('alg'))[:20]!r}, typ "
            f"{str(header.get('typ'))[:40]!r})"
        )
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise HeadInvalid("the head names no key (kid)")
    try:
        jws.deserialize_compact(token, _find_key(keys, kid), registry=_REGISTRY)
    except BadSignatureError:
        raise HeadInvalid(
            "the signature does not match: the head was altered or not signed by this bureau"
        ) from None
    except JoseError as exc:
        raise HeadInvalid(f"not a valid JWS ({exc})") from None
    claims = _segment(token, 1)
    for name, kind in _CLAIMS.items():
        value = claims.get(name)
        if isinstance(value, bool) or not isinstance(value, kind):
            raise HeadInvalid(f"the head's claim {name!r} is missing or not a {kind.__name__}")
    try:
        root = bytes.fromhex(claims["root_hash"])
    except ValueError:
        root = b""
    if len(root) != 32 or claims["tree_size"] < 0 or claims["timestamp"] < 0:
        raise HeadInvalid("the head's claims are not a tree size, a root hash and a time")
    signed = SignedHead(
        claims["log_id"], claims["tree_size"], root, claims["timestamp"], kid, token
    )
    if isinstance(head, dict):
        shown = signed.as_json()
        for name in ("log_id", "tree_size", "root_hash", "timestamp", "key_id"):
            if name in head and head[name] != shown[name]:
                raise HeadInvalid(
                    f"the head's {name} ({str(head[name])[:70]}) is not what is "
                    f"signed ({shown[name]})"
                )
    return signed
