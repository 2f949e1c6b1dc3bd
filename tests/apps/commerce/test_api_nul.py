"""Regression: a NUL character in a bulk row was a 500 (PostgreSQL text and jsonb cannot hold it); now a row error."""

import pytest
from django.test import Client

from apps.accounts.models import Role
from apps.commerce.models import Customer
from tests.factories import UserFactory, token_for

pytestmark = pytest.mark.django_db


def test_nul_in_a_bulk_row_is_a_row_error_not_a_500():
    client = Client(headers={"Authorization": f"Bearer {token_for(UserFactory(role=Role.INTEGRATOR), 'commerce:write')}"})
    rows = [{"external_id": "a\u0000b"}, {"external_id": "c-1", "attributes": {"k": "\u0000"}}, {"external_id": "c-2"}]
    response = client.post("/api/v1/commerce/customers/bulk/", {"rows": rows}, content_type="application/json")
    assert response.status_code == 200
    body = response.json()
    assert [e["index"] for e in body["errors"]] == [0, 1]
    assert body["errors"][0]["errors"] == {"external_id": ["Null characters are not allowed."]}
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["c-2"]
