from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

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
