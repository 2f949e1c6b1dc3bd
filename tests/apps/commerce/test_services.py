"""Bulk ingestion: idempotent, per-row errors, the unknown-reference policy."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apps.commerce import services
from apps.commerce.models import Customer, Event, Order, Product
from tests.apps.commerce.factories import CustomerFactory, ProductFactory

pytestmark = pytest.mark.django_db


def _event(n: int, **extra) -> dict:
    return {"event_id": f"e-{n}", "type": "view", "sku": "SKU-1", "customer_external_id": "c-1", "occurred_at": "2026-03-01T10:00:00Z", **extra}


def test_products_upsert_is_idempotent_and_partial_updates_keep_other_fields():
    rows = [{"sku": "A", "title": "Alpha", "category": "tea", "price": "4.5"}, {"sku": "B", "title": "Beta", "in_stock": False}]
    assert services.product_upsert_many(rows=rows).as_dict() == {"created": 2, "updated": 0, "duplicates": 0, "errors": []}
    assert services.product_upsert_many(rows=rows).as_dict() == {"created": 0, "updated": 0, "duplicates": 2, "errors": []}

    result = services.product_upsert_many(rows=[{"sku": "A", "title": "Alpha 2"}, {"sku": "A", "title": "Alpha 3"}])
    assert (result.created, result.updated, result.duplicates) == (0, 1, 1)  # last row of a repeated key wins
    alpha = Product.objects.get(sku="A")
    assert (alpha.title, alpha.category, alpha.price) == ("Alpha 3", "tea", Decimal("4.50"))
    assert Product.objects.get(sku="B").in_stock is False


def test_invalid_product_rows_are_reported_and_valid_ones_stored():
    rows = [{"sku": "ok", "title": "Fine"}, {"sku": "", "title": "No sku"}, "not an object", {"sku": "p", "title": "T", "price": "-1", "currency": "EURO"}]
    result = services.product_upsert_many(rows=rows)
    assert result.created == 1
    assert [e["index"] for e in result.errors] == [1, 2, 3]
    assert "sku" in result.errors[0]["errors"]
    assert set(result.errors[2]["errors"]) == {"price", "currency"}
    assert list(Product.objects.values_list("sku", flat=True)) == ["ok"]


def test_customer_upsert_completes_a_stub():
    services.event_ingest_many(rows=[{"event_id": "x", "type": "view", "sku": ProductFactory(sku="SKU-1").sku, "customer_external_id": "new-1"}])
    assert Customer.objects.get(external_id="new-1").is_stub
    result = services.customer_upsert_many(
        rows=[{"external_id": "new-1", "name": "Nina", "email": "nina@example.com"}, {"external_id": "bad", "email": "nope"}]
    )
    assert (result.created, result.updated) == (0, 1)
    assert result.errors == [{"index": 1, "errors": {"email": ["Not an email address: 'nope'."]}}]
    nina = Customer.objects.get(external_id="new-1")
    assert (nina.is_stub, nina.name) == (False, "Nina")


def test_events_resent_are_duplicates_never_stored_twice():
    ProductFactory(sku="SKU-1")
    batch = [_event(1), _event(2), _event(2), _event(3, type="rating", value=4)]
    first = services.event_ingest_many(rows=batch)
    assert (first.created, first.duplicates, first.errors) == (3, 1, [])  # e-2 twice in one batch
    second = services.event_ingest_many(rows=batch)
    assert (second.created, second.duplicates, second.errors) == (0, 4, [])
    assert Event.objects.count() == 3
    assert Event.objects.get(event_id="e-3").value == 4.0


def test_event_rows_with_errors_keep_the_valid_ones():
    ProductFactory(sku="SKU-1")
    rows = [
        _event(1),
        _event(2, type="rating"),  # no value
        _event(3, type="rating", value=7),
        _event(4, occurred_at="2026-03-01T10:00:00"),  # naive
        _event(5, type="teleport"),
        _event(6, customer_external_id=None),  # neither customer nor session
        _event(7, sku="NOPE"),
        _event(8, customer_external_id=None, session_id="s-1"),  # anonymous is fine
        {"type": "view", "sku": "SKU-1", "session_id": "s"},  # no event_id
    ]
    result = services.event_ingest_many(rows=rows)
    assert result.created == 2
    errors = {e["index"]: e["errors"] for e in result.errors}
    assert set(errors) == {1, 2, 3, 4, 5, 6, 8}
    assert "value" in errors[1] and "value" in errors[2]
    assert "timezone" in errors[3]["occurred_at"][0]
    assert errors[6] == {"sku": ["unknown sku 'NOPE'; upsert the product first."]}
    assert "event_id" in errors[8]
    anonymous = Event.objects.get(event_id="e-8")
    assert anonymous.customer is None and anonymous.session_id == "s-1"


def test_unknown_customer_becomes_a_stub_unknown_product_is_rejected():
    ProductFactory(sku="SKU-1")
    CustomerFactory(external_id="c-1")
    result = services.event_ingest_many(rows=[_event(1, customer_external_id="ghost"), _event(2, customer_external_id="nobody", sku="X")])
    assert result.created == 1 and len(result.errors) == 1
    assert Customer.objects.get(external_id="ghost").is_stub
    assert not Customer.objects.filter(external_id="nobody").exists()  # a rejected row creates nothing


def test_too_many_rows_is_an_error_for_the_whole_call():
    with pytest.raises(ValidationError):
        services.event_ingest_many(rows=[{}] * (services.MAX_BULK_ROWS + 1))


def test_orders_upsert_replaces_lines_and_is_idempotent():
    ProductFactory(sku="A", price=Decimal("10.00"))
    ProductFactory(sku="B", price=Decimal("2.50"))
    order = {
        "number": "DS-1",
        "customer_external_id": "o-1",
        "placed_at": "2026-03-01T09:00:00+01:00",
        "status": "shipped",
        "carrier": "DHL",
        "tracking_number": "TRK1",
        "estimated_delivery": "2026-03-04",
        "lines": [{"sku": "A", "quantity": 2}, {"sku": "B", "unit_price": "3.00"}],
    }
    assert services.order_upsert_many(rows=[order]).as_dict() == {"created": 1, "updated": 0, "duplicates": 0, "errors": []}
    stored = Order.objects.get(number="DS-1")
    assert stored.total == Decimal("23.00") and stored.customer.is_stub and stored.lines.count() == 2
    assert services.order_upsert_many(rows=[order]).duplicates == 1

    changed = {**order, "status": "delivered", "lines": [{"sku": "B", "quantity": 4}]}
    bad = {**order, "number": "DS-2", "lines": [{"sku": "ZZZ"}]}
    bad_currency = {**order, "number": "DS-4", "currency": "euro"}
    result = services.order_upsert_many(rows=[changed, bad, {"number": "DS-3"}, bad_currency])
    assert (result.created, result.updated) == (0, 1)
    assert result.errors[0] == {"index": 1, "errors": {"lines": ["unknown sku 'ZZZ'; upsert the product first."]}}
    assert set(result.errors[1]["errors"]) == {"customer_external_id", "placed_at", "lines"}
    assert result.errors[2] == {"index": 3, "errors": {"currency": ["Expected a 3-letter ISO 4217 code such as EUR."]}}
    stored.refresh_from_db()
    assert stored.status == "delivered" and stored.total == Decimal("10.00")
    assert [(line.product.sku, line.quantity) for line in stored.lines.all()] == [("B", 4)]


def test_event_record_generates_an_id_and_validates():
    ProductFactory(sku="SKU-1")
    event = services.event_record(type="click", sku="SKU-1", customer_external_id="c-9", recommendation_id="rec-1")
    assert event.event_id and event.customer.external_id == "c-9" and event.recommendation_id == "rec-1"
    again = services.event_record(type="click", sku="SKU-1", session_id="s", event_id=event.event_id)
    assert again.pk == event.pk
    with pytest.raises(ValidationError):
        services.event_record(type="click", sku="missing", session_id="s")
