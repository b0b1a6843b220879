"""The JSON API of disputes: a person files and follows theirs (``/api/v1/me/disputes``), a
furnisher answers those about its own records (``/api/v1/furnisher/disputes``).

Every step is audited with the person as its subject, so the person's access log shows every
furnisher's read of their dispute; every refusal is audited too.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, Field

from openbureau.service import disputes, views
from openbureau.service.api import ERRORS
from openbureau.service.auth import Principal
from openbureau.service.context import ServiceContext
from openbureau.service.deps import AuditorUser, Csrf, Ctx, PersonUser, Snapshot, User, _role
from openbureau.service.disputes import rules
from openbureau.service.errors import ApiError
from openbureau.service.schemas import ErrorBody, UtcDateTime, _In

router = APIRouter(prefix="/api/v1", responses=ERRORS)
TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": "the attachment is over 2 MB"}
}
FurnisherUser = Annotated[Principal, Depends(_role("furnisher"))]
DisputeId = Annotated[int, Path(ge=1, le=2**62)]


class _Attached(_In):
    attachment_name: str | None = Field(default=None, max_length=256)
    attachment_base64: str | None = Field(
        default=None,
        description="an optional PDF, PNG or JPEG (by its content), at most 2 MB, base64",
    )

    def upload(self) -> tuple[str, bytes] | None:
        if self.attachment_base64 is None:
            return None
        return self.attachment_name or "attachment", disputes.decode_attachment(
            self.attachment_base64
        )


# A person's words on a dispute: checked as a statement is (plain text, its length).
Statement = Annotated[
    str,
    Field(max_length=4 * disputes.MAX_TEXT, description="what is wrong"),
    AfterValidator(disputes.check_text),
]


class DisputeIn(_Attached):
    reason: rules.RecordReason = Field(
        description="; ".join(f"{k}: {v}" for k, v in rules.RECORD_REASONS.items())
    )
    record_id: str = Field(min_length=1, max_length=64, description="a record on my file")
    statement: Statement


class LinkDisputeIn(_Attached):
    identity_ids: list[str] = Field(
        min_length=1,
        max_length=200,
        description="the identity records on my file (as my file lists them) that are not mine",
    )
    statement: Statement


class LinkAnswerIn(_In):
    outcome: rules.LinkAnswer
    note: str = Field(default="", max_length=2000)


class InformationIn(_Attached):
    text: Annotated[
        str,
        Field(max_length=4 * disputes.MAX_TEXT),
        AfterValidator(lambda value: disputes.check_text(value, "text")),
    ]


class AnswerIn(_In):
    outcome: rules.Answer
    changes: dict[str, str | int | float | None] | None = Field(
        default=None,
        description="a correction's fields (the record's event fields), checked as ingest "
        "checks a furnisher's values",
    )
    note: str = Field(default="", max_length=2000)


class StepOut(BaseModel):
    at: UtcDateTime
    step: str
    by: str
    detail: str


class AttachmentOut(BaseModel):
    attachment_id: int
    filename: str
    media_type: str
    size: int
    sha256: str
    url: str


class ItemOut(BaseModel):
    kind: str | None
    item_id: str | None
    title: str | None


class DisputeOut(BaseModel):
    """A dispute, where it stands, and every step of it."""

    dispute_id: int
    person_id: str
    kind: str
    reason: str
    reason_text: str
    statement: str
    furnisher: str | None
    item: ItemOut
    record_id: str
    record_ids: list[str]
    filed_at: UtcDateTime
    due_at: UtcDateTime = Field(description="resolved in the person's favour if not answered")
    extended: bool = Field(description="the person added information: 45 days, not 30")
    state: str = Field(description=", ".join(rules.STATES))
    outcome_text: str
    resolved_at: UtcDateTime | None
    answer_note: str | None
    changes: dict[str, Any] | None
    applied: bool = Field(description="the outcome is in the ledger and the person rescored")
    score_before: int | None
    score_after: int | None
    steps: list[StepOut]
    attachments: list[AttachmentOut]


def _person_ids(ctx: ServiceContext, who: Principal) -> list[str]:
    pub = ctx.published()
    return views.merged_into(pub, views.own_id(pub, who.person_id))


def my_disputes_read(ctx: ServiceContext, who: Principal) -> list[dict[str, Any]]:
    """The person's disputes, after expiring those due (the service's clock)."""
    desk = ctx.dispute_desk()
    disputes.expire_due(desk, ctx.published())
    return disputes.of_person(ctx.store, _person_ids(ctx, who))


@router.get("/me/disputes", response_model=list[DisputeOut], tags=["person"])
def my_disputes(who: PersonUser, ctx: Ctx) -> list[dict[str, Any]]:
    """My disputes, newest first, each with its steps and score before and after."""
    found = my_disputes_read(ctx, who)
    ctx.audit(who, "read disputes", subject=_person_ids(ctx, who)[0], purpose="consumer_request")
    return found


@router.post(
    "/me/disputes",
    response_model=DisputeOut,
    status_code=201,
    responses=TOO_LARGE,
    tags=["person"],
    dependencies=[Csrf],
)
def file_dispute(body: DisputeIn, who: PersonUser, ctx: Ctx, pub: Snapshot) -> dict[str, Any]:
    """Dispute a record on my file (a record ID from my file or my score's reasons). The
    furnisher has 30 days to answer (45 once I add information); unanswered, the record stops
    counting. 422 `unknown_record`, 409 `already_disputed`, 413/422 for the attachment."""
    return disputes.file_record_dispute(
        ctx.dispute_desk(),
        pub,
        _person_ids(ctx, who),
        who.username,
        body.reason,
        body.statement,
        body.record_id,
        body.upload(),
    )


@router.post(
    "/me/link-disputes",
    response_model=DisputeOut,
    status_code=201,
    responses=TOO_LARGE,
    tags=["person"],
    dependencies=[Csrf],
)
def file_link_dispute(
    body: LinkDisputeIn, who: PersonUser, ctx: Ctx, pub: Snapshot
) -> dict[str, Any]:
    """Dispute my file's links: these identity records (and the accounts they carry) are not
    mine, my file mixes two people. The bureau answers within 30 days (45 once I add
    information); upheld or unanswered, they are split off my file for good (every later
    relink keeps them apart)."""
    return disputes.file_link_dispute(
        ctx.dispute_desk(),
        pub,
        _person_ids(ctx, who),
        who.username,
        body.statement,
        body.identity_ids,
        body.upload(),
    )


@router.post(
    "/me/disputes/{dispute_id}/information",
    response_model=DisputeOut,
    responses=TOO_LARGE,
    tags=["person"],
    dependencies=[Csrf],
)
def add_information(
    dispute_id: DisputeId, body: InformationIn, who: PersonUser, ctx: Ctx
) -> dict[str, Any]:
    """Add information (and maybe a file) to my open dispute: the furnisher then has 45 days
    from filing, not 30."""
    return disputes.add_information(
        ctx.dispute_desk(),
        _person_ids(ctx, who),
        who.username,
        dispute_id,
        body.text,
        body.upload(),
    )


@router.get(
    "/disputes/{dispute_id}/attachments/{attachment_id}",
    tags=["person", "furnisher"],
    response_class=Response,
    responses={
        200: {
            "content": {m: {} for m in disputes.MEDIA_TYPES.values()},
            "description": "the file as sent",
        }
    },
)
def get_attachment(
    dispute_id: DisputeId,
    attachment_id: Annotated[int, Path(ge=1, le=2**62)],
    who: User,
    ctx: Ctx,
) -> Response:
    """A dispute's attachment, for the person who sent it or the furnisher asked (audited)."""
    found = disputes.one(ctx.store, dispute_id)
    allowed = found is not None and (
        (who.role == "person" and found["person_id"] in _person_ids(ctx, who))
        or (
            who.role == "furnisher"
            and found["furnisher"] in disputes.furnishers_of(who.organisation)
        )
    )
    file = disputes.attachment(ctx.store, dispute_id, attachment_id) if allowed else None
    subject = found["person_id"] if found else None
    ctx.audit(
        who,
        "read dispute attachment",
        subject=subject,
        purpose="consumer_request" if who.role == "person" else "dispute_investigation",
        outcome="allowed" if file is not None else "denied",
        detail=f"dispute {dispute_id}, attachment {attachment_id}",
    )
    if file is None:
        raise ApiError(404, "no_attachment", f"no attachment {attachment_id} you may read")
    # (a header is Latin-1: an ASCII name, and the name as sent in RFC 6266's UTF-8 form)
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", file.filename) or "attachment"
    return Response(
        file.data,
        media_type=file.media_type,
        headers={
            "Content-Disposition": (
                f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(file.filename)}"
            ),
            "X-Content-Type-Options": "nosniff",
        },
    )


