"""The review API of a job's crossings: list, review, add, change, undo, evaluate, complete; its errors and scopes."""

from __future__ import annotations

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from apps.traffic.models import Crossing, CrossingReview, JobStatus
from tests.apps.traffic.factories import CrossingFactory, JobFactory, LineFactory
from tests.factories import UserFactory, token_for

pytestmark = pytest.mark.django_db
API = "/api/v1/traffic"
JSON = "application/json"


@pytest.fixture
def job():
    """A finished 60 s job (10 fps) with two crossings on line "north": frame 10 in, frame 20 out."""
    job = JobFactory()
    north = LineFactory(camera=job.camera, name="north")
    CrossingFactory(job=job, line=north, direction="in", frame=10)
    CrossingFactory(job=job, line=north, direction="out", frame=20, label="bus")
    return job


def _crossings(job) -> list[Crossing]:  # noqa: ANN001
    return list(Crossing.objects.filter(job=job).order_by("frame"))


def test_an_operator_reviews_adds_and_completes_and_reads_the_evaluation(operator_client: Client, operator, job):
    first, second = _crossings(job)
    listed = operator_client.get(f"{API}/jobs/{job.pk}/crossings/").json()
    assert [(c["id"], c["seconds"], c["review"]) for c in listed["results"]] == [(first.pk, 1.0, None), (second.pk, 2.0, None)]

    rejected = operator_client.post(f"{API}/jobs/{job.pk}/reviews/", {"crossing": first.pk, "verdict": "rejected"}, content_type=JSON)
    assert rejected.status_code == 201, rejected.content
    assert rejected.json()["verdict"] == "rejected" and rejected.json()["reviewer"] == operator.username
    again = operator_client.post(f"{API}/jobs/{job.pk}/reviews/", {"crossing": first.pk, "verdict": "confirmed"}, content_type=JSON)
    assert again.status_code == 200 and again.json()["id"] == rejected.json()["id"] and again.json()["verdict"] == "confirmed"
    corrected = operator_client.post(f"{API}/jobs/{job.pk}/reviews/", {"crossing": second.pk, "verdict": "corrected", "direction": "in"}, content_type=JSON)
    assert corrected.status_code == 201 and (corrected.json()["direction"], corrected.json()["counted_direction"]) == ("in", "out")
    added = operator_client.post(
        f"{API}/jobs/{job.pk}/reviews/missed/", {"line": first.line_id, "direction": "out", "label": "car", "seconds": 30.05}, content_type=JSON
    )
    assert added.status_code == 201, added.content
    assert (added.json()["verdict"], added.json()["crossing"], added.json()["frame"]) == ("added", None, 300)

    reviews = operator_client.get(f"{API}/jobs/{job.pk}/reviews/").json()
    assert [r["verdict"] for r in reviews["results"]] == ["confirmed", "corrected", "added"]
    assert operator_client.get(f"{API}/jobs/{job.pk}/reviews/?verdict=added").json()["count"] == 1
    assert operator_client.get(f"{API}/jobs/{job.pk}/crossings/?review=corrected").json()["results"][0]["id"] == second.pk

    done = operator_client.post(f"{API}/jobs/{job.pk}/review/complete/", content_type=JSON)
    assert done.status_code == 200 and done.json()["complete"] is True and done.json()["reviewed_by"] == operator.username
    evaluation = operator_client.get(f"{API}/jobs/{job.pk}/evaluation/").json()
    line = first.line_id
    assert [(r["line"], r["direction"], r["counted"], r["reviewed"], r["error"], r["abs_error"]) for r in evaluation["rows"]] == [
        (line, "in", 1, 2, -1, 1),
        (line, "out", 1, 1, 0, 0),
    ]
    assert evaluation["total"] == {"counted": 2, "reviewed": 3, "error": -1, "abs_error": 1}
    assert operator_client.get(f"{API}/jobs/{job.pk}/").json()["reviewed_at"] is not None

    locked = operator_client.patch(f"{API}/jobs/{job.pk}/reviews/{added.json()['id']}/", {"frame": 5}, content_type=JSON)
    assert locked.status_code == 409 and "reopen" in locked.json()["detail"] and set(locked.json()) == {"detail", "errors"}
    assert operator_client.post(f"{API}/jobs/{job.pk}/review/reopen/", content_type=JSON).json()["complete"] is False
    moved = operator_client.patch(f"{API}/jobs/{job.pk}/reviews/{added.json()['id']}/", {"frame": 5}, content_type=JSON)
    assert moved.status_code == 200 and moved.json()["frame"] == 5 and moved.json()["seconds"] == 0.5
    assert operator_client.delete(f"{API}/jobs/{job.pk}/reviews/{added.json()['id']}/").status_code == 204
    assert CrossingReview.objects.filter(job=job).count() == 2


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        ("reviews/", {"crossing": 1, "verdict": "added"}, "verdict", "is not a valid choice"),
        ("reviews/", {"crossing": "1", "verdict": "rejected"}, "crossing", "valid integer"),
        ("reviews/", {"crossing": 1, "verdict": "confirmed", "label": "ufo"}, "label", "is not a valid choice"),
        ("reviews/", {"verdict": "rejected"}, "crossing", "required"),
        ("reviews/missed/", {"line": 1, "direction": "in", "label": "car"}, "frame", "either frame or seconds"),
        ("reviews/missed/", {"line": 1, "direction": "in", "label": "car", "frame": 1, "seconds": 0.1}, "frame", "either frame or seconds"),
        ("reviews/missed/", {"line": 1, "direction": "in", "label": "car", "frame": 600}, "frame", "ends at frame 599"),
        ("reviews/missed/", {"line": 1, "direction": "in", "label": "car", "seconds": -1}, "seconds", "greater than or equal to 0"),
        ("reviews/missed/", {"line": 1, "direction": "in", "label": "car", "seconds": True}, "seconds", "valid number"),
        ("reviews/missed/", {"line": 1, "direction": "inward", "label": "car", "frame": 1}, "direction", "is not a valid choice"),
    ],
)
def test_bad_review_input_is_a_400_that_names_the_field(operator_client: Client, job, path, body, field, message):
    crossing = _crossings(job)[0]
    body = {**body, **({"crossing": crossing.pk} if body.get("crossing") == 1 else {}), **({"line": crossing.line_id} if body.get("line") == 1 else {})}
    response = operator_client.post(f"{API}/jobs/{job.pk}/{path}", body, content_type=JSON)
    assert response.status_code == 400, response.content
    assert set(response.json()) == {"detail", "errors"} and message in " ".join(response.json()["errors"][field])
    assert not CrossingReview.objects.exists()


