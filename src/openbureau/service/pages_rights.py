"""Pages of a person's rights over their file: writing their statement, and adverse-action
notices (a lender's decline, the notice page and its printable copy).

They call the same functions as ``api_rights``, so a page and its API answer cannot disagree.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from openbureau.service import statements
from openbureau.service.api_rights import write_statement
from openbureau.service.deps import Csrf, Ctx, PersonUser, Snapshot
from openbureau.service.errors import ApiError
from openbureau.service.pages import _person_context, render

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
