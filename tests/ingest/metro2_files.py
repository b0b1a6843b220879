"""Hand-made Metro 2 files (character format) for the tests: fields laid at their positions.

The positions are written here from the CRRG's record layouts (1-based, inclusive), apart from
the code under test, so that a wrong position on either side makes a test fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

# base segment: field -> (start, end)
BASE = {
    "rdw": (1, 4),
    "processing": (5, 5),
    "identification": (21, 40),
    "account": (43, 72),
    "portfolio": (73, 73),
    "account_type": (74, 75),
    "opened": (76, 83),
    "limit": (84, 92),
    "highest": (93, 101),
    "status": (124, 125),
    "rating": (126, 126),
    "history": (127, 150),
    "ccc": (153, 154),
    "balance": (155, 163),
    "past_due": (164, 172),
    "chargeoff": (173, 181),
    "dai": (182, 189),
    "dofd": (190, 197),
    "closed": (198, 205),
    "last_payment": (206, 213),
    "surname": (232, 256),
    "first": (257, 276),
    "middle": (277, 296),
    "generation": (297, 297),
    "ssn": (298, 306),
    "dob": (307, 314),
    "phone": (315, 324),
    "ecoa": (325, 325),
    "cii": (326, 327),
    "address1": (330, 361),
    "city": (394, 413),
    "state": (414, 415),
    "zip": (416, 424),
}
J1 = {"surname": (4, 28), "first": (29, 48), "ssn": (70, 78), "dob": (79, 86), "ecoa": (97, 97),
      "cii": (98, 99)}  # fmt: skip
J2 = {**J1, "address1": (102, 133), "city": (166, 185), "state": (186, 187), "zip": (188, 196)}
K1 = {"creditor": (3, 32), "class": (33, 34)}
K2 = {"indicator": (3, 3), "name": (4, 33)}
L1 = {"indicator": (3, 3), "account": (4, 33), "identification": (34, 53)}
LENGTHS = {"J1": 100, "J2": 200, "K1": 34, "K2": 34, "K3": 40, "K4": 30, "L1": 54, "N1": 146}
NUMBERS = {"limit", "highest", "balance", "past_due", "chargeoff"}  # 9 digits, zero-filled
DATES = {"opened", "dai", "dofd", "closed", "last_payment", "dob"}  # MMDDYYYY, zero-filled


def lay(length: int, layout: dict[str, tuple[int, int]], values: dict[str, object]) -> str:
    """A record of ``length`` spaces with each value at its field's positions."""
    chars = [" "] * length
    for name, value in values.items():
        start, end = layout[name]
        width = end - start + 1
        text = f"{int(str(value)):0{width}d}" if name in NUMBERS else str(value).ljust(width)
        assert len(text) == width, (name, text)
        chars[start - 1 : end] = text
    return "".join(chars)


def segment(kind: str, **values: object) -> str:
    layout = {"J1": J1, "J2": J2, "K1": K1, "K2": K2, "L1": L1}.get(kind, {})
    text = lay(LENGTHS[kind], layout, values)
    return kind + text[2:]


def base(*segments: str, fill_to: int | None = None, **values: object) -> str:
    """A base segment with its appended segments and its descriptor word; ``fill_to``: pad to
    this length (a fixed-length file)."""
    fields: dict[str, object] = {
        "processing": "1",
        "identification": "ACME0001",
        "portfolio": "R",
        "account_type": "18",
        "opened": "01152020",
        "limit": 5000,
        "highest": 1200,
        "status": "11",
        "rating": " ",
        "history": "B" * 24,  # (no history before the month: a test gives one where it reads it)
        "balance": 450,
        "past_due": 0,
        "chargeoff": 0,
        "dai": "06302024",
        "dofd": "00000000",
        "closed": "00000000",
        "last_payment": "06152024",
        "surname": "DOE",
        "first": "JANE",
        "ssn": "123456789",
        "dob": "03041980",
        "phone": "2175550123",
        "ecoa": "1",
        "address1": "12 MAIN ST",
        "city": "SPRINGFIELD",
        "state": "IL",
        "zip": "62701",
    }
    fields.update(values)
    record = lay(426, BASE, fields)[4:] + "".join(segments)
    if fill_to is not None:
        record = record.ljust(fill_to - 4)
    return f"{len(record) + 4:04d}" + record


def header(length: int = 426) -> str:
    text = "HEADER" + " " * 37 + "06302024" + "07012024"
    return f"{length:04d}" + text.ljust(length - 4)


def trailer(length: int = 426, **totals: int) -> str:
    """A trailer with the totals given: base (Total Base Records), J1, J2, K1..., or a status
    code ("s11", "sDA"); 9 digits each at their positions."""
    starts = {"base": 12, "sDF": 30, "J1": 39, "J2": 48, "sDA": 66, "N1": 273, "K1": 282,
              "K2": 291, "K3": 300, "K4": 309, "L1": 318}  # fmt: skip
    codes = ["05", "11", "13", "61", "62", "63", "64", "65", "71", "78", "80", "82", "83",
             "84", "88", "89", "93", "94", "95", "96", "97"]  # fmt: skip
    starts.update({f"s{c}": 75 + 9 * i for i, c in enumerate(codes)})
    chars = list(("TRAILER").ljust(length - 4))
    for name, value in totals.items():
        start = starts[name] - 5  # (the descriptor word is added below)
        chars[start : start + 9] = f"{value:09d}"
    return f"{length:04d}" + "".join(chars)


def write(path: Path, records: Sequence[str], sep: str = "\r\n") -> Path:
    path.write_bytes((sep.join(records) + sep).encode("latin-1"))
    return path


SPEC = {"name": "acme_cards", "furnisher": "Acme Bank", "feed": "accounts", "format": "metro2",
        "parse": {"encoding": "latin-1"}}  # fmt: skip
