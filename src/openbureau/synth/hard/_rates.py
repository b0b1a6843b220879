"""How often each difficulty occurs: the hard generator's settings, with documented defaults.

Two kinds of rate:

- **person** rates are shares of all persons (``shared_phone``: of households of two or more)
  and describe who the person is: a Jr living with his father, a twin, a namesake.
- **record** rates are chances per furnisher account (a loan, a lease, a phone contract, an
  inquiry), drawn once for the account as a furnisher keeps what it captured at onboarding;
  ``field_missing`` alone is per row. A record rate that needs something of the person (a
  nickname, a second surname, a move) is a chance among those persons' accounts.

Every difficulty a record carries is written to the truth (``difficulties`` in
``records.parquet``; the person's own in ``persons.parquet``), so linkage figures can be split
by difficulty. ``shared_email`` is observed, not set: persons whose email address another
person also gives (namesakes' name-built addresses, a couple's family address, or chance).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from openbureau.errors import UserError


@dataclass(frozen=True)
class Difficulties:
    """Rates of the hard generator's difficulties (see the module docstring for the kinds)."""

    # persons
    household: float = 0.45  # live with others: same address, mostly the same surname
    jr_sr: float = 0.03  # father or son sharing first and last name and address (Jr/Sr)
    twin: float = 0.02  # one of twins: same birth date, surname and address
    namesake: float = 0.04  # first and last name (and a name-built email) of an unrelated person
    married: float = 0.05  # surname changes in the window, with a move to the spouse's address
    transliterated: float = 0.12  # names from a language with several romanisations
    hyphenated: float = 0.05  # a double surname (García López, Smith-Jones)
    nickname: float = 0.15  # goes by a nickname (Bob for Robert, David for Wei)
    moved: float = 0.35  # the household moves once or twice in the window
    shared_phone: float = 0.5  # of households of two or more: every member gives one phone
    # records (per furnisher account)
    nickname_used: float = 0.6  # of a nickname person's accounts: the nickname is written
    variant_spelling: float = 0.4  # of accounts of names with several spellings: another one
    name_order: float = 0.15  # of accounts of family-name-first persons: given and family swapped
    hyphen_form: float = 0.5  # of a double surname's accounts: one part, a space, run together
    maiden_name: float = 0.3  # of accounts after a surname change: the old surname kept
    stale_address: float = 0.25  # of a mover's accounts: the old address for months, or for good
    address_variant: float = 0.3  # street type, unit, directional, town alias written otherwise
    name_typo: float = 0.04  # a keyboard slip in the first or last name
    dob_swap: float = 0.02  # day and month exchanged (a day of 12 or less)
    dob_year_typo: float = 0.01  # a digit of the birth year mistyped (1380 for 1980)
    dob_missing: float = 0.03  # no date of birth
    ssn_missing: float = 0.06  # no national id
    ssn_typo: float = 0.015  # a digit wrong, or two neighbouring digits exchanged
    ssn_borrowed: float = 0.003  # of household members' accounts: another member's national id
    field_missing: float = 0.02  # per row: middle name, date of birth, ZIP code or unit left empty


PERSON_RATES: tuple[str, ...] = (
    "household",
    "jr_sr",
    "twin",
    "namesake",
    "married",
    "transliterated",
    "hyphenated",
    "nickname",
    "moved",
    "shared_phone",
)
RECORD_RATES: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(Difficulties) if f.name not in PERSON_RATES
)
# The truth's vocabulary, in bit order: a person's difficulties, then what a record carries.
PERSON_TAGS: tuple[str, ...] = (*PERSON_RATES, "shared_email")
RECORD_TAGS: tuple[str, ...] = RECORD_RATES
TAGS: tuple[str, ...] = (*PERSON_TAGS, *RECORD_TAGS)
BIT: dict[str, int] = {tag: 1 << i for i, tag in enumerate(TAGS)}


def check(d: Difficulties) -> Difficulties:
    """The rates as given, or UserError naming the one that cannot be."""
    for f in dataclasses.fields(d):
        value = getattr(d, f.name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise UserError(f"difficulty {f.name}: a rate between 0 and 1, got {value!r}")
    if d.jr_sr + d.twin > d.household:
        raise UserError(
            f"difficulty household ({d.household}) must be at least jr_sr + twin "
            f"({d.jr_sr + d.twin:g}): fathers and sons, and twins, live together"
        )
    alone = 1 - d.household
    if d.married + d.namesake / 2 > alone / 2:
        raise UserError(
            f"difficulties married + namesake/2 ({d.married + d.namesake / 2:g}) must be at most "
            f"half the persons living alone ({alone / 2:g}): both are drawn from them"
        )
    return d


def parse(settings: list[str]) -> Difficulties:
    """``NAME=RATE`` settings (``--difficulty``) over the defaults."""
    names = PERSON_RATES + RECORD_RATES
    given: dict[str, float] = {}
    for item in settings:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise UserError(f"--difficulty {item!r}: expected NAME=RATE, e.g. twin=0.05")
        if name not in names:
            raise UserError(f"--difficulty {name}: no such difficulty; one of {', '.join(names)}")
        try:
            given[name] = float(value)
        except ValueError:
            raise UserError(f"--difficulty {name}: a rate like 0.05, got {value!r}") from None
    return check(dataclasses.replace(Difficulties(), **given))
