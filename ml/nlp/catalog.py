"""Shopping search for the chatbot: a shopper's message → hard constraints + product words → ranked products.

``parse_constraints`` reads a message against a :class:`CatalogVocabulary` built from the catalog itself (its
category names, attribute keys and values, currencies), so nothing about a particular shop is hard-coded:

* prices: "under/below/less than/max/up to/no more than/not more than 150", "over/above/more than/at least 50",
  "between 50 and 100", "from 50 to 100", "50-100", "around 80" (± 20 %), "€120", "120€", "120 EUR", "$99.99",
  "150 euros"; an amount with a currency and no comparator ("a jacket for 120 euros") is read as a maximum;
* "cheap"/"budget"/"affordable" mean the lower third of the (matched category's) prices, "expensive"/"luxury"/
  "high-end" the upper third, unless the catalog has the word as an attribute value (a ``tier: budget``);
* "in stock", "available";
* categories by name, singular or plural ("rain jacket"), by their last word when only one category ends with it
  ("jackets"), else by MiniLM similarity of the message's short word groups to the category names (see
  :data:`CATEGORY_SIMILARITY`);
* attribute values seen in the catalog ("blue", "Kestrel"), sizes after a cue ("size M", "size 42", "EU 42"; or
  an upper-case "XL"), boolean attributes by their key's name ("waterproof", "not waterproof").

Order numbers ("DS-100002") and e-mail addresses are blanked first, and prices are read before sizes, so neither
becomes a size. What is left (less filler words like "show me") is ``Constraints.text``, the relevance query.

:class:`CatalogSearcher` filters with NumPy (per-category and per-attribute-value index arrays, price / stock
arrays: no Python loop over the products per query) and ranks what passes: by the caller's ``boost`` when there
is no text, else by hybrid relevance (MiniLM cosine + BM25, fused by reciprocal rank as the FAQ index does) with
``boost`` blended in as a secondary signal.

Scale: building a searcher encodes every product once. Measured on 2 shared CPU cores: 14 ms per product
(texts fill MiniLM's 64 tokens), so a 200k-product catalog takes about 45 minutes — accepted as a one-off, better
done on a GPU worker or avoided by passing stored ``embeddings``; a rebuild with ``previous`` encodes only new or
edited products (keyed by sku + text hash). Embeddings are one float32 array (200k × 384 = 307 MB). With 50,000
products and random embeddings (``test_search_over_50k_products_is_fast`` in tests/ml/nlp/test_catalog.py checks
it): building the index without encoding 4.5 s; a search with filters only 0.1–0.3 ms, filters + text 1–3 ms, text over the whole
catalog 17–24 ms (a word every product has + one 50k × 384 matrix–vector product); a ``boost`` of 5,000 skus adds
about 3 ms (it is read per query, O(len(boost))). Parsing a message takes ~0.5 ms, plus one encoder pass (~15 ms)
the first time a word group has to be compared with the category names.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ml.nlp.encoder import ReusedEmbeddings
from ml.nlp.entities import EMAIL_RE, ORDER_RE
from ml.nlp.retrieval import BM25, STOPWORDS, rrf, tokenize, top_indices

MAX_QUERY_CHARS = 500
MAX_K = 50
MAX_EXCLUDE = 10_000
MAX_TEXT_CHARS = 2_000  # per product field
MAX_ATTRIBUTES = 50  # per product
MAX_LIST_VALUES = 100  # per list-valued attribute
MAX_VALUE_CHARS = 100
MAX_PHRASE_TOKENS = 6  # longest category name / attribute value the parser looks for in a message
MAX_CONSTRAINT_ATTRIBUTES = 20

# Cosine similarity of a word group of the message to a category name above which the group names that category
# (and by at least CATEGORY_MARGIN more than the second-closest category). Measured with all-MiniLM-L6-v2 on three
# category lists (the demo's 8, electronics, furniture): synonyms scored 0.44–0.91 (raincoat → rain jackets 0.76,
# sneakers → running shoes 0.67, couch → sofas 0.78, earbuds → headphones 0.67, espresso → coffee 0.56,
# display → monitors 0.55; trainers 0.44 and sleeping bag 0.47 fall below), 30 unrelated words (hello, refund,
# blue, waterproof, wireless, water, trail, gift …) at most 0.52; parts of a category's own name ("rain" 0.67,
# "running" 0.66) are not compared, they are lexical matches or nothing.
CATEGORY_SIMILARITY = 0.55
CATEGORY_MARGIN = 0.05
BOOST_WEIGHT = 0.15  # share of the (normalised) boost in the ranking score when there is text
AROUND = 0.2  # "around 80" → 64..96

_WORD_RE = re.compile(r"[^\W_]+")
_CURRENCY_WORDS = {
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "$": "USD", "usd": "USD", "us$": "USD", "dollar": "USD", "dollars": "USD", "bucks": "USD",
    "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP", "quid": "GBP",
    "¥": "JPY", "jpy": "JPY", "yen": "JPY", "chf": "CHF", "franc": "CHF", "francs": "CHF",
    "sek": "SEK", "nok": "NOK", "dkk": "DKK", "kr": "SEK", "pln": "PLN", "zł": "PLN", "cad": "CAD", "aud": "AUD", "₹": "INR", "inr": "INR",
}  # fmt: skip
_NUMBER = r"(?<![\w.,])(?:\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d{1,9}(?:[.,]\d{1,2})?)(?![\d])"
_MAX_WORDS = (
    r"no more than|not more than|no higher than|not over|not above|not exceeding|no pricier than|less than|lower than|cheaper than|"
    r"under|below|max(?:imum)?(?: of)?|up to|upto|at most|within|budget of|<=?|≤"
)
_MIN_WORDS = r"more than|greater than|higher than|over|above|at least|min(?:imum)?(?: of)?|starting at|upwards of|from|>=?|≥"
_AROUND_WORDS = r"around|about|approximately|approx\.?|roughly|circa|~"
_CHEAP = frozenset({"cheap", "budget", "inexpensive", "affordable", "bargain", "lowcost", "low-cost"})
_EXPENSIVE = frozenset({"expensive", "luxury", "high-end", "highend", "upscale", "pricey"})
_STOCK_RE = re.compile(r"\b(?:in[- ]stock|on stock|on hand|(?:currently |now )?available(?: now| today| right now)?|ready to ship)\b", re.IGNORECASE)
_SIZE_CUES = frozenset({"size", "sizes", "eu", "uk", "us", "fr", "it"})
_NEGATIONS = frozenset({"not", "non", "no", "without"})
_FILLER = STOPWORDS | frozenset(
    "show me find search looking look want wanted need needs buy get got sell sells selling please something anything any some "
    "like would id im i'd hi hello hey thanks thank also too just one ones product products item items option options "
    "cheaper cheapest price priced prices cost costs pricing under over euro euros dollar dollars size sizes all "
    "m s t d ll re ve".split()  # the rest of "I'm", "don't", "I'd" (words are split at apostrophes)
)


def _stem(token: str) -> str:
    """The plural strip :func:`ml.nlp.retrieval.tokenize` uses (jackets → jacket), on one lower-case token."""
    return token[:-1] if len(token) > 3 and token.endswith("s") and not token.endswith("ss") else token


def _stems(text: str) -> tuple[str, ...]:
    return tuple(_stem(t) for t in _WORD_RE.findall(str(text).lower()))


def _clean(text: Any, limit: int = MAX_TEXT_CHARS) -> str:
    return " ".join(str(text or "")[:limit].split())


def normalize_value(value: Any) -> str | None:
    """How an attribute value is compared: case-insensitive text; True → "true"; 42 and 42.0 → "42"; ``None`` for
    what cannot be a filter value (None, NaN, nested objects)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        text = " ".join(value[:MAX_VALUE_CHARS].split()).lower()
        return text or None
    return None


