"""A job run in-process on the real database: counts, bins, tracks, the annotated video and idempotency."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.core import webhooks
from apps.traffic import services
from apps.traffic.models import Count, Crossing, Direction, JobStatus, Track
from tests.apps.traffic.factories import CameraFactory, LineFactory
from tests.apps.traffic.videos import road_video

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("v") / "road.mp4"
    return path, road_video(path, frames=100, seed=3)


def upload(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="video/mp4")


def test_a_job_counts_per_line_class_and_direction_and_is_idempotent(video):
    path, truth = video
    camera = CameraFactory()
    line = LineFactory(camera=camera)
    job = services.job_create_from_upload(camera=camera, upload=upload(path), dispatch=False)
    assert job.status == JobStatus.QUEUED and job.frame_count is None  # probed by the worker, not in the request
    job = services.job_execute(job_id=job.pk, worker="test")
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.frame_count == truth.frames and job.fps == truth.fps
    assert job.detector.startswith("background-subtraction")
    crossings = Crossing.objects.filter(job=job)
    assert crossings.filter(direction=Direction.IN).count() == truth.down  # in = towards +1 = down
    assert crossings.filter(direction=Direction.OUT).count() == truth.up
    for minutes in (1, 15):
        assert sum(Count.objects.filter(line=line, bin_minutes=minutes).values_list("count", flat=True)) == truth.down + truth.up
    assert Track.objects.filter(job=job).count() >= truth.down + truth.up
    assert job.annotated_video and Path(job.annotated_video.path).stat().st_size > 0
    camera.refresh_from_db()
    assert camera.latest_frame and (camera.width, camera.height) == (320, 240)
    # A redelivered task finds the job finished and changes nothing.
    assert services.job_execute(job_id=job.pk, worker="again") is None
    assert Crossing.objects.filter(job=job).count() == truth.down + truth.up


def test_the_in_side_of_a_line_decides_the_direction_names(video):
    path, truth = video
    camera = CameraFactory()
    LineFactory(camera=camera, in_side=-1, wrong_way="in")
    job = services.job_create_from_upload(camera=camera, upload=upload(path), dispatch=False)
    job = services.job_execute(job_id=job.pk, worker="test")
    assert Crossing.objects.filter(job=job, direction=Direction.IN).count() == truth.up
    assert job.events.filter(kind="wrong_way").count() == truth.up


def test_a_stale_running_job_is_requeued_and_resumes_from_its_checkpoint(video, django_capture_on_commit_callbacks):
    path, truth = video
    camera = CameraFactory()
    LineFactory(camera=camera)
    job = services.job_create_from_upload(camera=camera, upload=upload(path), dispatch=False)
    job.status, job.attempts, job.checkpoint_frame = JobStatus.RUNNING, 1, 40
    job.heartbeat_at = job.created_at
    job.save()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert services.jobs_resume_stale(stale_after_seconds=0) == [job.pk]
    assert len(callbacks) == 1
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and "frame 40" in job.stage
    job = services.job_execute(job_id=job.pk, worker="test")
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2
    assert min(Crossing.objects.filter(job=job).values_list("frame", flat=True), default=40) >= 40


def test_demo_seeder_processes_its_own_synthetic_video_once():
    from apps.traffic.demo import seed

    summary = seed()
    assert "succeeded" in summary and "crossings counted" in summary
    assert "already" in seed()
    assert Crossing.objects.count() > 0 and Count.objects.filter(bin_minutes=15).exists()


def test_uploaded_yolo_weights_in_production_are_the_detector_a_job_records(tmp_path):
    from ultralytics import YOLO

    from apps.mlops.services import model_version_import, model_version_promote

    weights = tmp_path / "yolo11n-untrained.pt"
    YOLO("yolo11n.yaml").save(str(weights))  # the architecture built offline; its weights are random
    version = model_version_import(family="traffic.detector", source=weights, filename=weights.name, metrics={"mAP50": 0.1}, check_inline=True)
    if version.status != "production":
        model_version_promote(version=version, reason="test")
    path = tmp_path / "short.mp4"
    road_video(path, frames=12, seed=1)  # YOLO at 640 px on CPU is slow: a few frames prove the wiring
    camera = CameraFactory()
    LineFactory(camera=camera)
    job = services.job_create_from_upload(camera=camera, upload=upload(path), dispatch=False)
    job = services.job_execute(job_id=job.pk, worker="test")
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.detector == "ultralytics YOLO traffic.detector v1" and job.detector_model_version == version.pk


@pytest.fixture
def webhook_receiver():
    """A real HTTP endpoint on localhost that records the JSON bodies POSTed to it."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def test_events_are_posted_to_the_webhook_once(video, settings, webhook_receiver, django_capture_on_commit_callbacks):
    url, received = webhook_receiver
    settings.TRAFFIC_EVENT_WEBHOOK_URL = url
    path, truth = video
    camera = CameraFactory()
    LineFactory(camera=camera, name="one-way", in_side=1, wrong_way="out")
    job = services.job_create_from_upload(camera=camera, upload=upload(path), dispatch=False)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_execute(job_id=job.pk, worker="test")
    assert job.status == JobStatus.SUCCEEDED
    assert len(received) == truth.up == job.events.filter(kind="wrong_way").count()
    assert {r["kind"] for r in received} == {"wrong_way"} and received[0]["line"] == "one-way" and received[0]["camera"]["id"] == camera.pk
    assert not job.events.filter(webhook_sent_at__isnull=True).exists()
    # Sending again posts nothing: each event is delivered once.
    assert services.event_webhooks_send(event_ids=list(job.events.values_list("pk", flat=True))) == 0


