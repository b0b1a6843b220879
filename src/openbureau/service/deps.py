"""Request dependencies: who is asking, their role, CSRF, and the published snapshot."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from openbureau.service.auth import (
    Principal,
    account_for_api_key,
    key_prefix,
    principal,
    session_principal,
)
from openbureau.service.context import ServiceContext
from openbureau.service.errors import ApiError
from openbureau.service.serving import Published

SESSION_COOKIE = "ob_session"


# The hot-path dependencies are ``async def``: a plain ``def`` costs a hop to the thread pool
# per dependency per request. Anything that may block (the store, the audit writer) is handed
# to the thread pool explicitly.


async def get_ctx(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ServiceContext, Depends(get_ctx)]


def _key_principal(ctx: ServiceContext, scheme: str, key: str) -> Principal | None:
    with ctx.store() as session:
        account = account_for_api_key(session, key) if scheme.lower() == "bearer" else None
        return (
            principal(account, "api_key", credential=f"API key {key_prefix(key)}")
            if account is not None
            else None
        )


def _session_principal(ctx: ServiceContext, token: str) -> Principal | None:
    with ctx.store() as session:
        return session_principal(session, token)


async def optional_principal(request: Request, ctx: Ctx) -> Principal | None:
    """From ``Authorization: Bearer <API key>``, else from the session cookie."""
    header = request.headers.get("authorization", "")
    cache = ctx.credentials
    if header:
        scheme, _, key = header.partition(" ")
        key, kind = key.strip(), "key " + scheme.lower()  # a key is good only as Bearer
        who = cache.get(kind, key)
        if who is None:
            generation = cache.generation
            who = await run_in_threadpool(_key_principal, ctx, scheme, key)
            if who is None:
                raise ApiError(401, "not_authenticated", "API key not recognised or revoked")
            cache.put(kind, key, who, generation)
        return who
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    who = cache.get("session", token)
    if who is None:
        generation = cache.generation
        who = await run_in_threadpool(_session_principal, ctx, token)
        if who is not None:
            cache.put("session", token, who, generation)
    return who


MaybeUser = Annotated[Principal | None, Depends(optional_principal)]


async def current_principal(who: MaybeUser) -> Principal:
    if who is None:
        raise ApiError(401, "not_authenticated", "log in, or send an API key as a Bearer token")
    return who


User = Annotated[Principal, Depends(current_principal)]


def _role(*roles: str) -> Callable[..., Awaitable[Principal]]:
    async def check(who: User, ctx: Ctx, request: Request) -> Principal:
        if who.role not in roles:
            await ctx.audit_async(
                who,
                f"{request.method} {request.url.path}",
                outcome="denied",
                detail=f"role {who.role} may not use this",
            )
            raise ApiError(403, "forbidden", f"this needs the {' or '.join(roles)} role")
        return who

    return check


PersonUser = Annotated[Principal, Depends(_role("person"))]
LenderUser = Annotated[Principal, Depends(_role("lender"))]
AuditorUser = Annotated[Principal, Depends(_role("auditor", "admin"))]
AdminUser = Annotated[Principal, Depends(_role("admin"))]


async def csrf_protect(request: Request, who: MaybeUser) -> None:
    """A cookie-authenticated change must echo the session's CSRF token (form field
    ``csrf_token`` or header ``X-CSRF-Token``); API-key calls carry no cookie to forge."""
    if request.method in ("GET", "HEAD", "OPTIONS") or who is None or who.via != "session":
        return
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not sent or not who.csrf_token or not hmac.compare_digest(sent, who.csrf_token):
        raise ApiError(
            403,
            "csrf_failed",
            "the form expired or did not come from this site; reload the page and try again",
        )


Csrf = Depends(csrf_protect)


async def get_published(ctx: Ctx) -> Published:
    pub = ctx.serving.fresh()
    if pub is None or ctx.disputes.stale():  # (rescores and disputes of other processes)
        pub = await run_in_threadpool(ctx.published)
    if pub is None:
        raise ApiError(
            503,
            "no_snapshot",
            "no score snapshot is published yet: run `openbureau score --as-of DATE`",
        )
    return pub


Snapshot = Annotated[Published, Depends(get_published)]
