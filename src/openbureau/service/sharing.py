"""Share a score: a signed, expiring attestation, and its public verification."""

from __future__ import annotations

import datetime as dt
from typing import Any

from openbureau.service.attest import (
    AttestationInvalid,
    create_attestation,
    public_jwks,
    verify_attestation,
)
from openbureau.service.auth import Principal
from openbureau.service.context import ServiceContext
from openbureau.service.errors import ApiError
from openbureau.service.serving import Published
from openbureau.service.store import Attestation


def share_score(
    ctx: ServiceContext,
    pub: Published,
    who: Principal,
    row: dict[str, Any],
    days: int,
    audience: str | None,
    base_url: str,
) -> dict[str, Any]:
    if row["score"] is None:
        raise ApiError(409, "unscorable", f"there is no score to share: {row['unscorable_text']}")
    root = ctx.config.workspace
    token = create_attestation(
        root,
        person_id=row["person_id"],
        score=int(row["score"]),
        band=str(row["band"]),
        as_of=pub.as_of,
        snapshot_id=pub.snapshot_id,
        scorecard_version=pub.card.version,
        ttl=dt.timedelta(days=days),
        audience=audience,
        issuer=ctx.config.bureau_name,
    )
    claims = verify_attestation(token, public_jwks(root))
    with ctx.store() as session:
        session.add(
            Attestation(
                jti=claims.jti,
                person_id=claims.person_id,
                expires_at=claims.expires_at.replace(tzinfo=None),
                snapshot_id=claims.snapshot_id,
                score=claims.score,
                audience=audience,
            )
        )
        session.commit()
    ctx.audit(
        who,
        "create attestation",
        subject=row["person_id"],
        purpose="consumer_request",
        detail=f"{claims.jti} for {audience or 'anyone'} until {claims.expires_at:%Y-%m-%d}",
    )
    return {
        "token": token,
        "expires_at": claims.expires_at,
        "verify_url": base_url.rstrip("/") + "/verify",
    }


def verify_token(ctx: ServiceContext, token: str, address: str) -> dict[str, Any]:
    """Verification result for anyone: valid with the claims, or exactly why not. The audit
    entry names the caller's address (an anonymous caller has nothing else)."""
    try:
        claims = verify_attestation(token.strip(), public_jwks(ctx.config.workspace))
    except AttestationInvalid as exc:
        ctx.audit(
            None, "verify attestation", outcome="denied", detail=f"{exc.reason}, from {address}"
        )
        return {"valid": False, "reason": exc.reason, "message": exc.message}
    ctx.audit(
        None, "verify attestation", subject=claims.person_id, detail=f"{claims.jti}, from {address}"
    )
    return {
        "valid": True,
        "message": f"Valid: signed by this bureau (key {claims.kid}), "
        f"expires {claims.expires_at:%Y-%m-%d %H:%M} UTC.",
        "person_id": claims.person_id,
        "score": claims.score,
        "band": claims.band,
        "as_of": claims.as_of,
        "issued_at": claims.issued_at,
        "expires_at": claims.expires_at,
        "key_id": claims.kid,
        "audience": claims.audience,
    }
