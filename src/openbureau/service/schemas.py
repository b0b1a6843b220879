"""API request and response models (what goes in and out; internal fields never leak)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from openbureau.scoring.scorecard import Scaling
from openbureau.service.context import LENDER_PURPOSES

# A lender's cut-off unless it gives one: odds 8:1 (PD 11.1 %) on the default scale, the floor of
# the band "good" (the old 620 on the 700-at-30:1 scale meant odds 7.5:1, PD 11.8 %).
DEFAULT_CUTOFF = round(Scaling().score_at_odds(8))


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t


# The store keeps naive UTC times; the API always says so.
UtcDateTime = Annotated[dt.datetime, AfterValidator(_utc)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class Reason(BaseModel):
    rank: int
    code: str
    factor: str
    statement: str
    points_lost: float
    value: float | None = None
    record_ids: list[str] = []
    disputed: bool = Field(
        default=False, description="a record behind it is disputed by the consumer"
    )


class StatementOut(BaseModel):
    """The person's own statement on their file, in their words, not the bureau's: untrusted
    text, to show as text (never as HTML)."""

    text: str
    at: UtcDateTime = Field(description="when the person wrote this version")
    words: int


STATEMENT_FIELD = Field(
    default=None,
    description="the person's own statement on their file (their words, not the bureau's), "
    "or None; show it with the score",
)


class DisputeNote(BaseModel):
    """An open dispute on the file: what every reader of the score is told."""

    dispute_id: int
    furnisher: str | None
    item_kind: str | None
    item_title: str | None
    reason: str
    filed_at: UtcDateTime
    text: str = Field(description='"disputed by the consumer: ..."')


class Score(BaseModel):
    person_id: str
    snapshot_id: str
    as_of: dt.date
    score: int | None
    band: str | None
    unscorable_reason: str | None = None
    unscorable_text: str | None = None
    scorecard_version: str
    reasons: list[Reason] = []
    statement: StatementOut | None = STATEMENT_FIELD
    disputes: list[DisputeNote] = Field(
        default=[], description="the file's open disputes (its records still count meanwhile)"
    )


class HistoryPoint(BaseModel):
    as_of: dt.date
    snapshot_id: str
    score: int | None
    band: str | None
    unscorable_reason: str | None = None


class FileItem(BaseModel):
    feed: str
    kind: str
    item_id: str
    title: str | None
    status: str | None
    status_text: str
    amount: float | None
    credit_limit: float | None
    opened: dt.date | None
    closed: dt.date | None
    last_date: dt.date | None
    months: int
    history: list[str | None]
    records: int
    aged_off_on: dt.date | None = Field(
        default=None,
        description="the day the item stopped being reported (aged off: FCRA 605): it no "
        "longer counts and lenders do not see it",
    )
    aged_off_records: int = Field(
        default=0, description="the item's records (late months, late bills) no longer reported"
    )
    first_delinquency: dt.date | None = Field(
        default=None, description="date of first delinquency of the latest late run"
    )
    first_delinquency_derived: bool | None = Field(
        default=None,
        description="true: the furnisher sent no (plausible) date of first delinquency and the "
        "bureau derived it from the payment history",
    )
    furnisher_note: str | None = Field(
        default=None,
        description="what the furnisher's latest compliance condition (Metro 2: XB disputed by "
        "the consumer, XA closed at their request...) tells every reader of the account",
    )


class IdentityRecord(BaseModel):
    """One identity a furnisher reported for the person (every loaded row showing exactly it
    counts in ``rows``)."""

    identity_id: str = Field(
        description="the bureau's id of this identity: quote it to dispute "
        "it (`openbureau link --force-split` takes it)"
    )
    furnisher: str | None
    feed: str
    rows: int
    first_name: str | None
    middle_name: str | None
    last_name: str | None
    name_suffix: str | None
    dob: dt.date | None
    address_line1: str | None
    city: str | None
    region: str | None
    postcode: str | None
    phone: str | None
    email: str | None
    national_id: bool = Field(description="a national ID is held (as a keyed token, never shown)")
    first_reported: dt.date | None
    last_reported: dt.date | None


class FileEvent(BaseModel):
    """A change to the file's ID: ``new``, ``merge`` (``other_person_id`` merged into
    ``person_id``), ``split`` (``person_id`` split off from ``other_person_id``), ``redirect``
    (the retired ``other_person_id`` now leads to ``person_id``). IDs of other persons' files,
    and the size of a part split off into one, are left out (None)."""

    linked_at: UtcDateTime
    event: str
    person_id: str | None
    other_person_id: str | None
    records: int | None
    cause: str


class IdentityOnFile(BaseModel):
    records: list[IdentityRecord]
    former_ids: list[str] = Field(description="file IDs merged into this one; they lead here")
    history: list[FileEvent]


class NoticeSummaryOut(BaseModel):
    """An adverse-action notice on the file: a lender's decline (the notice itself at
    ``api_url``, a page at ``url``, a printable one at ``print_url``)."""

    notice_id: int
    issued_at: UtcDateTime
    person_id: str
    lender: str
    reference: str = Field(description="the lender's own reference for the application")
    score: int | None
    as_of: dt.date
    url: str
    print_url: str
    api_url: str


class PersonFile(BaseModel):
    person_id: str
    as_of: dt.date
    furnishers: dict[str, list[FileItem]]
    identity: IdentityOnFile | None = Field(
        default=None,
        description="who the file says the person is, as each furnisher "
        "reported it, and how the file was linked",
    )
    statement: StatementOut | None = STATEMENT_FIELD
    notices: list[NoticeSummaryOut] = Field(
        default=[], description="adverse-action notices on the file, newest first"
    )


class FileSummary(BaseModel):
    open_accounts: int
    accounts: int
    balances: float
    credit_limits: float
    accounts_not_current: int
    bill_accounts: int
    bills_unpaid: int
    inquiries_12m: int
    public_records_unresolved: int
    accounts_disputed: int = Field(
        default=0,
        description="accounts whose furnisher reports a consumer's dispute of them, or a "
        "consumer disagreeing with the investigation of one (Metro 2 compliance condition XB, "
        "XC...; a joint account's dispute shows on each holder's file)",
    )
    oldest_opened: dt.date | None


class IdentityIn(_In):
    """The identity to look up. At the least: first name (not an initial) and last name,
    birth date, and an address (``address_line1`` and ``postcode``) or a national ID; less is
    refused (422 ``not_enough_to_identify``) and logged. The address or national ID must be the
    person's: with one that agrees with none of their records, the answer is not_found."""

    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    dob: dt.date | None = None
    address_line1: str | None = Field(default=None, max_length=200)
    postcode: str | None = Field(default=None, max_length=20)
    city: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=200)
    national_id: str | None = Field(default=None, max_length=40)


