"""How a feed's rows become canonical ledger events: a source spec's ``ledger`` block."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from openbureau.ingest.vocabulary import PAYMENT_KIND, PUBLIC_RECORD_KIND


def historical(info: ValidationInfo) -> bool:
    """Whether the spec is one a batch was loaded with earlier: the checks added since are
    then the ledger's to make, on the rows (see ``spec.parse_spec``)."""
    return bool(info.context and info.context.get("historical"))


EventType = Literal["account_status", "inquiry", "payment", "public_record"]


class LedgerMapping(BaseModel):
    """How a feed's rows become canonical ledger events (see docs/ledger.md).

    The event's own fields come from the spec's canonical targets (``balance``,
    ``payment_status``, ``due_date``...); this block only says which event a row is and
    which targets carry its dates.
    """

    model_config = ConfigDict(extra="forbid")

    event: EventType = Field(description="Canonical event a row of this feed becomes")
    kind: str | None = Field(
        default=None,
        description="payment: utility | telecom | rent; public_record: a fixed kind "
        "(tax_lien) when no target carries it",
    )
    kind_from: str | None = Field(
        default=None, description="public_record: target holding the kind (case_type)"
    )
    event_date: str = Field(description="Target holding the date the event happened")
    reported_date: str | None = Field(
        default=None, description="Target holding the date the furnisher reported the row"
    )
    report_lag_days: int = Field(
        default=0,
        ge=0,
        le=400,
        description="Without a reported date: the row counts as known this many days after "
        "its event date",
    )
    alternative: bool | None = Field(
        default=None,
        description="Alternative data (utility, telecom, rent): counts in a person's score only "
        "with their consent, and is erased on request. A payment feed must say true; other "
        "events are credit data (false)",
    )

    @model_validator(mode="after")
    def _kind_given(self, info: ValidationInfo) -> LedgerMapping:
        if self.event == "payment" and self.kind not in PAYMENT_KIND:
            raise ValueError(f"ledger.kind: a payment feed needs one of {PAYMENT_KIND.listing()}")
        self._check_alternative(info)
        if self.event == "public_record":
            if (self.kind is None) == (self.kind_from is None):
                raise ValueError(
                    "ledger: a public_record feed needs exactly one of kind, kind_from"
                )
            if self.kind is not None and self.kind not in PUBLIC_RECORD_KIND:
                raise ValueError(
                    f"ledger.kind: {self.kind!r} is not one of {PUBLIC_RECORD_KIND.listing()}"
                )
        return self

    def _check_alternative(self, info: ValidationInfo) -> None:
        """Whether rows count only with consent is never left to a default: a payment feed
        says so (a spec a batch was loaded with before the flag existed is read as saying so,
        since payments were always the alternative-data factors' only input)."""
        if self.event == "payment":
            if self.alternative is None and not historical(info):
                raise ValueError(
                    "ledger.alternative: a payment feed (utility, telecom, rent bills) is "
                    "alternative data, counted only with the person's consent: say "
                    "`alternative: true`"
                )
            if self.alternative is False:
                raise ValueError(
                    "ledger.alternative: payments feed only the alternative-data factors, "
                    "which count only with the person's consent: a payment feed cannot be "
                    "core credit data (say `alternative: true`)"
                )
        elif self.alternative:
            raise ValueError(
                f"ledger.alternative: only payment feeds carry alternative data; a "
                f"{self.event} feed is credit data (leave alternative out, or map the feed "
                "as event: payment)"
            )

    @property
    def is_alternative(self) -> bool:
        """Rows of this feed are alternative data (see ``alternative``)."""
        return self.event == "payment"

    def targets(self) -> list[str]:
        return [t for t in (self.kind_from, self.event_date, self.reported_date) if t]


# Targets each event needs from the feed (one of each tuple).
EVENT_REQUIRES: dict[str, list[tuple[str, ...]]] = {
    "account_status": [("account_id",), ("payment_status", "days_past_due")],
    "inquiry": [("inquiry_date",)],
    "payment": [("account_id", "contract_id", "lease_id"), ("due_date", "period")],
    "public_record": [("filed_date",)],
}
