"""The FastAPI application: ``create_app(workspace)``; ``openbureau serve`` runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from openbureau import __version__
from openbureau.errors import UserError
from openbureau.service import (
    api,
    api_consent,
    api_export,
    api_rights,
    disputes_api,
    errors,
    pages,
    pages_disputes,
    pages_fairness,
    pages_rights,
)
from openbureau.service.attest import ensure_signing_key, public_jwks
from openbureau.service.audit_heads import ensure_log_key, log_keys
from openbureau.service.context import ServiceConfig, ServiceContext
from openbureau.service.schemas import DEFAULT_CUTOFF
from openbureau.service.store import default_url, open_store
from openbureau.workspace import Workspace

HERE = Path(__file__).parent
# Swagger UI's files, from the fastapi-offline package (no CDN: the CSP allows this site only)
SWAGGER_ASSETS = "/static/swagger-ui"

_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        b"script-src 'self'; frame-ancestors 'none'",
    ),
]
_PRIVATE = ("/me", "/lender", "/auditor", "/admin", "/notices", "/api/")


class SecurityHeaders:
    """Security headers on every response, and ``no-store`` on personal data. Plain ASGI:
    Starlette's ``BaseHTTPMiddleware`` costs about a millisecond a request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = scope["path"].startswith(_PRIVATE)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in _HEADERS if k not in present]
                if private and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def service_config(ws: Workspace, store_url: str | None = None) -> ServiceConfig:
    s = ws.settings
    try:
        key: bytes | None = ws.national_id_key()
    except UserError:
        key = None  # identity search then works on names, dates and addresses only
    return ServiceConfig(
        workspace=ws.root,
        bureau_name=s.bureau.name,
        bureau_contact=s.bureau.contact,
        store_url=store_url or s.service.store_url or default_url(ws.root),
        secure_cookies=s.service.secure_cookies,
        session_minutes=s.service.session_minutes,
        attestation_days=s.service.attestation_days,
        linkage_model=ws.root / "models" / "linkage-model.json",
        national_id_key=key,
        country=s.bureau.country,
        login_failures_per_account=s.service.login_failures_per_account,
        login_failures_per_address=s.service.login_failures_per_address,
        login_window_minutes=s.service.login_window_minutes,
        lookups_per_minute=s.service.lookups_per_minute,
        lookups_at_once_per_lender=s.service.lookups_at_once_per_lender,
        lookup_threads=s.service.lookup_threads,
        verify_per_minute_per_address=s.service.verify_per_minute_per_address,
        verify_per_minute=s.service.verify_per_minute,
        proxy_headers=s.service.proxy_headers,
        forwarded_allow_ips=s.service.forwarded_allow_ips,
        audit_sign_every=s.service.audit_sign_every,
        audit_sign_interval=s.service.audit_sign_interval,
    )


def create_app(
    workspace: str | Path,
    *,
    store_url: str | None = None,
    proxy_headers: bool | None = None,
    forwarded_allow_ips: str | None = None,
) -> FastAPI:
    """The service on a workspace; the store is migrated and the signing key made if new.

    Args:
        workspace: the workspace folder.
        store_url: the operational store (default: the workspace's setting, else SQLite).
        proxy_headers: take the client's address from X-Forwarded-For (default: the
            workspace's ``[service] proxy_headers``); only from ``forwarded_allow_ips``.
        forwarded_allow_ips: the proxies trusted with it (default: the setting).

    Raises:
        UserError: no workspace there, or the store cannot be reached.
    """
    ws = Workspace.open(workspace)
    config = service_config(ws, store_url)
    if proxy_headers is not None:
        config.proxy_headers = proxy_headers
    if forwarded_allow_ips is not None:
        config.forwarded_allow_ips = forwarded_allow_ips
    ctx = ServiceContext(config, open_store(config.store_url))
    ensure_signing_key(ws.root)
    ensure_log_key(ws.root)
    app = FastAPI(
        title=f"{config.bureau_name} credit bureau API",
        version=__version__,
        description="Scores with their reasons and records, for the people scored, "
        "lenders with a permissible purpose, and auditors.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    app.state.templates.env.globals["bureau_name"] = config.bureau_name
    app.state.templates.env.globals["default_cutoff"] = DEFAULT_CUTOFF
    errors.install(app)
    app.include_router(api.router)
    app.include_router(api_rights.router)
    app.include_router(api_consent.router)
    app.include_router(disputes_api.router)
    app.include_router(api_export.router)
    app.include_router(pages.router)
    app.include_router(pages_rights.router)
    app.include_router(api_consent.page_router)
    app.include_router(pages_disputes.router)
    app.include_router(pages_fairness.router)
    app.include_router(api_export.pages)
    app.mount(
        SWAGGER_ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]), name="swagger-ui"
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/api/docs", include_in_schema=False)
    def api_docs(request: Request) -> HTMLResponse:
        """Swagger UI, its script and styles served from here, started by a script file:
        the same CSP as every page (FastAPI's own page loads them from a CDN and starts
        them with an inline script, both of which the CSP refuses)."""
        return app.state.templates.TemplateResponse(
            request,
            "api_docs.html",
            {
                "title": f"{app.title} - API",
                "assets": SWAGGER_ASSETS,
                "openapi_url": app.openapi_url,
            },
        )

    @app.get("/.well-known/jwks.json", tags=["public"])
    def jwks() -> dict[str, Any]:
        """The bureau's public keys, to verify shared scores offline."""
        return public_jwks(ws.root)

    @app.get("/.well-known/audit-log-keys.json", tags=["public"])
    def audit_log_keys() -> dict[str, Any]:
        """The public key of the audit log, to check its signed tree heads."""
        return log_keys(ws.root)

    app.add_middleware(SecurityHeaders)
    if config.proxy_headers:
        # outermost, so the audit log, login lockouts and limits all see the client's address
        app.add_middleware(
            ProxyHeadersMiddleware,
            trusted_hosts=[h.strip() for h in config.forwarded_allow_ips.split(",")],
        )

    @app.get("/api/v1", include_in_schema=False)
    def api_root() -> JSONResponse:
        return JSONResponse({"openapi": "/api/v1/openapi.json", "docs": "/api/docs"})

    return app
