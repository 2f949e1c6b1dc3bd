"""The return policy and return requests (real PostgreSQL)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from apps.accounts.models import Role
from apps.commerce import selectors, services
from apps.commerce.models import Customer, Order, OrderLine, Product
from tests.factories import UserFactory, token_for

pytestmark = pytest.mark.django_db


def _line(status: str, delivered_days_ago: int = 5, customer: str = "c1", number: str = "DS-1") -> OrderLine:
    product, _ = Product.objects.get_or_create(sku="P1", defaults={"title": "Trail shoe", "price": Decimal("99.00")})
    person, _ = Customer.objects.get_or_create(external_id=customer)
    today = timezone.localdate()
    order = Order.objects.create(
        number=number,
        customer=person,
        status=status,
        placed_at=timezone.now() - dt.timedelta(days=delivered_days_ago + 3),
        estimated_delivery=today - dt.timedelta(days=delivered_days_ago),
    )
    return OrderLine.objects.create(order=order, product=product, quantity=2, unit_price=Decimal("99.00"))


@pytest.mark.parametrize(
    ("status", "days", "code"),
    [
        ("pending", 0, "not_shipped"),
        ("paid", 0, "not_shipped"),
        ("shipped", -2, "in_transit"),
        ("cancelled", 0, "closed"),
        ("delivered", 31, "window_closed"),
        ("delivered", 30, "ok"),
    ],
)
def test_policy_by_order_state_and_window(settings, status, days, code):
    settings.SHOP_RETURN_WINDOW_DAYS = 30
    result = services.return_eligibility(line=_line(status, days))
    assert result.code == code and result.eligible == (code == "ok")
    if code == "ok":
        assert result.deadline == timezone.localdate()


def test_one_open_request_per_line_and_only_for_the_owner():
    line = _line("delivered")
    request, eligibility = services.return_request_open(customer_external_id="c1", order_line_id=line.pk, reason="too small")
    assert eligibility.eligible and request.quantity == 2 and request.deadline is not None
    again, eligibility = services.return_request_open(customer_external_id="c1", order_line_id=line.pk)
    assert again.pk == request.pk and eligibility.code == "already_requested"
    with pytest.raises(ValidationError, match="No such order line"):
        services.return_request_open(customer_external_id="someone-else", order_line_id=line.pk)
    with pytest.raises(ValidationError, match="has not shipped"):
        services.return_request_open(customer_external_id="c1", order_line_id=_line("paid", number="DS-2").pk)
    assert list(selectors.return_requests(open_only=True)) == [request]


def test_decisions_follow_the_allowed_transitions():
    line = _line("delivered")
    request, _ = services.return_request_open(customer_external_id="c1", order_line_id=line.pk, quantity=1)
    assert services.return_request_decide(request_id=request.pk, status="approved", decided_by="op").status == "approved"
    assert services.return_request_decide(request_id=request.pk, status="refunded").status == "refunded"
    with pytest.raises(ValidationError, match="can move to"):
        services.return_request_decide(request_id=request.pk, status="approved")
    # A quantity beyond what was ordered is refused with a message naming the limit.
    with pytest.raises(ValidationError, match="quantity"):
        services.return_request_open(customer_external_id="c1", order_line_id=line.pk, quantity=5)


def test_integrators_list_and_decide_returns_over_the_api():
    client = Client(headers={"Authorization": f"Token {token_for(UserFactory(role=Role.INTEGRATOR), 'commerce:read', 'commerce:write')}"})
    line = _line("delivered")
    request, _ = services.return_request_open(customer_external_id="c1", order_line_id=line.pk, reason="too big")
    headers = {}
    listed = client.get("/api/v1/commerce/returns/?status=requested", **headers).json()
    assert listed["results"][0]["order"] == "DS-1" and listed["results"][0]["reason"] == "too big"
    assert client.get("/api/v1/commerce/returns/?status=nope", **headers).status_code == 400
    decided = client.post(
        f"/api/v1/commerce/returns/{request.pk}/decide/", {"status": "approved", "note": "label sent"}, content_type="application/json", **headers
    )
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    wrong = client.post(f"/api/v1/commerce/returns/{request.pk}/decide/", {"status": "withdrawn"}, content_type="application/json", **headers)
    assert wrong.status_code == 200  # approved → withdrawn is allowed
    again = client.post(f"/api/v1/commerce/returns/{request.pk}/decide/", {"status": "approved"}, content_type="application/json", **headers)
    assert again.status_code == 400 and "status" in again.json()["errors"]
    assert client.post("/api/v1/commerce/returns/999999/decide/", {"status": "approved"}, content_type="application/json", **headers).status_code == 404
