"""Unique identifiers that look random: national ids, account, lease and case numbers.

A population drawn block by block cannot draw its ids without replacement from the whole
range at once, so each kind of id is numbered 0, 1, 2... in the order the blocks ask for them
and the number is sent through a keyed permutation of the id's range (a small Feistel network,
cycle-walked into the range). Two numbers never give the same id, the ids carry no visible
order, and the same seed gives the same ids whatever the chunk size.
"""

from __future__ import annotations

import numpy as np

from openbureau.errors import UserError

# Every kind of id: (first, last) of its range, and what a reader would call it.
ID_RANGES: dict[str, tuple[int, int, str]] = {
    "ssn": (0, 898 * 99 * 9999 - 1, "national ids"),  # (an index, shaped by ``ssns``)
    "tradeline": (10_000_000, 99_999_998, "tradeline account numbers"),
    "inquiry": (1_000_000, 9_999_998, "inquiry ids"),
    "utility": (100_000_000, 999_999_998, "utility account numbers"),
    "telecom": (10_000_000, 99_999_998, "telecom contract numbers"),
    "lease": (100_000, 999_998, "lease numbers"),
    "court": (1, 999_998, "court case numbers"),
    "lien": (1_000_000, 9_999_998, "tax lien numbers"),
}
_ROUNDS = 4
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(v: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a well-spread hash of each 64-bit value."""
    v = (v ^ (v >> np.uint64(30))) * _M1
    v = (v ^ (v >> np.uint64(27))) * _M2
    return v ^ (v >> np.uint64(31))


class Numbering:
    """The next unique ids of each kind, for one seed (``stream`` keeps generators apart)."""

    def __init__(self, seed: int, stream: int = 0) -> None:
        self._seed = seed
        self._stream = stream
        self._taken = dict.fromkeys(ID_RANGES, 0)

    def take(self, kind: str, n: int) -> np.ndarray:
        """The next ``n`` ids of ``kind`` (int64), never one given before."""
        lo, hi, what = ID_RANGES[kind]
        size = hi - lo + 1
        start = self._taken[kind]
        if start + n > size:
            raise UserError(
                f"too many persons: the {what} ({size:,} possible) run out; generate fewer persons"
            )
        self._taken[kind] = start + n
        return lo + self._permute(kind, np.arange(start, start + n, dtype=np.uint64), size)

    def _permute(self, kind: str, x: np.ndarray, size: int) -> np.ndarray:
        half = max(1, (int(size - 1).bit_length() + 1) // 2)
        mask = np.uint64((1 << half) - 1)
        entropy = [self._seed, self._stream, list(ID_RANGES).index(kind)]
        keys = np.random.SeedSequence(entropy).generate_state(_ROUNDS, np.uint64)

        def feistel(v: np.ndarray) -> np.ndarray:
            left, right = v >> np.uint64(half), v & mask
            for key in keys:
                left, right = right, left ^ (_mix(right ^ key) & mask)
            return (left << np.uint64(half)) | right

        y = feistel(x)
        out = y >= size
        while out.any():  # cycle-walking: a bijection of 0..size-1 onto itself
            y[out] = feistel(y[out])
            out = y >= size
        return y.astype(np.int64)


def ssns(index: np.ndarray) -> np.ndarray:
    """SSN-shaped national ids from unique indexes below 898 * 99 * 9999: area 001-899 except
    666, group 01-99, serial 0001-9999."""
    area, rest = np.divmod(index, 99 * 9999)
    group, serial = np.divmod(rest, 9999)
    area = area + 1
    area = np.where(area >= 666, area + 1, area)
    return area * 1_000_000 + (group + 1) * 10_000 + serial + 1
