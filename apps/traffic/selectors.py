"""Reads of traffic monitoring."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count as DbCount
from django.db.models import Max, QuerySet, Sum

from apps.traffic.models import Camera, Count, Event, JobStatus, ProcessingJob, Track


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
