"""Source specs for the synthetic feeds, built from the same layouts that wrote the files."""

from __future__ import annotations

from pathlib import Path

from openbureau.ingest.spec import FieldSpec, LedgerMapping, ParseOptions, SourceSpec, save_spec
from openbureau.synth._layout import Feed

# The ledger event each synthetic feed's rows become. Bills are known once due; a status
# row once the furnisher reported it.
LEDGER: dict[str, LedgerMapping] = {
    "northbank_accounts": LedgerMapping(
        event="account_status", event_date="period", reported_date="reported_date"
    ),
    "crestline_tradelines": LedgerMapping(
        event="account_status", event_date="period", reported_date="reported_date"
    ),
    "northbank_inquiries": LedgerMapping(event="inquiry", event_date="inquiry_date"),
    "crestline_inquiries": LedgerMapping(event="inquiry", event_date="inquiry_date"),
    "brightwater_utility": LedgerMapping(
        event="payment", kind="utility", alternative=True, event_date="due_date"
    ),
    "metrotel_telecom": LedgerMapping(
        event="payment", kind="telecom", alternative=True, event_date="due_date"
    ),
    "rentright_rent": LedgerMapping(
        event="payment", kind="rent", alternative=True, event_date="period"
    ),
    "county_court_records": LedgerMapping(
        event="public_record", kind_from="case_type", event_date="filed_date"
    ),
    "state_tax_liens": LedgerMapping(
        event="public_record", kind="tax_lien", event_date="filed_date"
    ),
}


def build_spec(feed: Feed, *, empty_bad_birth_dates: bool = False) -> SourceSpec:
    """The ``SourceSpec`` a bureau analyst would write for this feed; with
    ``empty_bad_birth_dates``, for a furnisher known to mistype birth years (1380 for 1980):
    such a birth date is emptied and counted (``invalid: null``), the row kept."""
    fields = [
        FieldSpec(
            column=c.name,
            target=c.target,
            type=c.type,  # type: ignore[arg-type]
            category=c.category,  # type: ignore[arg-type]
            required=c.required,
            formats=list(c.formats) or None,
            codes=c.codes,
            decimal_comma=c.decimal_comma,
            invalid="null" if empty_bad_birth_dates and c.target == "dob" else "quarantine",
        )
        for c in feed.columns
    ]
    parse = ParseOptions()
    if feed.format == "csv":
        parse = ParseOptions(encoding=feed.encoding, delimiter=feed.delimiter, header=True)
    elif feed.format == "jsonl":
        parse = ParseOptions(encoding=feed.encoding)
    return SourceSpec(
        name=feed.name,
        furnisher=feed.furnisher,
        feed=feed.feed,
        description=feed.description,
        format=feed.format,  # type: ignore[arg-type]
        parse=parse,
        record_key=list(feed.record_key),
        require_one_of=[list(g) for g in feed.require_one_of],
        fields=fields,
        ledger=LEDGER.get(feed.name),
    )


def write_spec(feed: Feed, folder: Path, *, empty_bad_birth_dates: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = build_spec(feed, empty_bad_birth_dates=empty_bad_birth_dates)
    return save_spec(spec, folder / f"{feed.name}.yaml")
