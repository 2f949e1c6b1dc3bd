"""Query parameters read by hand (dashboard pages, API views without a filter set): checked, never a 500.

Filter sets use the bounded filters of :mod:`apps.core.api.filters` instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError


def int_param(raw: str | None, *, name: str, minimum: int, maximum: int, default: int | None = None) -> int | None:
    """``raw`` as an int in [minimum, maximum]; absent or empty gives ``default``; anything else is refused."""
    text = (raw or "").strip()
    if not text:
        return default
    # int() would take "1_000" and "٣"; a parameter is plain ASCII digits with an optional sign.
    digits = text.lstrip("+-")
    if len(text) > 20 or not digits.isascii() or not digits.isdigit():
        raise ValidationError({name: [f"{name} must be a whole number from {minimum} to {maximum}; got {text[:40]!r}."]})
    value = int(text)
    if not minimum <= value <= maximum:
        raise ValidationError({name: [f"{name} must be a whole number from {minimum} to {maximum}; got {value}."]})
    return value


def query_int(params: Mapping[str, str], name: str, *, default: int, minimum: int, maximum: int) -> int:
    """``params[name]`` checked by :func:`int_param`."""
    return int_param(params.get(name), name=name, minimum=minimum, maximum=maximum, default=default)
