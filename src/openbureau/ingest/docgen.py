"""The parts of docs/ingest.md written from the code, so they cannot drift from it.

The doc marks each generated block::

    <!-- generated: vocabularies -->
    ...
    <!-- end generated: vocabularies -->

``python -m openbureau.ingest.docgen`` rewrites the blocks of docs/ingest.md in place;
``--check`` only says whether they are up to date (exit status 1 if not). A test fails when
they differ.
"""

from __future__ import annotations

import re
import sys
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from openbureau.ingest import _metro2, bounds
from openbureau.ingest.categories import CATEGORIES, FactorUse
from openbureau.ingest.reasons import REASONS
from openbureau.ingest.spec import SourceSpec
from openbureau.ingest.vocabulary import TYPED_TARGETS, VOCABULARIES


def vocabularies() -> str:
    """Every canonical vocabulary: its values, their meaning, and what it governs."""
    parts = []
    for v in VOCABULARIES:
        governs = [f"target `{t}`" for t in v.targets]
        if v.also_governs:
            governs.append(v.also_governs)
        rows = "\n".join(f"| `{t.value}` | {t.meaning} |" for t in v.terms)
        parts.append(
            f"**{v.title}** (`{v.name}`): {'; '.join(governs)}.\n\n"
            f"| value | meaning |\n|---|---|\n{rows}"
        )
    return "\n\n".join(parts)


def plausible_values() -> str:
    """The bounds of each field type and the canonical targets that tighten them."""
    types = "\n".join(f"| `{t}` | {b.words()} |" for t, b in bounds.TYPE_BOUNDS.items())
    targets = "\n".join(
        f"| `{t}` | {b.words()} | {why} |" for t, (b, why) in bounds.TARGET_BOUNDS.items()
    )
    return (
        f"| type | plausible values |\n|---|---|\n{types}\n"
        f"| every type | at most {bounds.DEFAULT_MAX_LENGTH:,} characters of text |\n\n"
        f"| target | plausible values | why |\n|---|---|---|\n{targets}"
    )


def typed_targets() -> str:
    """The canonical targets the ledger reads with a fixed type."""
    rows = "\n".join(
        f"| `{t.target}` | {' or '.join(f'`{ty}`' for ty in t.types)} | {t.meaning} |"
        for t in TYPED_TARGETS
    )
    return f"| target | type | what it holds |\n|---|---|---|\n{rows}"


def categories() -> str:
    """Every data category: what it holds, what a score factor may make of it, and whether
    the ledger keeps it out of its events."""
    use = {
        FactorUse.value: "yes",
        FactorUse.dating: "only to date its rows",
        FactorUse.never: "never",
    }
    rows = "\n".join(
        f"| `{c.value}` | {rule.meaning} | {'yes' if rule.protected else ''} | "
        f"{use[rule.factor]} | {'taken in' if rule.in_ledger else 'kept out'} |"
        for c, rule in CATEGORIES.items()
    )
    return (
        "| category | what it holds | protected | a score factor | ledger events |\n"
        f"|---|---|---|---|---|\n{rows}"
    )


def reasons() -> str:
    """The quarantine reason codes."""
    rows = "\n".join(f"| `{code}` | {meaning} |" for code, meaning in REASONS.items())
    return f"| code | meaning |\n|---|---|\n{rows}"


def metro2_fields() -> str:
    """The fields a Metro 2 feed loads: the base segment's, those taken from its appended
    segments, and an associated consumer's."""

    def rows(fields: tuple[_metro2.Field, ...], where: str = "") -> str:
        return "\n".join(
            f"| {where}{f.start}-{f.end} | {f.column} | `{f.target}` | `{f.type}` |" for f in fields
        )

    segments = "\n".join(
        f"| {seg} {f.start}-{f.end} | {f.column.split(' ', 1)[1]} | `{f.target}` | `{f.type}` |"
        for seg, f in _metro2.SEGMENT_FIELDS
    )
    head = "| positions | field | target | type |\n|---|---|---|---|"
    return (
        f"Base segment (a record's first {_metro2.BASE_LENGTH} characters):\n\n{head}\n"
        f"{rows(_metro2.BASE_FIELDS)}\n{segments}\n\n"
        "An associated consumer (J1, J2), a row of `associated_consumers`; positions in the J2 "
        "segment (a J1 segment has the first 99; its consumer's address is the base "
        "segment's):\n\n"
        f"{head}\n{rows(_metro2.ASSOCIATED_FIELDS)}\n\n"
        "Appended segments: "
        + ", ".join(
            f"{s} ({n} characters: {_metro2.SEGMENT_MEANING[s]})"
            for s, n in _metro2.SEGMENTS.items()
        )
        + "."
    )


