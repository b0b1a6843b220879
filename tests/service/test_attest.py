"""Signed score attestations: signing, every way verification fails, key rotation, the CLI."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import OKPKey
from typer.testing import CliRunner, Result

from openbureau.cli import app
from openbureau.errors import UserError
from openbureau.service.attest import (
    ALGORITHM,
    JWKS_FILE,
    TOKEN_TYPE,
    AttestationInvalid,
    create_attestation,
    ensure_signing_key,
    load_jwks,
    public_jwks,
    rotate_signing_key,
    verify_attestation,
)
from openbureau.workspace import Workspace, init_workspace

NOW = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _attest(root: Path, **overrides: Any) -> str:
    kwargs: dict[str, Any] = dict(
        person_id="P000042",
        score=712,
        band="B",
        as_of=date(2026, 2, 28),
        snapshot_id="S20260228",
        scorecard_version="openbureau-1.3",
        ttl=timedelta(days=30),
        now=NOW,
    )
    kwargs.update(overrides)
    return create_attestation(root, **kwargs)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(segment: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


def _encode(obj: dict[str, Any]) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


def _sign(root: Path, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """Sign arbitrary claims with a workspace's own private key."""
    jwk = json.loads((root / "secrets" / "attestation_ed25519.jwk").read_text())
    return jws.serialize_compact(
        header, json.dumps(claims), OKPKey.import_key(jwk), algorithms=[ALGORITHM]
    )


@pytest.fixture
def other(tmp_path: Path) -> Workspace:
    """A second bureau with its own key."""
    return init_workspace(tmp_path / "other")


# --- each invalid token, built from a good one; shared by the API and the CLI tests -------


def _tampered_payload(ws: Workspace, other: Workspace) -> str:
    head, claims, sig = _attest(ws.root).split(".")
    changed = _decode(claims) | {"score": 850}
    return f"{head}.{_encode(changed)}.{sig}"


def _tampered_header(ws: Workspace, other: Workspace) -> str:
    head, claims, sig = _attest(ws.root).split(".")
    return f"{_encode(_decode(head) | {'typ': 'JWT'})}.{claims}.{sig}"


def _same_kid_other_key(ws: Workspace, other: Workspace) -> str:
    kid = ensure_signing_key(ws.root)
    claims = _decode(_attest(ws.root).split(".")[1]) | {"score": 850}
    ensure_signing_key(other.root)
    return _sign(other.root, {"alg": ALGORITHM, "kid": kid, "typ": TOKEN_TYPE}, claims)


def _other_bureau(ws: Workspace, other: Workspace) -> str:
    ensure_signing_key(ws.root)
    return _attest(other.root)


def _alg_none(ws: Workspace, other: Workspace) -> str:
    head, claims, _ = _attest(ws.root).split(".")
    return f"{_encode(_decode(head) | {'alg': 'none'})}.{claims}."


def _alg_hs256_with_public_key(ws: Workspace, other: Workspace) -> str:
    # The classic confusion attack: HMAC keyed with the published public key.
    head, claims, _ = _attest(ws.root).split(".")
    head = _encode(_decode(head) | {"alg": "HS256"})
    x = load_jwks(ws.root)["keys"][0]["x"].encode()
    mac = hmac.new(x, f"{head}.{claims}".encode(), hashlib.sha256).digest()
    return f"{head}.{claims}.{_b64(mac)}"


def _expired(ws: Workspace, other: Workspace) -> str:
    return _attest(ws.root, now=datetime.now(UTC) - timedelta(days=2), ttl=timedelta(days=1))


def _future(ws: Workspace, other: Workspace) -> str:
    return _attest(ws.root, now=datetime.now(UTC) + timedelta(hours=1))


def _truncated(ws: Workspace, other: Workspace) -> str:
    return _attest(ws.root)[:-6]


def _two_parts(ws: Workspace, other: Workspace) -> str:
    return _attest(ws.root).rsplit(".", 1)[0]