# -- furnishers -------------------------------------------------------------------------------
def furnisher_queue(ctx: ServiceContext, who: Principal, state: str | None) -> list[dict[str, Any]]:
    """Disputes of this furnisher's records (after expiring those due), each read audited
    with the person as its subject."""
    disputes.expire_due(ctx.dispute_desk(), ctx.published())
    found = disputes.of_furnishers(ctx.store, disputes.furnishers_of(who.organisation), state)
    if found:
        ctx.audit_many(
            who,
            "read dispute",
            [(d["person_id"], f"dispute {d['dispute_id']}") for d in found],
        )
    return found


@router.get("/furnisher/disputes", response_model=list[DisputeOut], tags=["furnisher"])
def queue(
    who: FurnisherUser,
    ctx: Ctx,
    state: Annotated[str | None, Query(pattern="^(" + "|".join(rules.STATES) + ")$")] = "open",
) -> list[dict[str, Any]]:
    """Disputes of records my organisation furnished (none of any other furnisher's), oldest
    due first; ``state``: open (default) or an outcome."""
    return furnisher_queue(ctx, who, state)


def answer_dispute(
    ctx: ServiceContext, who: Principal, dispute_id: int, body: AnswerIn
) -> dict[str, Any]:
    furnishers = disputes.furnishers_of(who.organisation)
    try:
        return disputes.answer(
            ctx.dispute_desk(),
            ctx.published(),
            furnishers,
            who.username,
            dispute_id,
            body.outcome,
            {k: v for k, v in (body.changes or {}).items()} or None,
            body.note,
        )
    except ApiError as exc:
        found = disputes.one(ctx.store, dispute_id)
        ctx.audit(
            who,
            "answer dispute",
            subject=found["person_id"] if found and found["furnisher"] in furnishers else None,
            purpose="dispute_investigation",
            outcome="denied",
            detail=f"dispute {dispute_id}: {exc.code}",
        )
        raise