def _values(value: Any) -> list[str]:
    """An attribute's comparable values: a list gives each of its (scalar) elements."""
    items = value[:MAX_LIST_VALUES] if isinstance(value, (list, tuple)) else [value]
    return [v for v in (normalize_value(item) for item in items) if v is not None]


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _price(value: Any) -> float | None:
    try:
        price = float(value)
    except (TypeError, ValueError):
        return None
    return price if math.isfinite(price) and price >= 0 else None


@dataclass(frozen=True)
class ProductText:
    """One catalog product as the engine passes it."""

    key: str  # sku
    title: str
    description: str
    category: str
    price: float | None
    currency: str  # ISO code, e.g. "EUR"
    in_stock: bool
    attributes: dict = field(default_factory=dict)  # free-form JSON: {"colour": "blue", "sizes": ["S", "M"], "waterproof": true}

    def search_text(self) -> str:
        """What the encoder embeds: title, category, attribute values, then the description (MiniLM reads 64 tokens)."""
        values = [v for key, value in list(_attributes(self.attributes).items()) for v in _values(value) if v not in ("true", "false")]
        return _clean(f"{_clean(self.title, 300)}. {_clean(self.category, 100)}. {' '.join(values[:20])}. {_clean(self.description, 600)}", 1000)


def _attributes(raw: Any) -> dict[str, Any]:
    """The attributes a product can be filtered on: string keys (lower-cased), at most MAX_ATTRIBUTES."""
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key, value in list(raw.items())[:MAX_ATTRIBUTES]:
        if isinstance(key, str) and 0 < len(key.strip()) <= MAX_VALUE_CHARS:
            out.setdefault(key.strip().lower(), value)
    return out


