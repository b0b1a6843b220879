"""A person's consent to alternative data (utility, telecom and rent payments) counting in their
score: ``GET/PUT /api/v1/me/consent`` and the form on the person's page (``POST /me/consent``).

Both call :func:`change_consent`, so a page and its API answer cannot disagree. Each change is
audited with the person as its subject; an erasure asked for with a withdrawal is audited when
it is carried out (how many rows, never a value).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from openbureau.service import consent, views
from openbureau.service.api import ERRORS
from openbureau.service.auth import Principal
from openbureau.service.context import ServiceContext
from openbureau.service.deps import Csrf, Ctx, PersonUser
from openbureau.service.errors import ApiError
from openbureau.service.schemas import UtcDateTime, _In

router = APIRouter(prefix="/api/v1", responses=ERRORS)
page_router = APIRouter(include_in_schema=False)


class ConsentIn(_In):
    given: bool = Field(description="true: my utility, telecom and rent payments may count")
    erase: bool = Field(
        default=False,
        description="with a withdrawal: also erase the utility, telecom and rent data held on "
        "me (GDPR Art. 17); it cannot be undone",
    )


class ConsentChangeOut(BaseModel):
    at: UtcDateTime
    given: bool
    change: str = Field(description="opted in, or withdrawn")
    erase: bool
    erased_at: UtcDateTime | None = Field(description="None: not asked, or still pending")
    by: str = Field(description="you, or the bureau's operator on your request")


class ConsentOut(BaseModel):
    """My consent now and every change, newest first. Without consent my score is the core
    score (credit data only); with it, the better of that and the score with my utility,
    telecom and rent payments: opting in never lowers it."""

    given: bool
    since: UtcDateTime | None
    changes: list[ConsentChangeOut]
    score: int | None = Field(description="my score as served now")
    core_score: int | None = Field(description="my score on credit data only")
    alternative_score: int | None = Field(
        description="my score with alternative data (none after I had it erased, until the "
        "next snapshot)"
    )
    served_from: str = Field(description="core, or alternative")


def consent_state(ctx: ServiceContext, who: Principal) -> dict[str, Any]:
    pub = ctx.published()
    pid = views.own_id(pub, who.person_id)
    out = consent.state(ctx.store, views.merged_into(pub, pid))
    row = pub.score_row(pid) if pub is not None else None
    served = views.current_score(pub, pid, ctx.consent(pub, pid)) if pub is not None else None
    # (the snapshot's score with alternative data the person had erased since is not theirs)
    erased = ctx.alternative_erased(pub, pid)
    out.update(
        score=served["score"] if served else None,
        core_score=row["score"] if row else None,
        alternative_score=row.get("alt_score") if row and not erased else None,
        served_from=served["served_from"] if served else "core",
    )
    return out


def change_consent(ctx: ServiceContext, who: Principal, given: bool, erase: bool) -> dict[str, Any]:
    """Record the change (audited), refresh this process's book, and carry out an erasure
    asked for (or leave it pending when the warehouse is busy).

    Raises:
        ApiError: 422 ``erase_needs_withdrawal`` for an erasure asked with an opt-in.
    """
    if erase and given:
        raise ApiError(
            422,
            "erase_needs_withdrawal",
            "erase: only a withdrawal can erase your alternative data",
            "erase",
        )
    pub = ctx.published()
    pid = views.own_id(pub, who.person_id)
    change_id = consent.record(ctx.store, pid, given, who.username, who.role, erase=erase)
    ctx.consents.refresh()  # (this process's reads serve it at once)
    ctx.audit(
        who,
        "give consent" if given else "withdraw consent",
        subject=pid,
        purpose="consumer_request",
        detail="alternative data" + ("; erase asked" if erase else ""),
    )
    if erase:
        done = consent.carry_out_erasure(
            ctx.store, ctx.config.workspace, change_id, views.merged_into(pub, pid)
        )
        ctx.audit(
            who,
            "erase alternative data",
            subject=pid,
            purpose="consumer_request",
            outcome="allowed" if done else "pending",
            detail=(
                f"erasure {done['erasure_id']}: {done['records']} records, {done['rows']} rows "
                f"of {', '.join(done['feeds']) or 'no feed'}"
                if done
                else "warehouse busy: carried out by `openbureau consent erase-pending`"
            ),
        )
    return consent_state(ctx, who)


@router.get("/me/consent", response_model=ConsentOut, tags=["person"])
def my_consent(who: PersonUser, ctx: Ctx) -> dict[str, Any]:
    """My consent to alternative data, its history, and my score with and without it."""
    state = consent_state(ctx, who)
    pid = views.own_id(ctx.published(), who.person_id)
    ctx.audit(who, "read consent", subject=pid, purpose="consumer_request")
    return state


@router.put("/me/consent", response_model=ConsentOut, tags=["person"], dependencies=[Csrf])
def put_consent(body: ConsentIn, who: PersonUser, ctx: Ctx) -> dict[str, Any]:
    """Opt in or withdraw (with ``erase``: also erase the alternative data held on me). Takes
    effect at once for every read of my score."""
    return change_consent(ctx, who, body.given, body.erase)


@page_router.post("/me/consent", dependencies=[Csrf])
def person_consent(
    request: Request,
    who: PersonUser,
    ctx: Ctx,
    change: Annotated[str, Form(pattern="^(give|withdraw)$")],
    erase: Annotated[bool, Form()] = False,
) -> Response:
    """The form on my page: opt in, or withdraw (optionally erasing)."""
    change_consent(ctx, who, change == "give", erase and change == "withdraw")
    return RedirectResponse("/me#consent", status_code=303)


__all__ = ["ConsentOut", "change_consent", "consent_state", "page_router", "router"]
