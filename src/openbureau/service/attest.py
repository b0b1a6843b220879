"""Signed score attestations: a person's score as a compact JWS (Ed25519) that expires.

A person shares the token with a landlord or lender; anyone verifies it offline against the
bureau's public key set (``public/jwks.json`` in the workspace, published by the service at
``/.well-known/jwks.json``).

Keys in the workspace::

    secrets/attestation_ed25519.jwk          the signing key (private JWK, mode 0600)
    secrets/attestation_ed25519.<kid>.jwk    keys retired by rotation (no longer used to sign)
    public/jwks.json                         public keys, current first; old ones stay so that
                                             tokens signed before a rotation verify until expiry

The key id (``kid``) is the key's RFC 7638 thumbprint, so anyone can recompute it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import OKPKey

from openbureau.errors import UserError
from openbureau.workspace import SECRETS_DIR

__all__ = [
    "ALGORITHM",
    "CLOCK_SKEW",
    "JWKS_FILE",
    "MAX_TTL",
    "MIN_TTL",
    "REASONS",
    "TOKEN_TYPE",
    "Attestation",
    "AttestationInvalid",
    "create_attestation",
    "ensure_signing_key",
    "load_jwks",
    "public_jwks",
    "rotate_signing_key",
    "verify_attestation",
]

#: The only JWS algorithm signed or accepted (RFC 9864 name for EdDSA over Ed25519).
ALGORITHM = "Ed25519"
TOKEN_TYPE = "openbureau-score+jwt"
MIN_TTL = timedelta(minutes=1)
MAX_TTL = timedelta(days=90)
#: Tolerated clock difference between the bureau and the verifier for ``iat``.
CLOCK_SKEW = timedelta(minutes=5)
REASONS = frozenset(
    {"malformed", "unknown_key", "tampered", "expired", "not_yet_valid", "wrong_algorithm"}
)

SIGNING_KEY_FILE = "attestation_ed25519.jwk"
JWKS_FILE = Path("public") / "jwks.json"
_HEADER_FIELDS = frozenset({"alg", "kid", "typ"})
_CLAIMS = ("iss", "sub", "jti", "iat", "exp", "score", "band", "as_of", "snapshot", "scorecard")
_SIGNATURE_BYTES = 64
_LAST_SECOND = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp())
# Signature checks only: header names are checked by us after the signature is known good.
_REGISTRY = jws.JWSRegistry(algorithms=[ALGORITHM], strict_check_header=False)


class AttestationInvalid(UserError):
    """A token that is not a valid attestation; ``reason`` is one of ``REASONS``."""

    exit_code = 1

    def __init__(self, reason: str, message: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Attestation:
    """The verified claims of an attestation."""

    person_id: str
    score: int
    band: str
    as_of: date
    issued_at: datetime
    expires_at: datetime
    snapshot_id: str
    scorecard_version: str
    kid: str
    jti: str
    audience: str | None
    issuer: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (dates and times in ISO 8601)."""
        out = asdict(self)
        for name in ("as_of", "issued_at", "expires_at"):
            out[name] = out[name].isoformat()
        return out


# --- keys ---------------------------------------------------------------------------------


def _signing_key_path(ws_root: Path) -> Path:
    return Path(ws_root) / SECRETS_DIR / SIGNING_KEY_FILE


def _jwks_path(ws_root: Path) -> Path:
    return Path(ws_root) / JWKS_FILE


def _new_key() -> tuple[OKPKey, dict[str, Any]]:
    key = OKPKey.generate_key("Ed25519")
    private = dict(key.as_dict(private=True))
    private.update(kid=key.thumbprint(), alg=ALGORITHM, use="sig")
    return key, private


def _public_part(private: dict[str, Any]) -> dict[str, Any]:
    return {k: private[k] for k in ("kty", "crv", "x", "kid", "alg", "use")}


def _write_private(path: Path, jwk: dict[str, Any], *, replace: bool) -> None:
    """Write a private JWK with mode 0600, never visible half-written.

    Without ``replace``, an existing file wins (another process created the key first).
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(jwk, fh, indent=2)
            fh.write("\n")
        if replace:
            os.replace(tmp, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_private(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        OKPKey.import_key(data)
        if data.get("crv") != "Ed25519" or not isinstance(data.get("kid"), str) or "d" not in data:
            raise ValueError
    except FileNotFoundError:
        raise UserError(f"{path}: attestation signing key not found") from None
    except (OSError, ValueError, TypeError, JoseError):
        raise UserError(f"{path}: not an Ed25519 private JWK with a kid") from None
    return dict(data)


def _write_jwks(ws_root: Path, keys: list[dict[str, Any]]) -> None:
    path = _jwks_path(ws_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(json.dumps({"keys": keys}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_jwks_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(
            f"{path}: key set not found; pass the bureau's published jwks.json"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError):
        raise UserError(f"{path}: not a JSON key set") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise UserError(f'{path}: not a JWKS (expected {{"keys": [...]}})')
    return data


def load_jwks(ws_root: Path) -> dict[str, Any]:
    """The workspace's public key set as written (``public/jwks.json``); UserError if absent."""
    return _read_jwks_file(_jwks_path(ws_root))


