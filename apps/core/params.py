"""Query parameters read by hand (dashboard pages, API views without a filter set): checked, never a 500."""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError


def query_int(params: Mapping[str, str], name: str, *, default: int, minimum: int, maximum: int) -> int:
    """``params[name]`` as an int in [minimum, maximum]; absent or empty gives ``default``; anything else is refused."""
    raw = (params.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: [f"{name} must be a whole number from {minimum} to {maximum}; got {raw[:40]!r}."]}) from None
    if not minimum <= value <= maximum:
        raise ValidationError({name: [f"{name} must be a whole number from {minimum} to {maximum}; got {value}."]})
    return value
