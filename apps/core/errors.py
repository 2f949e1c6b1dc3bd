"""Errors services raise, shared by every channel (API, dashboard, admin)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

# The code of a ValidationError whose input is well formed but which the current state refuses (a run that already
# finished, a version already in production). The API answers it with 409 Conflict instead of 400.
CONFLICT = "conflict"


def conflict(field: str, message: str) -> ValidationError:
    """A ValidationError on ``field`` marked as a conflict with the current state."""
    return ValidationError({field: [ValidationError(message, code=CONFLICT)]})
