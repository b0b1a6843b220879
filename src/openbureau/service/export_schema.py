"""The person's file export (a copy of everything held on them) as pydantic models.

One model per section, so that the export (service/export.py) is checked against the same
definitions as its JSON Schema, ``docs/export.schema.json``, which is generated from
:class:`FileExport` (``python -m openbureau.service.export_schema``) and cannot drift: a test
compares the two.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from openbureau.service.api_consent import ConsentChangeOut
from openbureau.service.api_rights import NoticeOut
from openbureau.service.disputes_api import DisputeOut
from openbureau.service.schemas import FileEvent, IdentityRecord, Reason, UtcDateTime

FORMAT = "openbureau.file-export"
# 2: scores with the score with alternative data, which is served and why, and rescores;
# erasures; records aged off under the ageing rules
VERSION = 2
SCHEMA_PATH = Path("docs") / "export.schema.json"

FieldValue = str | int | float | bool | dt.date | None


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgedOffBy(_Out):
    snapshot_id: str
    as_of: dt.date


class Source(_Out):
    kind: Literal["published_snapshot", "warehouse"] = Field(
        description="read from the snapshot the service publishes (the person's own export), "
        "or from the warehouse (`openbureau export-file`)"
    )
    snapshot_id: str | None = Field(description="the published snapshot read (None: warehouse)")
    as_of: dt.date | None = Field(description="that snapshot's date")
    aged_off_by: AgedOffBy | None = Field(
        description="the snapshot whose date and ageing-off periods mark records no longer "
        "reported (the one read, or the warehouse's newest); None: none known (only stored "
        "suppressions mark them: a copy published before records were marked)"
    )


class Bureau(_Out):
    name: str
    contact: str


class PersonName(_Out):
    first_name: str | None
    last_name: str | None
    dob: dt.date | None


class Person(_Out):
    person_id: str = Field(description="the file's ID")
    asked: str = Field(description="the ID asked for (a retired one leads to its file)")
    former_ids: list[str] = Field(description="file IDs merged into this one; they lead here")
    name: PersonName = Field(description="the most reported name and birth date")


class Counts(_Out):
    records: int = Field(description="records: each furnisher report of an event")
    versions: int = Field(description="versions of them: later reports and corrections")
    identities: int
    links: int
    scores: int
    statements: int
    notices: int
    disputes: int
    consents: int
    erasures: int
    reads: int = Field(description="entries of the access log, refusals included")
    refusals: int


class Suppression(_Out):
    """A record kept out of scores: ``aged_off`` (no longer reported: past its legal period),
    ``disputed``, ``no_consent``, ``fraud``, ``other``. Lifted ones stay listed."""

    suppression_id: int
    reason: str
    note: str | None
    created_at: UtcDateTime
    lifted_at: UtcDateTime | None
    lift_note: str | None


class Unreadable(_Out):
    field: str
    target: str
    text: str
    why: str


class RecordVersion(_Out):
    """One version of a record: the furnisher's report, a later report of it, or a bureau
    correction (``correction_reason``), with the batch it came in."""

    event_id: str = Field(description="record_id '~' version")
    version: int = Field(description="1: the first report; 0: a row re-sent identical")
    is_current: bool = Field(description="the version that stands now")
    supersedes: str | None = Field(description="the event id this version replaced")
    identity_id: str | None = Field(description="the identity record it was linked through")
    batch_id: str = Field(description="the furnisher file (batch) the values came in")
    loaded_at: UtcDateTime | None = Field(description="when that batch was loaded")
    loaded_record_id: str | None = Field(description="the loaded row the values come from")
    event_date: dt.date | None = Field(description="when it happened")
    reported_date: dt.date | None = Field(description="when the furnisher reported it")
    recorded_at: UtcDateTime = Field(description="when the bureau learned this version")
    correction_reason: str | None = Field(description="a bureau correction's reason")
    superseded_on: dt.date | None = Field(description="when a later report replaced it")
    unreadable: list[Unreadable] = Field(description="values the ledger could not read")
    fields: dict[str, FieldValue] = Field(
        description="the event's own values (an account's status and balance, a bill's due "
        "date and payment, an inquiry, a public record)"
    )


class FileRecord(_Out):
    record_id: str = Field(description="the furnisher's report: the row that first reported it")
    event: Literal["account_status", "inquiry", "payment", "public_record"]
    furnisher: str
    feed: str
    standing: Literal["counts", "suppressed", "no_longer_reported", "replaced"] = Field(
        description="counts toward scores; suppressed (a suppression in force); no longer "
        "reported (aged off, by an aged_off suppression or past its period under the ageing "
        "rules: kept, marked, never in scores or lenders' views); replaced (a month read from "
        "a Metro 2 payment history profile that the month's own report now gives)"
    )
    aged_off_on: dt.date | None = Field(
        description="the day it stopped being reported, past its period under the ageing "
        "rules as of source.aged_off_by (None: it has not)"
    )
    suppressions: list[Suppression]
    versions: list[RecordVersion] = Field(description="every version, oldest first")


class Link(_Out):
    """Why two identity records are in one file (``kind`` link: a model match of
    ``match_probability``, a shared national ID, or a forced link) or were kept apart (``kind``
    split: forced). `openbureau explain-link A B` shows a model match's evidence, comparison by
    comparison."""

    kind: Literal["link", "split"]
    identity_a: str
    identity_b: str
    match_probability: float | None
    source: str = Field(description="model, national_id or override")
    run_id: int | None = Field(description="the link run that made it")
    created_at: UtcDateTime | None = Field(description="when an override was given")


class HeldElsewhere(_Out):
    """A time when records now in this file were in another person's file (a mixed file since
    taken apart): reads of that file then show in ``reads`` without its ID."""

    since: UtcDateTime | None
    until: UtcDateTime | None


class Identity(_Out):
    records: list[IdentityRecord] = Field(description="each identity a furnisher reported")
    history: list[FileEvent] = Field(description="how the file was formed, oldest first")
    links: list[Link]
    held_elsewhere: list[HeldElsewhere]


class AlternativeScore(_Out):
    """The score with alternative data (utility, telecom and rent payments) beside the core
    score: it counts only with the person's consent, and only when it is the better."""

    score: int | None
    band: str | None
    unscorable_reason: str | None
    unscorable_text: str | None
    scorecard_version: str
    reasons: list[Reason] | None = Field(
        description="None: not looked up, as this score is not above the core score (it is "
        "never served)"
    )


