"""Operator pages of traffic monitoring (mounted at /traffic/)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.accounts.decorators import operator_required
from apps.core.params import int_param
from apps.core.ranges import ranged_file_response
from apps.mlops.models import ModelVersion, Trigger
from apps.traffic import camera_detector, selectors, services
from apps.traffic.models import (
    Camera,
    CountingLine,
    Crossing,
    CrossingReview,
    Direction,
    InSide,
    JobStatus,
    ProcessingJob,
    ReviewVerdict,
    Site,
    SourceKind,
    ZoneKind,
)
from ml.traffic.classes import VEHICLE_CLASSES


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
        "detector": camera_detector.camera_detector(camera=camera),
    }
    return render(request, "traffic/camera.html", context)


def _detector_section(pk: int) -> HttpResponse:
    return redirect(reverse("traffic:camera", args=[pk]) + "#detector")


@operator_required
@require_POST
def detector_learn(request: HttpRequest, pk: int) -> HttpResponse:
    camera = get_object_or_404(Camera, pk=pk)
    try:
        run = camera_detector.camera_detector_train_start(camera=camera, user=request.user, trigger=Trigger.DASHBOARD)
    except ValidationError as exc:
        messages.error(request, f"Could not start learning: {_errors(exc)}")
    else:
        messages.success(request, f"Training run #{run.pk} learns from {camera.name}'s recordings; its progress shows below.")
    return _detector_section(pk)


@operator_required
@require_POST
def detector_use(request: HttpRequest, pk: int) -> HttpResponse:
    camera = get_object_or_404(Camera, pk=pk)
    version_id = request.POST.get("version", "")
    version = ModelVersion.objects.filter(pk=int(version_id)).first() if version_id.isdigit() else None
    if version is None:
        messages.error(request, "Choose a detector version to use.")
    else:
        try:
            camera_detector.camera_detector_use(camera=camera, version=version, user=request.user)
        except ValidationError as exc:
            messages.error(request, f"Detector not changed: {_errors(exc)}")
        else:
            messages.success(request, f"{camera.name} now counts with YOLO v{version.version}; it applies to jobs that start from now on.")
    return _detector_section(pk)


@operator_required
@require_POST
def detector_revert(request: HttpRequest, pk: int) -> HttpResponse:
    camera = get_object_or_404(Camera, pk=pk)
    try:
        camera = camera_detector.camera_detector_revert(camera=camera, user=request.user)
    except ValidationError as exc:
        messages.error(request, f"Detector not changed: {_errors(exc)}")
    else:
        messages.success(request, f"{camera.name} is back to {camera_detector.camera_detector(camera=camera).description} for jobs that start from now on.")
    return _detector_section(pk)


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
def job_video(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ProcessingJob, pk=pk)
    if not job.annotated_video:
        raise Http404("no annotated video")
    try:
        # In byte ranges: the timeline's marks seek the video, which browsers do only where the server takes ranges.
        return ranged_file_response(request, Path(job.annotated_video.path), content_type="video/mp4")
    except FileNotFoundError:
        raise Http404("video file missing") from None


# --- one job: its page and the review of its crossings -------------------------------------------------------
REVIEW_PAGE_SIZE = 50


def _job(pk: int) -> ProcessingJob:
    return get_object_or_404(ProcessingJob.objects.select_related("camera", "reviewed_by"), pk=pk)


@operator_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(pk)
    context = {
        "job": job,
        "camera": job.camera,
        "window": selectors.job_video_window(job),
        "timeline": selectors.job_timeline(job),
        "series": selectors.job_count_series(job),
        "evaluation": selectors.job_evaluation(job),
    }
    return render(request, "traffic/job.html", context)


def _review_query(params) -> dict[str, str]:  # noqa: ANN001 - GET or POST
    """The review page's filter and page, checked: what a redirect back to it may carry."""
    show = params.get("show", "")
    try:
        page = int_param(params.get("page"), name="page", minimum=1, maximum=10**6)
    except ValidationError:
        page = None
    return {k: str(v) for k, v in (("show", show if show in selectors.REVIEW_FILTERS else ""), ("page", page)) if v}


def _back_to_review(job: ProcessingJob, request: HttpRequest, anchor: str = "") -> HttpResponse:
    query = urlencode(_review_query(request.POST))
    return redirect(reverse("traffic:job-review", args=[job.pk]) + (f"?{query}" if query else "") + (f"#{anchor}" if anchor else ""))


