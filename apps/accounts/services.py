from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import ApiToken, Role, User
from apps.accounts.scopes import KNOWN_SCOPES

TOKEN_PREFIX = "ds_"


def hash_token_secret(secret: str) -> str:
    # Tokens are 256-bit random strings: a fast hash is enough (no dictionary to attack), and keeps auth cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def user_create(*, username: str, password: str | None, role: str = Role.CUSTOMER, email: str = "") -> User:
    if role not in Role.values:
        raise ValidationError({"role": [f"Unknown role {role!r}; one of {', '.join(Role.values)}."]})
    user = User(username=username, email=email, role=role, is_staff=role == Role.ADMIN, is_superuser=role == Role.ADMIN)
    user.set_password(password) if password else user.set_unusable_password()
    user.full_clean()
    user.save()
    return user


@transaction.atomic
def api_token_create(*, user: User, name: str, scopes: list[str], expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Create a token; returns it with its secret, which is not stored and cannot be shown again."""
    unknown = sorted(set(scopes) - set(KNOWN_SCOPES))
    if unknown:
        raise ValidationError({"scopes": [f"Unknown scope(s): {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_SCOPES))}."]})
    prefix = secrets.token_hex(4)
    secret = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken(user=user, name=name, prefix=prefix, key_hash=hash_token_secret(secret), scopes=sorted(set(scopes)), expires_at=expires_at)
    token.full_clean()
    token.save()
    return token, secret


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


# --- Login throttling ---------------------------------------------------------------------------------------
# Failures are counted in the cache (Redis in production, shared by every web process) per username and per
# address, in a fixed window that starts at the first failure. Past either limit no password is checked until the
# window ends, so guessing costs an attacker the window per few tries whichever accounts or addresses it spreads over.


def _login_keys(*, username: str, ip: str) -> list[tuple[str, int]]:
    keys = []
    if username:
        digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
        keys.append((f"accounts:login-failures:user:{digest}", settings.LOGIN_FAILURES_PER_USERNAME))
    if ip:
        keys.append((f"accounts:login-failures:ip:{ip}", settings.LOGIN_FAILURES_PER_IP))
    return keys


def login_throttle_wait(*, username: str, ip: str) -> int:
    """Seconds until a login for ``username`` from ``ip`` may be tried again; 0 when it may be tried now."""
    now = time.time()
    waits = [0]
    for key, limit in _login_keys(username=username, ip=ip):
        if (cache.get(key) or 0) >= limit:
            waits.append(max(1, int((cache.get(f"{key}:until") or now + settings.LOGIN_FAILURE_WINDOW_SECONDS) - now)))
    return max(waits)


def login_failure_record(*, username: str, ip: str) -> None:
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    for key, _limit in _login_keys(username=username, ip=ip):
        if cache.add(key, 0, timeout=window):
            cache.set(f"{key}:until", time.time() + window, timeout=window)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)


def login_success_record(*, username: str) -> None:
    """A correct password clears the username's failures (not the address's: others may share it)."""
    for key, _limit in _login_keys(username=username, ip=""):
        cache.delete_many([key, f"{key}:until"])
