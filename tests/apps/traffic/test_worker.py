"""Traffic jobs on a real Celery worker (queue ml_gpu, --pool=solo) against the real database and broker."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Sum

from apps.traffic import services
from apps.traffic.models import Count, Crossing, Event, JobStatus, ProcessingJob, Track, Zone
from tests.apps.traffic.factories import CameraFactory, LineFactory
from tests.apps.traffic.videos import road_video
from tests.workers import celery_worker, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_broker")]

WORKER_ENV = {
    "TRAFFIC_CHECKPOINT_SECONDS": "0.2",
    "TRAFFIC_STREAM_MAX_RETRIES": "2",
    "TRAFFIC_STREAM_BACKOFF_SECONDS": "0.1",
}


def test_upload_to_counts_through_the_api_and_an_unreachable_stream_fails_clearly(operator_client, tmp_path):
    camera = CameraFactory()
    line = LineFactory(camera=camera)
    path = tmp_path / "road.mp4"
    truth = road_video(path, frames=90, seed=11)
    with celery_worker(env=WORKER_ENV) as worker:
        created = operator_client.post("/api/v1/traffic/jobs/", {"camera": camera.pk, "video": SimpleUploadedFile("road.mp4", path.read_bytes())})
        assert created.status_code == 201, created.content
        job_id = created.json()["id"]
        stream = operator_client.post(
            "/api/v1/traffic/jobs/stream/", {"camera": camera.pk, "url": "rtsp://127.0.0.1:9/nothing-here"}, content_type="application/json"
        )
        assert stream.status_code == 201
        stream_id = stream.json()["id"]

        def finished(pk):
            return lambda: operator_client.get(f"/api/v1/traffic/jobs/{pk}/").json()["status"] in ("succeeded", "failed")

        wait_for(finished(job_id), timeout=120, message=f"job {job_id}\n{worker.log()[-3000:]}")
        wait_for(finished(stream_id), timeout=60, message=f"stream job {stream_id}\n{worker.log()[-3000:]}")

    job = operator_client.get(f"/api/v1/traffic/jobs/{job_id}/").json()
    assert job["status"] == "succeeded", job["error"]
    assert job["worker"] == worker.hostname and "background-subtraction" in job["detector"]
    counts = operator_client.get(f"/api/v1/traffic/counts/?line={line.pk}&bin=1&page_size=100").json()["results"]
    assert sum(r["count"] for r in counts if r["direction"] == "in") == truth.down
    assert sum(r["count"] for r in counts if r["direction"] == "out") == truth.up

    failed = operator_client.get(f"/api/v1/traffic/jobs/{stream_id}/").json()
    assert failed["status"] == "failed" and failed["reconnects"] == 3
    assert "unreachable after 3 attempts" in failed["error"]


def _congestion_zone(camera):
    # The whole road, congested from two vehicles on for 3 s: raised early and on through most of the video,
    # so the kill lands inside a congestion.
    return Zone.objects.create(
        camera=camera, name="road", kind="congestion", polygon=[[0, 0], [320, 0], [320, 240], [0, 240]], min_seconds=3, occupancy_threshold=2
    )


def test_a_killed_worker_resumes_from_the_checkpoint_without_double_counting(tmp_path):
    camera = CameraFactory()
    line = LineFactory(camera=camera)
    _congestion_zone(camera)
    path = tmp_path / "long-road.mp4"
    truth = road_video(path, frames=600, seed=4)
    with celery_worker(env=WORKER_ENV) as worker:
        job = services.job_create_from_upload(camera=camera, upload=SimpleUploadedFile("long-road.mp4", path.read_bytes()))
        # Kill it once it has written some crossings and moved its checkpoint, well before the end.
        wait_for(
            lambda: Crossing.objects.filter(job=job).count() >= 2 and ProcessingJob.objects.get(pk=job.pk).checkpoint_frame > 100,
            timeout=120,
            interval=0.05,
            message=f"the job to count\n{worker.log()[-3000:]}",
        )
        worker.kill()
    killed = ProcessingJob.objects.get(pk=job.pk)
    assert killed.status == JobStatus.RUNNING and 0 < killed.checkpoint_frame < truth.frames
    before = Crossing.objects.filter(job=job).count()

    with celery_worker(env=WORKER_ENV) as worker:
        assert services.jobs_resume_stale(stale_after_seconds=0) == [job.pk]  # what the beat-driven reaper does
        wait_for(lambda: ProcessingJob.objects.get(pk=job.pk).is_finished, timeout=150, message=f"the resumed job\n{worker.log()[-3000:]}")
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.attempts == 2
    crossings = Crossing.objects.filter(job=job)
    assert crossings.count() > before
    assert crossings.filter(direction="in").count() == truth.down
    assert crossings.filter(direction="out").count() == truth.up
    for minutes in (1, 15):
        assert Count.objects.filter(line=line, bin_minutes=minutes).aggregate(n=Sum("count"))["n"] == truth.down + truth.up
    assert job.annotated_video
    assert job.resume_state == {}

    # Tracks and events carry on across the crash. The vehicles on screen at the checkpoint keep their tracks:
    # the resumed attempt rebuilds them from the warm-up video and continues them under their keys (the
    # snapshot in the checkpoint), so no second track starts before the checkpoint, and the congestion that
    # spans the checkpoint is raised once: the job ends with the tracks and events of an uninterrupted run.
    # Their frames agree to within two: the resumed attempt's background model is younger, so a vehicle at
    # the frame's edge can be detected a frame longer or shorter (how much depends on where the kill lands).
    alive = {t["key"] for t in killed.resume_state["tracks"] if t["hits"] >= 4}
    assert alive and alive <= set(Track.objects.filter(job=job).values_list("track_key", flat=True))
    assert not Track.objects.filter(job=job, track_key__startswith="a2-", first_frame__lt=killed.checkpoint_frame).exists()
    reference_camera = CameraFactory()
    LineFactory(camera=reference_camera)
    _congestion_zone(reference_camera)
    upload = SimpleUploadedFile("long-road.mp4", path.read_bytes())
    reference = services.job_execute(job_id=services.job_create_from_upload(camera=reference_camera, upload=upload, dispatch=False).pk, worker="reference")
    assert reference.status == JobStatus.SUCCEEDED and reference.attempts == 1

    def tracks(j):
        return sorted(Track.objects.filter(job=j).values_list("first_frame", "last_frame"))

    def events(j):
        return sorted(Event.objects.filter(job=j).values_list("kind", "frame"))

    def close(mine: list[tuple[int, int]], theirs: list[tuple[int, int]]) -> bool:
        return len(mine) == len(theirs) and all(abs(a - c) <= 2 and abs(b - d) <= 2 for (a, b), (c, d) in zip(mine, theirs, strict=True))

    assert close(tracks(job), tracks(reference)), (tracks(job), tracks(reference))
    assert [kind for kind, _ in events(job)] == [kind for kind, _ in events(reference)] == ["congestion"]
    assert abs(events(job)[0][1] - events(reference)[0][1]) <= 2, (events(job), events(reference))
    resumed_keys = set(Track.objects.filter(job=job).values_list("track_key", flat=True))
    assert set(crossings.values_list("track_key", flat=True)) <= resumed_keys
