"""The whole loop through a real Celery worker: labelled parts → train → upload → inference → webhook →
review → automatic retrain → promote from the inspection page. Small generated parts keep it short."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.inspection.families import ANOMALY_FAMILY, DEFECT_TYPE_FAMILY
from apps.inspection.models import InspectionImage, InspectionResult
from apps.mlops.models import FamilySettings, ModelVersion, TrainingRun, VersionStatus
from tests.apps.inspection import factories as f
from tests.workers import celery_worker, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_broker")]

SMALL = {
    ANOMALY_FAMILY: {"image_height": 64, "image_width": 64, "coreset_size": 128, "score_border": 0},
    DEFECT_TYPE_FAMILY: {"image_height": 64, "image_width": 64},
}


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def _wait_runs_finished(worker, count: int) -> list[TrainingRun]:  # noqa: ANN001
    def done() -> bool:
        runs = TrainingRun.objects.filter(family__in=SMALL)
        return runs.count() >= count and all(r.is_finished for r in runs)

    wait_for(done, timeout=150, interval=0.5, message=f"{count} training runs\n{worker.log()[-3000:]}")
    runs = list(TrainingRun.objects.filter(family__in=SMALL).order_by("pk"))
    assert all(r.status == "succeeded" for r in runs), [r.error[:500] for r in runs]
    return runs


def test_upload_inference_review_retrain_promote(operator_client: Client, webhook):
    hook_url, hooks = webhook
    for family, config in SMALL.items():
        FamilySettings.objects.create(family=family, default_config=config)
    station = f.station(retrain_after_reviews=1, review_margin=1.0)  # every result goes to review
    f.labelled_parts(station, n_good=14, n_per_defect=3, size=64)

    with celery_worker() as worker:
        operator_client.post("/inspection/retrain/")
        _wait_runs_finished(worker, 2)
        first = {v.family: v for v in ModelVersion.objects.filter(status=VersionStatus.PRODUCTION)}
        assert set(first) == set(SMALL)

        response = operator_client.post(
            "/api/v1/inspection/images/",
            {
                "station": station.pk,
                "client_image_ids": ["live-1", "live-2", "live-3"],
                "images": [SimpleUploadedFile(f"{i}.png", f.part_png(500 + i, d)) for i, d in enumerate(["", "spot", "scratch"])],
                "callback_url": hook_url,
            },
        )
        assert response.status_code == 201, response.json()
        ids = [a["id"] for a in response.json()["accepted"]]

        def all_done() -> list[dict]:
            bodies = [operator_client.get(f"/api/v1/inspection/images/{i}/").json() for i in ids]
            return bodies if all(b["status"] == "done" for b in bodies) else []

        bodies = wait_for(all_done, timeout=60, interval=0.3, message=f"results\n{worker.log()[-3000:]}")
        for body in bodies:
            assert body["result"]["anomaly_model_version"] == first[ANOMALY_FAMILY].pk
            assert body["result"]["classifier_model_version"] == first[DEFECT_TYPE_FAMILY].pk
        assert bodies[1]["result"]["score"] > bodies[0]["result"]["score"]
        # A defective verdict always points somewhere, an OK one nowhere.
        assert all((b["result"]["verdict"] == "defective") == bool(b["result"]["boxes"]) for b in bodies), bodies
        # Batched: the three images were taken together in one forward pass (one task drained them).
        assert max(InspectionResult.objects.values_list("batch_size", flat=True)) >= 2
        wait_for(lambda: len(hooks) == 3, timeout=30, message=f"webhooks\n{worker.log()[-2000:]}")
        assert {h["client_image_id"] for h in hooks} == {"live-1", "live-2", "live-3"} and hooks[0]["result"]["verdict"] in ("ok", "defective")
        assert InspectionImage.objects.filter(callback_status__startswith="delivered").count() == 3

        # A resend of a known image is answered from the stored result, not inspected again.
        again = operator_client.post(
            "/api/v1/inspection/images/",
            {
                "station": station.pk,
                "client_image_id": "live-2",
                "image": SimpleUploadedFile("x.png", f.part_png(501, "spot")),
            },
        )
        assert again.status_code == 200 and again.json()["accepted"][0]["duplicate"] and again.json()["accepted"][0]["status"] == "done"
        assert InspectionResult.objects.count() == 3

        # An operator review labels the part; with retrain_after_reviews=1 it starts retraining on the worker.
        result = InspectionResult.objects.get(image_id=ids[1])
        reviewed = operator_client.post(f"/inspection/review/{result.pk}/", {"decision": "defect", "defect_type": "spot"}, HTTP_ACCEPT="application/json")
        assert reviewed.status_code == 200
        assert InspectionImage.objects.get(pk=ids[1]).label == "spot"
        runs = _wait_runs_finished(worker, 4)
        assert runs[-1].trigger == "schedule"

        newest = ModelVersion.objects.filter(family=ANOMALY_FAMILY).order_by("-version").first()
        assert newest.version == 2
        page = operator_client.get("/inspection/models/")
        assert page.status_code == 200
        if newest.status != VersionStatus.PRODUCTION:
            assert f"Promote v{newest.version}".encode() in page.content
            operator_client.post(f"/inspection/models/{newest.pk}/promote/")
        newest.refresh_from_db()
        assert newest.status == VersionStatus.PRODUCTION

        # The next image is inspected by the promoted version, without restarting the worker.
        response = operator_client.post(
            "/api/v1/inspection/images/",
            {
                "station": station.pk,
                "client_image_id": "live-4",
                "image": SimpleUploadedFile("4.png", f.part_png(600, "crack")),
            },
        )
        image_id = response.json()["accepted"][0]["id"]
        body = wait_for(
            lambda: (b := operator_client.get(f"/api/v1/inspection/images/{image_id}/").json())["status"] == "done" and b,
            timeout=60,
            interval=0.3,
            message="result of live-4",
        )
        assert body["result"]["anomaly_model_version"] == newest.pk