def test_a_crossing_or_line_of_another_job_is_not_found_here(operator_client: Client, job):
    elsewhere = CrossingFactory()
    other = operator_client.post(f"{API}/jobs/{job.pk}/reviews/", {"crossing": elsewhere.pk, "verdict": "rejected"}, content_type=JSON)
    assert other.status_code == 404 and f"No crossing {elsewhere.pk} in job #{job.pk}" in other.json()["errors"]["crossing"][0]
    line = operator_client.post(
        f"{API}/jobs/{job.pk}/reviews/missed/", {"line": elsewhere.line_id, "direction": "in", "label": "car", "frame": 1}, content_type=JSON
    )
    assert line.status_code == 404 and "line" in line.json()["errors"]
    assert operator_client.get(f"{API}/jobs/999999999/reviews/").status_code == 404
    review = CrossingReview.objects.create(
        job=elsewhere.job, line=elsewhere.line, crossing=elsewhere, verdict="confirmed", direction="in", label="car", frame=0, reviewed_at=elsewhere.occurred_at
    )
    assert operator_client.get(f"{API}/jobs/{job.pk}/reviews/{review.pk}/").status_code == 404
    assert not CrossingReview.objects.filter(job=job).exists()


def test_changing_what_a_counted_crossing_is_not_is_a_400(operator_client: Client, job):
    crossing = _crossings(job)[0]
    review = operator_client.post(f"{API}/jobs/{job.pk}/reviews/", {"crossing": crossing.pk, "verdict": "confirmed"}, content_type=JSON).json()
    moved = operator_client.patch(f"{API}/jobs/{job.pk}/reviews/{review['id']}/", {"frame": 3}, content_type=JSON)
    assert moved.status_code == 400 and "frame" in moved.json()["errors"]
    added = operator_client.patch(f"{API}/jobs/{job.pk}/reviews/{review['id']}/", {"verdict": "added"}, content_type=JSON)
    assert added.status_code == 400 and "verdict" in added.json()["errors"]
    assert operator_client.patch(f"{API}/jobs/{job.pk}/reviews/{review['id']}/", {"label": "bus"}, content_type=JSON).json()["verdict"] == "corrected"


