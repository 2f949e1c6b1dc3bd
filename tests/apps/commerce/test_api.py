"""The ingestion and lookup API: permissions and scopes, per-row results, limits."""

import pytest
from django.test import Client

from apps.accounts.models import Role
from tests.apps.commerce.factories import CustomerFactory, OrderFactory, OrderLineFactory, ProductFactory
from tests.factories import UserFactory, token_for

pytestmark = pytest.mark.django_db


def _token_client(*scopes: str, role: str = Role.INTEGRATOR) -> Client:
    return Client(headers={"Authorization": f"Token {token_for(UserFactory(role=role), *scopes)}"})


@pytest.fixture
def integrator() -> Client:
    return _token_client("commerce:read", "commerce:write")


def test_permissions():
    body = {"rows": []}
    assert Client().get("/api/v1/commerce/products/").status_code == 401
    assert Client().post("/api/v1/commerce/events/bulk/", body, content_type="application/json").status_code == 401

    customer = Client()
    customer.force_login(UserFactory(role=Role.CUSTOMER))
    assert customer.get("/api/v1/commerce/products/").status_code == 403
    assert customer.post("/api/v1/commerce/products/bulk/", body, content_type="application/json").status_code == 403

    read_only = _token_client("commerce:read")
    assert read_only.get("/api/v1/commerce/products/").status_code == 200
    assert read_only.post("/api/v1/commerce/events/bulk/", body, content_type="application/json").status_code == 403
    assert _token_client("models:read", "models:write").get("/api/v1/commerce/products/").status_code == 403
    # Operators (session) and operator tokens with the scope may use it too.
    assert _token_client("commerce:write", role=Role.OPERATOR).post("/api/v1/commerce/events/bulk/", body, content_type="application/json").status_code == 200


