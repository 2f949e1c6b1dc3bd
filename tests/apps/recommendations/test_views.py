"""Operator pages: overview with metrics and A/B, catalog, product, customer; Retrain goes to the run page."""

import json

import pytest
from django.test import Client

from apps.mlops.models import FamilySettings, TrainingRun
from apps.recommendations.families import MAIN_FAMILY
from apps.recommendations.models import ABTest, ServedList
from tests.apps.recommendations.conftest import train_family
from tests.apps.recommendations.factories import sku_of, title_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_overview_shows_families_metrics_and_chart_data(trained, operator_client):
    response = operator_client.get("/recommendations/")
    assert response.status_code == 200
    html = response.content.decode()
    for family in ("recommendations.blend", "recommendations.als", "recommendations.popularity", "recommendations.trending"):
        assert f'data-family="{family}"' in html
    assert "coverage@10" in html and "popularity_bias@10" in html
    history = json.loads(html.split('id="recs-history" type="application/json">')[1].split("</script>")[0])
    assert history["recommendations.blend"][0]["metrics"]["ndcg@10"] == pytest.approx(trained["blend"].metrics["ndcg@10"])
    assert "Start A/B test" in html


def test_retrain_queues_a_run_and_opens_its_live_page(trained, operator_client, operator):
    response = operator_client.post("/recommendations/retrain/", {"family": MAIN_FAMILY})
    run = TrainingRun.objects.filter(family=MAIN_FAMILY).first()
    assert run.status == "queued" and run.triggered_by == operator and run.trigger == "dashboard"
    assert response.status_code == 302 and response["Location"] == f"/runs/{run.pk}/"
    refused = operator_client.post("/recommendations/retrain/", {"family": "demo.classifier"}, follow=True)
    assert "not a recommendation model family" in refused.content.decode()


def test_ab_test_from_the_page(trained, operator_client):
    FamilySettings.objects.filter(family=MAIN_FAMILY).update(auto_promote=False)
    candidate = train_family(MAIN_FAMILY, blend_ease_weight=0.9)
    page = operator_client.post("/recommendations/ab-test/start/", {"candidate": candidate.pk, "share_percent": "25"}, follow=True)
    assert "A/B test started" in page.content.decode()
    test = ABTest.objects.get(is_active=True)
    assert test.candidate == candidate and test.share == 0.25
    html = operator_client.get("/recommendations/").content.decode()
    assert 'data-variant="candidate"' in html and "Stop the test" in html
    operator_client.post("/recommendations/ab-test/stop/")
    assert not ABTest.objects.filter(is_active=True).exists()
    wrong = operator_client.post("/recommendations/ab-test/start/", {"candidate": "x", "share_percent": "25"}, follow=True)
    assert "Choose a candidate version" in wrong.content.decode()


def test_catalog_product_and_customer_pages(trained, operator_client):
    catalog = operator_client.get("/recommendations/catalog/", {"category": "garden", "in_stock": "1"}).content.decode()
    assert title_of("garden", 0) in catalog and sku_of("garden", 1) not in catalog and sku_of("coffee", 0) not in catalog
    product = operator_client.get(f"/recommendations/catalog/{sku_of('coffee', 0)}/").content.decode()
    assert "Similar products" in product and "Often viewed and bought by the same shoppers" in product
    assert operator_client.get("/recommendations/catalog/NOPE/").status_code == 404

    customer = operator_client.get("/recommendations/customers/coffee-fan-4/").content.decode()
    assert "Recent history" in customer and "Because you " in customer
    unknown = operator_client.get("/recommendations/customers/", {"q": "ghost"}, follow=True).content.decode()
    assert "cold-start list" in unknown and "Popular in the shop" in unknown
    # Operator previews are not served lists: they never count in A/B statistics.
    assert not ServedList.objects.exists()


def test_pages_are_for_operators(trained):
    assert Client().get("/recommendations/").status_code == 302  # to the login page
    client = Client()
    client.force_login(UserFactory(role="integrator"))
    assert client.get("/recommendations/").status_code == 403
    assert client.post("/recommendations/retrain/", {"family": MAIN_FAMILY}).status_code == 403