def public_jwks(ws_root: Path) -> dict[str, Any]:
    """The public key set to publish, creating the signing key first if there is none."""
    ensure_signing_key(ws_root)
    return load_jwks(ws_root)


def ensure_signing_key(ws_root: Path) -> str:
    """Create the signing key if absent, make sure its public key is published; return its kid."""
    path = _signing_key_path(ws_root)
    if not path.exists():
        _write_private(path, _new_key()[1], replace=False)
    private = _read_private(path)
    published = load_jwks(ws_root)["keys"] if _jwks_path(ws_root).exists() else []
    if not any(isinstance(k, dict) and k.get("kid") == private["kid"] for k in published):
        _write_jwks(ws_root, [_public_part(private), *published])
    return str(private["kid"])


def rotate_signing_key(ws_root: Path) -> str:
    """Sign with a new key from now on; return its kid.

    Old public keys stay in ``public/jwks.json`` so tokens signed earlier verify until they
    expire (at most ``MAX_TTL`` later). The old private key is kept as
    ``secrets/attestation_ed25519.<kid>.jwk``; it is never used again and may be deleted.
    """
    path = _signing_key_path(ws_root)
    if not path.exists():
        return ensure_signing_key(ws_root)
    old_kid = ensure_signing_key(ws_root)
    _, new = _new_key()
    # Publish before signing with it, so no token exists that the key set cannot verify.
    _write_jwks(ws_root, [_public_part(new), *load_jwks(ws_root)["keys"]])
    with contextlib.suppress(FileExistsError):
        os.link(path, path.with_name(f"attestation_ed25519.{old_kid}.jwk"))
    _write_private(path, new, replace=True)
    return str(new["kid"])


# --- tokens -------------------------------------------------------------------------------


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _fmt(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def create_attestation(
    ws_root: Path,
    *,
    person_id: str,
    score: int,
    band: str,
    as_of: date,
    snapshot_id: str,
    scorecard_version: str,
    ttl: timedelta,
    audience: str | None = None,
    issuer: str = "openbureau",
    now: datetime | None = None,
) -> str:
    """Sign an attestation of ``person_id``'s score with the workspace's key.

    Args:
        ws_root: Workspace folder; its signing key is created on first use.
        ttl: How long the token is valid, between ``MIN_TTL`` and ``MAX_TTL``.
        audience: Optional recipient (``aud``), e.g. the landlord the person shares it with.
        now: Issue time (default: the current time); naive datetimes are taken as UTC.

    Returns:
        The compact JWS ``header.claims.signature``.
    """
    if not MIN_TTL <= ttl <= MAX_TTL:
        raise UserError(f"attestation lifetime must be between 1 minute and 90 days, got {ttl}")
    if isinstance(score, bool) or not isinstance(score, int):
        raise UserError(f"score must be a whole number, got {score!r}")
    for name, value in (
        ("person_id", person_id),
        ("band", band),
        ("snapshot_id", snapshot_id),
        ("scorecard_version", scorecard_version),
        ("issuer", issuer),
    ):
        if not isinstance(value, str) or not value:
            raise UserError(f"{name} must be a non-empty string, got {value!r}")
    kid = ensure_signing_key(ws_root)
    key = OKPKey.import_key(_read_private(_signing_key_path(ws_root)))
    issued = int(_utc(now).timestamp())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": person_id,
        "jti": secrets.token_urlsafe(16),
        "iat": issued,
        "exp": issued + int(ttl.total_seconds()),
        "score": score,
        "band": band,
        "as_of": as_of.isoformat()[:10],
        "snapshot": snapshot_id,
        "scorecard": scorecard_version,
    }
    if audience is not None:
        claims["aud"] = audience
    header = {"alg": ALGORITHM, "kid": kid, "typ": TOKEN_TYPE}
    payload = json.dumps(claims, separators=(",", ":"), sort_keys=True)
    return jws.serialize_compact(header, payload, key, registry=_REGISTRY)


def _b64decode(segment: str, what: str) -> bytes:
    # Only canonical base64url without padding: a token has exactly one spelling.
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raw = None
    if raw is None or base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != segment:
        raise AttestationInvalid("malformed", f"the {what} segment is not base64url")
    return raw


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(segment, what))
    except (UnicodeDecodeError, ValueError):
        value = None
    if not isinstance(value, dict):
        raise AttestationInvalid("malformed", f"the {what} segment is not a JSON object")
    return value


