"""POST /api/v1/models/families/<name>/predict/ takes typed data per family: never a path, a glob or a URL.

Every registered family is trained (or imported) for real, answers 200 with plain JSON for a valid input and 400
with the error body for an invalid one; strings that name a server file or a URL are refused for the image
families and nothing is opened or fetched (a real listener on localhost proves no request arrived).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.test import Client

from apps.mlops.families import all_families, get_family
from apps.mlops.models import FamilySettings, VersionStatus
from tests.apps.inspection import factories as inspection_factories

pytestmark = pytest.mark.django_db

PRODUCT_FAMILIES = [f.name for f in all_families() if not f.name.startswith("test.")]
IMAGE_FAMILIES = [f.name for f in all_families() if f.predict_input is not None and f.predict_input.kind == "image"]


def _url(family: str) -> str:
    return f"/api/v1/models/families/{family}/predict/"


def _png_b64(seed: int = 7, size: int = 64) -> str:
    return base64.b64encode(inspection_factories.part_png(seed, size=size)).decode()


def _train_demo(family: str) -> None:
    from tests.apps.mlops.helpers import train_inline

    train_inline(family=family)


def _train_intent(family: str) -> None:
    from tests.apps.chatbot.helpers import demo_site, train_intent_model

    demo_site()
    train_intent_model()


def _train_recommender(family: str) -> None:
    from apps.recommendations.families import MAIN_FAMILY
    from tests.apps.recommendations.conftest import train_family
    from tests.apps.recommendations.factories import make_shop

    make_shop()
    if family == MAIN_FAMILY:
        FamilySettings.objects.create(family=MAIN_FAMILY, default_config={"content": False, "als_members": 1})
    train_family(family)


def _train_inspection(family: str) -> None:
    from tests.apps.mlops.helpers import train_inline

    FamilySettings.objects.create(family=family, default_config={"image_height": 64, "image_width": 64, "coreset_size": 128, "score_border": 0})
    if family == "inspection.defect_type":
        FamilySettings.objects.filter(family=family).update(default_config={"image_height": 64, "image_width": 64})
    inspection_factories.labelled_parts(inspection_factories.station(), n_good=8, n_per_defect=2)
    run = train_inline(family=family, config={})
    assert run.model_version is not None, run.error


def _import_detector(family: str) -> None:
    import tempfile
    from pathlib import Path

    from ultralytics import YOLO

    from apps.mlops.services import model_version_import, model_version_promote

    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / "yolo11n-untrained.pt"
        YOLO("yolo11n.yaml").save(str(weights))  # the architecture built offline; random weights are enough here
        version = model_version_import(family=family, source=weights, filename=weights.name, metrics={"mAP50": 0.1}, check_inline=True)
    if version.status != VersionStatus.PRODUCTION:
        model_version_promote(version=version, reason="test")


def _frame_b64() -> str:
    import cv2
    import numpy as np

    frame = np.full((96, 128, 3), 90, np.uint8)
    cv2.rectangle(frame, (30, 30), (70, 60), (20, 20, 200), -1)
    return base64.b64encode(cv2.imencode(".jpg", frame)[1].tobytes()).decode()


# family prefix → (set-up making a production version, a valid item, an invalid item, what a prediction holds)
CASES: dict[str, tuple[Callable[[str], None], Callable[[], object], object, Callable[[object], bool]]] = {
    "demo.": (_train_demo, lambda: [0.3, -0.2], [0.3, "x"], lambda p: p["label"] in ("red", "green", "blue")),
    "chatbot.intent": (_train_intent, lambda: "where is my order?", {"text": "hi"}, lambda p: "intent" in p and 0 <= p["confidence"] <= 1),
    "recommendations.": (_train_recommender, lambda: {"customer_id": 1, "n": 3}, {"n": 0}, lambda p: isinstance(p, list) and all("item_id" in r for r in p)),
    "inspection.anomaly": (_train_inspection, _png_b64, "/etc/passwd", lambda p: isinstance(p["score"], float) and len(p["heatmap"]) <= 64),
    "inspection.defect_type": (_train_inspection, _png_b64, "/etc/passwd", lambda p: "label" in p and "probabilities" in p),
    "traffic.detector": (_import_detector, _frame_b64, "https://example.com/frame.jpg", lambda p: isinstance(p, list)),
}


def _case(family: str):  # noqa: ANN202
    return next(case for prefix, case in CASES.items() if family.startswith(prefix))


def test_every_registered_family_declares_its_predict_input():
    for family in all_families():
        assert family.predict_input is not None, f"{family.name} declares no predict_input"
        assert family.predict_input.max_items >= 1


@pytest.mark.parametrize("family", PRODUCT_FAMILIES)
def test_every_family_predicts_json_for_valid_input_and_400_for_invalid(operator_client: Client, family: str):
    setup, valid, invalid, looks_right = _case(family)
    setup(family)
    response = operator_client.post(_url(family), {"inputs": [valid()]}, content_type="application/json")
    assert response.status_code == 200, response.content[:2000]
    body = json.loads(response.content)  # strict JSON: no NaN
    assert body["family"] == family and len(body["predictions"]) == 1 and looks_right(body["predictions"][0]), body
    refused = operator_client.post(_url(family), {"inputs": [invalid]}, content_type="application/json")
    assert refused.status_code == 400, refused.content[:2000]
    assert set(refused.json()) == {"detail", "errors"} and "inputs" in refused.json()["errors"]
    too_many = get_family(family).predict_input.max_items + 1
    bounded = operator_client.post(_url(family), {"inputs": [valid()] * too_many}, content_type="application/json")
    assert bounded.status_code == 400 and "inputs" in bounded.json()["errors"]


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on localhost recording every request it receives."""
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            received.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(base64.b64decode(_png_b64()))

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/frame.png", received
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("family", ["traffic.detector", "inspection.defect_type"])
def test_urls_paths_and_globs_are_refused_and_nothing_is_fetched_or_opened(operator_client: Client, listener, family: str, tmp_path):
    url, received = listener
    _case(family)[0](family)
    real_image = tmp_path / "part.png"
    real_image.write_bytes(base64.b64decode(_png_b64()))
    for item in (url, "/etc/passwd", str(real_image), f"{tmp_path}/*.png", "rtsp://127.0.0.1:9/stream", "file:///etc/passwd"):
        response = operator_client.post(_url(family), {"inputs": [item]}, content_type="application/json")
        assert response.status_code == 400, (item, response.content[:500])
        assert set(response.json()) == {"detail", "errors"} and "base64" in " ".join(response.json()["errors"]["inputs"]), response.json()
    assert received == []


def test_images_within_the_upload_limits_only(operator_client: Client, settings):
    _train_inspection("inspection.defect_type")
    settings.INSPECTION_MAX_IMAGE_SIDE = 32
    response = operator_client.post(_url("inspection.defect_type"), {"inputs": [_png_b64(size=64)]}, content_type="application/json")
    assert response.status_code == 400 and "largest side" in " ".join(response.json()["errors"]["inputs"])
    garbage = base64.b64encode(b"not an image at all").decode()
    response = operator_client.post(_url("inspection.defect_type"), {"inputs": [garbage]}, content_type="application/json")
    assert response.status_code == 400 and "not a readable image" in " ".join(response.json()["errors"]["inputs"])


def test_the_schema_documents_each_familys_input(operator_client: Client):
    schema = operator_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/v1/models/families/{name}/predict/"]["post"]
    for family in PRODUCT_FAMILIES:
        assert f"`{family}`" in operation["description"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    component = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    kinds = {s.get("type") or "ref" for s in component["properties"]["inputs"]["items"]["anyOf"]}
    assert {"string", "array"} <= kinds and len(kinds) >= 3  # text/base64 image, a point, a recommendation request
