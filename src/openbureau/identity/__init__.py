"""Identity: standardise identity fields, link records into persons, keep person IDs.

``build_identity_records`` turns loaded rows into distinct, standardised identity records;
``link`` clusters them into persons with Splink (full or incremental) and keeps persistent person
IDs, and records manual corrections given to it (``link.Override``: forced links and splits);
``explain.explain_link`` shows why two records match and ``explain.files_of`` which files they
are in; ``person.person_file`` shows a person's records and ID history; ``evaluate_linkage``
measures quality against a synthetic truth over identity records, and ``evaluate_truth`` against
any truth (a synth folder, a truth file or a feed's column), per feed and over records;
``find_person`` looks a person up from an identity a lender types in. Splink types do not leave
this package.

The lookup's names are imported when first used (PEP 562), not with the package: ``lookup``
imports the package, and a package importing it back made two threads importing the two at
once (a lookup, and the service loading a snapshot's lookup index) meet in a half-initialised
module.
"""

from typing import TYPE_CHECKING, Any

from openbureau.identity.evaluate import LinkageQuality, evaluate_linkage
from openbureau.identity.evaluate_truth import FeedQuality, RecordQuality, evaluate_truth
from openbureau.identity.link import LinkReport, link
from openbureau.identity.standardise import IdentityUpdate, build_identity_records

if TYPE_CHECKING:
    from openbureau.identity.lookup import (
        Candidate,
        IdentityQuery,
        LookupResult,
        NotEnoughToIdentify,
        find_person,
    )

_LOOKUP = ("Candidate", "IdentityQuery", "LookupResult", "NotEnoughToIdentify", "find_person")

__all__ = [
    "Candidate",
    "FeedQuality",
    "IdentityQuery",
    "IdentityUpdate",
    "LinkReport",
    "LinkageQuality",
    "LookupResult",
    "NotEnoughToIdentify",
    "RecordQuality",
    "build_identity_records",
    "evaluate_linkage",
    "evaluate_truth",
    "find_person",
    "link",
]


def __getattr__(name: str) -> Any:
    if name not in _LOOKUP:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from openbureau.identity import lookup

    return getattr(lookup, name)
