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

Linking needs Splink (1.5 s to import), reading a person's file does not: ``link``,
``LinkReport`` and the lookup's names are imported when first used (PEP 562), not with the
package, so ``identity.person`` and the service's person pages stay cheap. (``lookup`` also
imports the package: importing it back from here made two threads importing the two at once
meet in a half-initialised module.)
"""

import sys
import types
from importlib import import_module
from typing import TYPE_CHECKING, Any

from openbureau.identity.evaluate import LinkageQuality, evaluate_linkage
from openbureau.identity.evaluate_truth import FeedQuality, RecordQuality, evaluate_truth
from openbureau.identity.standardise import IdentityUpdate, build_identity_records

if TYPE_CHECKING:
    from openbureau.identity.link import LinkReport, link
    from openbureau.identity.lookup import (
        Candidate,
        IdentityQuery,
        LookupResult,
        NotEnoughToIdentify,
        find_person,
    )

# The names that load Splink, and the module each comes from.
_LAZY = {
    "LinkReport": "openbureau.identity.link",
    "link": "openbureau.identity.link",
    **dict.fromkeys(
        ("Candidate", "IdentityQuery", "LookupResult", "NotEnoughToIdentify", "find_person"),
        "openbureau.identity.lookup",
    ),
}

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
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """Keeps ``identity.link`` the function: importing the submodule ``identity/link.py`` sets
    the package's attribute of its name to the module, which the eager import used to
    overwrite at once."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "link" and isinstance(value, types.ModuleType):
            value = value.link
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
