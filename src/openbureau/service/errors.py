"""API errors: JSON ``{"error": {"code", "message", "field"}}`` with a stable code."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from openbureau.errors import UserError

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "invalid_input",
    429: "too_many_requests",
    503: "unavailable",
}


class ApiError(Exception):
    """An error the API reports as it is: status, stable code, message, maybe a field."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers  # e.g. Retry-After on a 429


def body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith(
        ("/api/", "/.well-known/")
    ) and "text/html" in request.headers.get("accept", "")


def _page(request: Request, status: int, message: str) -> Response:
    if status == 401:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "message": message, "me": None},
        status_code=status,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        if _wants_html(request):
            page = _page(request, exc.status, exc.message)
            page.headers.update(exc.headers or {})
            return page
        return JSONResponse(
            body(exc.code, exc.message, exc.field), status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid input"}
        loc = [str(x) for x in first.get("loc", ()) if x not in ("body", "query", "path")]
        field = ".".join(loc) or None
        msg = str(first.get("msg", "invalid input")).removeprefix("Value error, ")
        message = f"{field}: {msg}" if field else msg
        if _wants_html(request):
            return _page(request, 422, message)
        return JSONResponse(body("invalid_input", message, field), status_code=422)

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError) -> Response:
        if _wants_html(request):
            return _page(request, 422, str(exc))
        # our messages start "field: problem" when one field is at fault
        named = re.match(r"([a-z_][a-z0-9_.]*): ", str(exc))
        field = named.group(1) if named else None
        return JSONResponse(body("invalid_input", str(exc), field), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = _CODES.get(exc.status_code, "error")
        if _wants_html(request):
            return _page(request, exc.status_code, str(exc.detail))
        return JSONResponse(
            body(code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s", request.url.path)
        return JSONResponse(
            body("internal_error", "internal error; it has been logged"), status_code=500
        )
