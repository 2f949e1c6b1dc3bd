"""Admin pages of the shop data render and search."""

import pytest

from tests.apps.commerce.factories import EventFactory, OrderLineFactory

pytestmark = pytest.mark.django_db


def test_admin_lists_search_and_order_with_inline_lines(admin_client_):
    line = OrderLineFactory(order__number="DS-7", product__sku="TEA-9")
    EventFactory(product=line.product)
    for url, term in [("product", "TEA-9"), ("customer", line.order.customer.external_id), ("order", "DS-7"), ("event", "TEA-9")]:
        response = admin_client_.get(f"/admin/commerce/{url}/", {"q": term})
        assert response.status_code == 200 and term in response.content.decode()
    page = admin_client_.get(f"/admin/commerce/order/{line.order.pk}/change/").content.decode()
    assert "lines-TOTAL_FORMS" in page and 'value="1"' in page
