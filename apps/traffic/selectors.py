"""Reads of traffic monitoring."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.core.files.storage import default_storage
from django.db.models import Count as DbCount
from django.db.models import Max, QuerySet, Sum

from apps.traffic.models import (
    Camera,
    Count,
    CountingLine,
    Crossing,
    CrossingReview,
    Event,
    JobKind,
    JobStatus,
    ProcessingJob,
    ReviewVerdict,
    Track,
)

DEFAULT_FPS = 25.0  # what the worker assumes for a job whose frame rate is unknown


def camera_list() -> QuerySet[Camera]:
    return Camera.objects.select_related("site").annotate(job_count=DbCount("jobs", distinct=True), last_job_at=Max("jobs__created_at"))


def camera_status(camera: Camera) -> str:
    """One word for the camera list: what its latest job is doing."""
    job = ProcessingJob.objects.filter(camera=camera).order_by("-created_at", "-id").first()
    if job is None:
        return "idle"
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        return "streaming" if job.kind == "stream" and job.status == JobStatus.RUNNING else job.status
    return {"succeeded": "ok", "failed": "error", "cancelled": "idle"}[job.status]


def latest_annotated_job(camera: Camera) -> ProcessingJob | None:
    return camera.jobs.exclude(annotated_video="").order_by("-finished_at", "-id").first()


def count_series(*, camera: Camera, bin_minutes: int, start: datetime | None = None, end: datetime | None = None) -> dict[str, Any]:
    """Counts per bin for the chart: ``{"bins": [...iso...], "series": {"car in": [..], ...}}``."""
    rows = Count.objects.filter(camera=camera, bin_minutes=bin_minutes)
    if start:
        rows = rows.filter(bin_start__gte=start)
    if end:
        rows = rows.filter(bin_start__lt=end)
    rows = rows.values("bin_start", "label", "direction").annotate(n=Sum("count")).order_by("bin_start")
    bins = sorted({r["bin_start"] for r in rows})
    index = {b: i for i, b in enumerate(bins)}
    series: dict[str, list[int]] = {}
    for r in rows:
        values = series.setdefault(f"{r['label']} {r['direction']}", [0] * len(bins))
        values[index[r["bin_start"]]] += r["n"]
    return {"bins": [b.isoformat() for b in bins], "series": series}


def count_totals(*, camera: Camera) -> list[dict[str, Any]]:
    """Totals per line, class and direction over all time (the 15-minute bins)."""
    return list(
        Count.objects.filter(camera=camera, bin_minutes=15)
        .values("line__name", "label", "direction")
        .annotate(n=Sum("count"))
        .order_by("line__name", "label", "direction")
    )


def trajectory_heatmap(*, camera: Camera, grid: int = 48, limit: int = 2000) -> dict[str, Any]:
    """Track paths binned on a grid over the frame (for the heatmap)."""
    width, height = camera.width or 1, camera.height or 1
    cols, rows = grid, max(1, round(grid * height / width))
    cells = [[0] * cols for _ in range(rows)]
    for path in Track.objects.filter(camera=camera).order_by("-first_seen").values_list("path", flat=True)[:limit]:
        for _, x, y in path:
            c, r = min(cols - 1, max(0, int(x / width * cols))), min(rows - 1, max(0, int(y / height * rows)))
            cells[r][c] += 1
    return {"cols": cols, "rows": rows, "cells": cells, "max": max((max(r) for r in cells), default=0)}


def recent_events(*, camera: Camera, limit: int = 20) -> QuerySet[Event]:
    return Event.objects.filter(camera=camera).select_related("line", "zone").order_by("-occurred_at", "-id")[:limit]


# --- one job: its frames, its video, its crossings over time ---------------------------------------------------
def job_fps(job: ProcessingJob) -> float:
    return job.fps or DEFAULT_FPS


def job_seconds(job: ProcessingJob, frame: int) -> float:
    """Seconds from the job's first frame to ``frame``."""
    return frame / job_fps(job)


def job_moment(job: ProcessingJob, frame: int) -> datetime:
    """Wall-clock time of ``frame`` (how crossings get their ``occurred_at``)."""
    return job.recorded_at + timedelta(seconds=job_seconds(job, frame))


