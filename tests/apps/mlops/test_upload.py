"""Weights trained elsewhere enter the registry as candidates, through the API, the dashboard or the CLI."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

from apps.mlops.demo_family import DEMO_FAMILY
from apps.mlops.models import ModelVersion, PromotionEvent, VersionStatus
from apps.mlops.serving import model_cache
from ml.artifacts import sha256_of
from tests.apps.mlops.helpers import train_inline

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_weights(tmp_path: Path) -> Path:
    """A real demo-classifier weights file, as another installation would have produced it."""
    version = train_inline().model_version
    path = tmp_path / "demo-weights.pt"
    path.write_bytes(Path(version.artifact_uri.removeprefix("file://")).read_bytes())
    return path


def test_api_upload_registers_a_candidate_that_can_be_promoted_and_served(operator_client: Client, operator, demo_weights: Path):
    with open(demo_weights, "rb") as fh:
        response = operator_client.post(
            f"/api/v1/models/families/{DEMO_FAMILY}/versions/", {"file": fh, "metrics": '{"accuracy": 0.01}', "note": "from the lab"}
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "candidate" and body["created_via"] == "upload" and body["created_by"] == operator.username
    assert body["artifact_sha256"] == sha256_of(demo_weights) and body["version"] == 2
    assert body["promotion_note"] == "from the lab" and body["primary_value"] == 0.01
    version = ModelVersion.objects.get(pk=body["id"])
    operator_client.post(f"/api/v1/models/{version.pk}/promote/", {"reason": "lab weights"}, content_type="application/json")
    assert model_cache.predict(DEMO_FAMILY, [[0.1, 0.1]])[0].pk == version.pk
    assert PromotionEvent.objects.get(to_version=version).action == "override"  # 0.01 does not beat v1


def test_api_rejects_files_the_family_cannot_load_and_stores_nothing(operator_client: Client):
    garbage = SimpleUploadedFile("yolo11n.pt", b"\x00not a torch file", content_type="application/octet-stream")
    response = operator_client.post(f"/api/v1/models/families/{DEMO_FAMILY}/versions/", {"file": garbage})
    assert response.status_code == 400
    assert "cannot be loaded as a demo.classifier model" in response.json()["errors"]["file"][0]
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize(
    "data,field",
    [({}, "file"), ({"metrics": "[1, 2]"}, "metrics"), ({"metrics": '{"accuracy": "high"}'}, "metrics")],
)
def test_api_upload_validates_its_fields(operator_client: Client, demo_weights: Path, data: dict, field: str):
    if field != "file":
        data = {**data, "file": open(demo_weights, "rb")}  # noqa: SIM115 - closed by the test client's encoding
    response = operator_client.post(f"/api/v1/models/families/{DEMO_FAMILY}/versions/", data)
    assert response.status_code == 400 and field in response.json()["errors"]


def test_api_upload_to_an_unknown_family_is_404(operator_client: Client):
    response = operator_client.post("/api/v1/models/families/no.such/versions/", {"file": SimpleUploadedFile("w.pt", b"x")})
    assert response.status_code == 404


def test_dashboard_upload(operator_client: Client, demo_weights: Path):
    with open(demo_weights, "rb") as fh:
        response = operator_client.post(f"/models/families/{DEMO_FAMILY}/upload/", {"file": fh}, follow=True)
    assert b"registered as demo.classifier v2 (candidate)" in response.content
    bad = operator_client.post(f"/models/families/{DEMO_FAMILY}/upload/", {"file": SimpleUploadedFile("w.pt", b"junk")}, follow=True)
    assert b"Could not register the upload" in bad.content and ModelVersion.objects.count() == 2


def test_import_model_command(demo_weights: Path, capsys):
    call_command("import_model", DEMO_FAMILY, str(demo_weights), "--promote", "--reason", "imported for the demo")
    version = ModelVersion.objects.get(created_via="upload")
    assert version.status == VersionStatus.PRODUCTION and "registered (production)" in capsys.readouterr().out
    with pytest.raises(CommandError, match="is not a file"):
        call_command("import_model", DEMO_FAMILY, "/nonexistent.pt")
    with pytest.raises(CommandError, match="unknown model family"):
        call_command("import_model", "nope", str(demo_weights))
