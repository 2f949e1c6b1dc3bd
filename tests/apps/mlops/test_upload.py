"""Weights trained elsewhere enter the registry through the API, the dashboard or the CLI: statically checked in the
request (nothing in the file runs), then loaded by a worker before they become a candidate."""

import os
import pickle
from pathlib import Path

import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

from apps.mlops import services
from apps.mlops.demo_family import DEMO_FAMILY
from apps.mlops.models import ModelVersion, PromotionEvent, VersionStatus
from apps.mlops.serving import model_cache
from ml.artifacts import sha256_of
from tests.apps.mlops.helpers import train_inline

pytestmark = pytest.mark.django_db

DETECTOR_FAMILY = "traffic.detector"


@pytest.fixture
def demo_weights(tmp_path: Path) -> Path:
    """A real demo-classifier weights file, as another installation would have produced it."""
    version = train_inline().model_version
    path = tmp_path / "demo-weights.pt"
    path.write_bytes(Path(version.artifact_uri.removeprefix("file://")).read_bytes())
    return path


class TouchesAFile:
    """Unpickling this runs ``touch <path>`` (os.system): the payload of a malicious weights file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


class TouchesAFileWithPathlib(TouchesAFile):
    def __reduce__(self):
        return (Path.touch, (self.path,))


def malicious_weights(tmp_path: Path, marker: Path, kind: str) -> Path:
    path = tmp_path / "yolo11n.pt"
    if kind == "torch-zip":
        torch.save({"model": TouchesAFile(marker), "weights": torch.ones(3)}, path)
    else:
        path.write_bytes(pickle.dumps({"model": TouchesAFileWithPathlib(marker)}))
    return path


def test_api_upload_is_checked_by_a_worker_then_a_candidate_that_can_be_promoted_and_served(
    operator_client: Client, operator, demo_weights: Path, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), open(demo_weights, "rb") as fh:
        response = operator_client.post(
            f"/api/v1/models/families/{DEMO_FAMILY}/versions/", {"file": fh, "metrics": '{"accuracy": 0.01}', "note": "from the lab"}
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    # The request only checked the file statically: a worker (the eager task, on commit) loads it.
    assert body["status"] == "checking" and body["created_via"] == "upload" and body["created_by"] == operator.username
    assert body["artifact_sha256"] == sha256_of(demo_weights) and body["version"] == 2
    assert body["promotion_note"] == "from the lab" and body["primary_value"] == 0.01
    checked = operator_client.get(f"/api/v1/models/{body['id']}/").json()
    assert checked["status"] == "candidate" and checked["check_error"] == ""
    version = ModelVersion.objects.get(pk=body["id"])
    operator_client.post(f"/api/v1/models/{version.pk}/promote/", {"reason": "lab weights"}, content_type="application/json")
    assert model_cache.predict(DEMO_FAMILY, [[0.1, 0.1]])[0].pk == version.pk
    assert PromotionEvent.objects.get(to_version=version).action == "override"  # 0.01 does not beat v1


@pytest.mark.parametrize("family", [DEMO_FAMILY, DETECTOR_FAMILY])
@pytest.mark.parametrize("kind", ["torch-zip", "plain-pickle"])
def test_api_refuses_a_weights_file_whose_pickle_runs_a_command_and_runs_nothing(operator_client: Client, tmp_path: Path, family: str, kind: str):
    marker = tmp_path / "pwned"
    weights = malicious_weights(tmp_path, marker, kind)
    with open(weights, "rb") as fh:
        response = operator_client.post(f"/api/v1/models/families/{family}/versions/", {"file": fh})
    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]["file"]
    refused = "posix.system" if kind == "torch-zip" else "pathlib.Path.touch"
    assert refused in error and "refused" in error and error.startswith(f"yolo11n.pt cannot be a {family} model")
    assert not marker.exists()
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize("kind", ["torch-zip", "plain-pickle"])
def test_dashboard_refuses_a_weights_file_whose_pickle_runs_a_command_and_runs_nothing(operator_client: Client, tmp_path: Path, kind: str):
    marker = tmp_path / "pwned"
    weights = malicious_weights(tmp_path, marker, kind)
    with open(weights, "rb") as fh:
        response = operator_client.post(f"/models/families/{DETECTOR_FAMILY}/upload/", {"file": fh})
    assert response.status_code == 400
    assert b"Could not register the upload" in response.content and b"refused" in response.content
    assert not marker.exists() and not ModelVersion.objects.exists()


def test_a_detector_checkpoint_with_a_malicious_yaml_activation_is_rejected_by_the_worker_and_runs_nothing(
    operator_client: Client, tmp_path: Path, django_capture_on_commit_callbacks
):
    from ml.traffic.checkpoints import yolo_class

    marker = tmp_path / "pwned"
    model = yolo_class()("yolo11n.yaml")
    model.model.yaml["activation"] = f"__import__('os').system('touch {marker}')"
    weights = tmp_path / "yolo11n.pt"
    model.save(str(weights))
    with django_capture_on_commit_callbacks(execute=True), open(weights, "rb") as fh:
        response = operator_client.post(f"/api/v1/models/families/{DETECTOR_FAMILY}/versions/", {"file": fh})
    assert response.status_code == 201 and response.json()["status"] == "checking"
    version = ModelVersion.objects.get(pk=response.json()["id"])
    assert version.status == VersionStatus.REJECTED and "activation" in version.check_error and "is not allowed" in version.check_error
    assert not marker.exists()
    # The operator sees why, and cannot promote it.
    page = operator_client.get("/models/")
    assert b"Rejected:" in page.content and b"is not allowed" in page.content
    promote = operator_client.post(f"/api/v1/models/{version.pk}/promote/", {"reason": "try"}, content_type="application/json")
    assert promote.status_code == 400 and "was rejected" in promote.json()["errors"]["status"][0]


def test_a_version_still_being_checked_cannot_be_promoted(demo_weights: Path):
    version = services.model_version_import(family=DEMO_FAMILY, source=demo_weights, filename="w.pt")
    assert version.status == VersionStatus.CHECKING
    with pytest.raises(Exception, match="is still being checked"):
        services.model_version_promote(version=version, reason="now")


def test_a_check_that_never_finished_is_rejected_by_the_reaper(demo_weights: Path):
    from datetime import timedelta

    from django.utils import timezone

    version = services.model_version_import(family=DEMO_FAMILY, source=demo_weights, filename="w.pt")
    assert services.model_versions_reject_stale_checks() == []
    assert services.model_versions_reject_stale_checks(now=timezone.now() + timedelta(hours=1)) == [version.pk]
    version.refresh_from_db()
    assert version.status == VersionStatus.REJECTED and "stopped without an answer" in version.check_error


def test_api_rejects_files_the_family_cannot_load_and_stores_nothing(operator_client: Client):
    garbage = SimpleUploadedFile("yolo11n.pt", b"\x00not a torch file", content_type="application/octet-stream")
    response = operator_client.post(f"/api/v1/models/families/{DEMO_FAMILY}/versions/", {"file": garbage})
    assert response.status_code == 400
    assert "cannot be a demo.classifier model" in response.json()["errors"]["file"][0]
    assert not ModelVersion.objects.exists()


def test_a_file_that_passes_the_static_check_but_does_not_load_is_rejected_by_the_worker(
    operator_client: Client, tmp_path: Path, django_capture_on_commit_callbacks
):
    weights = tmp_path / "other.pt"
    torch.save({"format": "something else", "w": torch.ones(2)}, weights)  # tensors only: the static check passes
    with django_capture_on_commit_callbacks(execute=True), open(weights, "rb") as fh:
        response = operator_client.post(f"/api/v1/models/families/{DEMO_FAMILY}/versions/", {"file": fh})
    assert response.status_code == 201
    checked = operator_client.get(f"/api/v1/models/{response.json()['id']}/").json()
    assert checked["status"] == "rejected" and "cannot be loaded as a demo.classifier model" in checked["check_error"]


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


def test_dashboard_upload(operator_client: Client, demo_weights: Path, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), open(demo_weights, "rb") as fh:
        response = operator_client.post(f"/models/families/{DEMO_FAMILY}/upload/", {"file": fh}, follow=True)
    assert b"registered as demo.classifier v2 (checking)" in response.content
    assert ModelVersion.objects.get(version=2).status == VersionStatus.CANDIDATE
    bad = operator_client.post(f"/models/families/{DEMO_FAMILY}/upload/", {"file": SimpleUploadedFile("w.pt", b"junk")})
    assert bad.status_code == 400 and b"Could not register the upload" in bad.content and ModelVersion.objects.count() == 2


def test_import_model_command(demo_weights: Path, tmp_path: Path, capsys):
    call_command("import_model", DEMO_FAMILY, str(demo_weights), "--promote", "--reason", "imported for the demo")
    version = ModelVersion.objects.get(created_via="upload")
    assert version.status == VersionStatus.PRODUCTION and "registered (production)" in capsys.readouterr().out
    with pytest.raises(CommandError, match="is not a file"):
        call_command("import_model", DEMO_FAMILY, "/nonexistent.pt")
    with pytest.raises(CommandError, match="unknown model family"):
        call_command("import_model", "nope", str(demo_weights))
    marker = tmp_path / "pwned"
    with pytest.raises(CommandError, match=r"posix\.system"):
        call_command("import_model", DEMO_FAMILY, str(malicious_weights(tmp_path, marker, "torch-zip")))
    assert not marker.exists()
