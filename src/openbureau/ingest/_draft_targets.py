"""Targets guessed from column names, and code tables from the values seen.

A guess is only a guess: the draft marks each one in a comment. A name is compared without
case, spaces or punctuation (``BIRTH_DT``, ``birthDate`` and ``Birth Date`` alike), then without
a leading word naming the party (``TenantDOB``, ``borrower.birth_date``). A guess that the
values contradict (a ``balance`` column that holds text) is dropped and said so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from openbureau.ingest import vocabulary
from openbureau.ingest._draft_columns import Profile
from openbureau.ingest.spec import (
    EVENT_REQUIRES,
    IDENTITY_FIELDS,
    PLACEHOLDER,
    RESERVED_TARGETS,
    FieldType,
)

# Column names (lower case, letters and digits only) -> the canonical target they suggest.
ALIASES: dict[str, tuple[str, ...]] = {
    "account_id": ("acctno", "acct", "acctnum", "acctid", "accountno", "accountnumber",
                   "accountnum", "accountid", "account", "loanno", "loannumber", "loanid"),
    "contract_id": ("contractid", "contractno", "contractnumber", "contract"),
    "lease_id": ("leaseid", "leaseno", "leasenumber", "lease"),
    "product": ("product", "productcd", "productcode", "producttype", "prodcd", "accttype",
                "accounttype"),
    "opened_date": ("opendt", "opendate", "openedon", "opened", "dateopened", "openeddate",
                    "contractstart", "startdate"),
    "closed_date": ("closedt", "closedate", "closedon", "dateclosed", "closeddate"),
    "credit_limit": ("creditlimit", "creditlmt", "crlimit", "limit", "creditline"),
    "original_amount": ("origamt", "originalamount", "origamount", "loanamount", "highcredit"),
    "period": ("period", "reportingperiod", "rptperiod", "month", "billmonth", "rentmonth",
               "statementmonth"),
    "balance": ("curbal", "balance", "currentbalance", "bal", "outstandingbalance"),
    "payment_status": ("acctstatus", "status", "accountstatus", "paymentstatus", "paystatus"),
    "days_past_due": ("dpd", "dayspastdue", "daysdelinquent"),
    "first_delinquency_date": ("dofd", "firstdelinquencydate", "datefirstdelinquency"),
    "reported_date": ("rptdt", "reportdate", "reportedon", "reporteddate", "reportingdate",
                      "asofdate"),
    "amount_due": ("amountdue", "amtdue", "billamount", "rentamount", "dueamount"),
    "amount_paid": ("amountpaid", "amtpaid", "paidamount", "paymentamount"),
    "due_date": ("duedate", "duedt", "due"),
    "paid_date": ("paiddate", "paiddt", "paidon", "paymentdate"),
    "days_late": ("dayslate",),
    "inquiry_date": ("inqdt", "inqdate", "inquirydate", "applicationdate"),
    "inquiry_type": ("inqpurpose", "inquirypurpose", "inquirytype", "purpose"),
    "filed_date": ("fileddate", "filed", "filingdate", "datefiled"),
    "case_type": ("casetype",),
    "amount": ("amount", "lienamount", "judgmentamount"),
    "satisfied_date": ("satisfied", "satisfieddate"),
    "released_date": ("released", "releasedate", "releaseddate"),
    "resolved_date": ("resolved", "resolveddate"),
    "first_name": ("firstname", "firstnm", "fname", "givenname", "forename", "first"),
    "middle_name": ("middlename", "middlenm", "mname", "middleinitial", "middle"),
    "last_name": ("lastname", "lastnm", "lname", "surname", "familyname", "last"),
    "name_suffix": ("suffix", "namesuffix", "gencd", "generationcode"),
    "full_name": ("fullname", "name", "customername", "borrowername", "consumername",
                  "taxpayername", "defendant", "defendantname", "debtorname"),
    "dob": ("dob", "birthdt", "birthdate", "dateofbirth", "birthday", "dtofbirth"),
    "national_id": ("ssn", "sin", "nationalid", "taxid", "tin", "itin", "socialsecuritynumber",
                    "nin", "nino"),
    "address_line1": ("addrline1", "addressline1", "address1", "addr1", "street",
                      "streetaddress", "address", "addr", "line1"),
    "address_line2": ("addrline2", "addressline2", "address2", "addr2", "line2", "unit", "apt"),
    "address_full": ("fulladdress", "addressfull", "serviceaddress", "mailingaddress"),
    "city": ("city", "town"),
    "region": ("state", "statecd", "statecode", "region", "province"),
    "postcode": ("zip", "zipcd", "zipcode", "zip5", "postcode", "postalcode", "postal"),
    "phone": ("phone", "phoneno", "phonenumber", "telephone", "tel", "mobile"),
    "email": ("email", "emailaddress"),
}  # fmt: skip
_BY_ALIAS = {a: target for target, names in ALIASES.items() for a in names}
if len(_BY_ALIAS) != sum(len(n) for n in ALIASES.values()):
    raise AssertionError("a column name suggests two targets (_draft_targets.ALIASES)")
# Words naming the party a column is about, left out before a second look (TenantDOB).
_PARTIES = ("borrower", "customer", "consumer", "tenant", "defendant", "taxpayer", "applicant",
            "debtor", "cust")  # fmt: skip
# Targets that identify a record: their values are text, even when they look like numbers.
_IDENTIFIERS = frozenset({"account_id", "contract_id", "lease_id"})
_DIGITS = re.compile(r"[0-9]")
CANONICAL = (
    frozenset(IDENTITY_FIELDS)
    | frozenset(t.target for t in vocabulary.TYPED_TARGETS)
    | frozenset(t for v in vocabulary.VOCABULARIES for t in v.targets)
    | frozenset(t for needs in EVENT_REQUIRES.values() for group in needs for t in group)
)
if not set(ALIASES) <= CANONICAL:
    raise AssertionError("an alias names a target that is not canonical")


@dataclass
class DraftField:
    """One spec field as drafted, with the comments that go above it."""

    column: str
    target: str
    type: FieldType
    guessed: bool = False
    formats: list[str] | None = None
    codes: dict[str, str] | None = None
    decimal_comma: bool | str = False
    max_length: int | None = None
    notes: list[str] = field(default_factory=list)


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def snake_name(name: str) -> str:
    """A column name as a snake_case target: ``loanNumber`` -> ``loan_number``."""
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    slug = re.sub(r"[^a-z0-9]+", "_", snake.lower()).strip("_") or "column"
    return (slug if slug[0].isalpha() else f"c_{slug}")[:60]


def guess_target(column: str) -> str | None:
    """The canonical target a column's name suggests, if any."""
    names = [column, column.split(".")[-1]]
    for name in names:
        squashed = _squash(name)
        found = _BY_ALIAS.get(squashed) or _BY_ALIAS.get(_squash(snake_name(name)))
        for party in _PARTIES:
            if found is None and squashed.startswith(party) and len(squashed) > len(party):
                found = _BY_ALIAS.get(squashed[len(party) :])
        if found:
            return found
    slug = snake_name(column)
    return slug if slug in CANONICAL else None