def _missing_claim(ws: Workspace, other: Workspace) -> str:
    kid = ensure_signing_key(ws.root)
    claims = _decode(_attest(ws.root).split(".")[1])
    del claims["score"]
    return _sign(ws.root, {"alg": ALGORITHM, "kid": kid, "typ": TOKEN_TYPE}, claims)


def _garbage(ws: Workspace, other: Workspace) -> str:
    ensure_signing_key(ws.root)
    return "not-a-token"


def _bad_base64(ws: Workspace, other: Workspace) -> str:
    head = _attest(ws.root).split(".")[0]
    return f"{head}.!!!.AAAA"


def _no_alg(ws: Workspace, other: Workspace) -> str:
    ensure_signing_key(ws.root)
    return f"{_encode({})}.{_encode({})}.AAAA"


BAD_TOKENS: dict[str, tuple[Callable[[Workspace, Workspace], str], str, str]] = {
    # name: (build, reason, words in the message)
    "tampered payload": (_tampered_payload, "tampered", "signature does not match"),
    "tampered header": (_tampered_header, "tampered", "signature does not match"),
    "other key, same kid": (_same_kid_other_key, "tampered", "not signed by this bureau"),
    "unknown kid": (_other_bureau, "unknown_key", "not in the key set"),
    "alg none": (_alg_none, "wrong_algorithm", "'none'"),
    "alg HS256": (_alg_hs256_with_public_key, "wrong_algorithm", "'HS256'"),
    "expired": (_expired, "expired", "attestation expired at"),
    "issued in the future": (_future, "not_yet_valid", "in the future"),
    "truncated": (_truncated, "malformed", "truncated"),
    "two parts": (_two_parts, "malformed", "got 2 part(s)"),
    "missing claim": (_missing_claim, "malformed", "missing claim(s): score"),
    "garbage": (_garbage, "malformed", "not a compact JWS"),
    "bad base64": (_bad_base64, "malformed", "the claims segment is not base64url"),
    "no alg": (_no_alg, "malformed", "no algorithm"),
}


# --- the Python API ------------------------------------------------------------------------


def test_round_trip(ws: Workspace) -> None:
    token = _attest(ws.root, audience="landlord:acme")
    head = _decode(token.split(".")[0])
    assert head == {"alg": "Ed25519", "kid": ensure_signing_key(ws.root), "typ": TOKEN_TYPE}
    att = verify_attestation(token, load_jwks(ws.root), now=NOW + timedelta(days=1))
    assert (att.person_id, att.score, att.band, att.as_of) == (
        "P000042",
        712,
        "B",
        date(2026, 2, 28),
    )
    assert (att.snapshot_id, att.scorecard_version) == ("S20260228", "openbureau-1.3")
    assert att.issued_at == NOW and att.expires_at == NOW + timedelta(days=30)
    assert att.audience == "landlord:acme" and att.issuer == "openbureau"
    assert att.kid == head["kid"] and len(att.jti) >= 16
    # a Path works as well as a dict, and every token gets its own jti
    again = verify_attestation(_attest(ws.root), ws.root / JWKS_FILE, now=NOW)
    assert again.jti != att.jti and again.audience is None


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_invalid_tokens_say_why(ws: Workspace, other: Workspace, case: str) -> None:
    build, reason, words = BAD_TOKENS[case]
    token = build(ws, other)
    with pytest.raises(AttestationInvalid) as info:
        verify_attestation(token, load_jwks(ws.root))
    assert info.value.reason == reason
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_expiry_is_exact_and_says_when(ws: Workspace) -> None:
    token = _attest(ws.root, ttl=timedelta(days=1))
    verify_attestation(token, load_jwks(ws.root), now=NOW + timedelta(days=1, seconds=-1))
    with pytest.raises(AttestationInvalid) as info:
        verify_attestation(token, load_jwks(ws.root), now=NOW + timedelta(days=1))
    assert info.value.reason == "expired"
    assert str(info.value) == "attestation expired at 2026-03-02 10:00 UTC"