@dataclass(frozen=True)
class Constraints:
    """What a shopper asked for: hard filters plus ``text``, the product words left for relevance."""

    category: str | None = None
    price_min: float | None = None
    price_max: float | None = None
    currency: str | None = None  # only enforced together with a price (no exchange rates: other currencies do not match)
    in_stock: bool = False
    attributes: dict[str, object] = field(default_factory=dict)  # a list value means any of its values
    text: str = ""

    @property
    def empty(self) -> bool:
        return self == Constraints()

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category, "price_min": self.price_min, "price_max": self.price_max, "currency": self.currency,
            "in_stock": self.in_stock, "attributes": dict(self.attributes), "text": self.text,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any) -> Constraints:
        """The inverse of :meth:`to_dict`, for state read back from storage: wrong types are dropped, sizes bounded."""
        if not isinstance(data, Mapping):
            return cls()
        category = data.get("category")
        currency = data.get("currency")
        attributes = {}
        raw = data.get("attributes")
        if isinstance(raw, Mapping):
            for key, value in list(raw.items())[:MAX_CONSTRAINT_ATTRIBUTES]:
                if isinstance(value, list):
                    value = [v[:MAX_VALUE_CHARS] if isinstance(v, str) else v for v in value[:MAX_LIST_VALUES] if normalize_value(v) is not None]
                    value = value or None
                if isinstance(key, str) and key and len(key) <= MAX_VALUE_CHARS and (isinstance(value, list) or normalize_value(value) is not None):
                    attributes[key.lower()] = value[:MAX_VALUE_CHARS] if isinstance(value, str) else value
        return cls(
            category=category[:MAX_VALUE_CHARS] if isinstance(category, str) and category else None,
            price_min=_price(data.get("price_min")),
            price_max=_price(data.get("price_max")),
            currency=currency.upper() if isinstance(currency, str) and re.fullmatch(r"[A-Za-z]{3}", currency) else None,
            in_stock=data.get("in_stock") is True,
            attributes=attributes,
            text=_clean(data.get("text"), MAX_QUERY_CHARS) if isinstance(data.get("text"), str) else "",
        )

    def merged(self, newer: Constraints) -> Constraints:
        """These constraints refined by a follow-up message's (``newer``): what ``newer`` names overrides, the rest stays.

        * a new category starts a new search for that category: attributes and text of the old one are dropped
          (sizes of shoes mean nothing for jackets), price, currency and "in stock" stay;
        * a price bound replaces the same bound; the other old bound stays while it is still consistent
          ("under 150" then "over 80" → 80..150; "under 150" then "over 200" → over 200);
        * attributes are added / replaced per key; "in stock" once asked stays;
        * new product words are added to the old ones (same category), at most MAX_QUERY_CHARS.
        """
        new_category = newer.category is not None and (self.category is None or newer.category.lower() != self.category.lower())
        price_min, price_max = self.price_min, self.price_max
        if newer.price_min is not None or newer.price_max is not None:
            price_min = newer.price_min if newer.price_min is not None else price_min
            price_max = newer.price_max if newer.price_max is not None else price_max
            if newer.price_min is None and price_min is not None and price_max is not None and price_min > price_max:
                price_min = None
            if newer.price_max is None and price_min is not None and price_max is not None and price_max < price_min:
                price_max = None
        if new_category:
            attributes, text = dict(newer.attributes), newer.text
        else:
            attributes = {**self.attributes, **newer.attributes}
            words = list(dict.fromkeys((self.text + " " + newer.text).split()))
            text = " ".join(words)[:MAX_QUERY_CHARS]
        return Constraints(
            category=newer.category or self.category,
            price_min=price_min,
            price_max=price_max,
            currency=newer.currency or self.currency,
            in_stock=self.in_stock or newer.in_stock,
            attributes=attributes,
            text=text,
        )

    def describe(self) -> list[str]:
        """Human-readable parts, e.g. ``["running shoes", "under 150.00 EUR", "in blue", "size M", "waterproof"]``."""
        parts = [self.category] if self.category else []
        currency = f" {self.currency}" if self.currency else ""
        if self.price_min is not None and self.price_max is not None:
            parts.append(f"between {self.price_min:.2f} and {self.price_max:.2f}{currency}")
        elif self.price_max is not None:
            parts.append(f"under {self.price_max:.2f}{currency}")
        elif self.price_min is not None:
            parts.append(f"over {self.price_min:.2f}{currency}")
        if self.in_stock:
            parts.append("in stock")
        for key, value in self.attributes.items():
            name = key.replace("_", " ")
            if isinstance(value, list):
                value = " or ".join(str(v) for v in value)
            if isinstance(value, bool):
                parts.append(name if value else f"not {name}")
            elif key in ("colour", "color") or key.endswith(("colour", "color")):
                parts.append(f"in {value}")
            elif "size" in key:
                parts.append(f"size {value}")
            else:
                parts.append(f"{name} {value}")
        if self.text:
            parts.append(f'"{self.text}"')
        return parts


class _Index:
    """Arrays over the products for filtering: category / attribute-value index arrays, prices, stock."""

    def __init__(self, products: Sequence[ProductText]) -> None:
        n = len(products)
        self.n = n
        self.sku_row: dict[str, int] = {}
        category_rows: dict[str, list[int]] = {}
        self.category_names: dict[str, str] = {}  # lower-case → as the catalog writes it (first seen)
        self.price = np.full(n, np.nan)
        currency_codes: dict[str, int] = {}
        self.currency_code = np.full(n, -1, dtype=np.int32)
        self.in_stock = np.zeros(n, dtype=bool)
        value_rows: dict[str, dict[str, list[int]]] = {}
        self.value_display: dict[str, dict[str, str]] = {}  # key → value → as first written
        self.boolean_keys: set[str] = set()
        for i, product in enumerate(products):
            self.sku_row.setdefault(str(product.key), i)
            category = _clean(product.category, MAX_VALUE_CHARS)
            if category:
                self.category_names.setdefault(category.lower(), category)
                category_rows.setdefault(category.lower(), []).append(i)
            price = _price(product.price)
            if price is not None:
                self.price[i] = price
            currency = str(product.currency or "").strip().upper()[:3]
            if currency:
                self.currency_code[i] = currency_codes.setdefault(currency, len(currency_codes))
            self.in_stock[i] = product.in_stock is True
            for key, value in _attributes(product.attributes).items():
                if isinstance(value, bool):
                    self.boolean_keys.add(key)
                rows = value_rows.setdefault(key, {})
                display = self.value_display.setdefault(key, {})
                for raw, normalized in zip(value if isinstance(value, (list, tuple)) else [value], _values(value), strict=False):
                    rows.setdefault(normalized, []).append(i)
                    display.setdefault(normalized, str(raw)[:MAX_VALUE_CHARS] if not isinstance(raw, bool) else str(raw).lower())
        self.currencies = list(currency_codes)
        self.category_rows = {c: np.array(sorted(set(rows)), dtype=np.int32) for c, rows in category_rows.items()}
        self.value_rows = {k: {v: np.array(sorted(set(rows)), dtype=np.int32) for v, rows in values.items()} for k, values in value_rows.items()}

    def currency_of(self, code: str) -> int:
        try:
            return self.currencies.index(code.upper())
        except ValueError:
            return -2  # matches no product

    def price_thirds(self, rows: np.ndarray | None) -> tuple[float, float, str | None] | None:
        """The 1/3 and 2/3 quantiles of the prices of ``rows`` (all products for None) in their most common currency."""
        prices, codes = (self.price, self.currency_code) if rows is None else (self.price[rows], self.currency_code[rows])
        known = ~np.isnan(prices)
        if not known.any():
            return None
        values, counts = np.unique(codes[known], return_counts=True)
        code = int(values[np.argmax(counts)])
        chosen = prices[known & (codes == code)]
        low, high = np.quantile(chosen, [1 / 3, 2 / 3])
        return float(low), float(high), self.currencies[code] if code >= 0 else None