class ScoreOverTime(_Out):
    """The person's row of one score snapshot, or a rescore of it after a dispute: the core
    score (credit data only) or why none, its reasons, the score with alternative data, and
    which of the two is served."""

    snapshot_id: str
    as_of: dt.date = Field(description="the date scored")
    computed_at: UtcDateTime = Field(description="when the snapshot (or the rescore) was computed")
    person_id: str = Field(description="the file ID scored then")
    rescore_of_dispute: int | None = Field(
        description="a rescore after this dispute's resolution, standing in for the snapshot's "
        "row while that snapshot is served (the newest one); None: the snapshot's own row"
    )
    score: int | None = Field(description="the core score: credit data only")
    band: str | None
    unscorable_reason: str | None
    unscorable_text: str | None
    scorecard_version: str
    reasons: list[Reason]
    alternative: AlternativeScore | None = Field(
        description="the score with alternative data; None: none computed, or the person's "
        "alternative data were erased after it was"
    )
    served_from: Literal["core", "alternative"] = Field(
        description="the score served from this row under the person's consent as it is now"
    )
    served_why: str = Field(description="why that one")


class Erasure(_Out):
    """An erasure of the person's alternative data at their request: when, which feeds, how many
    rows (never a value)."""

    erasure_id: int | None = Field(description="None: not in the source read (see note)")
    requested_at: UtcDateTime | None
    erased_at: UtcDateTime | None = Field(description="None: still pending")
    feeds: list[str] = Field(description="the alternative feeds erased")
    records: int | None = Field(description="ledger records (reports) erased")
    rows: dict[str, int] | None = Field(description="rows deleted, per table")
    note: str | None


class StatementVersion(_Out):
    at: UtcDateTime
    text: str | None = Field(description="None: the statement was removed then")
    change: Literal["written", "removed"]
    words: int


class Read(BaseModel):
    """An entry of the person's access log: who read (or tried to read) the file, when, why,
    and what came of it."""

    model_config = ConfigDict(extra="ignore")  # (its number and subject: not the person's)

    leaf_index: int | None = Field(description="its position in the audit log")
    at: UtcDateTime
    actor: str
    actor_role: str
    purpose: str | None
    action: str
    outcome: str = Field(description="allowed, denied (a refusal), not_found")
    detail: str
    hash: str | None = Field(description="its leaf hash (None: a read of another file)")


class FileExport(_Out):
    """Everything the bureau holds on a person (FCRA s.609, GDPR Art. 15): every record from
    every furnisher with its versions and batches, the identities linked into the file and why,
    every score with its reasons, the person's statements, adverse-action notices, and every
    read of the file with reader and purpose."""

    format: Literal["openbureau.file-export"]
    version: Literal[2]
    generated_at: UtcDateTime
    bureau: Bureau
    source: Source
    person: Person
    counts: Counts
    records: list[FileRecord]
    identity: Identity
    scores: list[ScoreOverTime] = Field(
        description="every snapshot that scored the person, and every rescore after a dispute, "
        "oldest first"
    )
    statements: list[StatementVersion] = Field(description="every version, newest first")
    notices: list[NoticeOut] = Field(description="adverse-action notices, newest first")
    reads: list[Read] = Field(description="the access log, newest first, refusals included")
    reads_truncated: bool = Field(
        description="more reads than an export lists (service.export.MAX_READS): the newest "
        "are listed; `GET /api/v1/me/access` pages through them all"
    )
    disputes: list[DisputeOut] = Field(
        description="every dispute of a record or a link on the file, newest first, with its "
        "steps, outcome and the score before and after"
    )
    consents: list[ConsentChangeOut] = Field(
        description="every change of the person's consent to alternative data (utility, "
        "telecom and rent payments) counting, newest first, with any erasure asked for"
    )
    erasures: list[Erasure] = Field(
        description="every erasure of the person's alternative data, newest first: when, "
        "which feeds, how many rows (never the values erased)"
    )


def json_schema() -> dict[str, Any]:
    """The export's JSON Schema (Draft 2020-12), as docs/export.schema.json holds it."""
    schema = FileExport.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # python -m openbureau.service.export_schema [path]
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_PATH
    target.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {target}")