def test_clock_skew_up_to_five_minutes_is_tolerated(ws: Workspace) -> None:
    token = _attest(ws.root)
    verify_attestation(token, load_jwks(ws.root), now=NOW - timedelta(minutes=5))
    with pytest.raises(AttestationInvalid) as info:
        verify_attestation(token, load_jwks(ws.root), now=NOW - timedelta(minutes=5, seconds=1))
    assert info.value.reason == "not_yet_valid"


@pytest.mark.parametrize(
    "ttl", [timedelta(seconds=59), timedelta(days=90, seconds=1), timedelta(0), timedelta(days=-1)]
)
def test_ttl_outside_bounds_is_refused(ws: Workspace, ttl: timedelta) -> None:
    with pytest.raises(UserError, match="between 1 minute and 90 days"):
        _attest(ws.root, ttl=ttl)


@pytest.mark.parametrize("ttl", [timedelta(minutes=1), timedelta(days=90)])
def test_ttl_bounds_are_inclusive(ws: Workspace, ttl: timedelta) -> None:
    att = verify_attestation(_attest(ws.root, ttl=ttl), load_jwks(ws.root), now=NOW)
    assert att.expires_at - att.issued_at == ttl


def test_keys_are_private_and_only_the_public_part_is_published(ws: Workspace) -> None:
    kid = ensure_signing_key(ws.root)
    assert ensure_signing_key(ws.root) == kid  # idempotent
    private = ws.root / "secrets" / "attestation_ed25519.jwk"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE((ws.root / "secrets").stat().st_mode) == 0o700
    assert "d" in json.loads(private.read_text())
    published = json.loads((ws.root / JWKS_FILE).read_text())
    assert published == public_jwks(ws.root) == load_jwks(ws.root)
    [key] = published["keys"]
    assert key["kid"] == kid == OKPKey.import_key(key).thumbprint()  # RFC 7638
    assert {"kty": "OKP", "crv": "Ed25519", "alg": "Ed25519"}.items() <= key.items()
    assert "d" not in key


def test_rotation_keeps_old_tokens_valid(ws: Workspace) -> None:
    old_token = _attest(ws.root)
    old_kid = ensure_signing_key(ws.root)
    new_kid = rotate_signing_key(ws.root)
    assert new_kid != old_kid and ensure_signing_key(ws.root) == new_kid
    new_token = _attest(ws.root)
    assert [k["kid"] for k in load_jwks(ws.root)["keys"]] == [new_kid, old_kid]
    assert verify_attestation(old_token, load_jwks(ws.root), now=NOW).kid == old_kid
    assert verify_attestation(new_token, load_jwks(ws.root), now=NOW).kid == new_kid
    retired = ws.root / "secrets" / f"attestation_ed25519.{old_kid}.jwk"
    assert json.loads(retired.read_text())["kid"] == old_kid
    assert stat.S_IMODE(retired.stat().st_mode) == 0o600
    assert not [p for p in (ws.root / "secrets").iterdir() if p.name.endswith(".tmp")]
    # the old key no longer signs: a key set holding only it rejects new tokens
    only_old = {"keys": [k for k in load_jwks(ws.root)["keys"] if k["kid"] == old_kid]}
    with pytest.raises(AttestationInvalid, match="not in the key set"):
        verify_attestation(new_token, only_old, now=NOW)


def test_a_missing_key_set_is_a_usage_error(ws: Workspace, tmp_path: Path) -> None:
    token = _attest(ws.root)
    with pytest.raises(UserError, match="key set not found") as info:
        verify_attestation(token, tmp_path / "nope.json")
    assert not isinstance(info.value, AttestationInvalid)
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(UserError, match="not a JWKS"):
        verify_attestation(token, tmp_path / "bad.json")