def _purpose_required(schema: dict[str, Any]) -> None:
    """The spec says what a lender must send: a purpose from the list. (The model itself
    takes any purpose, or none, so that the refusal is logged, as the score endpoint's is.)"""
    schema["properties"]["purpose"] = {
        "type": "string",
        "enum": list(LENDER_PURPOSES),
        "title": "Purpose",
        "description": "the permissible purpose of the lookup; a lookup without one from "
        "this list is refused (422 purpose_required) and logged",
    }
    schema["required"] = ["purpose", *schema.get("required", [])]


class LookupIn(_In):
    model_config = ConfigDict(json_schema_extra=_purpose_required)

    purpose: str | None = Field(default=None, max_length=32)
    person_id: str | None = Field(
        default=None, max_length=32, description="a file already known (e.g. account review)"
    )
    identity: IdentityIn | None = None
    cutoff: int = Field(
        default=DEFAULT_CUTOFF, ge=300, le=850, description="approve at or above this score"
    )

    @model_validator(mode="after")
    def _one_way(self) -> LookupIn:
        if (self.person_id is None) == (self.identity is None):
            raise ValueError("give either person_id or identity, not both and not neither")
        return self


class AdverseReason(BaseModel):
    code: str
    statement: str


class LookupOut(BaseModel):
    lookup_id: int
    match: Literal["found", "ambiguous", "not_found"]
    match_probability: float | None = None
    person_id: str | None = None
    purpose: str
    snapshot_id: str | None = None
    as_of: dt.date | None = None
    score: int | None = None
    band: str | None = None
    cutoff: int
    decision: Literal["approve", "decline", "refer", "no_file"]
    adverse_action: list[AdverseReason] = []
    reasons: list[Reason] = []
    file_summary: FileSummary | None = None
    statement: StatementOut | None = STATEMENT_FIELD
    disputes: list[DisputeNote] = Field(
        default=[], description="the file's open disputes (its records still count meanwhile)"
    )
    message: str