class CatalogVocabulary:
    """What the parser can recognise in a message, all taken from the catalog: category names (singular and plural),
    attribute keys and their values (strings, booleans, list elements such as sizes), the currencies.

    ``encoder`` (optional) lets the parser map synonyms to categories ("raincoat" → "rain jackets"); embeddings of
    message word groups are cached (bounded) since shoppers repeat themselves; category names embedded by
    ``previous`` (same encoder) are reused.
    """

    def __init__(self, index: _Index, encoder: Any = None, previous: CatalogVocabulary | None = None) -> None:
        self._index = index
        self.categories = list(index.category_names.values())
        self.currencies = list(index.currencies)
        self.attribute_keys = sorted(index.value_display)
        self.boolean_keys = frozenset(index.boolean_keys)
        self.attribute_values = {k: dict(v) for k, v in index.value_display.items()}
        self._category_phrases: dict[tuple[str, ...], str] = {}
        heads: dict[str, list[str]] = {}
        self._category_words: set[str] = set()
        for name in self.categories:
            stems = _stems(name)[:MAX_PHRASE_TOKENS]
            if stems:
                self._category_phrases.setdefault(stems, name)
                heads.setdefault(stems[-1], []).append(name)
                self._category_words.update(stems)
        self._category_heads = {head: names[0] for head, names in heads.items() if len(names) == 1}
        self._value_phrases: dict[tuple[str, ...], list[tuple[str, str, int, str]]] = {}
        for key, values in index.value_rows.items():
            if key in self.boolean_keys:
                continue
            for value, rows in values.items():
                stems = _stems(value)
                if 0 < len(stems) <= MAX_PHRASE_TOKENS:
                    self._value_phrases.setdefault(stems, []).append((key, index.value_display[key][value], len(rows), value))
        for candidates in self._value_phrases.values():
            candidates.sort(key=lambda c: -c[2])  # a value under several keys: the key where it is most common
        self._boolean_phrases = {_stems(key.replace("_", " ").replace("-", " ")): key for key in self.boolean_keys if _stems(key)}
        self._key_stems = {key: set(_stems(key.replace("_", " "))) for key in self.attribute_keys}
        self.encoder = encoder
        self._category_embeddings = None
        if encoder is not None:
            reused = previous._embedded_categories if previous is not None else None
            self._embedded_categories = ReusedEmbeddings(encoder, self.categories, self.categories, reused)
            self._category_embeddings = self._embedded_categories.embeddings if self.categories else None
        self._phrase_cache: dict[str, np.ndarray] = {}
        known_currencies = {c.lower(): c for c in self.currencies if re.fullmatch(r"[A-Z]{3}", c)}
        self._currency_words = {**_CURRENCY_WORDS, **known_currencies}
        words = sorted(self._currency_words, key=len, reverse=True)
        alternatives = "|".join(re.escape(w) + (r"\b" if w[-1].isalnum() else "") for w in words)
        self._currency_alternatives = alternatives
        self._currency_re = re.compile(rf"(?:{alternatives})", re.IGNORECASE)

    @classmethod
    def from_products(cls, products: Sequence[ProductText], encoder: Any = None) -> CatalogVocabulary:
        return cls(_Index(products), encoder)

    def price_thirds(self, category: str | None) -> tuple[float, float, str | None] | None:
        rows = self._index.category_rows.get(category.lower()) if category else None
        if category and rows is None:
            return None
        return self._index.price_thirds(rows)

    def occurs_in(self, key: str, value: str, category: str | None) -> bool:
        """Whether some product of ``category`` (any product for None) has ``value`` under ``key``."""
        rows = self._index.value_rows.get(key, {}).get(value)
        if rows is None:
            return False
        if category is None:
            return True
        members = self._index.category_rows.get(category.lower())
        return members is not None and bool(np.isin(rows, members, assume_unique=True).any())

    def embed_phrases(self, phrases: list[str]) -> np.ndarray:
        missing = [p for p in dict.fromkeys(phrases) if p not in self._phrase_cache]
        if missing:
            if len(self._phrase_cache) > 4096:
                self._phrase_cache.clear()
            self._phrase_cache.update(zip(missing, self.encoder.encode(missing), strict=True))
        return np.stack([self._phrase_cache[p] for p in phrases])


