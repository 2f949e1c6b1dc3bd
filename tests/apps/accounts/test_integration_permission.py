"""IsIntegrationOrOperator: integrators and operators in, customers out, tokens limited by scope."""

from __future__ import annotations

import pytest
from rest_framework.test import APIRequestFactory, force_authenticate

from apps.accounts.models import ApiToken, Role
from apps.accounts.permissions import IsIntegrationOrOperator
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


class _View:
    required_scopes = {"read": "shop:read", "write": "shop:write"}


def _allowed(user, method: str = "get", token: ApiToken | None = None) -> bool:  # noqa: ANN001
    request = getattr(APIRequestFactory(), method)("/x")
    force_authenticate(request, user=user, token=token)
    from rest_framework.request import Request

    return IsIntegrationOrOperator().has_permission(Request(request, authenticators=None), _View())


@pytest.mark.parametrize(("role", "expected"), [(Role.INTEGRATOR, True), (Role.OPERATOR, True), (Role.ADMIN, True), (Role.CUSTOMER, False)])
def test_roles(role: str, expected: bool) -> None:
    assert _allowed(UserFactory(role=role)) is expected


def test_token_needs_the_views_scope() -> None:
    user = UserFactory(role=Role.INTEGRATOR)
    read_only = ApiToken(user=user, scopes=["shop:read"])
    assert _allowed(user, "get", read_only)
    assert not _allowed(user, "post", read_only)


def test_inactive_integrator_is_refused() -> None:
    assert not _allowed(UserFactory(role=Role.INTEGRATOR, is_active=False))
