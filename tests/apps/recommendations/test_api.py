"""The recommendation API: shapes, bounds, cold start, errors and who may call it."""

import pytest
from django.test import Client

from apps.accounts.models import Role
from tests.apps.recommendations.factories import sku_of
from tests.factories import UserFactory, token_for

pytestmark = pytest.mark.django_db

USER_URL = "/api/v1/recommendations/users/{}/"
SESSION_URL = "/api/v1/recommendations/session/"


def bearer(*scopes: str, role: str = Role.INTEGRATOR) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token_for(UserFactory(role=role), *scopes)}")


@pytest.fixture
def integrator():
    return bearer("recommendations:read")


def test_user_recommendations_shape_and_filters(trained, integrator):
    response = integrator.get(USER_URL.format("coffee-fan-2"), {"n": 4, "in_stock": "true", "category": "coffee"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"].startswith("rec_") and body["model_version"] == "recommendations.blend v1" and body["variant"] == "production"
    assert len(body["items"]) == 4
    for item in body["items"]:
        assert set(item) == {"sku", "title", "price", "category", "score", "reason", "source"}
        assert item["category"] == "coffee" and item["sku"] != sku_of("coffee", 1)  # COF-001 is out of stock
        assert item["reason"]


def test_unknown_user_gets_the_cold_start_list(trained, integrator):
    response = integrator.get(USER_URL.format("somebody-new"))
    assert response.status_code == 200
    items = response.json()["items"]
    assert len(items) == 10 and {i["source"] for i in items} == {"popular"}


@pytest.mark.parametrize("n", ["0", "101", "ten", "-3"])
def test_n_out_of_bounds_is_a_400_with_the_field(trained, integrator, n):
    response = integrator.get(USER_URL.format("coffee-fan-2"), {"n": n})
    assert response.status_code == 400
    assert response.json()["detail"] == "Invalid input." and "n" in response.json()["errors"]


def test_n_of_100_is_allowed(trained, integrator):
    response = integrator.get(USER_URL.format("coffee-fan-2"), {"n": 100, "exclude_purchased": "false"})
    assert response.status_code == 200 and 0 < len(response.json()["items"]) <= 100


def test_session_recommendations(trained, integrator):
    response = integrator.post(SESSION_URL, {"skus": [sku_of("garden", 3), "GHOST"], "n": 3}, content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["unknown_skus"] == ["GHOST"] and len(body["items"]) == 3 and {i["source"] for i in body["items"]} == {"session"}
    # An empty session is the cold-start list; a malformed body is a 400 naming the field.
    assert integrator.post(SESSION_URL, {"skus": []}, content_type="application/json").json()["items"][0]["source"] == "popular"
    bad = integrator.post(SESSION_URL, {"skus": "GAR-001"}, content_type="application/json")
    assert bad.status_code == 400 and "skus" in bad.json()["errors"]


def test_similar_items_and_unknown_sku(trained, integrator):
    response = integrator.get(f"/api/v1/recommendations/items/{sku_of('running', 4)}/similar/", {"n": 5})
    assert response.status_code == 200 and len(response.json()["items"]) == 5
    missing = integrator.get("/api/v1/recommendations/items/NOPE/similar/")
    assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]


def test_before_any_training_the_api_answers_503(shop, integrator):
    response = integrator.get(USER_URL.format("coffee-fan-2"))
    assert response.status_code == 503 and "train" in response.json()["detail"]


def test_permissions(trained, operator_client):
    url = USER_URL.format("coffee-fan-2")
    assert Client().get(url).status_code in (401, 403)
    assert bearer("commerce:read").get(url).status_code == 403  # right role, wrong scope
    assert bearer("recommendations:read", role=Role.CUSTOMER).get(url).status_code == 403
    assert operator_client.get(url).status_code == 200
    # A session lookup is a read: the read scope is enough for the POST.
    assert bearer("recommendations:read").post(SESSION_URL, {"skus": []}, content_type="application/json").status_code == 200
    # A/B tests are for operators, and a token also needs the write scope to change them.
    assert bearer("recommendations:read", "recommendations:write").get("/api/v1/recommendations/ab-test/").status_code == 403
    operator_read = bearer("recommendations:read", role=Role.OPERATOR)
    assert operator_read.get("/api/v1/recommendations/ab-test/").status_code == 200
    assert operator_read.delete("/api/v1/recommendations/ab-test/").status_code == 403


def test_ab_test_api(trained):
    from apps.mlops.models import FamilySettings
    from apps.recommendations.families import MAIN_FAMILY
    from tests.apps.recommendations.conftest import train_family

    FamilySettings.objects.filter(family=MAIN_FAMILY).update(auto_promote=False)
    candidate = train_family(MAIN_FAMILY, blend_ease_weight=0.2)
    client = bearer("recommendations:read", "recommendations:write", role=Role.OPERATOR)
    bad = client.post("/api/v1/recommendations/ab-test/", {"candidate_version_id": trained["blend"].pk, "share": 0.3}, content_type="application/json")
    assert bad.status_code == 400 and "candidate" in bad.json()["errors"]
    started = client.post("/api/v1/recommendations/ab-test/", {"candidate_version_id": candidate.pk, "share": 0.3}, content_type="application/json")
    assert started.status_code == 201 and started.json()["candidate_version"] == 2
    status = client.get("/api/v1/recommendations/ab-test/").json()
    assert status["test"]["is_active"] and [o["variant"] for o in status["outcomes"]] == ["production", "candidate"]
    assert client.delete("/api/v1/recommendations/ab-test/").json() == {"stopped": 1}


@pytest.mark.parametrize("body", [{"skus": [], "in_stock": 0}, {"skus": [], "n": "10"}, {"skus": [7]}, {"skus": [], "session_id": 5}])
def test_session_body_values_have_their_json_types(trained, integrator, body):
    response = integrator.post("/api/v1/recommendations/session/", body, content_type="application/json")
    assert response.status_code == 400 and set(body) - {"skus"} <= set(response.json()["errors"]) | {"skus"}