@operator_required
def job_review(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(pk)
    query = _review_query(request.GET)
    show = query.get("show", "")
    page = Paginator(selectors.job_crossings(job, verdict=show or None), REVIEW_PAGE_SIZE).get_page(query.get("page"))
    context = {
        "job": job,
        "camera": job.camera,
        "window": selectors.job_video_window(job),
        "evaluation": selectors.job_evaluation(job),
        "page": page,
        "rows": selectors.job_review_rows(job, page.object_list),
        "added": selectors.job_added_rows(job),
        "show": show,
        "filters": selectors.REVIEW_FILTERS,
        "lines": list(job.camera.lines.all()),
        "directions": Direction.values,
        "labels": VEHICLE_CLASSES,
        "can_complete": job.status in (JobStatus.SUCCEEDED, JobStatus.CANCELLED),
    }
    return render(request, "traffic/review.html", context)


def _review_done(request: HttpRequest, write, success: str) -> None:  # noqa: ANN001 - a service call
    try:
        write()
    except ValidationError as exc:
        messages.error(request, f"Not saved: {_errors(exc)}")
    else:
        messages.success(request, success)


@operator_required
@require_POST
def crossing_review(request: HttpRequest, pk: int, crossing_pk: int) -> HttpResponse:
    crossing = get_object_or_404(Crossing.objects.select_related("job", "line"), pk=crossing_pk, job_id=pk)
    verdict = request.POST.get("verdict", "")
    corrected = verdict == ReviewVerdict.CORRECTED
    _review_done(
        request,
        lambda: services.crossing_review_set(
            crossing=crossing,
            verdict=verdict,
            direction=request.POST.get("direction") if corrected else None,
            label=request.POST.get("label") if corrected else None,
            user=request.user,
        ),
        f"Crossing at frame {crossing.frame} ({crossing.line.name}) reviewed: {verdict}.",
    )
    return _back_to_review(crossing.job, request, anchor=f"crossing-{crossing.pk}")


def _seconds(raw: str | None) -> float:
    try:
        return float((raw or "").strip())  # the service checks the range (and refuses nan and inf)
    except ValueError:
        raise ValidationError({"seconds": ["Give the moment in seconds into the video, e.g. 12.5."]}) from None


@operator_required
@require_POST
def review_add(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(pk)

    def add() -> None:
        line_id = int_param(request.POST.get("line"), name="line", minimum=1, maximum=2**63 - 1)
        line = CountingLine.objects.filter(pk=line_id, camera_id=job.camera_id).first() if line_id else None
        if line is None:
            raise ValidationError({"line": ["Choose one of the camera's counting lines."]})
        services.crossing_review_add(
            job=job,
            line=line,
            direction=request.POST.get("direction", ""),
            label=request.POST.get("label", ""),
            seconds=_seconds(request.POST.get("seconds")),
            user=request.user,
        )

    _review_done(request, add, "Missed crossing added.")
    return _back_to_review(job, request, anchor="added")


@operator_required
@require_POST
def review_delete(request: HttpRequest, pk: int, review_pk: int) -> HttpResponse:
    review = get_object_or_404(CrossingReview.objects.select_related("job"), pk=review_pk, job_id=pk)
    what = "Added crossing removed." if review.crossing_id is None else "Review undone: the crossing counts as counted again."
    _review_done(request, lambda: services.crossing_review_delete(review=review), what)
    return _back_to_review(review.job, request, anchor=f"crossing-{review.crossing_id}" if review.crossing_id else "added")


@operator_required
@require_POST
def review_complete(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(pk)
    _review_done(request, lambda: services.job_review_complete(job=job, user=request.user), "Review complete: the reviewed counts are ground truth now.")
    return _back_to_review(job, request)


@operator_required
@require_POST
def review_reopen(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(pk)
    _review_done(request, lambda: services.job_review_reopen(job=job), "Review reopened: its counts are not ground truth until it is complete again.")
    return _back_to_review(job, request)


def _jpeg(path: Path | None) -> FileResponse:
    if path is None:
        raise Http404("no stored video holds this moment")
    response = FileResponse(path.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=300"
    return response


@operator_required
def crossing_thumbnail(request: HttpRequest, pk: int, crossing_pk: int) -> FileResponse:
    crossing = get_object_or_404(Crossing.objects.select_related("job__camera"), pk=crossing_pk, job_id=pk)
    return _jpeg(services.crossing_thumbnail(crossing=crossing))


@operator_required
def review_thumbnail(request: HttpRequest, pk: int, review_pk: int) -> FileResponse:
    review = get_object_or_404(CrossingReview.objects.select_related("job__camera", "crossing"), pk=review_pk, job_id=pk)
    return _jpeg(services.review_thumbnail(review=review))


def geometry_json(geometry: dict) -> str:
    return json.dumps(geometry)
