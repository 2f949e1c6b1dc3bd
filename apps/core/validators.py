"""Validators shared by the apps' models, forms and serializers."""

from __future__ import annotations

import math

from django.core.exceptions import ValidationError


def validate_finite(value: float | None) -> None:
    """Refuse NaN and ±infinity: they pass every ``<``/``>`` check (NaN compares false) and break JSON output."""
    if value is not None and not math.isfinite(value):
        raise ValidationError("Enter a finite number (not NaN or infinity).", code="not_finite")
