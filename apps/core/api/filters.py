"""Query-parameter filters that refuse what the database cannot take: every query parameter is bounded before it
reaches SQL, so ``?job=99999999999999999999999`` or ``?min_speed=nan`` is a 400 with the error body, never a 500.

- :class:`IntegerFilter` / :class:`IdFilter`: integers within a range (ids: 1 … 2**63 − 1).
- :class:`FloatFilter`: finite numbers within a range (``nan``, ``inf`` and ``1e999`` are refused).
- :class:`DateTimeFilter`: an RFC 3339 date-time with its offset (``2026-05-01T08:15:00Z``), turned into UTC before
  it reaches SQL (PostgreSQL refuses offsets beyond ±15:59, Python takes up to ±23:59); an empty value is refused.
- :class:`FilterSet`: a django-filter base whose generated filters (``filterset_fields``) use the above for
  integer, float and foreign-key fields; :class:`FilterBackend` (the project's default filter backend) builds
  ``filterset_fields`` on it. Hand-written filter sets should subclass :class:`FilterSet`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django_filters.filterset import FILTER_FOR_DBFIELD_DEFAULTS
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.drainage import set_override

MAX_BIGINT = 2**63 - 1
MAX_INT = 2**31 - 1
MAX_FLOAT = 1e15


class IntegerFilter(django_filters.NumberFilter):
    """An integer query parameter between ``min_value`` and ``max_value`` (inclusive)."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, min_value: int = -MAX_BIGINT, max_value: int = MAX_BIGINT, **kwargs: Any) -> None:
        super().__init__(*args, min_value=min_value, max_value=max_value, **kwargs)
        # The OpenAPI schema states the bounds, so a client generator knows them.
        set_override(self, "field", {"type": "integer", "format": "int64", "minimum": min_value, "maximum": max_value})


class IdFilter(IntegerFilter):
    """A database id: 1 … 2**63 − 1. Filters by the id itself (no lookup of the row, an unknown id matches nothing)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_BIGINT)
        super().__init__(*args, **kwargs)


class FloatFilter(django_filters.NumberFilter):
    """A finite number between ``min_value`` and ``max_value``; NaN and infinities are refused."""

    field_class = forms.FloatField

    def __init__(self, *args: Any, min_value: float = -MAX_FLOAT, max_value: float = MAX_FLOAT, **kwargs: Any) -> None:
        super().__init__(*args, min_value=min_value, max_value=max_value, **kwargs)
        set_override(self, "field", {"type": "number", "format": "double", "minimum": min_value, "maximum": max_value})


# RFC 3339 section 5.6 (what OpenAPI's ``format: date-time`` means): a date, a time and an offset.
RFC3339_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII)


class DateTimeField(forms.Field):
    """An RFC 3339 date-time, returned in UTC; absent is ``None``, anything else that is not one is an error."""

    default_error_messages = {
        "invalid": "Enter a date and time as RFC 3339 with its offset, e.g. 2026-05-01T08:15:00Z.",
        "range": "The date and time is out of range (years 1 to 9999 in UTC).",
    }

    def to_python(self, value: Any) -> datetime | None:
        if value is None:
            return None
        text = str(value)
        if not RFC3339_DATETIME.fullmatch(text):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        try:
            # fromisoformat takes at most 6 fraction digits: RFC 3339 allows more, the database keeps microseconds.
            parsed = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text.upper()))
            return parsed.astimezone(UTC)
        except ValueError:  # a 13th month, a 61st second, an offset beyond ±23:59
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            raise ValidationError(self.error_messages["range"], code="range") from None

    def validate(self, value: datetime | None) -> None:
        if value is None and self.required:
            raise ValidationError(self.error_messages["required"], code="required")


class DateTimeFilter(django_filters.Filter):
    """An RFC 3339 date-time query parameter (see :class:`DateTimeField`)."""

    field_class = DateTimeField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_override(self, "field", {"type": "string", "format": "date-time"})


def _integer(low: int, high: int) -> dict[str, Any]:
    return {"filter_class": IntegerFilter, "extra": lambda f: {"min_value": low, "max_value": high}}


BOUNDED_FILTER_DEFAULTS: dict[type[models.Field], dict[str, Any]] = {
    **FILTER_FOR_DBFIELD_DEFAULTS,
    models.AutoField: {"filter_class": IdFilter},
    models.BigAutoField: {"filter_class": IdFilter},
    models.SmallAutoField: {"filter_class": IdFilter},
    models.ForeignKey: {"filter_class": IdFilter},
    models.OneToOneField: {"filter_class": IdFilter},
    models.IntegerField: _integer(-MAX_INT - 1, MAX_INT),
    models.SmallIntegerField: _integer(-(2**15), 2**15 - 1),
    models.BigIntegerField: _integer(-MAX_BIGINT - 1, MAX_BIGINT),
    models.PositiveIntegerField: _integer(0, MAX_INT),
    models.PositiveSmallIntegerField: _integer(0, 2**15 - 1),
    models.PositiveBigIntegerField: _integer(0, MAX_BIGINT),
    models.FloatField: {"filter_class": FloatFilter},
    models.DateTimeField: {"filter_class": DateTimeFilter},
}


class FilterSet(django_filters.FilterSet):
    FILTER_DEFAULTS = BOUNDED_FILTER_DEFAULTS


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, building ``filterset_fields`` on the bounded :class:`FilterSet`."""

    filterset_base = FilterSet
