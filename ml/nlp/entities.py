"""Entities in a customer message: order numbers, e-mail addresses, SKUs and quantities (rule-based).

Order numbers look like ``DS-100001`` (letters, dash, 4+ digits; also written without the dash or in lower
case); SKUs like ``SKU-0042`` or ``ABC-123-XL`` when they carry the ``SKU`` prefix or are given after the word
"sku"; quantities are small numbers (digits or words) followed by a noun or preceded by "qty"/"quantity".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ORDER_RE = re.compile(r"\b(DS)[-\s]?(\d{4,10})\b", re.IGNORECASE)
EMAIL_RE = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
SKU_RE = re.compile(r"\b(SKU[-_]?[A-Z0-9]+(?:-[A-Z0-9]+)*)\b", re.IGNORECASE)
SKU_AFTER_WORD_RE = re.compile(r"\bsku\s*[:#]?\s*([A-Z0-9]+(?:-[A-Z0-9]+)*)\b", re.IGNORECASE)
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "a dozen": 12, "dozen": 12}
QUANTITY_RE = re.compile(
    r"\b(?:(?:qty|quantity)\s*[:=]?\s*(\d{1,4})|(\d{1,4}|"
    + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
    + r")\s*(?:x\s+)?(?:pieces?|pcs|items?|units?|pairs?|of\b|[a-z]+s\b))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Entities:
    order_numbers: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    skus: list[str] = field(default_factory=list)
    quantities: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, list]:
        return {"order_numbers": self.order_numbers, "emails": self.emails, "skus": self.skus, "quantities": self.quantities}


def _unique(values: list) -> list:
    return list(dict.fromkeys(values))


def extract_entities(text: str) -> Entities:
    """All entities found in ``text``, each list in order of appearance without duplicates."""
    text = str(text)
    orders = [f"{m.group(1).upper()}-{m.group(2)}" for m in ORDER_RE.finditer(text)]
    emails = [m.group(0).lower() for m in EMAIL_RE.finditer(text)]
    skus = [m.group(1).upper() for m in SKU_RE.finditer(text)]
    skus += [m.group(1).upper() for m in SKU_AFTER_WORD_RE.finditer(text) if not m.group(1).upper().startswith("SKU")]
    quantities = []
    for m in QUANTITY_RE.finditer(text):
        raw = (m.group(1) or m.group(2) or "").lower()
        value = int(raw) if raw.isdigit() else NUMBER_WORDS.get(raw)
        # Digits that are part of an order number are not quantities.
        if value is not None and not any(raw in o for o in orders if raw.isdigit()):
            quantities.append(value)
    return Entities(_unique(orders), _unique(emails), _unique(skus), quantities)