class AccountIn(_In):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    role: Literal["person", "lender", "auditor", "admin"]
    password: str | None = Field(default=None, min_length=10, max_length=200)
    display_name: str = Field(default="", max_length=128)
    person_id: str | None = Field(default=None, max_length=32)
    organisation: str | None = Field(default=None, max_length=128)


class AccountOut(BaseModel):
    id: int
    username: str
    role: str
    display_name: str
    person_id: str | None
    organisation: str | None
    created_at: UtcDateTime
    disabled: bool = False
    pending: bool = Field(default=False, description="waits for another admin's approval")
    created_by: str | None = Field(
        default=None,
        description="an admin's username, or user@host of an operator at the command line",
    )
    created_by_role: str | None = None
    pending_by: str | None = Field(
        default=None,
        description="who made it wait, when it waits: its creator, or who enabled it again",
    )
    approved_by: str | None = None
    approved_at: UtcDateTime | None = None


class ApiKeyOut(BaseModel):
    key: str = Field(description="shown once; only its hash is stored")
    prefix: str
    pending: bool = Field(default=False, description="waits for another admin's approval")


class ApiKeyApprovedOut(BaseModel):
    prefix: str
    pending: bool
    approved_by: str | None
    approved_at: UtcDateTime | None


class LoginKeyOut(BaseModel):
    prefix: str
    label: str
    status: Literal["active", "pending", "revoked"]
    created_at: UtcDateTime
    created_by: str | None
    created_by_role: str | None
    approved_by: str | None
    approved_at: UtcDateTime | None
    last_used_at: UtcDateTime | None = Field(description="to the minute")
    revoked_at: UtcDateTime | None
    in_audit_log: bool = Field(
        description="its issue is in the audit log (false: put into "
        "the store some other way, or before 2026-12-07)"
    )
    this_login: bool = Field(description="the key this request came with")


class LoginOut(BaseModel):
    """An account bound to the person's file, and its keys."""

    username: str
    person_id: str | None
    status: Literal["active", "pending", "disabled"]
    password: bool = Field(description="whether it logs in with a password")
    created_at: UtcDateTime
    created_by: str | None
    created_by_role: str | None
    approved_by: str | None
    approved_at: UtcDateTime | None
    last_login_at: UtcDateTime | None
    in_audit_log: bool = Field(
        description="its making is in the audit log (false: put into "
        "the store some other way, or before 2026-12-07)"
    )
    this_login: bool = Field(description="the password login this request came with")
    keys: list[LoginKeyOut]


class WaitingAccountOut(BaseModel):
    username: str
    role: str
    person_id: str | None
    created_by: str | None
    created_at: UtcDateTime
    asked_by: str | None = Field(
        default=None,
        description="who made it wait (its creator, or who enabled it again): not its approver",
    )


class WaitingKeyOut(WaitingAccountOut):
    prefix: str


class WaitingOut(BaseModel):
    accounts: list[WaitingAccountOut]
    keys: list[WaitingKeyOut]


class Me(BaseModel):
    username: str
    role: str
    person_id: str | None
    organisation: str | None


class AttestationIn(_In):
    days: int = Field(default=30, ge=1, le=90)
    audience: str | None = Field(
        default=None, max_length=128, description="who it is for, e.g. a landlord's name"
    )