@pytest.fixture(scope="module")
def shared_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("attest") / "ws"
    init_workspace(root)
    ensure_signing_key(root)
    return root


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    score=st.integers(300, 850),
    band=st.text(min_size=1, max_size=12),
    person=st.text(min_size=1, max_size=30),
    as_of=st.dates(date(1990, 1, 1), date(2100, 1, 1)),
)
def test_any_score_and_band_round_trip(
    shared_ws: Path, score: int, band: str, person: str, as_of: date
) -> None:
    token = _attest(shared_ws, score=score, band=band, person_id=person, as_of=as_of)
    att = verify_attestation(token, load_jwks(shared_ws), now=NOW)
    assert (att.score, att.band, att.person_id, att.as_of) == (score, band, person, as_of)


# --- the CLI -----------------------------------------------------------------------------


def test_cli_verify_prints_the_attestation(cli: Callable[..., Result], ws: Workspace) -> None:
    token = _attest(ws.root, now=datetime.now(UTC))
    kid = ensure_signing_key(ws.root)
    res = cli("verify", token, "-w", ws.root)
    assert res.exit_code == 0, res.output
    out = " ".join(res.stdout.split())
    for words in (
        "valid",
        "score 712 (band B)",
        "as of 2026-02-28",
        "person P000042",
        f"key {kid}",
        "expires",
    ):
        assert words in out
    res = cli("verify", token, "--keys", ws.root / JWKS_FILE, "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["valid"] is True and data["score"] == 712 and data["kid"] == kid


def test_cli_verify_reads_stdin(ws: Workspace) -> None:
    token = _attest(ws.root, now=datetime.now(UTC))
    res = CliRunner().invoke(app, ["verify", "-", "-w", str(ws.root)], input=token + "\n")
    assert res.exit_code == 0, res.output
    assert "score 712 (band B)" in " ".join(res.stdout.split())


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_cli_verify_invalid_exits_1(
    cli: Callable[..., Result], ws: Workspace, other: Workspace, case: str
) -> None:
    build, reason, words = BAD_TOKENS[case]
    token = build(ws, other)
    res = cli("verify", token, "--keys", ws.root / JWKS_FILE)
    assert res.exit_code == 1, res.output
    [line] = res.stdout.splitlines()
    assert line.startswith(f"invalid: {reason}: ") and words in line
    res = cli("verify", token, "-w", ws.root, "--json")
    assert res.exit_code == 1
    assert json.loads(res.stdout)["reason"] == reason


def test_cli_verify_usage_errors_exit_2(
    cli: Callable[..., Result], ws: Workspace, tmp_path: Path
) -> None:
    token = _attest(ws.root)
    res = cli("verify", token, "--keys", tmp_path / "missing.json")
    assert res.exit_code == 2 and "key set not found" in res.stderr
    bare = tmp_path / "bare"
    bare.mkdir()
    res = cli("verify", token, "-w", bare)  # a folder without a key set
    assert res.exit_code == 2
    res = cli("verify", "  ", "-w", ws.root)
    assert res.exit_code == 2 and "no token given" in res.stderr


def test_cli_keys_show_and_rotate(cli: Callable[..., Result], ws: Workspace) -> None:
    res = cli("keys", "show", "-w", ws.root)
    assert res.exit_code == 0, res.output
    [first] = json.loads(res.stdout)["keys"]
    assert "d" not in first
    old_token = _attest(ws.root, now=datetime.now(UTC))
    res = cli("keys", "rotate", "-w", ws.root)
    assert res.exit_code == 0, res.output
    new_kid = ensure_signing_key(ws.root)
    assert new_kid != first["kid"] and new_kid in res.stdout and first["kid"] in res.stdout
    shown = json.loads(cli("keys", "show", "-w", ws.root).stdout)
    assert [k["kid"] for k in shown["keys"]] == [new_kid, first["kid"]]
    assert cli("verify", old_token, "-w", ws.root).exit_code == 0


def test_private_key_file_is_never_world_readable_even_with_a_loose_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        ensure_signing_key(tmp_path / "loose")
    finally:
        os.umask(old)
    key = tmp_path / "loose" / "secrets" / "attestation_ed25519.jwk"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