def test_an_unreachable_webhook_raises_for_a_retry_and_keeps_the_event_unsent(video, settings):
    settings.TRAFFIC_EVENT_WEBHOOK_URL = "http://127.0.0.1:9/hook"
    path, _ = video
    camera = CameraFactory()
    LineFactory(camera=camera, in_side=1, wrong_way="out")
    job = services.job_create_from_upload(camera=camera, upload=upload(path), dispatch=False)
    job = services.job_execute(job_id=job.pk, worker="test")  # on-commit callbacks do not run here: nothing sent yet
    ids = list(job.events.values_list("pk", flat=True))
    assert ids
    with pytest.raises(webhooks.WebhookFailed, match="unreachable"):
        services.event_webhooks_send(event_ids=ids)
    assert job.events.filter(webhook_sent_at__isnull=True).count() == len(ids)


def test_a_stream_session_over_http_reconnects_and_keeps_counting(video, settings, tmp_path, operator_client):
    """An HTTP stream that ends is reconnected (with backoff) and frame numbering continues across connections."""
    import functools
    import threading
    from http.server import HTTPServer, SimpleHTTPRequestHandler

    path, truth = video
    settings.TRAFFIC_STREAM_BACKOFF_SECONDS = 0.05
    settings.TRAFFIC_STREAM_SEGMENT_SECONDS = 2.0  # 30 frames at 15 fps
    settings.TRAFFIC_STREAM_SEGMENTS_KEPT = 2
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(path.parent))
    handler.log_message = lambda *args: None
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        camera = CameraFactory(stream_url=f"http://127.0.0.1:{server.server_port}/{path.name}", source_kind="stream")
        LineFactory(camera=camera)
        job = services.job_create_stream(camera=camera, max_frames=truth.frames + 30)
        job = services.job_execute(job_id=job.pk, worker="test")
    finally:
        server.shutdown()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.reconnects == 1 and job.checkpoint_frame == truth.frames + 30
    assert job.fps == pytest.approx(truth.fps)  # measured from the stream: the camera sets none
    # The annotated video comes in rolling segments; the last two are kept and the latest is the camera's video.
    from apps.traffic.selectors import latest_annotated_job
    from ml.traffic import probe_video

    # Segments 0-29, 30-59, 60-89, 90-99 (cut short by the lost connection), 100-129.
    assert [(p["start"], p["end"]) for p in job.annotated_parts] == [(90, truth.frames - 1), (truth.frames, truth.frames + 29)]
    assert job.annotated_video.name == job.annotated_parts[-1]["name"] and job.annotated_parts[-1]["end"] == truth.frames + 29
    info = probe_video(job.annotated_video.path)
    assert info.codec in ("h264", "avc1") and info.frame_count == 30
    assert latest_annotated_job(camera) == job
    page = operator_client.get(f"/traffic/cameras/{camera.pk}/").content.decode()
    assert f"latest segment: frames {truth.frames}–{truth.frames + 29}" in page
    assert operator_client.get(f"/traffic/jobs/{job.pk}/video.mp4")["Content-Type"] == "video/mp4"
    written = sorted(p.name for p in Path(job.annotated_video.path).parent.glob(f"job-{job.pk}-*"))
    assert written == sorted(Path(p["name"]).name for p in job.annotated_parts)
    # The whole video once, then the first 30 frames again on the second connection.
    assert Crossing.objects.filter(job=job).count() >= truth.down + truth.up
    camera.refresh_from_db()
    assert camera.latest_frame
