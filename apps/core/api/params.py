"""Query parameters parsed with bounds: a huge or malformed number is a 400 naming the parameter, never a 500.

``bounded_int`` is for hand-read parameters; ``BoundedIntegerFilter`` (and ``IdFilter`` for a foreign key) for
django-filter FilterSets. Ids are bounded by the 64-bit primary keys, so the database never sees an integer it
cannot hold (SQLite raises OverflowError past 2**63 - 1).
"""

from __future__ import annotations

import django_filters
from django import forms
from drf_spectacular.drainage import set_override
from rest_framework.exceptions import ValidationError

MAX_ID = 2**63 - 1


def bounded_int(raw: str | None, *, name: str, minimum: int, maximum: int, default: int | None = None) -> int | None:
    """``raw`` as an integer in [minimum, maximum]; ``default`` when absent; else a 400 naming ``name``."""
    if raw is None:
        return default
    text = raw.strip()
    # int() would take "1_000" and "٣"; a query parameter is plain ASCII digits with an optional sign.
    if not text or len(text) > 20 or not text.lstrip("+-").isascii() or not text.lstrip("+-").isdigit():
        raise ValidationError({name: [f"Expected an integer from {minimum} to {maximum}."]})
    value = int(text)
    if not minimum <= value <= maximum:
        raise ValidationError({name: [f"Expected an integer from {minimum} to {maximum}; got {value}."]})
    return value


class BoundedIntegerField(forms.IntegerField):
    def __init__(self, *, min_value: int, max_value: int, **kwargs) -> None:  # noqa: ANN003
        super().__init__(min_value=min_value, max_value=max_value, **kwargs)


class BoundedIntegerFilter(django_filters.NumberFilter):
    """An integer filter with bounds (documented as ``minimum``/``maximum`` in the schema)."""

    field_class = BoundedIntegerField

    def __init__(self, *args, min_value: int = -MAX_ID, max_value: int = MAX_ID, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, min_value=min_value, max_value=max_value, **kwargs)
        set_override(self, "field", {"type": "integer", "format": "int64", "minimum": min_value, "maximum": max_value})


class IdFilter(BoundedIntegerFilter):
    """A foreign key by id: an id that exists nowhere matches nothing (200, empty), unlike ModelChoiceFilter's 400."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, min_value=1, max_value=MAX_ID, **kwargs)
