"""Protected attributes of the true population, for fairness audits only.

Sex, age band, ethnicity, national origin and political engagement are written to
``truth/persons.parquet`` and nowhere else: no furnisher file carries them (the telecom title
derives from sex, as a real salutation does). They are drawn after everything else from a
generator of their own, so a seed's persons, files and linkage are what they were before the
attributes existed.

What they are associated with, and why (see docs/synth.md):

- **ethnicity** clusters where people live: each city has its own mix and each zip code a
  more extreme mix of its city's (residential segregation), so a zip code is a strong proxy
  for ethnicity. It is also modestly associated with latent risk (structural disadvantage).
- **national origin** follows ethnicity (the shares born abroad per group are roughly those of
  the US census) and clusters by zip code beyond that.
- **sex** is the generator's own; **age band** is read from the date of birth at ``as_of``.
- **political engagement** is independent of everything, credit included.
"""

from __future__ import annotations

import numpy as np

from openbureau.synth._config import Calendar
from openbureau.synth._names import NameTables
from openbureau.synth._population import Population

SEXES = ("male", "female")  # indexed by Population.sex
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
AGE_BAND_FLOORS = (18, 25, 35, 45, 55, 65)  # first age of each band
ETHNICITIES = ("white", "hispanic", "black", "asian", "other")
# Shares of the 2020 US census, rounded (white and black not Hispanic; "other" includes
# multiracial and native persons).
ETHNICITY_SHARES = np.array([0.58, 0.19, 0.12, 0.06, 0.05])
# Concentration of each city's mix around the national one, and of each zip code's around its
# city's: the smaller, the more segregated.
CITY_CONCENTRATION = 3.0
ZIP_CONCENTRATION = 5.0
# Tilt of each group's odds per standard deviation of latent risk (structural disadvantage):
# modest, so that the mean latent risk differs by a few tenths of a standard deviation.
RISK_TILT = np.array([-0.1, 0.3, 0.4, -0.2, 0.1])
NATIONAL_ORIGINS = ("domestic", "foreign_born")
# Share born abroad per ethnicity (roughly the census's), about 14 % in all.
FOREIGN_BORN_SHARE = np.array([0.04, 0.32, 0.10, 0.60, 0.15])
FOREIGN_BORN_ZIP_SD = 0.5  # spread of a zip code's log-odds of being born abroad
POLITICAL_ENGAGEMENT = ("engaged", "not_engaged")
ENGAGED_SHARE = 0.40


def _categorical(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """One draw per row of the probability matrix ``p`` (rows sum to 1)."""
    u = rng.random(len(p))[:, None]
    return np.minimum((u > np.cumsum(p, axis=1)).sum(axis=1), p.shape[1] - 1)


def _age_bands(dob: np.ndarray, as_of: np.datetime64) -> np.ndarray:
    """Index into AGE_BANDS of each person's age in whole years on ``as_of``."""
    dob_month = dob.astype("datetime64[M]")
    as_of_month = as_of.astype("datetime64[M]")
    dob_day = (dob - dob_month.astype("datetime64[D]")).astype(np.int64)
    as_of_day = (as_of - as_of_month.astype("datetime64[D]")).astype(np.int64)
    full_months = (as_of_month - dob_month).astype(np.int64) - (dob_day > as_of_day)
    return np.digitize(full_months // 12, AGE_BAND_FLOORS[1:])


def zip_mix(rng: np.random.Generator, t: NameTables) -> tuple[np.ndarray, np.ndarray]:
    """(ethnic mix per zip code, log-odds shift of being born abroad per zip code), indexed by
    the zip code's number: drawn once for the population, shared by its blocks."""
    n_zip = max(c[3] for c in t.cities) + 1
    mix = np.tile(ETHNICITY_SHARES, (n_zip, 1))
    city_mix = rng.dirichlet(CITY_CONCENTRATION * ETHNICITY_SHARES, len(t.cities))
    for c, (_, _, lo, hi, _) in enumerate(t.cities):  # (per city, not per person)
        alpha = ZIP_CONCENTRATION * city_mix[c] + 1e-3
        mix[lo : hi + 1] = rng.dirichlet(alpha, hi - lo + 1)
    mix = mix + 1e-3  # no group wholly absent anywhere
    mix /= mix.sum(axis=1, keepdims=True)
    return mix, rng.normal(0.0, FOREIGN_BORN_ZIP_SD, n_zip)


def draw_protected(
    rng: np.random.Generator,
    pop: Population,
    mix: tuple[np.ndarray, np.ndarray],
    cal: Calendar,
    risk_z: np.ndarray,
) -> dict[str, np.ndarray]:
    """Each person's protected attributes as strings, keyed by attribute name (``mix``:
    ``zip_mix``'s)."""
    n = pop.n
    person = np.arange(n)
    home = pop.zip[person, pop.address_slot(person, np.full(n, cal.as_of_month))]
    zip_ethnicity, foreign_shift = mix
    odds = zip_ethnicity[home] * np.exp(np.outer(risk_z, RISK_TILT))
    ethnicity = _categorical(rng, odds / odds.sum(axis=1, keepdims=True))
    base = np.log(FOREIGN_BORN_SHARE / (1 - FOREIGN_BORN_SHARE))[ethnicity]
    foreign = rng.random(n) < 1 / (1 + np.exp(-(base + foreign_shift[home])))
    engaged = rng.random(n) < ENGAGED_SHARE
    # Twins share ethnicity and birthplace, a father and son ethnicity: the second of each pair
    # takes the first's.
    twin = np.flatnonzero((pop.twin_of > 0) & (pop.twin_of - 1 < person))
    ethnicity[twin] = ethnicity[pop.twin_of[twin] - 1]
    foreign[twin] = foreign[pop.twin_of[twin] - 1]
    pair = np.flatnonzero((pop.jr_sr_of > 0) & (pop.jr_sr_of - 1 < person))
    ethnicity[pair] = ethnicity[pop.jr_sr_of[pair] - 1]
    return {
        "sex": np.array(SEXES, dtype=object)[pop.sex],
        "age_band": np.array(AGE_BANDS, dtype=object)[_age_bands(pop.dob, cal.as_of)],
        "ethnicity": np.array(ETHNICITIES, dtype=object)[ethnicity],
        "national_origin": np.array(NATIONAL_ORIGINS, dtype=object)[foreign.astype(np.int8)],
        "political_engagement": np.array(POLITICAL_ENGAGEMENT, dtype=object)[
            (~engaged).astype(np.int8)
        ],
    }