@pytest.mark.parametrize("status", [JobStatus.RUNNING, JobStatus.FAILED])
def test_completing_the_review_of_an_unfinished_or_failed_job_is_a_409(operator_client: Client, status):
    job = JobFactory(status=status)
    response = operator_client.post(f"{API}/jobs/{job.pk}/review/complete/", content_type=JSON)
    assert response.status_code == 409 and status in response.json()["detail"]


def test_reviews_need_the_traffic_scopes(job):
    integrator = UserFactory(role="integrator")
    crossing = _crossings(job)[0]
    body = {"crossing": crossing.pk, "verdict": "rejected"}
    reader = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(integrator, 'traffic:read')}")
    assert reader.get(f"{API}/jobs/{job.pk}/reviews/").status_code == 200
    assert reader.get(f"{API}/jobs/{job.pk}/evaluation/").status_code == 200
    for path, data in (("reviews/", body), ("reviews/missed/", {}), ("review/complete/", None)):
        assert reader.post(f"{API}/jobs/{job.pk}/{path}", data, content_type=JSON).status_code == 403, path
    writer = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(integrator, 'traffic:read', 'traffic:write')}")
    assert writer.post(f"{API}/jobs/{job.pk}/reviews/", body, content_type=JSON).status_code == 201
    other = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(integrator, 'inspection:read', 'inspection:write')}")
    assert other.get(f"{API}/jobs/{job.pk}/reviews/").status_code == 403
    assert Client().get(f"{API}/jobs/{job.pk}/evaluation/").status_code in (401, 403)
    customer = Client()
    customer.force_login(UserFactory(role="customer"))
    assert customer.post(f"{API}/jobs/{job.pk}/reviews/", body, content_type=JSON).status_code == 403
    assert CrossingReview.objects.count() == 1


def test_the_schema_documents_the_review_operations():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    reviews = schema["paths"]["/api/v1/traffic/jobs/{id}/reviews/"]
    assert {"200", "201", "400", "404", "409"} <= set(reviews["post"]["responses"])
    assert "409" not in reviews["get"]["responses"]  # reading never conflicts
    assert schema["components"]["schemas"]["TrafficCrossingVerdictEnum"]["enum"] == ["confirmed", "rejected", "corrected"]
    missed = schema["components"]["schemas"]["MissedCrossingInputRequest"]
    assert set(missed["required"]) == {"line", "direction", "label"} and missed["properties"]["frame"]["minimum"] == 0
    evaluation = schema["paths"]["/api/v1/traffic/jobs/{id}/evaluation/"]["get"]["responses"]["200"]
    assert evaluation["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Evaluation"}
    detail = schema["paths"]["/api/v1/traffic/jobs/{id}/reviews/{review_id}/"]
    assert set(detail) == {"get", "patch", "delete"}