def draft_fields(profiles: list[Profile]) -> list[DraftField]:
    """A spec field per column: a guessed target where the name and the values agree."""
    taken: dict[str, str] = {}
    out = []
    for p in profiles:
        f = DraftField(p.column.name, "", p.type, formats=p.formats, notes=list(p.notes))
        f.decimal_comma, f.max_length = p.decimal_comma, p.max_length
        guess = named = guess_target(p.column.name)
        if guess is not None and guess in taken:
            f.notes.append(f"looks like {guess} too, already given to column {taken[guess]!r}")
            guess = None
        if guess is not None and _fits(f, p, guess, identifying=_identifying(p)):
            f.target, f.guessed = guess, True
            taken[guess] = p.column.name
        else:
            f.target = _free_name(snake_name(p.column.name), taken)
        taken.setdefault(f.target, p.column.name)
        withheld = _withheld(p, named)
        if not f.guessed and p.low_cardinality and f.type == "string" and withheld:
            f.notes.append(f"values seen withheld: {withheld}")
        elif not f.guessed and p.low_cardinality and f.type == "string":
            shown = ", ".join(f"{v} ({n:,})" for v, n in p.values[:10])
            more = f" and {len(p.values) - 10} more" if len(p.values) > 10 else ""
            f.notes.append(f"values seen: {shown}{more}")
        out.append(f)
    return out


