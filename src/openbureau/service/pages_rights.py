"""Pages of a person's rights over their file: writing their statement, and adverse-action
notices (a lender's decline, the notice page and its printable copy).

They call the same functions as ``api_rights``, so a page and its API answer cannot disagree.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from openbureau.service import notices, statements
from openbureau.service.api_rights import AdverseActionIn, write_statement
from openbureau.service.auth import Principal
from openbureau.service.context import LENDER_PURPOSES
from openbureau.service.deps import Csrf, Ctx, LenderUser, PersonUser, Snapshot, User
from openbureau.service.errors import ApiError
from openbureau.service.pages import _first_error, _person_context, render

router = APIRouter(include_in_schema=False)


@router.post("/me/statement", dependencies=[Csrf])
def person_statement(
    request: Request,
    who: PersonUser,
    ctx: Ctx,
    pub: Snapshot,
    text: Annotated[str, Form(max_length=4 * statements.MAX_CHARS)] = "",
    change: Annotated[str, Form(pattern="^(write|remove)$")] = "write",
) -> Response:
    """Write or remove my statement; a statement refused shows on the page (422) as typed."""
    try:
        write_statement(ctx, who, statements.check_statement(text) if change == "write" else None)
    except (ValueError, ApiError) as exc:
        context = _person_context(ctx, pub, who)
        context["statement_error"] = exc.message if isinstance(exc, ApiError) else str(exc)
        context["statement_typed"] = text
        status = exc.status if isinstance(exc, ApiError) else 422
        return render(request, "person.html", status=status, **context)
    return RedirectResponse("/me#statement", status_code=303)


# -- adverse-action notices ------------------------------------------------------------------
@router.get("/notices/{notice_id}")
def notice_page(
    request: Request,
    who: User,
    ctx: Ctx,
    notice_id: Annotated[int, Path(ge=1, le=2**62)],
    purpose: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """A notice, for whom ``GET /api/v1/notices/{id}`` gives it to (audited the same way)."""
    found = notices.read(ctx, ctx.published(), who, notice_id, purpose or None)
    return render(request, "notice.html", me=who, notice=found, purpose=purpose)


@router.get("/notices/{notice_id}/print")
def notice_print(
    request: Request,
    who: User,
    ctx: Ctx,
    notice_id: Annotated[int, Path(ge=1, le=2**62)],
    purpose: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """The notice alone on a page, styled for paper (static/print.css)."""
    found = notices.read(ctx, ctx.published(), who, notice_id, purpose or None)
    return render(request, "notice_print.html", me=who, notice=found)


@router.post("/lender/adverse-action", dependencies=[Csrf])
async def lender_decline(request: Request, who: LenderUser, ctx: Ctx, pub: Snapshot) -> Response:
    """Record a decline from the lookup's result and show the notice it issued; a refusal
    shows on the lender's page."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        body = AdverseActionIn(
            snapshot_id=form.get("snapshot_id", ""),
            score=int(form["score"]) if form.get("score") else None,
            reference=form.get("reference", ""),
        )
        made = await run_in_threadpool(
            notices.create,
            ctx,
            pub,
            who,
            form.get("person_id", "")[:32],
            body.snapshot_id,
            body.score,
            body.reference,
        )
    except ApiError as exc:
        return _lender_error(request, who, exc.message, exc.status, exc.code)
    except (ValidationError, ValueError) as exc:
        return _lender_error(request, who, _first_error(exc), 422, "invalid_input")
    return RedirectResponse(made["url"], status_code=303)


def _lender_error(
    request: Request, who: Principal, message: str, status: int, code: str
) -> Response:
    return render(
        request,
        "lender.html",
        status=status,
        me=who,
        purposes=LENDER_PURPOSES,
        result=None,
        form={},
        error=message,
        error_code=code,
    )