def _find_key(jwks: dict[str, Any] | Path, kid: str) -> OKPKey:
    key_set = _read_jwks_file(jwks) if isinstance(jwks, Path) else jwks
    keys = key_set.get("keys") if isinstance(key_set, dict) else None
    if not isinstance(keys, list):
        raise UserError('not a JWKS (expected {"keys": [...]})')
    for jwk in keys:
        if isinstance(jwk, dict) and jwk.get("kid") == kid:
            if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
                continue
            try:  # the public part only, whatever else the entry holds
                return OKPKey.import_key({"kty": "OKP", "crv": "Ed25519", "x": str(jwk["x"])})
            except (JoseError, KeyError, ValueError, TypeError):
                raise UserError(f"key set: key {kid} is not a valid Ed25519 public key") from None
    raise AttestationInvalid(
        "unknown_key",
        f"signed with key {kid}, which is not in the key "
        "set (not this bureau's key, or the key set is out of date)",
    )


def _claims(claims: dict[str, Any]) -> dict[str, Any]:
    missing = [c for c in _CLAIMS if c not in claims]
    if missing:
        raise AttestationInvalid("malformed", f"missing claim(s): {', '.join(missing)}")
    for name in _CLAIMS:
        want = int if name in ("iat", "exp", "score") else str
        value = claims[name]
        if isinstance(value, bool) or not isinstance(value, want):
            raise AttestationInvalid(
                "malformed", f"claim {name!r} must be {'an integer' if want is int else 'a string'}"
            )
    if "aud" in claims and not isinstance(claims["aud"], str):
        raise AttestationInvalid("malformed", "claim 'aud' must be a string")
    if not 0 <= claims["iat"] < claims["exp"] <= _LAST_SECOND:
        raise AttestationInvalid("malformed", "claims 'iat' and 'exp' are not a valid period")
    try:
        claims["as_of"] = date.fromisoformat(claims["as_of"])
    except ValueError:
        raise AttestationInvalid("malformed", "claim 'as_of' is not a date") from None
    return claims


def verify_attestation(
    token: str, jwks: dict[str, Any] | Path, *, now: datetime | None = None
) -> Attestation:
    """Check an attestation's signature, algorithm, key and validity period.

    Args:
        token: The compact JWS.
        jwks: The bureau's public key set, as a dict or the path of its JSON file.
        now: Time of verification (default: the current time); naive datetimes are UTC.

    Raises:
        AttestationInvalid: The token is not valid; ``reason`` says why.
        UserError: The key set itself is missing or unreadable.
    """
    token = token.strip() if isinstance(token, str) else ""
    parts = token.split(".")
    if len(parts) != 3:
        raise AttestationInvalid(
            "malformed",
            f"not a compact JWS (expected header.claims.signature, got {len(parts)} part(s))",
        )
    header = _json_object(parts[0], "header")
    if "alg" not in header:
        raise AttestationInvalid("malformed", "the header has no algorithm (alg)")
    alg = header["alg"]
    if alg != ALGORITHM:
        raise AttestationInvalid(
            "wrong_algorithm",
            f"token uses algorithm {str(alg)[:40]!r}; only {ALGORITHM} is accepted",
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AttestationInvalid("malformed", "the header has no key id (kid)")
    payload = _json_object(parts[1], "claims")
    if len(_b64decode(parts[2], "signature")) != _SIGNATURE_BYTES:
        raise AttestationInvalid(
            "malformed", "the signature is not 64 bytes (is the token truncated?)"
        )
    key = _find_key(jwks, kid)
    try:
        jws.deserialize_compact(token, key, registry=_REGISTRY)
    except BadSignatureError:
        raise AttestationInvalid(
            "tampered",
            "signature does not match: the token was altered or not signed by this bureau",
        ) from None
    except JoseError as exc:
        raise AttestationInvalid("malformed", f"not a valid JWS ({exc})") from None
    if set(header) - _HEADER_FIELDS or header.get("typ") != TOKEN_TYPE:
        raise AttestationInvalid(
            "malformed",
            "not an openbureau score attestation (header "
            f"{sorted(header)}, typ {header.get('typ')!r})",
        )
    claims = _claims(payload)
    moment = _utc(now)
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    issued = datetime.fromtimestamp(claims["iat"], UTC)
    if moment >= expires:
        raise AttestationInvalid("expired", f"attestation expired at {_fmt(expires)}")
    if issued > moment + CLOCK_SKEW:
        raise AttestationInvalid(
            "not_yet_valid",
            f"attestation is issued at {_fmt(issued)}, in the future: check the clocks",
        )
    return Attestation(
        person_id=claims["sub"],
        score=claims["score"],
        band=claims["band"],
        as_of=claims["as_of"],
        issued_at=issued,
        expires_at=expires,
        snapshot_id=claims["snapshot"],
        scorecard_version=claims["scorecard"],
        kid=kid,
        jti=claims["jti"],
        audience=claims.get("aud"),
        issuer=claims["iss"],
    )
