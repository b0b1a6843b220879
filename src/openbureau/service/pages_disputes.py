"""Pages of disputes: a person files one from their file page and adds information from their
own page; a furnisher answers on ``/furnisher``. They call the same functions as
``disputes_api``, so a page and its API answer cannot disagree; a refusal shows on the page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from openbureau.service import disputes
from openbureau.service.deps import AuditorUser, Csrf, Ctx, PersonUser, Snapshot
from openbureau.service.disputes_api import (
    AnswerIn,
    FurnisherUser,
    LinkAnswerIn,
    _person_ids,
    answer_dispute,
    bureau_queue,
    furnisher_queue,
)
from openbureau.service.errors import ApiError
from openbureau.service.pages import _first_error, _person_context, render

router = APIRouter(include_in_schema=False)


async def _upload(file: UploadFile | None) -> tuple[str, bytes] | None:
    if file is None or not file.filename:
        return None
    data = await file.read(disputes.MAX_ATTACHMENT + 1)
    return file.filename, data


def _person_error(request: Request, ctx: Any, pub: Any, who: Any, exc: Exception) -> Response:
    context = _person_context(ctx, pub, who)
    context["dispute_error"] = exc.message if isinstance(exc, ApiError) else str(exc)
    status = exc.status if isinstance(exc, ApiError) else 422
    return render(request, "person.html", status=status, **context)


@router.post("/me/disputes", dependencies=[Csrf])
async def file_dispute(
    request: Request,
    who: PersonUser,
    ctx: Ctx,
    pub: Snapshot,
    record_id: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=16)] = "",
    statement: Annotated[str, Form(max_length=8000)] = "",
    attachment: UploadFile | None = None,
) -> Response:
    """File a dispute from the file page; the person's page then shows it."""
    try:
        upload = await _upload(attachment)
        disputes.file_record_dispute(
            ctx.dispute_desk(),
            pub,
            _person_ids(ctx, who),
            who.username,
            reason,
            disputes.check_text(statement),
            record_id,
            upload,
        )
    except (ValueError, ApiError) as exc:
        return _person_error(request, ctx, pub, who, exc)
    return RedirectResponse("/me#disputes", status_code=303)


@router.post("/me/link-disputes", dependencies=[Csrf])
async def file_link_dispute(
    request: Request,
    who: PersonUser,
    ctx: Ctx,
    pub: Snapshot,
    identity_ids: Annotated[list[str], Form(max_length=200)] = [],  # noqa: B006
    statement: Annotated[str, Form(max_length=8000)] = "",
    attachment: UploadFile | None = None,
) -> Response:
    """File a link dispute from the file page's identity records."""
    try:
        upload = await _upload(attachment)
        disputes.file_link_dispute(
            ctx.dispute_desk(),
            pub,
            _person_ids(ctx, who),
            who.username,
            disputes.check_text(statement),
            [i[:64] for i in identity_ids],
            upload,
        )
    except (ValueError, ApiError) as exc:
        return _person_error(request, ctx, pub, who, exc)
    return RedirectResponse("/me#disputes", status_code=303)


@router.post("/me/disputes/{dispute_id}/information", dependencies=[Csrf])
async def add_information(
    request: Request,
    who: PersonUser,
    ctx: Ctx,
    pub: Snapshot,
    dispute_id: Annotated[int, Path(ge=1, le=2**62)],
    text: Annotated[str, Form(max_length=8000)] = "",
    attachment: UploadFile | None = None,
) -> Response:
    try:
        upload = await _upload(attachment)
        disputes.add_information(
            ctx.dispute_desk(),
            _person_ids(ctx, who),
            who.username,
            dispute_id,
            disputes.check_text(text, "text"),
            upload,
        )
    except (ValueError, ApiError) as exc:
        return _person_error(request, ctx, pub, who, exc)
    return RedirectResponse(f"/me#dispute-{dispute_id}", status_code=303)


def _furnisher_page(
    request: Request, ctx: Any, who: Any, error: str | None = None, status: int = 200
) -> Response:
    bureau = who.role != "furnisher"
    found = bureau_queue(ctx, who, None) if bureau else furnisher_queue(ctx, who, None)
    return render(
        request,
        "furnisher.html",
        status=status,
        me=who,
        bureau=bureau,
        furnishers=disputes.furnishers_of(who.organisation),
        open=[d for d in found if d["state"] == "open"],
        closed=[d for d in found if d["state"] != "open"],
        error=error,
    )


@router.get("/furnisher")
def furnisher_home(request: Request, who: FurnisherUser, ctx: Ctx) -> Response:
    return _furnisher_page(request, ctx, who)


@router.post("/furnisher/disputes/{dispute_id}/answer", dependencies=[Csrf])
def furnisher_answer(
    request: Request,
    who: FurnisherUser,
    ctx: Ctx,
    dispute_id: Annotated[int, Path(ge=1, le=2**62)],
    outcome: Annotated[str, Form(max_length=16)] = "",
    changes: Annotated[str, Form(max_length=2000)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Answer from the queue; corrected fields as ``field=value`` lines."""
    try:
        fields: dict[str, Any] = {}
        for n, line in enumerate(changes.splitlines(), 1):
            if not line.strip():
                continue
            if "=" not in line:
                raise ValueError(f"corrected fields, line {n}: write field=value")
            name, value = line.split("=", 1)
            fields[name.strip()] = value.strip()
        body = AnswerIn.model_validate(
            {"outcome": outcome, "changes": fields or None, "note": note}
        )
        answer_dispute(ctx, who, dispute_id, body)
    except ApiError as exc:
        return _furnisher_page(request, ctx, who, exc.message, exc.status)
    except (ValidationError, ValueError) as exc:
        return _furnisher_page(request, ctx, who, _first_error(exc), 422)
    return RedirectResponse(f"/furnisher#dispute-{dispute_id}", status_code=303)


@router.get("/bureau/disputes")
def bureau_home(request: Request, who: AuditorUser, ctx: Ctx) -> Response:
    """Link disputes, for the bureau's auditors to answer."""
    return _furnisher_page(request, ctx, who)


@router.post("/bureau/disputes/{dispute_id}/answer", dependencies=[Csrf])
def bureau_answer(
    request: Request,
    who: AuditorUser,
    ctx: Ctx,
    dispute_id: Annotated[int, Path(ge=1, le=2**62)],
    outcome: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        body = LinkAnswerIn.model_validate({"outcome": outcome, "note": note})
        disputes.answer_link(
            ctx.dispute_desk(),
            ctx.published(),
            who.username,
            who.role,
            dispute_id,
            body.outcome,
            body.note,
        )
    except ApiError as exc:
        return _furnisher_page(request, ctx, who, exc.message, exc.status)
    except (ValidationError, ValueError) as exc:
        return _furnisher_page(request, ctx, who, _first_error(exc), 422)
    return RedirectResponse(f"/bureau/disputes#dispute-{dispute_id}", status_code=303)
