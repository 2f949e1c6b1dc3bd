from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_revoke
from tests.factories import UserFactory, token_for

pytestmark = pytest.mark.django_db

OPERATOR_ENDPOINTS = [
    ("get", "/api/v1/models/"),
    ("get", "/api/v1/runs/"),
    ("post", "/api/v1/runs/"),
    ("get", "/api/v1/models/families/"),
    ("post", "/api/v1/models/families/demo.classifier/rollback/"),
]


def _call(client: Client, method: str, url: str, **headers):  # noqa: ANN003, ANN202
    return getattr(client, method)(url, {"family": "demo.classifier"}, content_type="application/json", headers=headers)


@pytest.mark.parametrize("method,url", OPERATOR_ENDPOINTS)
def test_anonymous_is_rejected(method: str, url: str):
    response = _call(Client(), method, url)
    assert response.status_code in (401, 403) and set(response.json()) == {"detail", "errors"}


@pytest.mark.parametrize("role", ["customer", "integrator"])
@pytest.mark.parametrize("method,url", OPERATOR_ENDPOINTS)
def test_customers_and_integrators_cannot_reach_operator_endpoints(role: str, method: str, url: str):
    user = UserFactory(role=role)
    session = Client()
    session.force_login(user)
    assert _call(session, method, url).status_code == 403
    # Even a token carrying the models scopes does not make an integrator an operator.
    secret = token_for(user, "models:read", "models:write")
    assert _call(Client(), method, url, Authorization=f"Bearer {secret}").status_code == 403


def test_operator_token_needs_the_scope_for_the_method():
    operator = UserFactory(role="operator")
    read_only = token_for(operator, "models:read")
    assert Client().get("/api/v1/models/", headers={"Authorization": f"Bearer {read_only}"}).status_code == 200
    denied = Client().post("/api/v1/runs/", {"family": "demo.classifier"}, content_type="application/json", headers={"Authorization": f"Bearer {read_only}"})
    assert denied.status_code == 403
    no_scope = token_for(operator)
    assert Client().get("/api/v1/models/", headers={"Authorization": f"Token {no_scope}"}).status_code == 403


def test_revoked_expired_and_garbage_tokens_are_401():
    operator = UserFactory(role="operator")
    secret = token_for(operator, "models:read")
    token = ApiToken.objects.get(user=operator)
    api_token_revoke(token=token)
    assert Client().get("/api/v1/models/", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    expiring = token_for(operator, "models:read")
    ApiToken.objects.filter(revoked_at__isnull=True).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client().get("/api/v1/models/", headers={"Authorization": f"Bearer {expiring}"}).status_code == 401
    assert Client().get("/api/v1/models/", headers={"Authorization": "Bearer ds_nope"}).status_code == 401
    assert Client().get("/api/v1/models/", headers={"Authorization": "Bearer a b"}).status_code == 401


def test_token_secret_is_not_stored_and_use_is_recorded():
    operator = UserFactory(role="operator")
    secret = token_for(operator, "models:read")
    token = ApiToken.objects.get(user=operator)
    assert secret not in (token.key_hash, token.prefix) and token.last_used_at is None
    Client().get("/api/v1/models/", headers={"Authorization": f"Bearer {secret}"})
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_unknown_scope_is_refused():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="Unknown scope"):
        token_for(UserFactory(), "models:everything")


@pytest.mark.parametrize("role", ["customer", "integrator"])
def test_dashboard_and_admin_are_closed_to_customers_and_integrators(role: str):
    client = Client()
    client.force_login(UserFactory(role=role))
    assert client.get("/models/").status_code == 403
    assert client.get("/admin/").status_code == 302  # not staff: sent to the admin login
