"""The traffic API: CRUD of cameras, lines and zones; uploads and their validation; counts, events and tracks."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from apps.traffic import services
from apps.traffic.models import Count, CountingLine, Event, ProcessingJob, Track
from tests.apps.traffic.factories import CameraFactory, LineFactory
from tests.apps.traffic.videos import road_video
from tests.factories import UserFactory, token_for

pytestmark = pytest.mark.django_db
API = "/api/v1/traffic"
JSON = "application/json"


def test_lines_and_zones_crud_with_validation(operator_client: Client):
    camera = CameraFactory()
    north = {"camera": camera.pk, "name": "north", "x1": 0, "y1": 50, "x2": 300, "y2": 60, "in_side": -1}
    created = operator_client.post(f"{API}/lines/", north, content_type=JSON)
    assert created.status_code == 201, created.json()
    line_id = created.json()["id"]
    degenerate = operator_client.post(f"{API}/lines/", {"camera": camera.pk, "name": "dot", "x1": 5, "y1": 5, "x2": 5, "y2": 5}, content_type=JSON)
    assert degenerate.status_code == 400 and "x2" in degenerate.json()["errors"]
    duplicate = operator_client.post(f"{API}/lines/", {"camera": camera.pk, "name": "north", "x1": 0, "y1": 0, "x2": 9, "y2": 9}, content_type=JSON)
    assert duplicate.status_code == 400
    patched = operator_client.patch(f"{API}/lines/{line_id}/", {"wrong_way": "out"}, content_type="application/json")
    assert patched.status_code == 200 and CountingLine.objects.get(pk=line_id).wrong_way == "out"

    zone = operator_client.post(
        f"{API}/zones/",
        {"camera": camera.pk, "name": "shoulder", "kind": "stopped_vehicle", "polygon": [[0, 0], [50, 0], [50, 50]]},
        content_type="application/json",
    )
    assert zone.status_code == 201, zone.json()
    flat = operator_client.post(f"{API}/zones/", {"camera": camera.pk, "name": "flat", "polygon": [[0, 0], [1, 1], [2, 2]]}, content_type="application/json")
    assert flat.status_code == 400 and "polygon" in flat.json()["errors"]
    listed = operator_client.get(f"{API}/lines/?camera={camera.pk}").json()
    assert listed["count"] == 1 and listed["results"][0]["name"] == "north"
    assert operator_client.delete(f"{API}/lines/{line_id}/").status_code == 204


def test_calibration_needs_four_good_points(operator_client: Client):
    camera = CameraFactory()
    url = f"{API}/cameras/{camera.pk}/calibration/"
    ok = operator_client.put(
        url, {"image_points": [[0, 0], [10, 0], [10, 10], [0, 10]], "ground_points": [[0, 0], [1, 0], [1, 1], [0, 1]]}, content_type="application/json"
    )
    assert ok.status_code == 200 and ok.json()["is_calibrated"] is True
    three = operator_client.put(url, {"image_points": [[0, 0], [10, 0], [10, 10]], "ground_points": [[0, 0], [1, 0], [1, 1]]}, content_type="application/json")
    assert three.status_code == 400 and "4 points" in str(three.json()["errors"])
    collinear = operator_client.put(
        url, {"image_points": [[0, 0], [5, 5], [10, 10], [0, 10]], "ground_points": [[0, 0], [1, 0], [1, 1], [0, 1]]}, content_type="application/json"
    )
    assert collinear.status_code == 400


def test_camera_create_with_site_and_stream_validation(operator_client: Client):
    ok = operator_client.post(f"{API}/cameras/", {"name": "A1 km 12", "site_name": "A1", "source_kind": "file"}, content_type="application/json")
    assert ok.status_code == 201 and ok.json()["site"] is not None
    stream = operator_client.post(f"{API}/cameras/", {"name": "cam", "source_kind": "stream"}, content_type="application/json")
    assert stream.status_code == 400 and "stream_url" in stream.json()["errors"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.mp4", b"", "empty"),
        ("notes.txt", b"hello", "not a video file"),
    ],
)
def test_bad_uploads_are_a_clear_400_and_store_nothing(operator_client: Client, name, content, message):
    camera = CameraFactory()
    response = operator_client.post(f"{API}/jobs/", {"camera": camera.pk, "video": SimpleUploadedFile(name, content)})
    assert response.status_code == 400, response.content
    assert message in " ".join(response.json()["errors"]["video"])
    assert not ProcessingJob.objects.exists()


def test_too_large_uploads_are_rejected(operator_client: Client, settings):
    camera = CameraFactory()
    settings.TRAFFIC_MAX_UPLOAD_BYTES = 1000
    big = operator_client.post(f"{API}/jobs/", {"camera": camera.pk, "video": SimpleUploadedFile("big.mp4", b"\x00" * 5000)})
    assert big.status_code == 400 and "limit" in big.json()["errors"]["video"][0]
    assert not ProcessingJob.objects.exists()


def test_stream_sessions_need_a_stream_url(operator_client: Client):
    camera = CameraFactory()
    missing = operator_client.post(f"{API}/jobs/stream/", {"camera": camera.pk}, content_type="application/json")
    assert missing.status_code == 400 and "url" in missing.json()["errors"]
    wrong = operator_client.post(f"{API}/jobs/stream/", {"camera": camera.pk, "url": "file:///etc/passwd"}, content_type="application/json")
    assert wrong.status_code == 400


def test_counts_events_and_tracks_are_filterable_and_paginated(operator_client: Client, tmp_path):
    camera = CameraFactory()
    line = LineFactory(camera=camera)
    path = tmp_path / "road.mp4"
    truth = road_video(path, frames=90, seed=5)
    recorded = datetime(2026, 5, 1, 8, 14, 50, tzinfo=UTC)  # the video spans the 08:15 minute boundary
    job = services.job_create_from_upload(camera=camera, upload=SimpleUploadedFile("road.mp4", path.read_bytes()), recorded_at=recorded, dispatch=False)
    services.job_execute(job_id=job.pk, worker="test")
    total = truth.down + truth.up

    fifteen = operator_client.get(f"{API}/counts/?camera={camera.pk}").json()
    assert sum(r["count"] for r in fifteen["results"]) == total
    assert {r["bin_minutes"] for r in fifteen["results"]} == {15}
    one = operator_client.get(f"{API}/counts/?line={line.pk}&bin=1&page_size=1")
    assert one.status_code == 200 and one.json()["count"] == Count.objects.filter(bin_minutes=1).count() and len(one.json()["results"]) == 1
    downs = operator_client.get(f"{API}/counts/?bin=1&direction=in&page_size=100").json()["results"]
    assert sum(r["count"] for r in downs) == truth.down
    later = operator_client.get(f"{API}/counts/?bin=1&start=2026-05-01T08:15:00Z").json()["results"]
    earlier = operator_client.get(f"{API}/counts/?bin=1&end=2026-05-01T08:15:00Z").json()["results"]
    assert sum(r["count"] for r in later + earlier) == total
    assert operator_client.get(f"{API}/counts/?bin=7").status_code == 400

    tracks = operator_client.get(f"{API}/tracks/?camera={camera.pk}&job={job.pk}").json()
    assert tracks["count"] == Track.objects.filter(job=job).count() >= total
    assert tracks["results"][0]["path"] and tracks["results"][0]["speed_kmh"] is None  # not calibrated
    events = operator_client.get(f"{API}/events/?camera={camera.pk}&kind=congestion").json()
    assert events["count"] == Event.objects.filter(kind="congestion").count()
    status = operator_client.get(f"{API}/jobs/{job.pk}/").json()
    assert status["status"] == "succeeded" and status["progress"] == 100 and status["annotated_video_url"].endswith("video.mp4")
    video = operator_client.get(status["annotated_video_url"])
    assert video.status_code == 200 and video["Content-Type"] == "video/mp4"


def test_integrations_need_the_traffic_scopes():
    integrator = UserFactory(role="integrator")
    camera = CameraFactory()
    reader = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(integrator, 'traffic:read')}")
    assert reader.get(f"{API}/counts/").status_code == 200
    forbidden = reader.post(f"{API}/lines/", {"camera": camera.pk, "name": "x", "x1": 0, "y1": 0, "x2": 9, "y2": 9}, content_type="application/json")
    assert forbidden.status_code == 403 and "detail" in forbidden.json()
    writer = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(integrator, 'traffic:read', 'traffic:write')}")
    assert writer.post(f"{API}/lines/", {"camera": camera.pk, "name": "x", "x1": 0, "y1": 0, "x2": 9, "y2": 9}, content_type=JSON).status_code == 201
    other = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(integrator, 'models:read')}")
    assert other.get(f"{API}/counts/").status_code == 403
    assert Client().get(f"{API}/counts/").status_code in (401, 403)


def test_operator_pages_render(operator_client: Client, tmp_path):
    camera = CameraFactory()
    LineFactory(camera=camera)
    path = tmp_path / "road.mp4"
    road_video(path, frames=60, seed=2)
    job = services.job_create_from_upload(
        camera=camera, upload=SimpleUploadedFile("road.mp4", path.read_bytes()), recorded_at=timezone.now() - timedelta(minutes=1), dispatch=False
    )
    services.job_execute(job_id=job.pk, worker="test")
    home = operator_client.get("/traffic/")
    assert home.status_code == 200 and camera.name in home.content.decode()
    page = operator_client.get(f"/traffic/cameras/{camera.pk}/")
    body = page.content.decode()
    assert page.status_code == 200 and "counts-chart" in body and "<video" in body and "heatmap" in body
    assert operator_client.get(f"/traffic/cameras/{camera.pk}/frame.jpg")["Content-Type"] == "image/jpeg"
    bad = operator_client.post(f"/traffic/cameras/{camera.pk}/upload/", {"video": SimpleUploadedFile("x.mp4", b"")}, follow=True)
    assert "Video not accepted" in bad.content.decode()


@pytest.mark.parametrize("resource", ["counts", "events", "tracks"])
@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+01:00",  # before year 1 once in UTC
        "",  # empty
        "2026-05-01",  # a date, not a date-time
        "2026-05-01T08:15:00",  # no offset: RFC 3339 needs one
        "2026-13-01T00:00:00Z",
    ],
)
def test_datetime_filters_refuse_what_is_not_an_rfc3339_date_time(operator_client: Client, resource: str, value: str):
    for name in ("start", "end"):
        response = operator_client.get(f"{API}/{resource}/", {name: value})
        assert response.status_code == 400, (name, value, response.content)
        assert name in response.json()["errors"]


def test_datetime_filters_compare_in_utc_whatever_the_offset(operator_client: Client):
    camera = CameraFactory()
    at = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    job = ProcessingJob.objects.create(camera=camera, recorded_at=at)
    Event.objects.create(camera=camera, job=job, kind="stopped_vehicle", key="e1", frame=1, occurred_at=at)
    # 20:30+12:30 is 08:00 UTC: the event is at the bound (start is inclusive, end exclusive).
    assert operator_client.get(f"{API}/events/", {"start": "2026-05-01T20:30:00+12:30"}).json()["count"] == 1
    assert operator_client.get(f"{API}/events/", {"end": "2026-05-01T20:30:00+12:30"}).json()["count"] == 0
    assert operator_client.get(f"{API}/events/", {"start": "2026-05-01T08:00:00.0000001Z"}).json()["count"] == 1
    # An offset PostgreSQL refuses (beyond ±15:59) was a 500 (DataError); in UTC it is an ordinary bound.
    for resource in ("counts", "events", "tracks"):
        assert operator_client.get(f"{API}/{resource}/", {"end": "1601-12-05T21:05:49-22:45"}).json()["count"] == 0


def test_bodies_are_json_only_and_numbers_are_numbers(operator_client: Client):
    camera = CameraFactory()
    form = operator_client.post(f"{API}/lines/", {"camera": camera.pk, "name": "x", "x1": 0, "y1": 0, "x2": 9, "y2": 9})
    assert form.status_code == 415 and "detail" in form.json()
    boolean = operator_client.post(f"{API}/lines/", {"camera": camera.pk, "name": "x", "x1": 0, "y1": 0, "x2": 9, "y2": False}, content_type="application/json")
    assert boolean.status_code == 400 and "y2" in boolean.json()["errors"]
    fps = operator_client.patch(f"{API}/cameras/{camera.pk}/", {"fps": True}, content_type=JSON)
    assert fps.status_code == 400 and "fps" in fps.json()["errors"]
    name = operator_client.patch(f"{API}/cameras/{camera.pk}/", {"name": 5}, content_type=JSON)
    assert name.status_code == 400 and "name" in name.json()["errors"]