def _free_name(slug: str, taken: dict[str, str]) -> str:
    """A target of the column's own name that claims no canonical meaning, used by no other."""
    name = f"{slug}_raw" if slug in CANONICAL or slug in RESERVED_TARGETS else slug
    n = 2
    while name in taken:
        name, n = f"{slug}_{n}", n + 1
    return name


def _identifying(p: Profile) -> bool:
    """Whether a value seen may name a person: 5 digits or more (an SSN, an account or phone
    number, a birth date), or an email address."""
    return any(len(_DIGITS.findall(v)) >= 5 or "@" in v for v, _ in p.values)


def _withheld(p: Profile, target: str | None) -> str | None:
    """Why the values seen in a column must not be written into the spec, if they must not."""
    if target in IDENTITY_FIELDS:
        return f"named like {target}, an identity field"
    if _identifying(p):
        return "they look like identifiers (5 digits or more, or an email address)"
    return None


def _fits(f: DraftField, p: Profile, target: str, *, identifying: bool = False) -> bool:
    """Whether the values allow the guessed target; adjusts the field's type to it."""
    vocab = vocabulary.for_target(target)
    fixed = IDENTITY_FIELDS.get(target)
    allowed = (fixed,) if fixed else vocabulary.types_of(target)
    as_text = [n for n in f.notes if not n.startswith("numbers with")]  # (said by the type)
    if target in _IDENTIFIERS or fixed == "string":
        f.type, f.formats, f.decimal_comma, f.notes = "string", None, False, as_text
        return True
    if vocab is not None:
        if identifying:  # (a code table would write them into the spec)
            f.notes.append(f"named like {target}, but its values look like identifiers")
            return False
        if not p.values or f.type in ("date", "month", "amount"):
            f.notes.append(f"named like {target}, but its values are not a few codes")
            return False
        f.type, f.codes, f.notes = "code", _code_table(p, vocab), as_text
        return True
    if allowed is None or f.type in allowed:
        return True
    if "amount" in allowed and f.type == "integer":
        f.type = "amount"
        return True
    f.notes.append(f"named like {target}, which is {' or '.join(allowed)}, but its values are "
                   f"{f.type}")  # fmt: skip
    return False


def _code_table(p: Profile, vocab: vocabulary.Vocabulary) -> dict[str, str]:
    """Each value seen -> the canonical value it names, or the placeholder."""
    known: dict[str, str] = {}
    for term in vocab.terms:
        for word in (term.value, term.shown):
            if word:
                known[_squash(word)] = term.value
    return {value: known.get(_squash(value), PLACEHOLDER) for value, _ in p.values}


def suggestions(fields: list[DraftField]) -> list[str]:
    """Commented-out keys a person may want, from the targets the draft guessed."""
    guessed = {f.target for f in fields if f.guessed}
    out = []
    ids: tuple[str, ...] = ("account_id", "contract_id", "lease_id")
    dates: tuple[str, ...] = ("period", "due_date", "inquiry_date", "filed_date")
    key = [t for t in ids if t in guessed][:1] + [t for t in dates if t in guessed][:1]
    if len(key) == 2:
        out.append(f"record_key: [{', '.join(key)}]   # (each must be required: true)")
    groups = [["national_id"], ["last_name", "dob"], ["full_name", "dob"],
              ["full_name", "address_full"]]  # fmt: skip
    found = [g for g in groups if set(g) <= guessed]
    if found:
        out.append(f"require_one_of: [{', '.join('[' + ', '.join(g) + ']' for g in found)}]")
    return out
