"""Operator pages of traffic monitoring (mounted at /traffic/)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.decorators import operator_required
from apps.traffic import selectors, services
from apps.traffic.models import Camera, InSide, ProcessingJob, Site, SourceKind, ZoneKind


def _errors(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
    return " ".join(exc.messages)


@operator_required
def home(request: HttpRequest) -> HttpResponse:
    cameras = list(selectors.camera_list())
    for camera in cameras:
        camera.status = selectors.camera_status(camera)
    jobs = ProcessingJob.objects.select_related("camera").order_by("-created_at", "-id")[:30]
    return render(request, "traffic/home.html", {"cameras": cameras, "jobs": jobs, "source_kinds": SourceKind.choices})


@operator_required
@require_POST
def camera_create(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "").strip()
    site_name = request.POST.get("site", "").strip()
    camera = Camera(name=name, location=request.POST.get("location", "").strip(), source_kind=request.POST.get("source_kind", SourceKind.FILE))
    camera.stream_url = request.POST.get("stream_url", "").strip()
    try:
        with transaction.atomic():
            camera.site = Site.objects.get_or_create(name=site_name)[0] if site_name else None
            services.camera_source_kind_ok(camera)
            camera.full_clean()
            camera.save()
    except ValidationError as exc:
        messages.error(request, f"Camera not created: {_errors(exc)}")
        return redirect("traffic:home")
    messages.success(request, f"Camera {camera.name} created. Upload a video or start a stream session, then draw a counting line.")
    return redirect("traffic:camera", pk=camera.pk)


@operator_required
def camera_detail(request: HttpRequest, pk: int) -> HttpResponse:
    camera = get_object_or_404(Camera.objects.select_related("site"), pk=pk)
    lines = list(camera.lines.all())
    zones = list(camera.zones.all())
    geometry = {
        "lines": [{"id": x.pk, "name": x.name, "x1": x.x1, "y1": x.y1, "x2": x.x2, "y2": x.y2, "in_side": x.in_side, "wrong_way": x.wrong_way} for x in lines],
        "zones": [{"id": z.pk, "name": z.name, "kind": z.kind, "polygon": z.polygon} for z in zones],
        "calibration": {"image_points": camera.calibration_image_points, "ground_points": camera.calibration_ground_points},
        "width": camera.width,
        "height": camera.height,
    }
    context = {
        "camera": camera,
        "status": selectors.camera_status(camera),
        "lines": lines,
        "zones": zones,
        "geometry": geometry,
        "video_job": selectors.latest_annotated_job(camera),
        "jobs": camera.jobs.order_by("-created_at", "-id")[:10],
        "events": selectors.recent_events(camera=camera),
        "totals": selectors.count_totals(camera=camera),
        "series_1": selectors.count_series(camera=camera, bin_minutes=1),
        "series_15": selectors.count_series(camera=camera, bin_minutes=15),
        "heatmap": selectors.trajectory_heatmap(camera=camera),
        "in_sides": InSide.choices,
        "zone_kinds": ZoneKind.choices,
    }
    return render(request, "traffic/camera.html", context)


@operator_required
@require_POST
def upload(request: HttpRequest, pk: int) -> HttpResponse:
    camera = get_object_or_404(Camera, pk=pk)
    video = request.FILES.get("video")
    if video is None:
        messages.error(request, "Choose a video file to upload.")
        return redirect("traffic:camera", pk=pk)
    try:
        job = services.job_create_from_upload(camera=camera, upload=video, user=request.user)
    except ValidationError as exc:
        messages.error(request, f"Video not accepted: {_errors(exc)}")
        return redirect("traffic:camera", pk=pk)
    except services.DuplicateJob as exc:
        messages.error(request, f"Video not accepted: {exc}")
        return redirect("traffic:camera", pk=pk)
    messages.success(request, f"Job #{job.pk} queued for {job.original_name}.")
    return redirect("traffic:camera", pk=pk)


@operator_required
@require_POST
def stream_start(request: HttpRequest, pk: int) -> HttpResponse:
    camera = get_object_or_404(Camera, pk=pk)
    try:
        max_frames = int(request.POST["max_frames"]) if request.POST.get("max_frames") else None
        job = services.job_create_stream(camera=camera, url=request.POST.get("url", ""), max_frames=max_frames, user=request.user)
    except (ValidationError, ValueError) as exc:
        messages.error(request, f"Stream session not started: {_errors(exc) if isinstance(exc, ValidationError) else 'max frames must be a number'}")
        return redirect("traffic:camera", pk=pk)
    except services.DuplicateJob as exc:
        messages.error(request, f"Stream session not started: {exc}")
        return redirect("traffic:camera", pk=pk)
    messages.success(request, f"Stream session job #{job.pk} queued.")
    return redirect("traffic:camera", pk=pk)


@operator_required
def camera_frame(request: HttpRequest, pk: int) -> FileResponse:
    camera = get_object_or_404(Camera, pk=pk)
    if not camera.latest_frame:
        raise Http404("no frame yet")
    try:
        return FileResponse(camera.latest_frame.open("rb"), content_type="image/jpeg")
    except FileNotFoundError:
        raise Http404("frame file missing") from None


@operator_required
def job_video(request: HttpRequest, pk: int) -> FileResponse:
    job = get_object_or_404(ProcessingJob, pk=pk)
    if not job.annotated_video:
        raise Http404("no annotated video")
    try:
        return FileResponse(job.annotated_video.open("rb"), content_type="video/mp4")
    except FileNotFoundError:
        raise Http404("video file missing") from None


def geometry_json(geometry: dict) -> str:
    return json.dumps(geometry)