class AttestationOut(BaseModel):
    token: str
    expires_at: UtcDateTime
    verify_url: str


class VerifyIn(_In):
    token: str = Field(min_length=1, max_length=8192)


class VerifyOut(BaseModel):
    valid: bool
    reason: str | None = None
    message: str
    person_id: str | None = None
    score: int | None = None
    band: str | None = None
    as_of: dt.date | None = None
    issued_at: UtcDateTime | None = None
    expires_at: UtcDateTime | None = None
    key_id: str | None = None
    audience: str | None = None


class AuditEntryOut(BaseModel):
    seq: int | None  # (None, and hash too, on a person's entry of another person's file)
    leaf_index: int | None = Field(
        default=None, description="the entry's position in the log's Merkle tree (from 0)"
    )
    at: UtcDateTime
    actor: str
    actor_role: str
    subject: str | None
    purpose: str | None
    action: str
    outcome: str
    detail: str
    hash: str | None


class SignedHeadOut(BaseModel):
    """The bureau's signature on the audit log's size and root: ``signature`` is a compact JWS
    (Ed25519, key at ``/.well-known/audit-log-keys.json``) over the other fields' values."""

    log_id: str
    tree_size: int
    root_hash: str
    timestamp: int = Field(description="milliseconds since 1970-01-01 UTC")
    signed_at: UtcDateTime
    key_id: str
    signature: str


class InclusionProofOut(BaseModel):
    """RFC 9162 inclusion proof of an entry in the tree of the signed head (``tree_size``)."""

    leaf_index: int
    tree_size: int
    leaf_hash: str = Field(description="SHA-256(0x00 || leaf), hex")
    audit_path: list[str] = Field(description="hex hashes, bottom up (RFC 9162 2.1.3)")
    leaf: str | None = Field(
        description="the leaf itself (the entry as canonical JSON, with "
        "its nonce) when every field of it is shown; None when some are "
        "not (then only its inclusion can be checked, not its content)"
    )


class PendingProofOut(BaseModel):
    """An entry newer than the signed head: its position, leaf hash and leaf (as in
    :class:`InclusionProofOut`), to prove once a later head covers it (the bureau signs on
    demand at most once every few seconds: ask again then)."""

    leaf_index: int
    leaf_hash: str
    leaf: str | None


class AccessEntryOut(BaseModel):
    seq: int | None
    at: UtcDateTime
    actor: str
    actor_role: str
    subject: str | None
    purpose: str | None
    action: str
    outcome: str
    detail: str
    hash: str | None
    proof: InclusionProofOut | None
    pending: PendingProofOut | None = Field(
        default=None, description="instead of ``proof``, for an entry newer than the signed head"
    )


class AccessLogOut(BaseModel):
    """Who read my file, with the audit log's latest signed head and a proof that each entry is
    in it (None, with ``warning``, when the log could not be signed); a page at a time, newest
    first: ``older`` is the ``before`` that gives the next page (None: this is the last)."""

    signed_head: SignedHeadOut | None
    entries: list[AccessEntryOut]
    warning: str | None = None
    older: int | None = Field(
        default=None, description="pass as ``before`` for the entries older than these"
    )


class ConsistencyOut(BaseModel):
    """RFC 9162 consistency proof between two sizes of the audit log's tree."""

    first: int
    second: int
    proof: list[str]
    signed_head: SignedHeadOut | None = Field(
        description="the signed head of size ``second``, when ``second`` was left out"
    )


class LogCheckOut(BaseModel):
    ok: bool
    entries: int
    tree_size: int
    signed_heads: int
    latest_head: SignedHeadOut | None
    problems: list[str]
    notes: list[str]
    #: logs retired despite problems (``audit sign --new-log --acknowledge``): not vouched for
    acknowledged: list[str] = []
    checked_at: UtcDateTime


class ModelOut(BaseModel):
    snapshot_id: str
    as_of: dt.date
    scorecard_name: str
    scorecard_version: str
    factors: list[dict[str, Any]]
    report_url: str | None
