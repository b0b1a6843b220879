"""A second, independent synthetic population, built to be hard to link.

``generate(out, SynthConfig(...), Difficulties(...))`` writes the same feeds, specs and truth
layout as ``openbureau.synth.generate``, from persons and noise of its own: households where a
father and son share a name, twins, namesakes with the same name-built email, married-name
changes, romanised and double surnames, nicknames, moves, swapped days and months, mistyped
birth years, missing fields, shared phones. Every rate is a ``Difficulties`` field, and the truth
says which difficulties each person and each record carries.
"""

from openbureau.synth.hard._generate import generate
from openbureau.synth.hard._rates import (
    PERSON_RATES,
    PERSON_TAGS,
    RECORD_RATES,
    RECORD_TAGS,
    TAGS,
    Difficulties,
    parse,
)

__all__ = [
    "PERSON_RATES",
    "PERSON_TAGS",
    "RECORD_RATES",
    "RECORD_TAGS",
    "TAGS",
    "Difficulties",
    "generate",
    "parse",
]