def job_frame_limit(job: ProcessingJob) -> int:
    """How many frames of the job there are to review: a file's length once probed, else the frames processed so far."""
    if job.kind == JobKind.VIDEO and job.frame_count:
        return job.frame_count
    return job.checkpoint_frame


def job_video_window(job: ProcessingJob) -> tuple[int, int] | None:
    """First and last frame that the job's served annotated video shows (``jobs/<pk>/video.mp4``); None without one.

    A file job's video shows every frame; a stream session's shows its latest segment only."""
    if not job.annotated_video:
        return None
    for part in job.annotated_parts:
        if part.get("name") == job.annotated_video.name and "end" in part:
            return int(part["start"]), int(part["end"])
    if job.kind == JobKind.STREAM:
        return None
    return 0, max(0, job_frame_limit(job) - 1)


def job_frame_source(job: ProcessingJob, frame: int) -> tuple[Path, int] | None:
    """A stored video that holds ``frame`` and the frame's index in it: the annotated video (boxes and tracks drawn;
    for a stream session, any kept segment), else the uploaded recording up to the frame the worker reached.
    Paths are built from the job's own rows, never from a request."""
    if frame < 0:
        return None
    for part in job.annotated_parts:
        if "end" in part and int(part["start"]) <= frame <= int(part["end"]):
            return Path(default_storage.path(part["name"])), frame - int(part["start"])
    if job.kind == JobKind.VIDEO and frame < job_frame_limit(job):
        if job.annotated_video:
            return Path(default_storage.path(job.annotated_video.name)), frame
        if job.video and frame < job.checkpoint_frame:  # a frame the worker already decoded
            return Path(default_storage.path(job.video.name)), frame
    return None


TIMELINE_MAX_MARKS = 2000


def job_timeline(job: ProcessingJob) -> dict[str, Any]:
    """Crossing moments per line and direction for the job page's timeline: ``rows`` of marks placed at ``x``
    (percent of the job's length), with ``video_seconds`` where the served video shows that frame (a click seeks
    there). Reviewed-away and added crossings are marked as such. At most ``TIMELINE_MAX_MARKS`` marks: a file's
    first ones, a stream session's latest (its video is the latest segment)."""
    latest = job.kind == JobKind.STREAM
    order = ("-frame", "-id") if latest else ("frame", "id")
    crossings = Crossing.objects.filter(job=job).values("id", "line_id", "line__name", "direction", "label", "frame", "reviews__verdict")
    added = CrossingReview.objects.filter(job=job, verdict=ReviewVerdict.ADDED).values("id", "line_id", "line__name", "direction", "label", "frame")
    marks = [{**c, "verdict": c["reviews__verdict"] or ""} for c in crossings.order_by(*order)[:TIMELINE_MAX_MARKS]]
    marks += [{**a, "verdict": ReviewVerdict.ADDED} for a in added.order_by(*order)[:TIMELINE_MAX_MARKS]]
    marks.sort(key=lambda m: m["frame"], reverse=latest)
    marks = sorted(marks[:TIMELINE_MAX_MARKS], key=lambda m: m["frame"])
    total = crossings.count() + added.count()
    length = max([job_frame_limit(job), *(m["frame"] + 1 for m in marks), 1])
    window = job_video_window(job)
    rows: dict[tuple[str, int, str], dict[str, Any]] = {}
    for m in marks:
        key = (m["line__name"], m["line_id"], m["direction"])
        row = rows.setdefault(key, {"line": m["line_id"], "line_name": m["line__name"], "direction": m["direction"], "marks": []})
        seekable = window is not None and window[0] <= m["frame"] <= window[1]
        row["marks"].append(
            {
                "frame": m["frame"],
                "seconds": round(job_seconds(job, m["frame"]), 2),
                "x": round(100.0 * m["frame"] / length, 3),
                "label": m["label"],
                "verdict": m["verdict"],
                "video_seconds": round(job_seconds(job, m["frame"] - window[0]), 3) if seekable else None,
            }
        )
    return {
        "rows": [rows[k] for k in sorted(rows)],
        "duration": round(job_seconds(job, length), 2),
        "total": total,
        "shown": len(marks),
        "latest": latest,
        "window": window,
    }


