"""Errors services raise, shared by every channel (API, dashboard, admin)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

# The code of a ValidationError whose input is well formed but which the current state refuses (a run that already
# finished, a version already in production). The API answers it with 409 Conflict instead of 400.
CONFLICT = "conflict"
# The code of a ValidationError naming an object that does not exist (DRF's own code for an unknown related id):
# the API answers 404, with the field named in `errors`.
DOES_NOT_EXIST = "does_not_exist"


def conflict(field: str, message: str) -> ValidationError:
    """A ValidationError on ``field`` marked as a conflict with the current state."""
    return ValidationError({field: [ValidationError(message, code=CONFLICT)]})


def is_conflict(exc: ValidationError) -> bool:
    """Whether every message of ``exc`` is marked as a conflict with the current state (see :func:`conflict`)."""
    errors = [e for es in exc.error_dict.values() for e in es] if hasattr(exc, "error_dict") else exc.error_list
    return bool(errors) and all(e.code == CONFLICT for e in errors)
