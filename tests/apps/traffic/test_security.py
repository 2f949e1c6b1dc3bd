"""Traffic inputs an integrator controls: stream URLs (SSRF guard, hidden credentials), resent uploads and double
stream starts (nothing counted twice), uploaded videos (probed by the worker, with a time limit), query parameters."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from apps.traffic import services
from apps.traffic.models import Crossing, JobStatus, ProcessingJob
from tests.apps.traffic.factories import CameraFactory, LineFactory
from tests.apps.traffic.videos import road_video, unsupported_codec_video

pytestmark = pytest.mark.django_db
API = "/api/v1/traffic"


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> tuple[Path, object]:
    path = tmp_path_factory.mktemp("security") / "road.mp4"
    return path, road_video(path, frames=40, seed=11)


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    """A real HTTP server on 127.0.0.1 that records every request (it would serve a video stream)."""
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            received.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port, received
    server.shutdown()
    server.server_close()


@pytest.fixture
def guarded(settings):
    """Production's stream guard: public addresses only."""
    settings.TRAFFIC_ALLOW_PRIVATE_STREAMS = False
    settings.TRAFFIC_STREAM_ALLOWED_NETWORKS = []
    return settings


# --- stream URLs ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "rtsp://127.0.0.1/",
        "rtsp://localhost:8554/cam",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/stream.mjpg",
        "http://10.0.0.5/stream",
        "rtsps://user:pw@192.168.1.20/live",
        "file:///etc/passwd",
        "/etc/passwd",
        "rtmp://8.8.8.8/live",
        "gopher://8.8.8.8/",
        "http://no-such-host.invalid/stream",
    ],
)
def test_stream_urls_to_private_addresses_or_other_schemes_are_refused(operator_client: Client, guarded, url: str):
    camera = CameraFactory()
    started = operator_client.post(f"{API}/jobs/stream/", {"camera": camera.pk, "url": url}, content_type="application/json")
    assert started.status_code == 400, started.content
    assert set(started.json()) == {"detail", "errors"} and "url" in started.json()["errors"]
    created = operator_client.post(f"{API}/cameras/", {"name": "cam", "source_kind": "stream", "stream_url": url}, content_type="application/json")
    assert created.status_code == 400 and "stream_url" in created.json()["errors"]
    assert not ProcessingJob.objects.exists()


def test_a_public_stream_url_and_an_allowed_camera_network_are_accepted(operator_client: Client, guarded):
    camera = CameraFactory()
    public = operator_client.post(f"{API}/jobs/stream/", {"camera": camera.pk, "url": "rtsp://8.8.8.8/live"}, content_type="application/json")
    assert public.status_code == 201, public.content
    guarded.TRAFFIC_STREAM_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    body = {"name": "lan", "source_kind": "stream", "stream_url": "rtsp://127.0.0.1/cam"}
    lan = operator_client.post(f"{API}/cameras/", body, content_type="application/json")
    assert lan.status_code == 201, lan.content


def test_the_worker_checks_the_stream_url_again_and_connects_to_nothing_refused(listener, settings):
    port, received = listener
    camera = CameraFactory()
    LineFactory(camera=camera)
    job = services.job_create_stream(camera=camera, url=f"http://127.0.0.1:{port}/stream.mjpg", max_frames=10)  # allowed when submitted
    settings.TRAFFIC_ALLOW_PRIVATE_STREAMS = False  # …but not any more when the worker runs it (e.g. a DNS answer changed)
    job = services.job_execute(job_id=job.pk, worker="test")
    assert job.status == JobStatus.FAILED and "loopback, private" in job.error
    assert received == []


def test_stream_credentials_are_hidden_from_integrators_but_used_by_the_worker(operator_client: Client, guarded):
    url = "rtsp://admin:s3cret-pass@8.8.8.8:554/Streaming/Channels/101"
    created = operator_client.post(f"{API}/cameras/", {"name": "gate", "source_kind": "stream", "stream_url": url}, content_type="application/json")
    assert created.status_code == 201, created.content
    camera_id = created.json()["id"]
    assert created.json()["stream_url"] == "rtsp://***@8.8.8.8:554/Streaming/Channels/101"
    started = operator_client.post(f"{API}/jobs/stream/", {"camera": camera_id}, content_type="application/json")
    assert started.status_code == 201 and started.json()["source_url"] == "rtsp://***@8.8.8.8:554/Streaming/Channels/101"
    for page in (f"{API}/cameras/", f"{API}/cameras/{camera_id}/", f"{API}/jobs/", f"{API}/jobs/{started.json()['id']}/"):
        assert b"s3cret" not in operator_client.get(page).content
    assert b"s3cret" not in operator_client.get(f"/traffic/cameras/{camera_id}/").content
    # Sending the masked form back (a client that PUTs what it read) keeps the real URL.
    kept = operator_client.patch(f"{API}/cameras/{camera_id}/", {"name": "gate 2", "stream_url": created.json()["stream_url"]}, content_type="application/json")
    assert kept.status_code == 200
    assert ProcessingJob.objects.get(pk=started.json()["id"]).source_url == url  # what the worker opens
    from apps.traffic.models import Camera

    assert Camera.objects.get(pk=camera_id).stream_url == url


