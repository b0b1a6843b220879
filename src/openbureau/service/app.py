"""The FastAPI application: ``create_app(workspace)``; ``openbureau serve`` runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import Response

from openbureau import __version__
from openbureau.errors import UserError
from openbureau.service import api, errors, pages
from openbureau.service.attest import ensure_signing_key, public_jwks
from openbureau.service.context import ServiceConfig, ServiceContext
from openbureau.service.store import default_url, open_store
from openbureau.workspace import Workspace

HERE = Path(__file__).parent


def service_config(ws: Workspace, store_url: str | None = None) -> ServiceConfig:
    s = ws.settings
    try:
        key: bytes | None = ws.national_id_key()
    except UserError:
        key = None  # identity search then works on names, dates and addresses only
    return ServiceConfig(
        workspace=ws.root, bureau_name=s.bureau.name,
        store_url=store_url or s.service.store_url or default_url(ws.root),
        secure_cookies=s.service.secure_cookies, session_minutes=s.service.session_minutes,
        attestation_days=s.service.attestation_days,
        linkage_model=ws.root / "models" / "linkage-model.json", national_id_key=key,
        country=s.bureau.country)


def create_app(workspace: str | Path, *, store_url: str | None = None) -> FastAPI:
    """The service on a workspace; the store is migrated and the signing key made if new.

    Raises:
        UserError: no workspace there, or the store cannot be reached.
    """
    ws = Workspace.open(workspace)
    config = service_config(ws, store_url)
    ctx = ServiceContext(config, open_store(config.store_url))
    ensure_signing_key(ws.root)
    app = FastAPI(title=f"{config.bureau_name} credit bureau API", version=__version__,
                  description="Scores with their reasons and records, for the people scored, "
                              "lenders with a permissible purpose, and auditors.",
                  openapi_url="/api/v1/openapi.json", docs_url="/api/docs", redoc_url=None)
    app.state.ctx = ctx
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    app.state.templates.env.globals["bureau_name"] = config.bureau_name
    errors.install(app)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/.well-known/jwks.json", tags=["public"])
    def jwks() -> dict[str, Any]:
        """The bureau's public keys, to verify shared scores offline."""
        return public_jwks(ws.root)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; frame-ancestors 'none'")
        if request.url.path.startswith(("/me", "/lender", "/auditor", "/admin", "/api/")):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/api/v1", include_in_schema=False)
    def api_root() -> JSONResponse:
        return JSONResponse({"openapi": "/api/v1/openapi.json", "docs": "/api/docs"})

    return app