def metro2_codes() -> str:
    """How Metro 2's codes map onto the canonical vocabularies."""
    status = "\n".join(
        f"| `{code}` | {meaning} | "
        + (
            f"by the payment rating (`{_metro2.STATUS_UNRATED[code]}` with none, or 0)"
            if canonical == "by_rating"
            else f"`{canonical}`"
        )
        + " |"
        for code, (canonical, meaning) in _metro2.STATUS.items()
    )
    deletes = "\n".join(
        f"| `{code}` | {meaning} | loaded; the ledger suppresses the account's reports "
        f"(`{_metro2.DELETE_REASON[code]}`) |"
        for code, meaning in _metro2.DELETES.items()
    )
    rating = "\n".join(
        f"| `{code}` | {meaning} | `{canonical}` |"
        for code, (canonical, meaning) in _metro2.RATING.items()
    )
    history = "\n".join(
        f"| `{code}` | {meaning} | " + (f"`{canonical}`" if canonical else "no month") + " |"
        for code, (canonical, meaning) in _metro2.HISTORY.items()
    )
    compliance = "\n".join(
        f"| `{code}` | " + (meaning or "removes the condition reported before") + " |"
        for code, meaning in _metro2.COMPLIANCE.items()
    )
    bankruptcy = "\n".join(
        f"| `{code}` | {meaning} | `{kind}`, {stage} |"
        for code, (kind, stage, meaning) in _metro2.BANKRUPTCY.items()
    )
    ecoa = ", ".join(f"`{code}` {role}" for code, role in _metro2.ECOA.items())
    product = ", ".join(f"`{code}` {p}" for code, p in _metro2.PRODUCT.items())
    return (
        "| account status | meaning (CRRG) | `payment_status` |\n|---|---|---|\n"
        f"{status}\n{deletes}\n\n"
        "| payment rating | meaning (CRRG) | `payment_status` |\n|---|---|---|\n"
        f"{rating}\n\n"
        "| payment history profile (one character a month) | meaning (CRRG) "
        "| the month's `payment_status` |\n|---|---|---|\n"
        f"{history}\n\n"
        "| compliance condition | what every reader of the account is told, until another "
        "code or XR |\n|---|---|\n"
        f"{compliance}\n\n"
        "| consumer information indicator | meaning (CRRG) | the consumer's bankruptcy "
        "(`record_kind`, `case_status`) |\n|---|---|---|\n"
        f"{bankruptcy}\n"
        f"| `{_metro2.BANKRUPTCY_REMOVED}` | removes the bankruptcy indicator reported before "
        "| the account's earlier reports no longer count |\n"
        + "\n".join(
            f"| `{code}` | {meaning} | none (kept as `consumer_information`) |"
            for code, meaning in _metro2.NOT_BANKRUPTCY.items()
        )
        + "\n\n"
        f"ECOA code (`account_role`): {ecoa}.\n\n"
        f"Account type (`product`; another type leaves it empty): {product}."
    )


def _spec_models() -> list[tuple[str, type[BaseModel]]]:
    """Each model of the spec language with the key path it first appears under."""
    found: list[tuple[str, type[BaseModel]]] = []

    def walk(path: str, model: type[BaseModel]) -> None:
        if any(m is model for _, m in found):
            return
        found.append((path, model))
        for name, f in model.model_fields.items():
            for t in _types(f.annotation):
                if isinstance(t, type) and issubclass(t, BaseModel):
                    list_of = typing.get_origin(f.annotation) is list
                    walk(f"{path}.{name}{'[]' if list_of else ''}".lstrip("."), t)

    walk("", SourceSpec)
    return found


def _types(annotation: Any) -> list[Any]:
    """The types an annotation names (through unions, lists and dicts)."""
    args = typing.get_args(annotation)
    return [annotation, *(t for a in args for t in _types(a))]


def _default(f: FieldInfo) -> str:
    if f.is_required():
        return "required"
    value = f.default_factory() if f.default_factory is not None else f.default  # type: ignore[call-arg]
    if value is None or value == [] or value == "":
        return ""
    if isinstance(value, BaseModel):
        return "(below)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def spec_keys() -> str:
    """Every key of a source spec: where it sits, its default, what it means."""
    parts = []
    for path, model in _spec_models():
        missing = [n for n, f in model.model_fields.items() if not f.description]
        if missing:
            raise ValueError(f"{model.__name__}: spec keys without a description: {missing}")
        rows = "\n".join(
            f"| `{n}` | {_default(f)} | {str(f.description).replace('|', chr(92) + '|')} |"
            for n, f in model.model_fields.items()
        )
        where = f"`{path}`" if path else "the spec's top level"
        parts.append(
            f"**{where}** ({model.__name__}):\n\n| key | default | meaning |\n|---|---|---|\n{rows}"
        )
    return "\n\n".join(parts)


BLOCKS: dict[str, Callable[[], str]] = {
    "spec keys": spec_keys,
    "vocabularies": vocabularies,
    "plausible values": plausible_values,
    "typed targets": typed_targets,
    "data categories": categories,
    "reasons": reasons,
    "metro2 fields": metro2_fields,
    "metro2 codes": metro2_codes,
}


def _block(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- generated: {re.escape(name)} -->\n)(.*?)"
        rf"(<!-- end generated: {re.escape(name)} -->)",
        re.DOTALL,
    )


def render(text: str, blocks: Mapping[str, Callable[[], str]] | None = None) -> str:
    """``text`` with every generated block (``blocks``; default: docs/ingest.md's) rewritten
    from the code.

    Raises:
        ValueError: a block's markers are missing.
    """
    for name, write in (BLOCKS if blocks is None else blocks).items():
        found = _block(name).search(text)
        if found is None:
            raise ValueError(f"no generated block {name!r} in the document")
        start, _, end = found.groups()
        text = text[: found.start()] + start + write() + "\n" + end + text[found.end() :]
    return text


def main(
    argv: list[str] | None = None,
    *,
    blocks: Mapping[str, Callable[[], str]] | None = None,
    doc: str = "docs/ingest.md",
    module: str = "openbureau.ingest.docgen",
) -> int:
    """Rewrite (or with ``--check`` only check) the generated ``blocks`` of ``doc`` (or the
    path given); ``module`` is the command the message names."""
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    paths = [a for a in args if a != "--check"] or [doc]
    path = Path(paths[0])
    text = path.read_text(encoding="utf-8")
    new = render(text, blocks)
    if new == text:
        print(f"{path}: generated blocks are up to date")
        return 0
    if check:
        print(f"{path}: generated blocks differ from the code; run python -m {module}")
        return 1
    path.write_text(new, encoding="utf-8")
    print(f"{path}: generated blocks rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
