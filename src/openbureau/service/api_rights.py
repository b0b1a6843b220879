"""The JSON API of a person's rights over their file: their statement (``/api/v1/me/statement``)
and lenders' adverse-action notices (``/api/v1/persons/{id}/adverse-action``,
``/api/v1/notices``, ``/api/v1/me/notices``).

Each change is audited with the person as its subject; so is every read of a notice by anyone
but the person, and every refusal.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field, field_validator

from openbureau.service import notices, statements, views
from openbureau.service.api import ERRORS
from openbureau.service.auth import Principal
from openbureau.service.context import AUDITOR_PURPOSES, ServiceContext
from openbureau.service.deps import Csrf, Ctx, LenderUser, PersonUser, Snapshot, User
from openbureau.service.errors import ApiError
from openbureau.service.schemas import NoticeSummaryOut, StatementOut, UtcDateTime, _In

router = APIRouter(prefix="/api/v1", responses=ERRORS)


class StatementIn(_In):
    text: str = Field(
        max_length=4 * statements.MAX_CHARS,
        description=f"up to {statements.MAX_WORDS} words of plain text (line breaks allowed, "
        "no other control characters), in your own words",
    )

    @field_validator("text")
    @classmethod
    def _checked(cls, value: str) -> str:
        return statements.check_statement(value)


class StatementVersionOut(BaseModel):
    at: UtcDateTime
    text: str | None = Field(description="None: the statement was removed then")
    change: str = Field(description="written, or removed")
    words: int


class StatementStateOut(BaseModel):
    """My statement now (None: none), and every version of it, newest first: an edit or a
    removal adds a version, none is ever deleted."""

    shown: StatementOut | None
    versions: list[StatementVersionOut]


def statement_state(ctx: ServiceContext, who: Principal) -> dict[str, Any]:
    """The person's statement and its versions (not audited: the caller's own read is)."""
    pub = ctx.published()
    return statements.state(ctx.store, views.merged_into(pub, views.own_id(pub, who.person_id)))


def write_statement(ctx: ServiceContext, who: Principal, text: str | None) -> dict[str, Any]:
    """Write (``text``, checked) or remove (None) the person's statement, audited.

    Raises:
        ApiError: 404 ``no_statement`` when removing a statement there is none of.
    """
    pub = ctx.published()
    pid = views.own_id(pub, who.person_id)
    if text is None and statement_state(ctx, who)["shown"] is None:
        raise ApiError(404, "no_statement", "there is no statement on your file to remove")
    statements.write(ctx.store, pid, text, who.username)
    ctx.statements.refresh()  # (this process's lenders see it at once)
    words = len(text.split()) if text is not None else 0
    ctx.audit(
        who,
        "write statement" if text is not None else "remove statement",
        subject=pid,
        purpose="consumer_request",
        detail=f"{words} words" if text is not None else "",
    )
    return statement_state(ctx, who)


@router.get("/me/statement", response_model=StatementStateOut, tags=["person"])
def my_statement(who: PersonUser, ctx: Ctx) -> dict[str, Any]:
    """My statement on my file, shown to every lender that reads my score, and its versions."""
    state = statement_state(ctx, who)
    pid = views.own_id(ctx.published(), who.person_id)
    ctx.audit(who, "read statement", subject=pid, purpose="consumer_request")
    return state


@router.put("/me/statement", response_model=StatementStateOut, tags=["person"], dependencies=[Csrf])
def put_statement(body: StatementIn, who: PersonUser, ctx: Ctx) -> dict[str, Any]:
    """Write or replace my statement (up to 100 words; more, an empty one, or a control
    character: 422). The version it replaces is kept."""
    return write_statement(ctx, who, body.text)


@router.delete(
    "/me/statement", response_model=StatementStateOut, tags=["person"], dependencies=[Csrf]
)
def delete_statement(who: PersonUser, ctx: Ctx) -> dict[str, Any]:
    """Take my statement off my file (404 ``no_statement`` when there is none). The removal
    is a new version: the earlier ones are kept."""
    return write_statement(ctx, who, None)


# -- adverse-action notices ------------------------------------------------------------------
class AdverseActionIn(_In):
    snapshot_id: str = Field(
        min_length=1, max_length=32, description="the snapshot of the score the decline relied on"
    )
    score: int | None = Field(
        ge=0, le=2000, description="the score relied on (None: the person had no score)"
    )
    reference: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[\w./#:-]+( [\w./#:-]+)*$",
        description="the lender's own reference for the application (letters, digits, "
        "./#:- and single spaces)",
    )


class NoticeLenderOut(BaseModel):
    name: str = Field(description="the lender's organisation")
    account: str
    reference: str


class NoticeScoreOut(BaseModel):
    value: int | None = Field(description="None: no score (the key factor says why)")
    band: str | None
    as_of: dt.date = Field(description="the date of the score")
    snapshot_id: str
    scorecard_version: str
    lowest: int = Field(description="the lowest score the scorecard gives")
    highest: int = Field(description="the highest")


class KeyFactorOut(BaseModel):
    rank: int
    code: str
    statement: str
    inquiries: bool = Field(description="the factor is the number of inquiries")


class NoticeBureauOut(BaseModel):
    name: str
    contact: str


class NoticeOut(BaseModel):
    """An adverse-action notice, as issued: a lender declined the person on a score from the
    bureau. The wording the person is owed is in ``bureau_did_not_decide``, ``free_copy`` and
    ``dispute``."""

    notice_id: int
    issued_at: UtcDateTime
    decision: Literal["decline"]
    person_id: str
    person_name: str | None
    purpose: str = Field(description="the permissible purpose of the lender's read")
    lender: NoticeLenderOut
    score: NoticeScoreOut
    key_factors: list[KeyFactorOut] = Field(
        description="up to four key factors that hurt the score, and the number of inquiries "
        "when it is one of them"
    )
    bureau: NoticeBureauOut
    bureau_did_not_decide: str
    free_copy: str
    free_copy_until: dt.date
    dispute: str
    url: str
    print_url: str
    api_url: str


@router.post(
    "/persons/{person_id}/adverse-action",
    response_model=NoticeOut,
    status_code=201,
    tags=["lender"],
    dependencies=[Csrf],
)
def adverse_action(
    person_id: Annotated[str, Path(max_length=32)],
    body: AdverseActionIn,
    who: LenderUser,
    ctx: Ctx,
    pub: Snapshot,
) -> dict[str, Any]:
    """Record my decline of a person whose score I read (a lookup or a score read with a
    permissible purpose; else 403 `not_looked_up`) and issue the adverse-action notice the
    person is owed, on the snapshot and score I relied on (else 422 `unknown_snapshot` or
    `score_mismatch`). The person sees it on their file, and this in their access log."""
    return notices.create(ctx, pub, who, person_id, body.snapshot_id, body.score, body.reference)


@router.get("/notices", response_model=list[NoticeSummaryOut], tags=["lender"])
def my_notices_issued(
    who: LenderUser, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[dict[str, Any]]:
    """The adverse-action notices I issued, newest first (not other lenders')."""
    return notices.of_lender(ctx, who, limit)


@router.get("/notices/{notice_id}", response_model=NoticeOut, tags=["person", "lender", "auditor"])
def notice(
    notice_id: Annotated[int, Path(ge=1, le=2**62)],
    who: User,
    ctx: Ctx,
    purpose: Annotated[
        str | None,
        Query(
            max_length=32,
            description="required of auditors and admins: "
            f"{', '.join(AUDITOR_PURPOSES)} (else 422 purpose_required, logged)",
        ),
    ] = None,
) -> dict[str, Any]:
    """An adverse-action notice: for the person it is about, the lender that issued it, or an
    auditor with a purpose (anyone else: 403, logged)."""
    return notices.read(ctx, ctx.published(), who, notice_id, purpose)


@router.get("/me/notices", response_model=list[NoticeOut], tags=["person"])
def my_notices(who: PersonUser, ctx: Ctx) -> list[dict[str, Any]]:
    """The adverse-action notices on my file (lenders' declines), newest first."""
    pub = ctx.published()
    pid = views.own_id(pub, who.person_id)
    ctx.audit(who, "read notices", subject=pid, purpose="consumer_request")
    return notices.of_person(ctx, views.merged_into(pub, pid), full=True)
