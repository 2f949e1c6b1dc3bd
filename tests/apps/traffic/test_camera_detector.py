"""A detector that learns from the camera: the registry run on a camera's stored recordings, what serves the camera's
jobs, the promotion rule on reviewed jobs, and the camera page's and API's actions."""

from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.utils import timezone

from apps.mlops import services as mlops_services
from apps.mlops.models import FamilySettings, ModelVersion, RunStatus, TrainingRun, VersionStatus
from apps.mlops.selectors import production_version
from apps.traffic import camera_detector, services
from apps.traffic.models import Camera, JobKind, JobStatus, ProcessingJob
from tests.apps.traffic.factories import CameraFactory, LineFactory
from tests.apps.traffic.videos import road_video
from tests.factories import UserFactory, token_for

pytestmark = pytest.mark.django_db
FAMILY = "traffic.detector"
API = "/api/v1/traffic"
JSON = "application/json"


def _processed_recording(camera: Camera, path: Path) -> ProcessingJob:
    """A recording uploaded for the camera and processed by the motion pipeline, as an operator would."""
    upload = SimpleUploadedFile(path.name, path.read_bytes(), content_type="video/mp4")
    job = services.job_create_from_upload(camera=camera, upload=upload, dispatch=False)
    job = services.job_execute(job_id=job.pk, worker="test")
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


def _stored_recording(camera: Camera, frames: int = 150) -> ProcessingJob:
    """A finished job's row and stored file, without running it (for the actions that only need it to exist)."""
    name = default_storage.save(f"traffic/videos/camera-{camera.pk}-stored.mp4", ContentFile(b"not decoded by these tests"))
    return ProcessingJob.objects.create(
        camera=camera, kind=JobKind.VIDEO, status=JobStatus.SUCCEEDED, video=name, recorded_at=timezone.now(), fps=15, frame_count=frames
    )


def _version(camera: Camera | None, number: int, metrics: dict[str, float] | None = None, family: str = FAMILY) -> ModelVersion:
    return ModelVersion.objects.create(
        family=family,
        version=number,
        artifact_uri=f"{family}/test-{number}/detector.pt",
        artifact_sha256="0" * 64,
        metrics=metrics or {"mAP50": 0.5},
        primary_metric="mAP50",
        primary_value=(metrics or {"mAP50": 0.5}).get("mAP50"),
        config={"camera": camera.pk} if camera else {},
        created_via="cli",
    )


@pytest.fixture
def tiny_training():
    # One epoch at 64 px: the wiring, not the accuracy (the benchmark measures that).
    FamilySettings.objects.update_or_create(family=FAMILY, defaults={"default_config": {"epochs": 1, "imgsz": 64}})


def test_the_camera_page_starts_a_registry_run_on_its_recordings_and_the_operator_puts_it_in_service(
    operator_client: Client, tmp_path, tiny_training, django_capture_on_commit_callbacks
):
    camera = CameraFactory()
    LineFactory(camera=camera)
    road = tmp_path / "road.mp4"
    road_video(road, frames=150, seed=5)
    recording = _processed_recording(camera, road)
    page = operator_client.get(f"/traffic/cameras/{camera.pk}/").content.decode()
    assert "motion detection" in page and "Learn from this camera's footage" in page and "1 stored" in page

    with django_capture_on_commit_callbacks(execute=True):  # the training task runs eagerly in unit tests
        response = operator_client.post(f"/traffic/cameras/{camera.pk}/detector/learn/")
    assert response.status_code == 302 and response["Location"].endswith("#detector")
    run = TrainingRun.objects.get(family=FAMILY)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.config["camera"] == camera.pk and run.config["footage"] == [] and run.trigger == "dashboard"
    version = run.model_version
    snapshot = version.data_snapshot
    assert snapshot["camera"] == camera.pk and snapshot["footage_jobs"] == [recording.pk] and snapshot["footage"] == [Path(recording.video.name).name]
    assert snapshot["images"]["train"] > 0 and snapshot["boxes"]["val"] > 0 and snapshot["footage_end_fraction"] == 0.8
    # Counted on the last 20 % of the recording with both detectors; a camera's version never becomes the global one.
    assert version.metrics["heldout_frames"] == 150 - 120 and "heldout_count_motion" in version.metrics
    assert version.status == VersionStatus.CANDIDATE and production_version(family=FAMILY) is None
    assert "No reviewed job" in version.promotion_note
    camera.refresh_from_db()
    assert camera.detector_version is None

    page = operator_client.get(f"/traffic/cameras/{camera.pk}/").content.decode()
    assert f"/runs/{run.pk}/" in page and "Use for this camera" in page and "on held-out footage (30 frames)" in page
    operator_client.post(f"/traffic/cameras/{camera.pk}/detector/use/", {"version": version.pk})
    camera.refresh_from_db()
    assert camera.detector_version == version and "chosen by" in camera.detector_note
    page = operator_client.get(f"/traffic/cameras/{camera.pk}/").content.decode()
    assert f"this camera&#x27;s YOLO v{version.version}" in page and "Back to motion detection" in page

    # The camera's next job counts with its own detector.
    short = tmp_path / "short.mp4"
    road_video(short, frames=12, seed=6)
    job = _processed_recording(camera, short)
    assert job.detector == f"ultralytics YOLO traffic.detector v{version.version}, trained on this camera"
    assert job.detector_model_version == version.pk

    operator_client.post(f"/traffic/cameras/{camera.pk}/detector/revert/")
    camera.refresh_from_db()
    assert camera.detector_version is None and "Back to the default detector" in camera.detector_note


