from __future__ import annotations

from rest_framework import permissions

from apps.accounts.models import ApiToken, Role


def _token_allows(request, view) -> bool:  # noqa: ANN001
    """Session users are limited by role only; a token must also carry the scope the view asks for."""
    if not isinstance(request.auth, ApiToken):
        return True
    required = getattr(view, "required_scopes", {})
    needed = required.get("read" if request.method in permissions.SAFE_METHODS else "write")
    return needed is None or needed in request.auth.scopes


class IsOperator(permissions.BasePermission):
    """Admins and operators; with a token, also the view's scope (``required_scopes = {"read": ..., "write": ...}``)."""

    message = "This endpoint is for operators and admins."

    def has_permission(self, request, view) -> bool:  # noqa: ANN001
        user = request.user
        return bool(user and user.is_authenticated and user.is_operator and _token_allows(request, view))


class IsIntegrationOrOperator(permissions.BasePermission):
    """Product endpoints called by a shop's or factory's systems: integrators plus operators and admins.

    With a token, the token must also carry the view's scope (``required_scopes``)."""

    message = "This endpoint is for integrations (an integrator token with the right scope), operators and admins."

    def has_permission(self, request, view) -> bool:  # noqa: ANN001
        user = request.user
        allowed_role = user and user.is_authenticated and (user.is_operator or user.role == Role.INTEGRATOR)
        return bool(allowed_role and user.is_active and _token_allows(request, view))
