"""Reviews of a job's crossings: ground truth kept beside the machine's counts, and what the selectors make of it."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.core.errors import is_conflict
from apps.traffic import selectors, services
from apps.traffic.models import Count, Crossing, CrossingReview, JobKind, JobStatus, ReviewVerdict
from tests.apps.traffic.factories import CameraFactory, CrossingFactory, JobFactory, LineFactory
from tests.apps.traffic.videos import road_video
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def counted():
    """A finished job on two lines: north counted 3 in and 1 out, south 2 in (frames 10 … 60 at 10 fps)."""
    job = JobFactory()
    north, south = LineFactory(camera=job.camera, name="north"), LineFactory(camera=job.camera, name="south")
    crossings = {
        "n_in": [CrossingFactory(job=job, line=north, direction="in", frame=f) for f in (10, 20, 30)],
        "n_out": [CrossingFactory(job=job, line=north, direction="out", frame=40, label="truck")],
        "s_in": [CrossingFactory(job=job, line=south, direction="in", frame=f) for f in (50, 60)],
    }
    return job, north, south, crossings


def test_reviewed_counts_are_ground_truth_only_once_the_review_is_complete(counted):
    job, north, south, c = counted
    operator = UserFactory()
    services.crossing_review_set(crossing=c["n_in"][0], verdict="rejected", user=operator)  # a false count
    services.crossing_review_set(crossing=c["n_out"][0], verdict="corrected", direction="in", user=operator)  # it went in
    services.crossing_review_set(crossing=c["s_in"][0], verdict="corrected", label="bus", user=operator)  # class only
    services.crossing_review_set(crossing=c["s_in"][1], verdict="confirmed", user=operator)
    services.crossing_review_add(job=job, line=south, direction="out", label="car", seconds=12.34, user=operator)  # missed
    assert selectors.job_reviewed_counts(job) is None

    services.job_review_complete(job=job, user=operator)

    # north in: 3 counted − 1 rejected + 1 corrected from out; north out: its only crossing went in; south: 2 in, 1 added out.
    assert selectors.job_reviewed_counts(job) == {(north.pk, "in"): 3, (north.pk, "out"): 0, (south.pk, "in"): 2, (south.pk, "out"): 1}
    evaluation = selectors.job_evaluation(job)
    assert [(r["line_name"], r["direction"], r["counted"], r["reviewed"], r["error"], r["abs_error"]) for r in evaluation["rows"]] == [
        ("north", "in", 3, 3, 0, 0),
        ("north", "out", 1, 0, 1, 1),
        ("south", "in", 2, 2, 0, 0),
        ("south", "out", 0, 1, -1, 1),
    ]
    assert evaluation["total"] == {"counted": 6, "reviewed": 6, "error": 0, "abs_error": 2}
    assert evaluation["verdicts"] == {"confirmed": 1, "rejected": 1, "corrected": 2, "added": 1}
    assert evaluation["complete"] and evaluation["reviewed_by"] == operator.username and evaluation["unreviewed"] == 2


def test_the_machines_crossings_and_count_bins_stay_as_counted(counted):
    job, north, _, c = counted
    services.counts_recompute(line_ids=[north.pk], moments=[x.occurred_at for x in c["n_in"]])
    before = sorted(Count.objects.values_list("line_id", "direction", "bin_minutes", "count"))
    services.crossing_review_set(crossing=c["n_in"][0], verdict="rejected")
    services.crossing_review_set(crossing=c["n_in"][1], verdict="corrected", direction="out", label="bus")
    assert sorted(Crossing.objects.filter(job=job).values_list("direction", flat=True)) == ["in"] * 5 + ["out"]
    assert sorted(Count.objects.values_list("line_id", "direction", "bin_minutes", "count")) == before


def test_a_crossing_has_one_review_and_its_verdict_says_what_changed(counted):
    _, _, _, c = counted
    crossing = c["n_out"][0]  # counted: truck, out
    review, created = services.crossing_review_set(crossing=crossing, verdict="corrected")
    assert created and review.verdict == ReviewVerdict.CONFIRMED  # nothing differed from the count
    review, created = services.crossing_review_set(crossing=crossing, verdict="confirmed", label="bus")
    assert not created and (review.verdict, review.label, review.direction) == ("corrected", "bus", "out")
    review, _ = services.crossing_review_set(crossing=crossing, verdict="rejected", direction="in")
    assert (review.verdict, review.direction, review.label) == ("rejected", "out", "truck")  # a rejection keeps the counted values
    assert CrossingReview.objects.filter(crossing=crossing).count() == 1
    with pytest.raises(ValidationError) as bad:
        services.crossing_review_set(crossing=crossing, verdict="added")
    assert "verdict" in bad.value.message_dict
    with pytest.raises(ValidationError) as bad:
        services.crossing_review_set(crossing=crossing, verdict="corrected", direction="sideways", label="tank")
    assert set(bad.value.message_dict) == {"direction", "label"}


def test_undoing_a_review_counts_the_crossing_as_counted_again(counted):
    job, north, _, c = counted
    review, _ = services.crossing_review_set(crossing=c["n_in"][0], verdict="rejected")
    assert selectors.job_evaluation(job)["rows"][0]["reviewed"] == 2
    services.crossing_review_delete(review=review)
    assert selectors.job_evaluation(job)["rows"][0]["reviewed"] == 3 and not CrossingReview.objects.exists()


def test_updating_reviews_keeps_counted_crossings_in_place_and_moves_added_ones(counted):
    job, north, south, c = counted
    review, _ = services.crossing_review_set(crossing=c["n_in"][0], verdict="corrected", label="bus")
    with pytest.raises(ValidationError) as bad:
        services.crossing_review_update(review=review, frame=5, line=south)
    assert set(bad.value.message_dict) == {"frame", "line"}
    assert services.crossing_review_update(review=review, direction="out").verdict == "corrected"
    review.refresh_from_db()
    assert (review.direction, review.label) == ("out", "bus")  # the earlier correction is kept
    rejected = services.crossing_review_update(review=review, verdict="rejected")
    with pytest.raises(ValidationError, match="did not happen"):
        services.crossing_review_update(review=rejected, direction="in")

    added = services.crossing_review_add(job=job, line=north, direction="in", label="car", frame=100)
    moved = services.crossing_review_update(review=added, line=south, seconds=2.0, label="bicycle")
    assert (moved.line_id, moved.frame, moved.label, moved.verdict) == (south.pk, 20, "bicycle", "added")
    with pytest.raises(ValidationError, match="stays added"):
        services.crossing_review_update(review=added, verdict="confirmed")


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"frame": 600}, "frame", "ends at frame 599"),
        ({"seconds": 60.0}, "seconds", "ends at 59.90 s"),
        ({}, "frame", "either frame or seconds"),
        ({"frame": 1, "seconds": 1.0}, "frame", "either frame or seconds"),
        ({"seconds": float("nan")}, "seconds", "from 0"),
        ({"frame": 1, "label": "spaceship"}, "label", "one of car"),
        ({"frame": 1, "direction": "up"}, "direction", "one of in, out"),
    ],
)
def test_a_missed_crossing_must_lie_within_the_job_and_say_what_crossed(counted, kwargs, field, message):
    job, north, _, _ = counted
    arguments = {"direction": "in", "label": "car", **kwargs}
    with pytest.raises(ValidationError) as bad:
        services.crossing_review_add(job=job, line=north, **arguments)
    assert message in " ".join(bad.value.message_dict[field])
    assert not CrossingReview.objects.exists()


def test_a_missed_crossing_on_another_cameras_line_is_refused(counted):
    job, _, _, _ = counted
    with pytest.raises(ValidationError) as bad:
        services.crossing_review_add(job=job, line=LineFactory(), direction="in", label="car", frame=1)
    assert "line" in bad.value.message_dict


def test_seconds_of_a_missed_crossing_become_the_nearest_frame(counted):
    job, north, _, _ = counted
    added = services.crossing_review_add(job=job, line=north, direction="out", label="bus", seconds=12.34)
    assert added.frame == 123 and added.crossing is None and added.verdict == "added"


def test_a_complete_review_refuses_changes_until_it_is_reopened(counted):
    job, north, _, c = counted
    services.job_review_complete(job=job)
    for change in (
        lambda: services.crossing_review_set(crossing=c["n_in"][0], verdict="rejected"),
        lambda: services.crossing_review_add(job=job, line=north, direction="in", label="car", frame=1),
        lambda: services.job_review_complete(job=job),
    ):
        with pytest.raises(ValidationError) as refused:
            change()
        assert is_conflict(refused.value) and "reopen" in str(refused.value)
    services.job_review_reopen(job=job)
    assert selectors.job_reviewed_counts(job) is None
    services.crossing_review_set(crossing=c["n_in"][0], verdict="rejected")
    services.job_review_complete(job=job)
    job.refresh_from_db()
    assert selectors.job_reviewed_counts(job)[(north.pk, "in")] == 2


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.FAILED])
def test_only_a_succeeded_or_stopped_job_can_have_a_complete_review(status):
    job = JobFactory(status=status)
    with pytest.raises(ValidationError) as refused:
        services.job_review_complete(job=job)
    assert is_conflict(refused.value) and f"#{job.pk}" in str(refused.value)
    assert services.job_review_complete(job=JobFactory(status=JobStatus.CANCELLED)).reviewed_at is not None


def test_a_review_that_rejects_everything_on_a_line_is_a_reviewed_zero():
    crossing = CrossingFactory()
    services.crossing_review_set(crossing=crossing, verdict="rejected")
    services.job_review_complete(job=crossing.job)
    assert selectors.job_reviewed_counts(crossing.job) == {(crossing.line_id, "in"): 0}
    empty = JobFactory()
    services.job_review_complete(job=empty)
    assert selectors.job_reviewed_counts(empty) == {}


# --- the job page's timeline and chart --------------------------------------------------------------------------
def test_timeline_places_each_crossing_on_its_line_and_direction_row(counted):
    job, north, south, c = counted
    services.crossing_review_set(crossing=c["n_in"][2], verdict="rejected")
    services.crossing_review_add(job=job, line=south, direction="out", label="car", frame=300)
    job.annotated_video = "traffic/annotated/job-x.mp4"
    timeline = selectors.job_timeline(job)
    rows = {(r["line_name"], r["direction"]): r["marks"] for r in timeline["rows"]}
    assert list(rows) == [("north", "in"), ("north", "out"), ("south", "in"), ("south", "out")]
    assert [(m["frame"], m["x"], m["video_seconds"], m["verdict"]) for m in rows[("north", "in")]] == [
        (10, 1.667, 1.0, ""),
        (20, 3.333, 2.0, ""),
        (30, 5.0, 3.0, "rejected"),
    ]
    assert rows[("south", "out")][0]["verdict"] == "added" and rows[("south", "out")][0]["x"] == 50.0
    assert timeline["duration"] == 60.0 and timeline["total"] == 7


def test_a_stream_sessions_marks_seek_only_inside_its_kept_segment():
    job = JobFactory(kind=JobKind.STREAM, frame_count=None, checkpoint_frame=500, status=JobStatus.RUNNING)
    job.annotated_parts = [{"start": 200, "end": 299, "name": "traffic/annotated/s-200.mp4"}, {"start": 300, "end": 399, "name": "traffic/annotated/s-300.mp4"}]
    job.annotated_video = "traffic/annotated/s-300.mp4"
    job.save()
    line = LineFactory(camera=job.camera)
    for frame in (100, 250, 350):
        CrossingFactory(job=job, line=line, frame=frame)
    marks = selectors.job_timeline(job)["rows"][0]["marks"]
    assert [m["video_seconds"] for m in marks] == [None, None, 5.0]  # the video served is the latest segment
    assert selectors.job_frame_source(job, 250) == (Path(default_storage.path("traffic/annotated/s-200.mp4")), 50)
    assert selectors.job_frame_source(job, 100) is None  # that segment is gone: no picture


def test_a_long_timeline_marks_a_files_first_and_a_streams_latest_crossings(monkeypatch, counted):
    job, _, south, _ = counted
    services.crossing_review_add(job=job, line=south, direction="out", label="car", frame=5)
    monkeypatch.setattr(selectors, "TIMELINE_MAX_MARKS", 3)
    timeline = selectors.job_timeline(job)
    assert sorted(m["frame"] for r in timeline["rows"] for m in r["marks"]) == [5, 10, 20] and (timeline["shown"], timeline["total"]) == (3, 7)
    job.kind = JobKind.STREAM
    job.save()
    assert sorted(m["frame"] for r in selectors.job_timeline(job)["rows"] for m in r["marks"]) == [40, 50, 60]


def test_count_series_is_cumulative_per_line_and_direction(counted):
    job, _, _, _ = counted
    series = selectors.job_count_series(job)  # 60 s in at most 120 steps: half seconds
    assert series["bin_seconds"] == 0.5 and len(series["seconds"]) == 120 and series["seconds"][:2] == [0.5, 1.0]
    # north in at 1, 2 and 3 s: each counts in the step that starts there.
    assert series["series"]["north in"][:8] == [0, 0, 1, 1, 2, 2, 3, 3] and series["series"]["north in"][-1] == 3
    assert series["series"]["north out"][7:9] == [0, 1] and series["series"]["south in"][-1] == 2
    assert selectors.job_count_series(job, max_bins=60)["bin_seconds"] == 1

    short = JobFactory(frame_count=30, checkpoint_frame=30)  # 3 s: steps of 0.1 s
    CrossingFactory(job=short, line=LineFactory(camera=short.camera, name="gate"), frame=3)  # at 0.3 s, on a step's boundary
    fine = selectors.job_count_series(short)
    assert fine["bin_seconds"] == 0.1 and fine["seconds"][:3] == [0.1, 0.2, 0.3] and fine["series"]["gate in"][1:4] == [0, 0, 1]


# --- pictures of the moments -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def road(tmp_path_factory):
    path = tmp_path_factory.mktemp("review") / "road.mp4"
    return path, road_video(path, frames=60, seed=7)


def _processed_job(road):
    path, _ = road
    camera = CameraFactory()
    LineFactory(camera=camera)
    job = services.job_create_from_upload(camera=camera, upload=SimpleUploadedFile("road.mp4", path.read_bytes()), dispatch=False)
    job = services.job_execute(job_id=job.pk, worker="test")
    assert job.status == JobStatus.SUCCEEDED and job.crossings.exists(), job.error
    return job


def test_a_crossings_picture_is_cut_around_its_vehicle_and_cached_under_the_job(road):
    job = _processed_job(road)
    crossing = job.crossings.first()
    path = services.crossing_thumbnail(crossing=crossing)
    assert path is not None and path.parent == Path(default_storage.path(f"traffic/reviews/job-{job.pk}"))
    image = cv2.imread(str(path))
    assert image.shape[:2] == (services.THUMBNAIL_SIZE, services.THUMBNAIL_SIZE)
    written = path.stat().st_mtime_ns
    assert services.crossing_thumbnail(crossing=crossing) == path and path.stat().st_mtime_ns == written  # from the cache
    video = Path(job.annotated_video.path)
    os.utime(video, ns=(written + 10**9, written + 10**9))  # the video was written again after the picture was cut
    assert services.crossing_thumbnail(crossing=crossing) == path and path.stat().st_mtime_ns > written

    added = services.crossing_review_add(job=job, line=crossing.line, direction="in", label="car", frame=5)
    whole = cv2.imread(str(services.review_thumbnail(review=added)))
    assert whole.shape[:2] == (round(240 * services.THUMBNAIL_SIZE / 320), services.THUMBNAIL_SIZE)  # the whole 320x240 frame


def test_pictures_are_served_to_operators_for_the_jobs_own_crossings_only(road, operator_client, client):
    job = _processed_job(road)
    crossing = job.crossings.first()
    url = f"/traffic/jobs/{job.pk}/crossings/{crossing.pk}.jpg"
    response = operator_client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"
    other = JobFactory(camera=job.camera)
    assert operator_client.get(f"/traffic/jobs/{other.pk}/crossings/{crossing.pk}.jpg").status_code == 404
    assert operator_client.get(f"/traffic/jobs/{job.pk}/crossings/999999999.jpg").status_code == 404
    added = services.crossing_review_add(job=job, line=crossing.line, direction="in", label="car", frame=5)
    assert operator_client.get(f"/traffic/jobs/{job.pk}/review/{added.pk}.jpg").status_code == 200
    assert operator_client.get(f"/traffic/jobs/{other.pk}/review/{added.pk}.jpg").status_code == 404
    assert client.get(url).status_code == 302  # not logged in: to the login page
    client.force_login(UserFactory(role="integrator"))
    assert client.get(url).status_code == 403


def test_a_moment_no_stored_video_holds_has_no_picture(operator_client):
    crossing = CrossingFactory()  # a job whose rows exist but whose videos do not
    assert services.crossing_thumbnail(crossing=crossing) is None
    assert operator_client.get(f"/traffic/jobs/{crossing.job_id}/crossings/{crossing.pk}.jpg").status_code == 404


# --- the pages ---------------------------------------------------------------------------------------------------
def test_the_job_page_shows_the_timeline_chart_and_counted_vs_reviewed(operator_client, counted):
    job, _, _, _ = counted
    job.annotated_video = "traffic/annotated/job-x.mp4"
    job.save()
    assert f'href="/traffic/jobs/{job.pk}/"' in operator_client.get("/traffic/").content.decode()  # linked from the jobs list
    body = operator_client.get(f"/traffic/jobs/{job.pk}/").content.decode()
    assert 'id="job-video"' in body and 'id="job-counts-chart"' in body and 'id="job-series"' in body
    assert body.count('data-seek="') == 6 and 'data-seek="1.0"' in body  # one mark per crossing, seeking to its second
    assert 'data-timeline-row="' in body and "north · in (3)" in body
    assert 'data-eval-row="' in body and f'href="/traffic/jobs/{job.pk}/review/"' in body


def test_the_review_page_takes_reviews_and_says_what_was_wrong(operator_client, counted):
    job, north, _, c = counted
    page = operator_client.get(f"/traffic/jobs/{job.pk}/review/").content.decode()
    assert page.count("data-crossing=") == 6 and "not reviewed" in page and 'id="review-complete"' in page
    target = c["n_in"][0]
    response = operator_client.post(f"/traffic/jobs/{job.pk}/review/crossings/{target.pk}/", {"verdict": "rejected", "show": "unreviewed", "page": "1"})
    assert response.status_code == 302 and response["Location"] == f"/traffic/jobs/{job.pk}/review/?show=unreviewed&page=1#crossing-{target.pk}"
    assert CrossingReview.objects.get(crossing=target).verdict == "rejected"
    # Only known filters and whole page numbers travel back in the redirect.
    odd = operator_client.post(f"/traffic/jobs/{job.pk}/review/crossings/{target.pk}/", {"verdict": "confirmed", "show": "//evil.example", "page": "x"})
    assert odd["Location"] == f"/traffic/jobs/{job.pk}/review/#crossing-{target.pk}"

    bad = operator_client.post(f"/traffic/jobs/{job.pk}/review/added/", {"line": north.pk, "direction": "in", "label": "car", "seconds": "soon"}, follow=True)
    assert bad.status_code == 200 and "Not saved: seconds" in bad.content.decode()
    late = operator_client.post(f"/traffic/jobs/{job.pk}/review/added/", {"line": north.pk, "direction": "in", "label": "car", "seconds": "75"}, follow=True)
    assert "ends at 59.90 s" in late.content.decode()
    foreign = operator_client.post(
        f"/traffic/jobs/{job.pk}/review/added/", {"line": LineFactory().pk, "direction": "in", "label": "car", "seconds": "1"}, follow=True
    )
    assert "Choose one of the camera" in foreign.content.decode()
    operator_client.post(f"/traffic/jobs/{job.pk}/review/added/", {"line": north.pk, "direction": "out", "label": "bus", "seconds": "7.5"})
    assert CrossingReview.objects.get(verdict="added").frame == 75

    done = operator_client.post(f"/traffic/jobs/{job.pk}/review/complete/", follow=True).content.decode()
    assert "Review complete" in done and 'id="review-reopen"' in done and 'data-action="reject"' not in done
    assert selectors.job_reviewed_counts(job)[(north.pk, "out")] == 2
    refused = operator_client.post(f"/traffic/jobs/{job.pk}/review/crossings/{target.pk}/", {"verdict": "confirmed"}, follow=True)
    assert "reopen it before changing" in refused.content.decode()
    assert CrossingReview.objects.get(crossing=target).verdict == "confirmed"  # as before the review was completed


def test_a_running_jobs_review_cannot_be_completed_from_the_page(operator_client):
    job = JobFactory(status=JobStatus.RUNNING)
    assert 'id="review-complete"' not in operator_client.get(f"/traffic/jobs/{job.pk}/review/").content.decode()
    page = operator_client.post(f"/traffic/jobs/{job.pk}/review/complete/", follow=True).content.decode()
    assert "its counts may still grow" in page
    assert selectors.job_reviewed_counts(job) is None


def test_the_job_pages_are_for_operators(client, counted):
    job, _, _, c = counted
    client.force_login(UserFactory(role="integrator"))
    assert client.get(f"/traffic/jobs/{job.pk}/").status_code == 403
    assert client.get(f"/traffic/jobs/{job.pk}/review/").status_code == 403
    assert client.post(f"/traffic/jobs/{job.pk}/review/crossings/{c['n_in'][0].pk}/", {"verdict": "rejected"}).status_code == 403
    assert client.post(f"/traffic/jobs/{job.pk}/review/complete/").status_code == 403
    assert not CrossingReview.objects.exists() and selectors.job_reviewed_counts(job) is None


def test_pages_of_a_queued_job_and_a_stream_session_show_what_exists(operator_client):
    queued = JobFactory(status=JobStatus.QUEUED, frame_count=None, checkpoint_frame=0)
    body = operator_client.get(f"/traffic/jobs/{queued.pk}/").content.decode()
    assert "The annotated video appears when the job has finished" in body and "No crossings counted yet" in body
    assert "No crossings were counted in this job" in operator_client.get(f"/traffic/jobs/{queued.pk}/review/").content.decode()

    stream = JobFactory(kind=JobKind.STREAM, status=JobStatus.RUNNING, frame_count=None, checkpoint_frame=400, source_url="rtsp://8.8.8.8/live")
    stream.annotated_parts = [{"start": 300, "end": 399, "name": "traffic/annotated/s-300.mp4"}]
    stream.annotated_video = "traffic/annotated/s-300.mp4"
    stream.save()
    line = LineFactory(camera=stream.camera)
    CrossingFactory(job=stream, line=line, frame=100)
    CrossingFactory(job=stream, line=line, frame=350)
    body = operator_client.get(f"/traffic/jobs/{stream.pk}/").content.decode()
    assert "Latest kept segment: frames 300–399" in body and body.count('data-seek="') == 1 and 'data-seek="5.0"' in body
    review = operator_client.get(f"/traffic/jobs/{stream.pk}/review/").content.decode()
    assert review.count("no picture kept") == 1 and "can be marked complete once the job has succeeded" in review