# ---- parsing -------------------------------------------------------------------------------------------------


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _amount_pattern(currency: str) -> str:
    return rf"(?:(?:{currency})\s*)?{_NUMBER}(?:\s*(?:{currency}))?"


def _read_amount(text: str, vocabulary: CatalogVocabulary) -> tuple[float | None, str | None]:
    number = re.search(r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d{1,9}(?:[.,]\d{1,2})?", text)
    if number is None:
        return None, None
    raw = number.group(0)
    raw = raw.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?", raw) else raw.replace(",", ".")
    currency = vocabulary._currency_re.search(text)
    return _price(raw), vocabulary._currency_words[currency.group(0).lower()] if currency else None


def _parse_price(work: str, vocabulary: CatalogVocabulary) -> tuple[float | None, float | None, str | None, str]:
    """Price bounds and currency named in ``work`` (lower-case, same length as the message); their spans blanked."""
    cur = vocabulary._currency_alternatives
    amount = _amount_pattern(cur)
    lows: list[float] = []
    highs: list[float] = []
    currencies: list[str] = []

    def take(match: re.Match, text: str) -> tuple[list[tuple[float | None, str | None]], str]:
        parts = [_read_amount(match.group(g), vocabulary) for g in range(1, (match.lastindex or 0) + 1) if match.group(g)]
        currencies.extend(c for _, c in parts if c)
        return parts, _blank(text, match.start(), match.end())

    def size_cued(text: str, start: int) -> bool:
        before = _WORD_RE.findall(text[max(0, start - 12) : start].lower())
        return bool(before) and before[-1] in _SIZE_CUES

    ranges = [
        re.compile(rf"\b(?:between|from)\s+({amount})\s*(?:and|to|-|–)\s*({amount})", re.IGNORECASE),
        re.compile(rf"({amount})\s*(?:-|–|to)\s*({amount})", re.IGNORECASE),
    ]
    for pattern in ranges:
        for match in list(pattern.finditer(work)):
            has_currency = bool(vocabulary._currency_re.search(match.group(0)))
            dash = re.search(r"\d\s*[-–]\s*\S", match.group(0)) is not None
            if pattern is ranges[1] and not (has_currency or dash) or size_cued(work, match.start()):
                continue
            parts, work = take(match, work)
            values = [v for v, _ in parts if v is not None]
            if len(values) == 2:
                lows.append(min(values))
                highs.append(max(values))
    for words, bucket in ((_MAX_WORDS, highs), (_MIN_WORDS, lows), (_AROUND_WORDS, None)):
        for match in list(re.finditer(rf"(?<!\w)(?:{words})\s*({amount})", work, re.IGNORECASE)):
            parts, work = take(match, work)
            value = parts[0][0] if parts else None
            if value is None:
                continue
            if bucket is None:
                lows.append(round(value * (1 - AROUND), 2))
                highs.append(round(value * (1 + AROUND), 2))
            else:
                bucket.append(value)
    # An amount with a currency and no comparator ("a jacket for 120 euros"): a budget, read as a maximum.
    for match in list(re.finditer(rf"((?:{cur})\s*{_NUMBER}|{_NUMBER}\s*(?:{cur}))", work, re.IGNORECASE)):
        parts, work = take(match, work)
        if parts and parts[0][0] is not None:
            highs.append(parts[0][0])
    for match in list(re.finditer(rf"(?<!\w)(?:in\s+)?(?:{cur})", work, re.IGNORECASE)):
        currencies.append(vocabulary._currency_words[re.sub(r"^in\s+", "", match.group(0).lower())])
        work = _blank(work, match.start(), match.end())
    price_min = max(lows) if lows else None
    price_max = min(highs) if highs else None
    if price_min is not None and price_max is not None and price_min > price_max:
        price_min = None  # contradicting bounds: the maximum (the usual budget) wins
    return price_min, price_max, currencies[0] if currencies else None, work


@dataclass
class _Tokens:
    text: list[str]  # as written
    stems: list[str]
    used: list[bool]

    def free(self, start: int, end: int) -> bool:
        return end <= len(self.stems) and not any(self.used[start:end])

    def use(self, start: int, end: int) -> None:
        for i in range(start, end):
            self.used[i] = True


def _match_category(tokens: _Tokens, vocabulary: CatalogVocabulary) -> str | None:
    phrases = vocabulary._category_phrases
    for length in range(min(MAX_PHRASE_TOKENS, len(tokens.stems)), 0, -1):
        for start in range(len(tokens.stems) - length + 1):
            name = phrases.get(tuple(tokens.stems[start : start + length]))
            if name is not None and tokens.free(start, start + length):
                tokens.use(start, start + length)
                return name
    for i, stem in enumerate(tokens.stems):
        name = vocabulary._category_heads.get(stem)
        if name is not None and not tokens.used[i]:
            tokens.use(i, i + 1)
            return name
    return None


def _needs_cue(value_stems: tuple[str, ...]) -> bool:
    """Numeric, one- or two-letter and vowel-less single-word values ("42", "M", "xl", "xxl") are only sizes after a
    cue like "size" or "EU"; a short word ("red", "oak") is a value on its own."""
    if len(value_stems) != 1:
        return False
    value = value_stems[0]
    return value.isdigit() or len(value) <= 2 or (len(value) <= 4 and not any(c in "aeiouy" for c in value))


def _match_attributes(tokens: _Tokens, vocabulary: CatalogVocabulary, category: str | None) -> dict[str, object]:
    """Attribute values of the catalog named in the message; with a category, only values its products have
    ("green tea" is no colour filter in a shop whose green things are jackets)."""
    found: dict[str, object] = {}
    n = len(tokens.stems)
    for stems, key in vocabulary._boolean_phrases.items():
        for start in range(n - len(stems) + 1):
            if tuple(tokens.stems[start : start + len(stems)]) == stems and tokens.free(start, start + len(stems)):
                negated = start > 0 and tokens.stems[start - 1] in _NEGATIONS and not tokens.used[start - 1]
                tokens.use(start - 1 if negated else start, start + len(stems))
                found.setdefault(key, not negated)
                break
    for length in range(min(MAX_PHRASE_TOKENS, n), 0, -1):
        for start in range(n - length + 1):
            stems = tuple(tokens.stems[start : start + length])
            candidates = vocabulary._value_phrases.get(stems)
            if not candidates or not tokens.free(start, start + length):
                continue
            if length == 1 and (stems[0] in STOPWORDS or stems[0] in _NEGATIONS):
                continue
            cue = None
            if start > 0 and tokens.stems[start - 1] in _SIZE_CUES:
                cue = start - 1
            elif start + 1 < n and tokens.stems[start + 1] == "size":
                cue = start + 1
            if _needs_cue(stems) and cue is None:
                written = tokens.text[start]
                if not (written.isalpha() and written.isupper() and len(written) >= 2):
                    continue
            if cue is not None:  # "size 42": prefer a key about sizes
                candidates = sorted(candidates, key=lambda c: "size" not in c[0])
            key, display = next(((c[0], c[1]) for c in candidates if vocabulary.occurs_in(c[0], c[3], category)), (None, None))
            if key is None:
                continue
            if key in found:  # "black or blue": either value
                known = found[key] if isinstance(found[key], list) else [found[key]]
                found[key] = [*known, display] if display not in known else known
            else:
                found[key] = display
            tokens.use(start, start + length)
            if cue is not None and (_needs_cue(stems) or "size" in key):
                tokens.use(cue, cue + 1)
            for neighbour in (start - 1, start + length):  # "blue colour", "brand Kestrel"
                if 0 <= neighbour < n and not tokens.used[neighbour] and tokens.stems[neighbour] in vocabulary._key_stems.get(key, ()):
                    tokens.use(neighbour, neighbour + 1)
            if len(found) >= MAX_CONSTRAINT_ATTRIBUTES:
                return found
    return found


def _category_by_embedding(tokens: _Tokens, vocabulary: CatalogVocabulary) -> str | None:
    """The category whose name is closest to a 1–3 word group of the message's remaining content words, when close
    enough (:data:`CATEGORY_SIMILARITY`); the words stay in the text (a "raincoat" is more than any rain jacket)."""
    if vocabulary.encoder is None or vocabulary._category_embeddings is None:
        return None
    content = [
        i for i, stem in enumerate(tokens.stems)
        if not tokens.used[i] and stem not in _FILLER and tokens.text[i].lower() not in _FILLER and not stem.isdigit() and len(stem) > 1
    ]  # fmt: skip
    groups: list[str] = []
    for size in (1, 2, 3):
        for j in range(len(content) - size + 1):
            run = content[j : j + size]
            if run[-1] - run[0] != size - 1:
                continue  # not contiguous in the message
            if all(tokens.stems[i] in vocabulary._category_words for i in run):
                continue  # part of a category's own name ("rain"): lexical matching already had its chance
            groups.append(" ".join(tokens.text[i].lower() for i in run))
    groups = list(dict.fromkeys(groups))[:24]
    if not groups:
        return None
    similarity = vocabulary.embed_phrases(groups) @ vocabulary._category_embeddings.T
    best_group, best_category = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
    row = np.sort(similarity[best_group])
    second = row[-2] if len(row) > 1 else -1.0
    if row[-1] >= CATEGORY_SIMILARITY and row[-1] - second >= CATEGORY_MARGIN:
        return vocabulary.categories[int(best_category)]
    return None


def parse_constraints(text: str, vocabulary: CatalogVocabulary) -> Constraints:
    """The constraints and product words of a shopping message (see the module docstring for what is understood)."""
    message = str(text or "")[:MAX_QUERY_CHARS]
    work = message.lower()
    for pattern in (ORDER_RE, EMAIL_RE):
        for match in list(pattern.finditer(work)):
            work = _blank(work, match.start(), match.end())
    price_min, price_max, currency, work = _parse_price(work, vocabulary)
    in_stock = False
    for match in list(_STOCK_RE.finditer(work)):
        in_stock = True
        work = _blank(work, match.start(), match.end())
    words = [(m.start(), m.end()) for m in _WORD_RE.finditer(work)]
    tokens = _Tokens([message[a:b] for a, b in words], [_stem(work[a:b]) for a, b in words], [False] * len(words))
    category = _match_category(tokens, vocabulary)
    attributes = _match_attributes(tokens, vocabulary, category)
    # "low-cost" and "high-end" are two tokens: join hyphenated pairs for the price-level words.
    level = None
    for i, stem in enumerate(tokens.stems):
        if tokens.used[i]:
            continue
        pair = f"{stem}-{tokens.stems[i + 1]}" if i + 1 < len(tokens.stems) else ""
        for candidate, width in ((pair, 2), (stem, 1)):
            if candidate in _CHEAP or candidate in _EXPENSIVE:
                level = "low" if candidate in _CHEAP else "high"
                tokens.use(i, i + width)
                break
    if category is None:
        category = _category_by_embedding(tokens, vocabulary)
    if level is not None and price_min is None and price_max is None:
        thirds = vocabulary.price_thirds(category)
        if thirds is not None:
            low, high, level_currency = thirds
            price_max, price_min = (round(low, 2), None) if level == "low" else (None, round(high, 2))
            currency = currency or level_currency
    rest = [
        word for word, stem, used in zip(tokens.text, tokens.stems, tokens.used, strict=True)
        if not used and stem not in _FILLER and word.lower() not in _FILLER
    ]  # fmt: skip
    return Constraints(category, price_min, price_max, currency, in_stock, attributes, " ".join(rest))


# ---- search --------------------------------------------------------------------------------------------------


@dataclass
class CatalogResult:
    hits: list[tuple[ProductText, float]]  # at most k, every one inside all constraints
    total: int  # products inside all constraints (``exclude`` not subtracted): for "show more"
    # When total is 0: constraints that, dropped alone, would give results, most results first, as
    # {"constraint": "price" | "category" | "in_stock" | an attribute key, "matches": n, "cheapest": p | None}.
    relax: list[dict[str, Any]] = field(default_factory=list)


class CatalogSearcher:
    """Constraint filtering + hybrid ranking over a catalog (see the module docstring).

    ``encoder`` is the project's MiniLM :class:`~ml.nlp.encoder.Encoder` (anything with ``encode(texts)`` and
    ``dim``). Rebuilt with ``previous`` on the same encoder object, only products whose sku or embedded text changed
    are encoded (``encoded`` says how many). ``embeddings`` (one row per product) skips encoding altogether, for
    embeddings stored with the products.
    """

    def __init__(
        self,
        products: Sequence[ProductText],
        encoder: Any,
        previous: CatalogSearcher | None = None,
        *,
        embeddings: np.ndarray | None = None,
        dense: bool = True,
    ) -> None:
        self.products = list(products)
        self.encoder = encoder
        texts = [p.search_text() for p in self.products]
        keys = [(str(p.key), hashlib.blake2b(t.encode(), digest_size=16).digest()) for p, t in zip(self.products, texts, strict=True)]
        # ``dense=False`` (a catalog too large to encode where it is served): BM25 relevance only; the encoder still
        # matches category synonyms, which costs a few dozen phrases, not the catalog.
        self.embedded = None
        if embeddings is not None:
            self.embedded = ReusedEmbeddings.given(encoder, keys, embeddings)
        elif dense:
            previous_embedded = previous.embedded if previous is not None else None
            self.embedded = ReusedEmbeddings(encoder, keys, texts, previous_embedded)
        self.encoded = self.embedded.encoded if self.embedded is not None else 0
        self.embeddings = self.embedded.embeddings if self.embedded is not None else None
        self._index = _Index(self.products)
        self.vocabulary = CatalogVocabulary(self._index, encoder, previous.vocabulary if previous is not None else None)
        self.bm25 = BM25([self._lexical_tokens(p) for p in self.products])

    @staticmethod
    def _lexical_tokens(product: ProductText) -> list[str]:
        values = [v for value in _attributes(product.attributes).values() for v in _values(value) if v not in ("true", "false")]
        # The title counts twice, as the FAQ index counts a question twice: a match there weighs more.
        return (
            tokenize(_clean(product.title, 300)) * 2
            + tokenize(_clean(product.category, 100))
            + tokenize(" ".join(values[:50]))
            + tokenize(_clean(product.description))
        )

    def __len__(self) -> int:
        return len(self.products)

    def parse(self, text: str) -> Constraints:
        return parse_constraints(text, self.vocabulary)

    def _masks(self, constraints: Constraints) -> dict[str, np.ndarray]:
        index, n = self._index, self._index.n
        masks: dict[str, np.ndarray] = {}
        if constraints.category:
            mask = np.zeros(n, dtype=bool)
            rows = index.category_rows.get(str(constraints.category).lower())
            if rows is not None:
                mask[rows] = True
            masks["category"] = mask
        low, high = _price(constraints.price_min), _price(constraints.price_max)
        if low is not None or high is not None:
            with np.errstate(invalid="ignore"):
                mask = ~np.isnan(index.price)
                if low is not None:
                    mask &= index.price >= low - 1e-9
                if high is not None:
                    mask &= index.price <= high + 1e-9
            if constraints.currency:
                mask &= index.currency_code == index.currency_of(str(constraints.currency))
            masks["price"] = mask
        if constraints.in_stock:
            masks["in_stock"] = index.in_stock
        for key, value in list(constraints.attributes.items())[:MAX_CONSTRAINT_ATTRIBUTES]:
            mask = np.zeros(n, dtype=bool)
            by_value = index.value_rows.get(str(key).lower(), {})
            for wanted in _values(value):
                rows = by_value.get(wanted)
                if rows is not None:
                    mask[rows] = True
            masks[str(key)] = mask
        return masks

    def _relax(self, masks: dict[str, np.ndarray]) -> list[dict[str, Any]]:
        options = []
        for name in masks:
            mask = np.ones(self._index.n, dtype=bool)
            for other, other_mask in masks.items():
                if other != name:
                    mask &= other_mask
            matches = int(mask.sum())
            if matches:
                prices = self._index.price[mask]
                prices = prices[~np.isnan(prices)]
                options.append({"constraint": name, "matches": matches, "cheapest": round(float(prices.min()), 2) if len(prices) else None})
        return sorted(options, key=lambda o: -o["matches"])

    def _boost(self, rows: np.ndarray, boost: Mapping[str, float] | None) -> tuple[np.ndarray, np.ndarray]:
        """Boost of each of ``rows`` (0 where none) and whether it had one; costs O(len(boost)), not O(catalog)."""
        values = np.zeros(self._index.n)
        given = np.zeros(self._index.n, dtype=bool)
        if boost:
            pairs = [(self._index.sku_row.get(str(sku)), _finite(score)) for sku, score in boost.items()]
            pairs = [(row, score) for row, score in pairs if row is not None and score is not None]
            if pairs:
                at = np.array([row for row, _ in pairs], dtype=np.int64)
                values[at] = [score for _, score in pairs]
                given[at] = True
        return values[rows], given[rows]

    def search(
        self,
        constraints: Constraints,
        *,
        k: int = 5,
        exclude: Collection[str] = (),
        boost: Mapping[str, float] | None = None,
        sort: str = "relevance",
        query_embedding: np.ndarray | None = None,
    ) -> CatalogResult:
        """The best ``k`` (≤ MAX_K) products inside all ``constraints``, skipping the skus in ``exclude``.

        Without ``constraints.text`` they are ranked by ``boost`` (the shopper's recommendation scores; products
        without one after those with one), then by catalog order; with text by hybrid relevance, ``boost``
        blended in at :data:`BOOST_WEIGHT`. ``sort="price_asc"`` / ``"price_desc"`` orders everything that passes
        by price (relevance breaks ties). ``query_embedding`` saves an encoder pass when the caller has the text's.
        """
        if sort not in ("relevance", "price_asc", "price_desc"):
            raise ValueError(f"unknown sort {sort!r} (relevance, price_asc or price_desc)")
        k = max(0, min(int(k), MAX_K))
        masks = self._masks(constraints)
        mask = np.ones(self._index.n, dtype=bool)
        for part in masks.values():
            mask &= part
        total = int(mask.sum())
        if total == 0:
            return CatalogResult([], 0, self._relax(masks) if masks else [])
        excluded = [self._index.sku_row.get(str(sku)) for sku in list(exclude)[:MAX_EXCLUDE]]
        excluded_rows = [row for row in excluded if row is not None]
        if excluded_rows:
            mask = mask.copy()
            mask[excluded_rows] = False
        rows = np.flatnonzero(mask)
        if k == 0 or len(rows) == 0:
            return CatalogResult([], total, [])
        boost_values, boosted = self._boost(rows, boost)
        text = _clean(constraints.text, MAX_QUERY_CHARS)
        if text:
            score = self._relevance(rows, text, boost_values, boosted, k, query_embedding)
        else:
            score = np.where(boosted, boost_values, 0.0)
        if sort == "relevance" and not text:
            order = np.lexsort((rows, -boost_values, ~boosted))
        elif sort == "relevance":
            order = np.lexsort((rows, -score))
        else:
            price = self._index.price[rows]
            key = np.where(np.isnan(price), np.inf, price if sort == "price_asc" else -price)
            order = np.lexsort((rows, -score, key))
        top = order[:k]
        return CatalogResult([(self.products[int(rows[i])], float(score[i])) for i in top], total, [])

    def _relevance(self, rows: np.ndarray, text: str, boost_values: np.ndarray, boosted: np.ndarray, k: int, query_embedding: np.ndarray | None) -> np.ndarray:
        """Hybrid relevance of ``rows`` to ``text``: RRF of the dense and BM25 rankings (top ``max(50, k)`` of each,
        the rest 0), normalised to [0, 1], blended with the normalised boost."""
        lexical = self.bm25.scores(tokenize(text))[rows]
        depth = min(len(rows), max(50, k))
        lexical_rank = [i for i in top_indices(lexical, depth).tolist() if lexical[i] > 0]
        rankings = [lexical_rank]
        if self.embeddings is not None:
            if query_embedding is None:
                query_embedding = self.encoder.encode([text])[0]
            query = np.asarray(query_embedding, dtype=np.float32).reshape(-1)
            # Gathering rows copies them: for a wide filter one product over all embeddings is cheaper.
            dense = (self.embeddings @ query)[rows] if len(rows) * 4 > self._index.n else self.embeddings[rows] @ query
            rankings.insert(0, top_indices(dense, depth).tolist())
        fused = rrf(rankings)
        score = np.zeros(len(rows))
        at = np.fromiter(fused.keys(), dtype=np.int64, count=len(fused))
        score[at] = np.fromiter(fused.values(), dtype=np.float64, count=len(fused)) / (len(rankings) / 61)
        if boosted.any():
            scale = np.abs(boost_values[boosted]).max()
            if scale > 0:
                score = (1 - BOOST_WEIGHT) * score + BOOST_WEIGHT * np.where(boosted, boost_values / scale, 0.0) * (score > 0)
        return score