CHART_BIN_SECONDS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)


def job_count_series(job: ProcessingJob, *, max_bins: int = 120) -> dict[str, Any]:
    """Cumulative machine counts per line and direction over the job's time, for the job page's chart:
    ``{"bin_seconds": s, "seconds": [end of each bin], "series": {"north in": [...], ...}}``."""
    length = max(job_frame_limit(job), 1)
    duration = job_seconds(job, length)
    step = next((b for b in CHART_BIN_SECONDS if duration / b <= max_bins), CHART_BIN_SECONDS[-1])
    bins = max(1, math.ceil(duration / step - 1e-9))
    per_bin: dict[str, list[int]] = {}
    rows = Crossing.objects.filter(job=job).values_list("line__name", "direction", "frame").order_by("line__name", "direction", "frame")
    for name, direction, frame in rows.iterator(chunk_size=2000):
        values = per_bin.setdefault(f"{name} {direction}", [0] * bins)
        # The epsilon keeps a moment on a step's boundary in the step it starts (0.3 / 0.1 is 2.9999999999999996).
        values[min(bins - 1, int(job_seconds(job, frame) / step + 1e-9))] += 1
    series = {}
    for name, values in per_bin.items():
        total, cumulative = 0, []
        for value in values:
            total += value
            cumulative.append(total)
        series[name] = cumulative
    return {"bin_seconds": step, "seconds": [round(min(duration, (i + 1) * step), 3) for i in range(bins)], "series": series}


# --- reviews: counted against reviewed ---------------------------------------------------------------------------
def _machine_counts(job: ProcessingJob) -> dict[tuple[int, str], int]:
    rows = Crossing.objects.filter(job=job).values("line_id", "direction").annotate(n=DbCount("id"))
    return {(r["line_id"], r["direction"]): r["n"] for r in rows}


def _reviewed_counts(job: ProcessingJob) -> dict[tuple[int, str], int]:
    """Crossings per (line, direction) as reviewed so far: a crossing nobody reviewed counts as the machine counted
    it, a rejected one not at all, a corrected one in its true direction; added ones count too."""
    counts: dict[tuple[int, str], int] = defaultdict(int)
    for key in _machine_counts(job):
        counts[key] += 0  # a (line, direction) whose every crossing was rejected is a reviewed 0, not unknown
    unreviewed = Crossing.objects.filter(job=job, reviews__isnull=True).values("line_id", "direction").annotate(n=DbCount("id"))
    reviewed = CrossingReview.objects.filter(job=job).exclude(verdict=ReviewVerdict.REJECTED).values("line_id", "direction").annotate(n=DbCount("id"))
    for row in [*unreviewed, *reviewed]:
        counts[(row["line_id"], row["direction"])] += row["n"]
    return dict(counts)


def job_reviewed_counts(job: ProcessingJob) -> dict[tuple[int, str], int] | None:
    """The reviewed (ground-truth) number of crossings per ``(line id, direction value)`` of a job whose review an
    operator marked complete; None while it is not complete.

    Crossings the operator neither rejected nor corrected count as the machine counted them (marking the review
    complete confirms them); rejected ones do not count; corrected ones count in their reviewed direction; missed
    crossings the operator added count too. Keys: every (line, direction) the machine counted or the review added,
    0 where every crossing was rejected; a (line, direction) that is missing had no crossing at all."""
    if not ProcessingJob.objects.filter(pk=job.pk, reviewed_at__isnull=False).exists():
        return None
    return _reviewed_counts(job)