def test_reviewed_jobs_are_held_out_whole_and_decide_the_promotion(operator):
    camera = CameraFactory()
    line = LineFactory(camera=camera, in_side=-1)
    learnt, reviewed = _stored_recording(camera, 300), _stored_recording(camera, 200)
    # An operator reviews the second recording: 4 vehicles in and 1 out that the machine missed.
    for direction, frame in (("in", 10), ("in", 50), ("in", 90), ("in", 130), ("out", 170)):
        services.crossing_review_add(job=reviewed, line=line, direction=direction, label="car", frame=frame, user=operator)
    services.job_review_complete(job=reviewed, user=operator)
    later_line = LineFactory(camera=camera, name="drawn after the review", y1=60.0, y2=60.0)
    plan = camera_detector.camera_training_plan(camera_id=camera.pk, end_fraction=0.8)
    assert plan.footage == [default_storage.path(learnt.video.name)]
    [held_out] = plan.held_out
    assert (held_out.path, held_out.start_frame, held_out.end_frame) == (default_storage.path(reviewed.video.name), 0, None)
    # "in" is the line's in side (-1 here), as the pipeline numbers directions; the line drawn later is not judged.
    assert held_out.expected == {(str(line.pk), -1): 4, (str(line.pk), 1): 1}
    assert held_out.judged_lines == {str(line.pk)} and {spec.key for spec in plan.lines} == {str(line.pk), str(later_line.pk)}

    reviewed_metrics = {"reviewed_items": 1, "reviewed_count_expected": 5, "reviewed_abs_error_motion": 3}
    better = _version(camera, 1, {"mAP50": 0.4, "reviewed_abs_error_yolo": 1, **reviewed_metrics})
    worse = _version(camera, 2, {"mAP50": 0.9, "reviewed_abs_error_yolo": 3, **reviewed_metrics})  # mAP50 does not decide
    with transaction.atomic():
        camera_detector.camera_detector_consider_promotion(version=worse)
        camera_detector.camera_detector_consider_promotion(version=better)
    camera.refresh_from_db()
    assert camera.detector_version == better and "chosen automatically" in camera.detector_note
    worse.refresh_from_db()
    assert worse.promotion_note.startswith("Not used for camera") and "absolute error 3, the motion pipeline 3" in worse.promotion_note
    assert production_version(family=FAMILY) is None  # the global detector is untouched

    FamilySettings.objects.filter(family=FAMILY).update(auto_promote=False)
    camera_detector.camera_detector_revert(camera=camera)
    with transaction.atomic():
        camera_detector.camera_detector_consider_promotion(version=better)
    camera.refresh_from_db()
    assert camera.detector_version is None and "Auto-promotion is off" in ModelVersion.objects.get(pk=better.pk).promotion_note


def test_without_reviews_the_tail_of_each_recording_is_held_out_and_other_versions_follow_the_family_rule():
    camera = CameraFactory()
    LineFactory(camera=camera)
    first, second = _stored_recording(camera, 100), _stored_recording(camera, 200)
    plan = camera_detector.camera_training_plan(camera_id=camera.pk, end_fraction=0.8)
    assert plan.footage == [default_storage.path(first.video.name), default_storage.path(second.video.name)]
    assert sorted((h.start_frame, h.expected) for h in plan.held_out) == [(80, None), (160, None)]
    assert camera_detector.camera_training_plan(camera_id=camera.pk, end_fraction=1.0).held_out == []
    global_version = _version(None, 1)
    with transaction.atomic():
        camera_detector.camera_detector_consider_promotion(version=global_version)
    assert production_version(family=FAMILY) == global_version  # the first version of the family, as before


