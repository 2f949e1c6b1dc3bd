"""Start-up checks of settings values: a value a process cannot run with stops it with what to do."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from ml.memory import parse_memory_limit

MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_UNIQUE_CHARACTERS = 5
# Values published in this repository (compose defaults, build steps, examples) or in Django's own templates.
_PLACEHOLDER_MARKERS = ("change-me", "changeme", "change_me", "placeholder", "insecure", "do-not-use", "not-for-production", "build-only", "example")


def secret_key_problem(value: str) -> str | None:
    """Why ``value`` may not sign sessions and chat tokens in production, or None when it may."""
    if not value:
        return "DJANGO_SECRET_KEY is empty."
    lowered = value.lower()
    if any(marker in lowered for marker in _PLACEHOLDER_MARKERS):
        return "DJANGO_SECRET_KEY is a placeholder."
    if len(value) < MIN_SECRET_KEY_LENGTH or len(set(value)) < MIN_SECRET_KEY_UNIQUE_CHARACTERS:
        return f"DJANGO_SECRET_KEY is too short: use at least {MIN_SECRET_KEY_LENGTH} random characters."
    return None


def require_strong_secret_key(value: str) -> str:
    """``value`` when it is fit for production; otherwise the process stops with what to do."""
    problem = secret_key_problem(value)
    if problem:
        raise ImproperlyConfigured(
            f"{problem} Anyone who knows the key can forge logins and chat session tokens. Generate one with "
            '`python -c "import secrets; print(secrets.token_urlsafe(64))"` and set DJANGO_SECRET_KEY.'
        )
    return value


def memory_limit_bytes(value: str) -> int:
    """``ML_MEMORY_LIMIT`` in bytes (empty: 70 % of the host or container); a value that cannot be read stops the process."""
    try:
        return parse_memory_limit(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{exc}. It caps the predicted peak memory of a training run; leave it empty for 70 % of this machine's memory.") from None
