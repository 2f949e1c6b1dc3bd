import pytest
from django.test import Client

from apps.mlops.demo_family import DEMO_FAMILY
from apps.mlops.models import ModelVersion, RunStatus, TrainingRun, VersionStatus
from tests.apps.mlops.helpers import FAST_CONFIG, train_inline, version_with_metric

pytestmark = pytest.mark.django_db


def test_start_a_run_through_the_api_trains_and_serves(operator_client: Client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # tasks run eagerly in unit tests
        response = operator_client.post("/api/v1/runs/", {"family": DEMO_FAMILY, "config": FAST_CONFIG}, content_type="application/json")
    assert response.status_code == 201, response.json()
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert run.trigger == "api" and run.status == RunStatus.SUCCEEDED
    detail = operator_client.get(f"/api/v1/runs/{run.pk}/").json()
    assert detail["status"] == "succeeded" and detail["progress"] == 100 and detail["model_version"] == run.model_version.pk
    predicted = operator_client.post(f"/api/v1/models/families/{DEMO_FAMILY}/predict/", {"inputs": [[0.2, 0.1]]}, content_type="application/json")
    assert predicted.status_code == 200
    assert predicted.json()["version"] == 1 and predicted.json()["predictions"][0]["label"] in ("red", "green", "blue")


def test_list_and_filter_versions_and_runs(operator_client: Client):
    train_inline()
    train_inline(config={"epochs": 2, "n_samples": 300})
    body = operator_client.get("/api/v1/models/", {"family": DEMO_FAMILY}).json()
    assert body["count"] == 2 and {v["version"] for v in body["results"]} == {1, 2}
    production = operator_client.get("/api/v1/models/", {"status": "production"}).json()
    assert production["count"] == 1
    runs = operator_client.get("/api/v1/runs/", {"status": "succeeded", "page_size": 1}).json()
    assert runs["count"] == 2 and len(runs["results"]) == 1 and runs["next"]
    families = operator_client.get("/api/v1/models/families/").json()
    demo = next(f for f in families if f["name"] == DEMO_FAMILY)
    assert demo["production"]["status"] == "production" and demo["default_config"]["epochs"] == 60


def test_promote_and_rollback_through_the_api(operator_client: Client, operator):
    first = version_with_metric(train_inline(), 0.9)
    second = version_with_metric(train_inline(), 0.5)
    ModelVersion.objects.filter(pk=second.pk).update(status=VersionStatus.CANDIDATE)
    refused = operator_client.post(f"/api/v1/models/{second.pk}/promote/", {}, content_type="application/json")
    assert refused.status_code == 409 and "reason" in refused.json()["errors"]
    ok = operator_client.post(f"/api/v1/models/{second.pk}/promote/", {"reason": "A/B test showed better CTR"}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["status"] == "production"
    back = operator_client.post(f"/api/v1/models/families/{DEMO_FAMILY}/rollback/", {}, content_type="application/json")
    assert back.status_code == 200 and back.json()["id"] == first.pk


def test_cancel_through_the_api(operator_client: Client):
    run = TrainingRun.objects.create(family=DEMO_FAMILY, trigger="api", config=FAST_CONFIG)
    response = operator_client.post(f"/api/v1/runs/{run.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    again = operator_client.post(f"/api/v1/runs/{run.pk}/cancel/")
    assert again.status_code == 409 and "already finished" in again.json()["errors"]["status"][0]


@pytest.mark.parametrize(
    "method,url",
    [
        ("get", "/api/v1/models/424242/"),
        ("post", "/api/v1/models/424242/promote/"),
        ("get", "/api/v1/runs/424242/"),
        ("post", "/api/v1/runs/424242/cancel/"),
        ("post", "/api/v1/models/families/no.such.family/rollback/"),
        ("post", "/api/v1/models/families/no.such.family/predict/"),
        ("get", "/api/v1/no-such-endpoint/"),
    ],
)
def test_unknown_ids_are_404_with_the_error_body(operator_client: Client, method: str, url: str):
    response = getattr(operator_client, method)(url, {}, content_type="application/json")
    assert response.status_code == 404
    assert set(response.json()) == {"detail", "errors"}


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "family"),
        ({"family": "nope.model"}, "family"),
        ({"family": DEMO_FAMILY, "config": "epochs=3"}, "config"),
        ({"family": DEMO_FAMILY, "config": {"epochs": -1}}, "config"),
        ({"family": DEMO_FAMILY, "config": {"epochs": "3"}}, "config"),
        ({"family": DEMO_FAMILY, "config": {"unknown_knob": 1}}, "config"),
    ],
)
def test_invalid_run_bodies_are_400_with_field_errors(operator_client: Client, body: dict, field: str):
    response = operator_client.post("/api/v1/runs/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"] == "Invalid input." and field in response.json()["errors"]
    assert not TrainingRun.objects.exists()


def test_malformed_json_is_400(operator_client: Client):
    response = operator_client.post("/api/v1/runs/", "{not json", content_type="application/json")
    assert response.status_code == 400 and "JSON" in response.json()["detail"]


def test_predict_validates_inputs_and_needs_a_production_model(operator_client: Client):
    url = f"/api/v1/models/families/{DEMO_FAMILY}/predict/"
    no_model = operator_client.post(url, {"inputs": [[0, 0]]}, content_type="application/json")
    assert no_model.status_code == 409 and "no production model" in no_model.json()["detail"]
    train_inline()
    bad_shape = operator_client.post(url, {"inputs": [[1, 2, 3]]}, content_type="application/json")
    assert bad_shape.status_code == 400 and "inputs" in bad_shape.json()["errors"]
    empty = operator_client.post(url, {"inputs": []}, content_type="application/json")
    assert empty.status_code == 400 and "inputs" in empty.json()["errors"]


def test_openapi_schema_and_docs_are_served_offline(operator_client: Client):
    schema = operator_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/runs/" in paths and "/api/v1/models/{id}/promote/" in paths
    docs = operator_client.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content and b"cdn" not in docs.content.lower()


def test_the_schema_lists_each_familys_config_keys_and_unknown_keys_are_400(operator_client: Client):
    from apps.mlops.families import all_families

    schema = operator_client.get("/api/v1/schema/?format=json").json()
    body = schema["components"]["schemas"]["TrainingRunStartRequest"]
    branches = {b["properties"]["family"]["pattern"]: b["properties"]["config"] for b in body["oneOf"]}
    demo = branches[r"^demo\.classifier$"]
    assert demo["additionalProperties"] is False and demo["properties"]["epochs"] == {"type": "integer"}
    assert len(branches) == len(all_families())
    # A key of another family is not one of this family's: refused, and the schema said so.
    refused = operator_client.post("/api/v1/runs/", {"family": "demo.classifier", "config": {"finetune_epochs": 2}}, content_type="application/json")
    assert refused.status_code == 400 and "finetune_epochs" in str(refused.json()["errors"]["config"])
    assert "finetune_epochs" not in demo["properties"]