# --- nothing counted twice --------------------------------------------------------------------------------------
def _upload(path: Path, camera_id: int, client: Client, **headers: str):  # noqa: ANN202
    return client.post(f"{API}/jobs/", {"camera": camera_id, "video": SimpleUploadedFile(path.name, path.read_bytes())}, headers=headers)


def test_a_resent_upload_is_answered_with_the_first_job_and_counted_once(operator_client: Client, video, django_capture_on_commit_callbacks):
    path, truth = video
    camera = CameraFactory()
    LineFactory(camera=camera)
    with django_capture_on_commit_callbacks(execute=True):  # tasks run eagerly: the job is processed here
        first = _upload(path, camera.pk, operator_client, **{"Idempotency-Key": "upload-7f3a"})
    assert first.status_code == 201, first.content
    job = ProcessingJob.objects.get(pk=first.json()["id"])
    assert job.status == JobStatus.SUCCEEDED, job.error
    counted = Crossing.objects.filter(job__camera=camera).count()
    assert counted == truth.down + truth.up

    with django_capture_on_commit_callbacks(execute=True):
        replay = _upload(path, camera.pk, operator_client, **{"Idempotency-Key": "upload-7f3a"})
        again = _upload(path, camera.pk, operator_client)  # the same file without a key (or with another one)
        other_key = _upload(path, camera.pk, operator_client, **{"Idempotency-Key": "upload-new"})
    assert replay.status_code == 200 and replay.json()["id"] == job.pk and replay["Idempotent-Replayed"] == "true"
    assert again.status_code == 409 and f"job #{job.pk}" in again.json()["detail"] and set(again.json()) == {"detail", "errors"}
    assert other_key.status_code == 409
    assert ProcessingJob.objects.filter(camera=camera).count() == 1
    assert Crossing.objects.filter(job__camera=camera).count() == counted

    other = path.parent / "other.mp4"
    road_video(other, frames=20, seed=12)
    reused = _upload(other, camera.pk, operator_client, **{"Idempotency-Key": "upload-7f3a"})
    assert reused.status_code == 409 and "Idempotency-Key" in reused.json()["detail"]


def test_a_failed_or_cancelled_upload_may_be_sent_again(operator_client: Client, video):
    path, _ = video
    camera = CameraFactory()
    first = _upload(path, camera.pk, operator_client)
    assert first.status_code == 201
    ProcessingJob.objects.filter(pk=first.json()["id"]).update(status=JobStatus.FAILED)
    retry = _upload(path, camera.pk, operator_client)
    assert retry.status_code == 201 and retry.json()["id"] != first.json()["id"]


def test_one_active_stream_per_camera_a_second_start_is_409(operator_client: Client, guarded):
    camera = CameraFactory(stream_url="rtsp://8.8.8.8/live", source_kind="stream")
    body = {"camera": camera.pk}
    first = operator_client.post(f"{API}/jobs/stream/", body, content_type="application/json", headers={"Idempotency-Key": "start-1"})
    assert first.status_code == 201
    replay = operator_client.post(f"{API}/jobs/stream/", body, content_type="application/json", headers={"Idempotency-Key": "start-1"})
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
    second = operator_client.post(f"{API}/jobs/stream/", body, content_type="application/json")
    assert second.status_code == 409 and "already has a stream session" in second.json()["detail"]
    assert ProcessingJob.objects.filter(camera=camera, kind="stream").count() == 1
    # The database holds the rule even for a writer that skips the service.
    with pytest.raises(IntegrityError), transaction.atomic():
        ProcessingJob.objects.create(camera=camera, kind="stream", source_url="rtsp://8.8.8.8/live", recorded_at=timezone.now(), status=JobStatus.RUNNING)
    # Once the session is cancelled, a new one may start.
    services.job_cancel(job=ProcessingJob.objects.get(pk=first.json()["id"]))
    third = operator_client.post(f"{API}/jobs/stream/", body, content_type="application/json")
    assert third.status_code == 201