def test_bulk_endpoints_report_per_row_results(integrator):
    products = [{"sku": "TEA-1", "title": "Sencha", "category": "tea", "price": 6.5}, {"sku": "", "title": "x"}]
    response = integrator.post("/api/v1/commerce/products/bulk/", {"rows": products}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["created"] == 1 and response.json()["errors"][0]["index"] == 1

    customers = [{"external_id": "c-1", "name": "Cleo"}]
    assert integrator.post("/api/v1/commerce/customers/bulk/", {"rows": customers}, content_type="application/json").json()["created"] == 1

    orders = [{"number": "N-1", "customer_external_id": "c-1", "placed_at": "2026-03-01T10:00:00Z", "lines": [{"sku": "TEA-1", "quantity": 2}]}]
    assert integrator.post("/api/v1/commerce/orders/bulk/", {"rows": orders}, content_type="application/json").json()["created"] == 1

    events = [{"event_id": f"e{i}", "type": "view", "sku": "TEA-1", "customer_external_id": "c-1"} for i in range(3)]
    first = integrator.post("/api/v1/commerce/events/bulk/", {"rows": events}, content_type="application/json").json()
    again = integrator.post("/api/v1/commerce/events/bulk/", {"rows": events}, content_type="application/json").json()
    assert (first["created"], first["duplicates"]) == (3, 0)
    assert again == {"created": 0, "updated": 0, "duplicates": 3, "errors": []}


@pytest.mark.parametrize("body", [{"rows": "nope"}, {"items": []}, [1, 2]])
def test_malformed_body_is_400(integrator, body):
    response = integrator.post("/api/v1/commerce/events/bulk/", body, content_type="application/json")
    assert response.status_code == 400 and "rows" in response.json()["errors"]


def test_more_than_10000_rows_is_400(integrator):
    row = {"event_id": "same", "type": "view", "sku": "S", "customer_external_id": "c", "occurred_at": "2026-03-01T10:00:00Z"}
    response = integrator.post("/api/v1/commerce/events/bulk/", {"rows": [row] * 10_001}, content_type="application/json")
    assert response.status_code == 400
    assert "At most 10000 rows" in response.json()["errors"]["rows"][0]
    # Exactly 10,000 rows is fine (all rejected here for the unknown sku, but answered per row).
    response = integrator.post("/api/v1/commerce/events/bulk/", {"rows": [row] * 10_000}, content_type="application/json")
    assert response.status_code == 200 and response.json()["duplicates"] == 9_999


def test_product_list_detail_and_customer(integrator):
    ProductFactory(sku="A", title="Trail shoe", category="running shoes")
    ProductFactory(sku="B", title="Sencha", category="tea", in_stock=False)
    ProductFactory(sku="X/1", title="Slashed")
    listing = integrator.get("/api/v1/commerce/products/", {"category": "tea"}).json()
    assert listing["count"] == 1 and listing["results"][0]["sku"] == "B"
    assert [p["sku"] for p in integrator.get("/api/v1/commerce/products/", {"in_stock": "true"}).json()["results"]] == ["A", "X/1"]
    assert integrator.get("/api/v1/commerce/products/X/1/").json()["title"] == "Slashed"
    assert [p["sku"] for p in integrator.get("/api/v1/commerce/products/", {"search": "trail"}).json()["results"]] == ["A"]
    assert integrator.get("/api/v1/commerce/products/", {"in_stock": "maybe"}).status_code == 400
    assert integrator.get("/api/v1/commerce/products/A/").json()["title"] == "Trail shoe"
    missing = integrator.get("/api/v1/commerce/products/NOPE/")
    assert missing.status_code == 404 and missing.json()["detail"]

    dana = CustomerFactory(external_id="dana")
    OrderLineFactory(order=OrderFactory(customer=dana, number="DS-1"), product__sku="C")
    body = integrator.get("/api/v1/commerce/customers/dana/").json()
    assert body["external_id"] == "dana" and body["recent_orders"][0]["number"] == "DS-1"
    assert body["recent_orders"][0]["lines"][0]["sku"] == "C"
    assert integrator.get("/api/v1/commerce/customers/ghost/").status_code == 404


def test_bulk_bodies_have_their_own_larger_limit_and_a_json_413_past_it(integrator, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000  # other endpoints' limit: the bulk endpoints opt in to their own
    settings.COMMERCE_BULK_MAX_BODY_BYTES = 100_000
    ProductFactory(sku="S")
    rows = [{"event_id": f"e{i}", "type": "view", "sku": "S", "session_id": "s"} for i in range(100)]
    accepted = integrator.post("/api/v1/commerce/events/bulk/", {"rows": rows}, content_type="application/json")
    assert accepted.status_code == 200 and accepted.json()["created"] == 100
    settings.COMMERCE_BULK_MAX_BODY_BYTES = 1000
    refused = integrator.post("/api/v1/commerce/events/bulk/", {"rows": rows}, content_type="application/json")
    assert refused.status_code == 413 and "1000 bytes" in refused.json()["detail"] and refused.json()["errors"]["body"]


def test_bulk_schema_says_a_malformed_row_is_reported_not_refused(integrator):
    schema = integrator.get("/api/v1/schema/?format=json").json()["components"]["schemas"]
    for name in ("ProductBulkRequestRequest", "CustomerBulkRequestRequest", "OrderBulkRequestRequest", "EventBulkRequestRequest"):
        items = schema[name]["properties"]["rows"]["items"]
        assert items["anyOf"][0]["$ref"].endswith("RowRequest") and "errors" in items["anyOf"][1]["description"]
    # What the open branch promises: any item is taken and reported by its index, the request is a 200.
    response = integrator.post("/api/v1/commerce/customers/bulk/", {"rows": [{"name": "no id"}, 5]}, content_type="application/json")
    assert response.status_code == 200 and [e["index"] for e in response.json()["errors"]] == [0, 1]


def test_bodies_are_json_only(integrator):
    response = integrator.post("/api/v1/commerce/customers/bulk/", {"rows": '[{"external_id": "c-1"}]'})
    assert response.status_code == 415 and "detail" in response.json()