def test_a_camera_without_recordings_or_gone_cannot_train():
    from ml.core import ConfigError

    camera = CameraFactory()
    with pytest.raises(ConfigError, match="no processed recording"):
        camera_detector.camera_training_plan(camera_id=camera.pk, end_fraction=0.8)
    with pytest.raises(ConfigError, match="does not exist"):
        camera_detector.camera_training_plan(camera_id=camera.pk + 1000, end_fraction=0.8)


def test_footage_paths_never_come_from_a_config(operator_client: Client):
    started = operator_client.post("/api/v1/runs/", {"family": FAMILY, "config": {"footage": ["/etc/passwd"]}}, content_type=JSON)
    assert started.status_code == 400 and "set camera" in str(started.json()["errors"])
    # Neither a camera nor labelled frames: the run says what to give.
    from tests.apps.mlops.helpers import train_inline

    run = train_inline(family=FAMILY, config={})
    assert run.status == RunStatus.FAILED and "set config.camera to learn from a camera's processed recordings" in run.error


def test_jobs_use_the_cameras_version_else_the_global_one_else_motion():
    camera, other = CameraFactory(), CameraFactory()
    assert camera_detector.camera_detector_for_job(camera) == (None, False)
    own = _version(camera, 1)
    camera_detector.camera_detector_use(camera=camera, version=own)
    camera.refresh_from_db()
    assert camera_detector.camera_detector_for_job(camera) == (own, True)
    global_version = _version(None, 2)
    mlops_services.model_version_promote(version=global_version)
    from apps.mlops.serving import model_cache

    model_cache.clear()
    assert camera_detector.camera_detector_for_job(camera) == (own, True)
    assert camera_detector.camera_detector_for_job(other) == (global_version, False)
    assert camera_detector.camera_detector(camera=other).description == "global YOLO v2"


def test_the_detector_api(operator_client: Client):
    camera = CameraFactory()
    url = f"{API}/cameras/{camera.pk}/detector/"
    status = operator_client.get(url).json()
    assert status["serving"] == "motion" and status["version"] is None and status["footage_jobs"] == 0 and not status["training"]

    no_footage = operator_client.post(f"{url}learn/")
    assert no_footage.status_code == 400 and "no processed recording" in no_footage.json()["errors"]["camera"][0]
    _stored_recording(camera)
    learn = operator_client.post(f"{url}learn/")  # queued: its task is sent on commit, which this test never reaches
    assert learn.status_code == 201 and learn.json()["status"] == "queued"
    again = operator_client.post(f"{url}learn/")
    assert again.status_code == 409 and f"training run #{learn.json()['id']}" in again.json()["detail"]
    assert operator_client.get(url).json()["training"] is True

    assert operator_client.post(f"{url}use/", {"version": 999999}, content_type=JSON).status_code == 404
    demo = _version(None, 1, family="demo.classifier")
    wrong = operator_client.post(f"{url}use/", {"version": demo.pk}, content_type=JSON)
    assert wrong.status_code == 400 and "not a traffic.detector version" in wrong.json()["errors"]["version"][0]
    version = _version(camera, 1, {"mAP50": 0.7, "heldout_frames": 300, "heldout_count_yolo": 9, "heldout_count_motion": 8})
    used = operator_client.post(f"{url}use/", {"version": version.pk}, content_type=JSON)
    assert used.status_code == 200, used.json()
    body = used.json()
    assert body["serving"] == "camera" and body["version"]["id"] == version.pk and body["description"] == "this camera's YOLO v1"
    assert body["versions"][0]["comparison"] == "on held-out footage (300 frames) it counted 9 crossings, the motion pipeline 8"
    assert operator_client.get(f"{API}/cameras/{camera.pk}/").json()["detector_version"] == version.pk
    assert operator_client.post(f"{url}use/", {"version": version.pk}, content_type=JSON).status_code == 409
    reverted = operator_client.post(f"{url}revert/")
    assert reverted.status_code == 200 and reverted.json()["serving"] == "motion"
    assert operator_client.post(f"{url}revert/").status_code == 409


def test_integrations_read_the_detector_but_only_operators_change_it():
    camera = CameraFactory()
    integrator = UserFactory(role="integrator")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(integrator, 'traffic:read', 'traffic:write')}")
    url = f"{API}/cameras/{camera.pk}/detector/"
    assert client.get(url).status_code == 200
    assert client.post(f"{url}learn/").status_code == 403
    assert client.post(f"{url}revert/").status_code == 403
    operator = UserFactory(role="operator")
    reader = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(operator, 'traffic:read')}")
    assert reader.post(f"{url}learn/").status_code == 403