def test_the_dashboard_says_why_a_second_stream_is_not_started(operator_client: Client, guarded):
    camera = CameraFactory(stream_url="rtsp://8.8.8.8/live", source_kind="stream")
    operator_client.post(f"/traffic/cameras/{camera.pk}/stream/", {"url": ""})
    page = operator_client.post(f"/traffic/cameras/{camera.pk}/stream/", {"url": ""}, follow=True).content.decode()
    assert "already has a stream session" in page
    assert ProcessingJob.objects.filter(camera=camera).count() == 1


# --- uploaded videos are probed by the worker -------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["corrupt", "codec"])
def test_an_unreadable_video_is_accepted_quickly_and_its_job_fails_with_the_reason(operator_client: Client, tmp_path, kind, django_capture_on_commit_callbacks):
    camera = CameraFactory()
    if kind == "corrupt":
        path = tmp_path / "corrupt.mp4"
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x17" * 5000)
    else:
        path = tmp_path / "odd.avi"
        unsupported_codec_video(path)
    response = _upload(path, camera.pk, operator_client)
    assert response.status_code == 201 and response.json()["status"] == "queued"  # nothing decoded in the request
    with django_capture_on_commit_callbacks(execute=True):
        pass
    services.job_execute(job_id=response.json()["id"], worker="test")
    job = operator_client.get(f"{API}/jobs/{response.json()['id']}/").json()
    assert job["status"] == "failed" and ("corrupt" if kind == "corrupt" else "codec") in job["error"]


def test_probing_has_a_time_limit(operator_client: Client, video, settings):
    path, _ = video
    settings.TRAFFIC_PROBE_TIME_LIMIT_SECONDS = 0.01
    job = services.job_create_from_upload(camera=CameraFactory(), upload=SimpleUploadedFile(path.name, path.read_bytes()), dispatch=False)
    job = services.job_execute(job_id=job.pk, worker="test")
    assert job.status == JobStatus.FAILED and "longer than 0.01 s" in job.error


# --- query parameters -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query",
    [
        "tracks/?job=99999999999999999999999",
        "tracks/?camera=-1",
        "tracks/?camera=abc",
        "tracks/?min_speed=nan",
        "tracks/?min_speed=inf",
        "tracks/?min_speed=1e999",
        "events/?job=99999999999999999999999",
        "events/?camera=1.5",
        "counts/?line=9223372036854775808",
        "jobs/?camera=99999999999999999999999",
        "lines/?camera=99999999999999999999999",
        "zones/?camera=abc",
        "cameras/?site=99999999999999999999999",
    ],
)
def test_out_of_range_and_non_numeric_query_parameters_are_400(operator_client: Client, query: str):
    response = operator_client.get(f"{API}/{query}")
    assert response.status_code == 400, (query, response.status_code, response.content[:300])
    assert set(response.json()) == {"detail", "errors"} and response.json()["errors"]


def test_in_range_query_parameters_still_filter(operator_client: Client):
    camera = CameraFactory()
    assert operator_client.get(f"{API}/tracks/?camera={camera.pk}&job=9223372036854775807&min_speed=12.5").json()["count"] == 0
    assert operator_client.get(f"{API}/lines/?camera={camera.pk}").status_code == 200


def test_the_demo_seeder_finishes_an_interrupted_job_instead_of_uploading_it_twice():
    from apps.traffic import demo

    demo.seed()
    job = ProcessingJob.objects.get()
    ProcessingJob.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED)  # as if the first seed was stopped mid-way
    assert "succeeded" in demo.seed()
    assert ProcessingJob.objects.count() == 1


def test_a_failed_streams_error_does_not_show_its_credentials(operator_client: Client, listener, settings):
    port, received = listener  # answers 404: the stream cannot be read
    settings.TRAFFIC_STREAM_MAX_RETRIES = 0
    camera = CameraFactory(stream_url=f"http://viewer:s3cret-pass@127.0.0.1:{port}/live.mjpg", source_kind="stream", fps=10)
    job = services.job_create_stream(camera=camera, max_frames=5)
    services.job_execute(job_id=job.pk, worker="test")
    body = operator_client.get(f"{API}/jobs/{job.pk}/").json()
    assert body["status"] == "failed" and "unreachable" in body["error"]
    assert "s3cret" not in body["error"] and "***@127.0.0.1" in body["error"]
    assert received  # the worker did use the real URL (with its credentials) to connect
