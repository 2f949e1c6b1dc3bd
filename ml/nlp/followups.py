"""Follow-up messages in a conversation: what a short reply refers to, and how it refines the last answer.

Rule-based and language-specific (English), like :mod:`ml.nlp.entities`: a follow-up is read against what the bot
just showed, so it needs no model — "the second one" picks the second order listed, "the jacket one" the order with
a jacket in it, "cheaper" or "show more" refine the last product answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ORDINALS = {
    "first": 0,
    "1st": 0,
    "second": 1,
    "2nd": 1,
    "third": 2,
    "3rd": 2,
    "fourth": 3,
    "4th": 3,
    "fifth": 4,
    "5th": 4,
}
_ORDINAL_RE = re.compile(r"\b(" + "|".join(ORDINALS) + r")\b", re.IGNORECASE)
_LAST_RE = re.compile(r"\b(last|latest|newest|most recent|recent one)\b", re.IGNORECASE)
_OLDEST_RE = re.compile(r"\b(oldest|earliest)\b", re.IGNORECASE)
# "2", "#2", "number 2", "no. 2" on their own (a bare small number answers "which one?").
_NUMBER_RE = re.compile(r"^\s*(?:(?:number|no\.?|nr\.?|#)\s*)?([1-9])\s*[.!)]?\s*$", re.IGNORECASE)

_CHEAPER_RE = re.compile(
    r"\b(cheaper|less expensive|lower[- ]priced?|more affordable|too (?:expensive|pricey|much)|on a budget|something cheap|lower price|"
    r"less money|inexpensive)\b",
    re.IGNORECASE,
)
_PRICIER_RE = re.compile(r"\b(more expensive|pricier|higher[- ]end|better quality|more premium|fancier|top of the range)\b", re.IGNORECASE)
_MORE_RE = re.compile(
    r"\b(show (?:me )?more|more (?:options|products|results|ideas|of (?:these|those|them))|any (?:more|others?)|what else|something else|"
    r"other (?:ones|options|products|models)|next (?:ones|page)|see more|more please|others\??$|anything else like)\b",
    re.IGNORECASE,
)
_OTHER_COLOUR_RE = re.compile(r"\b(?:another|other|different|more) colou?rs?\b|\bin (?:a )?different colou?r\b", re.IGNORECASE)

STOP_WORDS = frozenset(
    """a an the i i'd i'm me my mine we our you your it its this that these those one ones and or but to of for in on at by with from
    want wanted would like need please pls can could do does did have has had get got is are was were be been am
    return returning send back refund exchange bought buy ordered order orders purchase purchased item items thing things
    product products just some any about which what where when how why all there here them they thank thanks yes no not
    ok okay hi hello hey""".split()
)


def words(text: str) -> list[str]:
    """Lower-case word tokens with a naive singular form (shoes → shoe, boxes → box), for matching product words."""
    out = []
    for token in re.findall(r"[a-z0-9][a-z0-9'-]*", str(text)[:500].lower()):
        out.append(singular(token))
    return out


def singular(token: str) -> str:
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 4 and token.endswith(("ches", "shes", "xes", "sses")):
        return token[:-2]
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def content_words(text: str) -> set[str]:
    return {w for w in words(text) if w not in STOP_WORDS and not w.isdigit() and len(w) > 1}


def pick_index(text: str, count: int) -> int | None:
    """Which of ``count`` listed things a reply picks by position ("the second one", "2", "the latest"), or None.

    Lists are shown newest first, so "latest"/"last one" is the first shown and "oldest" the last."""
    if count <= 0:
        return None
    text = str(text)[:200]
    match = _NUMBER_RE.match(text)
    if match:
        index = int(match.group(1)) - 1
        return index if index < count else None
    match = _ORDINAL_RE.search(text)
    if match:
        index = ORDINALS[match.group(1).lower()]
        return index if index < count else None
    if _OLDEST_RE.search(text):
        return count - 1
    if _LAST_RE.search(text):
        return 0
    return None


def pick_by_words(text: str, candidates: Sequence[Iterable[str]]) -> list[int]:
    """Indices of the candidates (each given by its descriptive texts: titles, categories) that the message names by a
    content word ("the jacket one" → the candidate whose texts contain "jacket"). The best-matching ones only."""
    wanted = content_words(text)
    if not wanted:
        return []
    scores = []
    for texts in candidates:
        vocabulary = set()
        for t in texts:
            vocabulary |= content_words(t)
        scores.append(len(wanted & vocabulary))
    best = max(scores, default=0)
    return [i for i, s in enumerate(scores) if s == best] if best > 0 else []


@dataclass(frozen=True)
class Refinement:
    """How a follow-up changes the last product answer."""

    cheaper: bool = False
    pricier: bool = False
    more: bool = False
    other_colour: bool = False

    def __bool__(self) -> bool:
        return self.cheaper or self.pricier or self.more or self.other_colour

    def describe(self) -> str:
        parts = [name for name, on in (("cheaper", self.cheaper), ("pricier", self.pricier), ("more", self.more), ("other colour", self.other_colour)) if on]
        return ", ".join(parts)


def refinement(text: str) -> Refinement:
    """The refinement words in a follow-up ("something cheaper", "show more", "in another colour")."""
    text = str(text)[:500]
    return Refinement(
        cheaper=bool(_CHEAPER_RE.search(text)),
        pricier=bool(_PRICIER_RE.search(text)),
        more=bool(_MORE_RE.search(text)),
        other_colour=bool(_OTHER_COLOUR_RE.search(text)),
    )