def job_evaluation(job: ProcessingJob) -> dict[str, Any]:
    """Counted against reviewed per line and direction (``error`` = counted − reviewed), the review's progress
    and whether it is complete. Before it is complete, ``reviewed`` is the count as reviewed so far."""
    counted, reviewed = _machine_counts(job), _reviewed_counts(job)
    keys = set(counted) | set(reviewed)
    names = dict(CountingLine.objects.filter(pk__in={k[0] for k in keys}).values_list("pk", "name"))
    rows = []
    for line_id, direction in sorted(keys, key=lambda k: (names.get(k[0], ""), k[0], k[1])):
        c, r = counted.get((line_id, direction), 0), reviewed.get((line_id, direction), 0)
        rows.append(
            {"line": line_id, "line_name": names.get(line_id, ""), "direction": direction, "counted": c, "reviewed": r, "error": c - r, "abs_error": abs(c - r)}
        )
    verdicts = dict(CrossingReview.objects.filter(job=job).values_list("verdict").annotate(n=DbCount("id")))
    total_crossings = sum(counted.values())
    reviewed_crossings = sum(n for v, n in verdicts.items() if v != ReviewVerdict.ADDED)
    counted_total, reviewed_total = sum(r["counted"] for r in rows), sum(r["reviewed"] for r in rows)
    # The marker as stored now, not as on the instance passed in (a service may have just set it).
    marker = ProcessingJob.objects.filter(pk=job.pk).values("reviewed_at", "reviewed_by__username").first() or {}
    return {
        "job": job.pk,
        "complete": marker.get("reviewed_at") is not None,
        "reviewed_at": marker.get("reviewed_at"),
        "reviewed_by": marker.get("reviewed_by__username"),
        "crossings": total_crossings,
        "unreviewed": total_crossings - reviewed_crossings,
        "verdicts": {v: verdicts.get(v, 0) for v in ReviewVerdict.values},
        "rows": rows,
        "total": {
            "counted": counted_total,
            "reviewed": reviewed_total,
            "error": counted_total - reviewed_total,
            "abs_error": sum(r["abs_error"] for r in rows),
        },
    }


# What a counted crossing's review can say of it (added crossings are reviews without one).
REVIEW_FILTERS = ("unreviewed", ReviewVerdict.CONFIRMED, ReviewVerdict.REJECTED, ReviewVerdict.CORRECTED)


def job_crossings(job: ProcessingJob, *, verdict: str | None = None) -> QuerySet[Crossing]:
    """The job's counted crossings in frame order with their line and review; ``verdict`` keeps those whose review
    has it, "unreviewed" the ones nobody reviewed yet."""
    rows = Crossing.objects.filter(job=job).select_related("line").prefetch_related("reviews__reviewer").order_by("frame", "id")
    if verdict == "unreviewed":
        return rows.filter(reviews__isnull=True)
    return rows.filter(reviews__verdict=verdict) if verdict else rows


def job_reviews(job: ProcessingJob, *, verdict: str | None = None) -> QuerySet[CrossingReview]:
    rows = CrossingReview.objects.filter(job=job).select_related("line", "crossing", "reviewer").order_by("frame", "id")
    return rows.filter(verdict=verdict) if verdict else rows


def _moment(job: ProcessingJob, frame: int, window: tuple[int, int] | None) -> dict[str, Any]:
    return {
        "seconds": round(job_seconds(job, frame), 2),
        "occurred_at": job_moment(job, frame),
        "video_seconds": round(job_seconds(job, frame - window[0]), 3) if window and window[0] <= frame <= window[1] else None,
        "has_picture": job_frame_source(job, frame) is not None,
    }


def job_review_rows(job: ProcessingJob, crossings: Iterable[Crossing]) -> list[dict[str, Any]]:
    """One row of the review page per crossing: the crossing, its review (or None), the direction and class it
    truly had as far as known (the review's, else the machine's) and its moment in the job."""
    window = job_video_window(job)
    rows = []
    for crossing in crossings:
        review = next(iter(crossing.reviews.all()), None)
        truth = review if review is not None and review.verdict != ReviewVerdict.REJECTED else crossing
        rows.append(
            {"crossing": crossing, "review": review, "true_direction": truth.direction, "true_label": truth.label, **_moment(job, crossing.frame, window)}
        )
    return rows


def job_added_rows(job: ProcessingJob) -> list[dict[str, Any]]:
    """The crossings an operator added (the machine missed them), with their moment in the job."""
    window = job_video_window(job)
    return [{"review": r, **_moment(job, r.frame, window)} for r in job_reviews(job, verdict=ReviewVerdict.ADDED)]