@router.post(
    "/furnisher/disputes/{dispute_id}/answer",
    response_model=DisputeOut,
    tags=["furnisher"],
    dependencies=[Csrf],
)
def answer(dispute_id: DisputeId, body: AnswerIn, who: FurnisherUser, ctx: Ctx) -> dict[str, Any]:
    """Answer a dispute of my record: verified, corrected (with the corrected fields; a new
    version of the record, the old one kept) or deleted. The person is rescored at once.
    404 for a dispute of another furnisher's record, 409 once it is closed (an answer after
    the clock ran out comes too late), 422 a correction that fails its checks."""
    return answer_dispute(ctx, who, dispute_id, body)


# -- the bureau: link disputes ----------------------------------------------------------------
def bureau_queue(ctx: ServiceContext, who: Principal, state: str | None) -> list[dict[str, Any]]:
    """Link disputes (after expiring those due), each read audited with its person."""
    disputes.expire_due(ctx.dispute_desk(), ctx.published())
    found = disputes.of_kind(ctx.store, "link", state)
    if found:
        ctx.audit_many(
            who, "read dispute", [(d["person_id"], f"dispute {d['dispute_id']}") for d in found]
        )
    return found


@router.get("/bureau/disputes", response_model=list[DisputeOut], tags=["auditor"])
def bureau_disputes(
    who: AuditorUser,
    ctx: Ctx,
    state: Annotated[str | None, Query(pattern="^(" + "|".join(rules.STATES) + ")$")] = "open",
) -> list[dict[str, Any]]:
    """Link disputes (a file that mixes two people), oldest due first."""
    return bureau_queue(ctx, who, state)


@router.post(
    "/bureau/disputes/{dispute_id}/answer",
    response_model=DisputeOut,
    tags=["auditor"],
    dependencies=[Csrf],
)
def bureau_answer(
    dispute_id: DisputeId, body: LinkAnswerIn, who: AuditorUser, ctx: Ctx
) -> dict[str, Any]:
    """Answer a link dispute: ``split`` (the records named leave the file, through the
    identity layer's forced split; both files rescored and the snapshot republished) or
    ``verified`` (the link stands). 404 not a link dispute, 409 closed."""
    return disputes.answer_link(
        ctx.dispute_desk(),
        ctx.published(),
        who.username,
        who.role,
        dispute_id,
        body.outcome,
        body.note,
    )


__all__ = ["DisputeOut", "FurnisherUser", "router"]
