"""The serving fast path: the in-process catalog and its invalidation, the one-query customer read, and the served
list written with one asynchronous-commit INSERT that an impression finds at once."""

import time

import pytest
from django.db import connection

from apps.commerce import selectors as commerce
from apps.commerce import services as commerce_services
from apps.commerce.models import Product
from apps.mlops import services as mlops
from apps.recommendations import selectors, services
from apps.recommendations.catalog import catalog_cache
from apps.recommendations.families import MAIN_FAMILY
from apps.recommendations.models import PrecomputedRecommendations, ServedList
from tests.apps.recommendations.conftest import train_family
from tests.apps.recommendations.factories import sku_of

pytestmark = pytest.mark.django_db

DELAY = 0.3  # RECOMMENDATIONS_CATALOG_REFRESH_SECONDS in these tests


def _skus(external_id: str, **filters) -> list[str]:
    return [i.sku for i in services.user_recommendations(external_id=external_id, n=10, exclude_purchased=False, **filters).items]


def _wait_for_refresh() -> None:
    time.sleep(DELAY + 0.05)


def test_stock_title_and_category_changes_are_served_within_the_refresh_delay(trained, settings):
    settings.RECOMMENDATIONS_CATALOG_REFRESH_SECONDS = DELAY
    before = _skus("garden-fan-3", in_stock=True)
    top = before[0]
    product = commerce.product_get(sku=top)

    # Out of stock through commerce's upsert (stamps updated_at), title changed in the same row.
    assert not commerce_services.product_upsert_many(rows=[{"sku": top, "title": "Renamed spade", "in_stock": False}]).errors
    _wait_for_refresh()
    after = services.user_recommendations(external_id="garden-fan-3", n=10, exclude_purchased=False, in_stock=True)
    assert top not in [i.sku for i in after.items]
    everything = services.user_recommendations(external_id="garden-fan-3", n=10, exclude_purchased=False)
    assert {i.sku: i.title for i in everything.items}.get(top) == "Renamed spade"

    # A stock flag flipped behind commerce's back (no updated_at) is caught by the in-stock count.
    second = after.items[0].sku
    Product.objects.filter(sku=second).update(in_stock=False)
    _wait_for_refresh()
    assert second not in _skus("garden-fan-3", in_stock=True)

    # Back in stock and moved to another category: the category filter follows.
    Product.objects.filter(pk=product.pk).update(in_stock=True, category="running")
    _wait_for_refresh()
    running = services.user_recommendations(external_id="garden-fan-3", n=30, exclude_purchased=False, category="running")
    assert all(i.category == "running" for i in running.items)
    assert top not in _skus("garden-fan-3", category="garden")


def test_the_snapshot_is_reused_until_the_delay_has_passed(trained, settings):
    settings.RECOMMENDATIONS_CATALOG_REFRESH_SECONDS = 3600
    top = _skus("garden-fan-3", in_stock=True)[0]
    Product.objects.filter(sku=top).update(in_stock=False)
    # Within the delay the snapshot is not re-read (that is the documented staleness) ...
    assert top in _skus("garden-fan-3", in_stock=True)
    # ... and once it is re-validated the change is served.
    settings.RECOMMENDATIONS_CATALOG_REFRESH_SECONDS = 0
    assert top not in _skus("garden-fan-3", in_stock=True)


def test_precomputed_lists_follow_stock_and_a_promotion_switches_the_filtered_version(trained, settings):
    settings.RECOMMENDATIONS_CATALOG_REFRESH_SECONDS = 0
    version = trained["blend"]
    services.precompute_for_version(version_id=version.pk, days=100_000)
    stored = PrecomputedRecommendations.objects.get(model_version=version, customer_id=commerce.customer_get(external_id="coffee-fan-2").id)
    first = commerce.products_by_ids(ids=[stored.items[0][0]])[stored.items[0][0]]
    assert _skus("coffee-fan-2")[0] == first.sku
    Product.objects.filter(pk=first.pk).update(in_stock=False)
    assert first.sku not in _skus("coffee-fan-2", in_stock=True)
    assert _skus("coffee-fan-2")[0] == first.sku  # no stock filter asked: still served

    second = train_family(MAIN_FAMILY, blend_ease_weight=0.9)
    if second.status != "production":
        mlops.model_version_promote(version=second, reason="test")
    result = services.user_recommendations(external_id="coffee-fan-2", n=10, in_stock=True)
    assert result.model_version == f"{MAIN_FAMILY} v2"
    assert first.sku not in [i.sku for i in result.items] and len(result.items) == 10
    in_stock = set(commerce.product_list(in_stock=True).values_list("sku", flat=True))
    assert {i.sku for i in result.items} <= in_stock


def test_a_product_created_after_the_snapshot_is_known_to_sessions(trained, settings):
    settings.RECOMMENDATIONS_CATALOG_REFRESH_SECONDS = 3600
    catalog_cache.get()
    assert not commerce_services.product_upsert_many(rows=[{"sku": "NEW-1", "title": "Brand-new kettle", "category": "coffee"}]).errors
    result = services.session_recommendations(skus=["NEW-1", sku_of("coffee", 0)], n=3)
    assert result.unknown_skus == []


@pytest.mark.parametrize("external_id", ["coffee-fan-0", "garden-fan-5", "never-seen"])
def test_customer_signals_read_what_the_separate_queries_read(trained, external_id):
    version = trained["blend"]
    services.precompute_for_version(version_id=version.pk, days=100_000)
    signals = selectors.customer_signals(external_id=external_id, limit=5, purchases=True, precomputed_version_id=version.pk)
    customer = commerce.customer_get(external_id=external_id)
    if customer is None:
        assert signals == selectors.CustomerSignals()
        return
    history = commerce.customer_history(external_id=external_id, limit=5)
    assert signals.customer_id == customer.id
    assert signals.events == [(e.product_id, e.type, e.value) for e in history]
    assert signals.purchased == commerce.customer_product_ids(customer_id=customer.id, types=["purchase"])
    assert signals.precomputed == PrecomputedRecommendations.objects.get(model_version=version, customer_id=customer.id).items
    # Without the optional parts, and for a customer the shop sent without any event.
    bare = selectors.customer_signals(external_id=external_id, limit=5, purchases=False)
    assert bare.purchased == set() and bare.precomputed is None and bare.events == signals.events
    commerce_services.customer_upsert_many(rows=[{"external_id": "quiet-one"}])
    quiet = selectors.customer_signals(external_id="quiet-one", limit=5, purchases=True)
    assert quiet.customer_id == commerce.customer_get(external_id="quiet-one").id and quiet.events == []


@pytest.mark.django_db(transaction=True)
def test_the_served_list_commits_at_once_and_an_impression_is_attributed_to_it(trained):
    assert not connection.in_atomic_block  # autocommit: the asynchronous-commit INSERT path
    result = services.user_recommendations(external_id="running-fan-1", n=3)
    served = ServedList.objects.get(pk=result.id)
    assert served.items == [i.sku for i in result.items] and served.model_version_id == trained["blend"].pk
    if connection.vendor == "postgresql":  # SQLite (the no-services fallback) has no commit modes
        with connection.cursor() as cursor:  # SET LOCAL ended with the INSERT's own transaction
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"
    commerce_services.event_record(type="impression", sku=result.items[0].sku, customer_external_id="running-fan-1", recommendation_id=result.id)
    counts = commerce.recommendation_feedback_counts(recommendation_ids=[result.id])
    assert counts[result.id].get("impression") == 1
