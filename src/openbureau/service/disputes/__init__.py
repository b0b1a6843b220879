"""Disputes in the service: filing, adding information, a furnisher's answer, expiry, and the
person-level rescore each resolution brings (the rules, and what a resolution does to the
warehouse, in ``rules``).

A dispute lives in the store (``disputes``, its ``dispute_steps`` and attachments). Its
resolution changes the warehouse (a correction or a ``disputed`` suppression) and rescores the
person at once: the served snapshot's scorecard and as-of date, as known now, by the snapshot's
own SQL restricted to the person. The new row goes to ``person_rescores``; while that snapshot is
served, it is the person's score (:class:`DisputeBook` lays it over the snapshot's row). A later
snapshot, computed from the changed ledger, holds it anyway.

The warehouse is one writer at a time: when it is busy (a ``score`` running), the answer is
kept and marked waiting, and ``openbureau disputes apply`` (or the next resolution) applies it.

The names are exported here; the code is in ``_store`` (the Desk and the reads), ``_filing``,
``_answer`` (answers, resolution, expiry), ``_apply`` (warehouse and rescore) and ``_book``;
``rules`` is public: these, the API, the pages, benchmarks and tests use it directly.
"""

from openbureau.service.disputes._answer import answer, answer_link, expire_due, resolve
from openbureau.service.disputes._apply import WarehouseBusy, apply, apply_waiting, warehouse
from openbureau.service.disputes._book import DisputeBook, mark_disputed, row_from_json
from openbureau.service.disputes._filing import (
    MAX_ATTACHMENT,
    MAX_TEXT,
    MEDIA_TYPES,
    add_information,
    check_attachment,
    check_text,
    decode_attachment,
    file_link_dispute,
    file_record_dispute,
)
from openbureau.service.disputes._store import (
    Audit,
    Desk,
    attachment,
    dispute_json,
    furnishers_of,
    of_furnishers,
    of_kind,
    of_person,
    one,
)

__all__ = [
    "MAX_ATTACHMENT",
    "MAX_TEXT",
    "MEDIA_TYPES",
    "Audit",
    "Desk",
    "DisputeBook",
    "WarehouseBusy",
    "add_information",
    "answer",
    "answer_link",
    "apply",
    "apply_waiting",
    "attachment",
    "check_attachment",
    "check_text",
    "decode_attachment",
    "dispute_json",
    "expire_due",
    "file_link_dispute",
    "file_record_dispute",
    "furnishers_of",
    "mark_disputed",
    "of_furnishers",
    "of_kind",
    "of_person",
    "one",
    "resolve",
    "row_from_json",
    "warehouse",
]
