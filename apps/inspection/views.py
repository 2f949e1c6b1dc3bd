"""Operator pages of defect inspection: live feed, review queue, station settings, model comparison, reports."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.accounts.decorators import operator_required
from apps.core.errors import is_conflict
from apps.core.params import query_int
from apps.core.validators import validate_finite
from apps.inspection import selectors, services
from apps.inspection.families import ANOMALY_FAMILY, DEFECT_TYPE_FAMILY
from apps.inspection.models import InspectionImage, InspectionResult, Station
from apps.mlops import services as mlops_services
from apps.mlops.families import get_family
from apps.mlops.models import ModelVersion, Trigger, VersionStatus


def _feed_item(result: InspectionResult) -> dict:
    image = result.image
    return {
        "id": result.pk,
        "image_id": image.pk,
        "client_image_id": image.client_image_id,
        "station": str(image.station),
        "verdict": result.verdict,
        "score": round(result.score, 4),
        "threshold": round(result.threshold, 4),
        "defect_type": result.defect_type,
        "needs_review": result.needs_review,
        "image_url": reverse("inspection:image-file", args=[image.pk]),
        "heatmap_url": reverse("inspection:heatmap-file", args=[image.pk]),
        "created_at": result.created_at.isoformat(),
    }


@operator_required
def home(request: HttpRequest) -> HttpResponse:
    results = [_feed_item(r) for r in selectors.result_feed(limit=24)]
    return render(
        request,
        "inspection/home.html",
        {
            "results": results,
            "stations": Station.objects.select_related("line"),
            "queue_size": InspectionResult.objects.filter(needs_review=True).count(),
        },
    )


@operator_required
def feed_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"results": [_feed_item(r) for r in selectors.result_feed(limit=24)]})


@operator_required
def review_queue(request: HttpRequest) -> HttpResponse:
    items = [{**_feed_item(r), "reason": r.review_reason} for r in selectors.review_queue(limit=50)]
    return render(request, "inspection/review.html", {"items": items, "defect_types": selectors.defect_types()})


@operator_required
@require_POST
def review_submit(request: HttpRequest, result_id: int) -> HttpResponse:
    result = get_object_or_404(InspectionResult.objects.select_related("image"), pk=result_id)
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    try:
        review = services.review_create(
            result=result, decision=request.POST.get("decision", ""), defect_type=request.POST.get("defect_type", ""), user=request.user
        )
    except ValidationError as exc:
        if wants_json:
            status = 409 if is_conflict(exc) else 400
            return JsonResponse({"detail": " ".join(exc.messages), "errors": getattr(exc, "message_dict", {})}, status=status)
        messages.error(request, " ".join(exc.messages))
        return redirect("inspection:review")
    if wants_json:
        return JsonResponse({"id": review.pk, "label": review.label, "disputed": review.disputed})
    messages.success(request, f"Reviewed {result.image.client_image_id}: {review.label}.")
    return redirect("inspection:review")


def _float_or_none(value: str) -> float | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise ValidationError(f"{value!r} is not a number.") from None
    validate_finite(number)
    return number


@operator_required
def station_settings(request: HttpRequest, station_id: int) -> HttpResponse:
    station = get_object_or_404(Station.objects.select_related("line"), pk=station_id)
    if request.method == "POST":
        try:
            services.station_update(
                station=station,
                threshold=_float_or_none(request.POST.get("threshold", "")),
                target_false_reject_rate=_float_or_none(request.POST.get("target_false_reject_rate", "")) or 0.0,
                retrain_after_reviews=int(request.POST.get("retrain_after_reviews") or 0),
            )
        except (ValidationError, ValueError) as exc:
            messages.error(request, " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
        else:
            messages.success(request, "Station settings saved; new images use them.")
        return redirect("inspection:station", station_id=station.pk)
    production = ModelVersion.objects.filter(family=ANOMALY_FAMILY, status=VersionStatus.PRODUCTION).first()
    calibration = None if production is None else selectors.calibrated_threshold(version=production, rate=station.target_false_reject_rate)
    return render(request, "inspection/station.html", {"station": station, "calibration": calibration, "production": production})


@operator_required
def station_curve(request: HttpRequest, station_id: int) -> JsonResponse:
    station = get_object_or_404(Station, pk=station_id)
    return JsonResponse(selectors.station_validation_curve(station=station))


@operator_required
@require_POST
def retrain(request: HttpRequest) -> HttpResponse:
    try:
        runs = services.retrain_start(trigger=Trigger.DASHBOARD, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("inspection:models")
    messages.success(request, f"Retraining queued: runs {', '.join(f'#{r.pk}' for r in runs)}.")
    return redirect("dashboard:run-detail", pk=runs[0].pk)


@operator_required
def models_compare(request: HttpRequest) -> HttpResponse:
    families = []
    for name in (ANOMALY_FAMILY, DEFECT_TYPE_FAMILY):
        spec = get_family(name)
        versions = list(ModelVersion.objects.filter(family=name).order_by("-version")[:10])
        production = next((v for v in versions if v.status == VersionStatus.PRODUCTION), None)
        candidates = [v for v in versions if v.status == VersionStatus.CANDIDATE]
        keys = sorted({k for v in versions for k, val in v.metrics.items() if isinstance(val, int | float)})
        families.append({"spec": spec, "production": production, "candidates": candidates, "metric_keys": keys})
    return render(request, "inspection/models.html", {"families": families})


@operator_required
@require_POST
def promote(request: HttpRequest, version_id: int) -> HttpResponse:
    version = get_object_or_404(ModelVersion, pk=version_id, family__in=[ANOMALY_FAMILY, DEFECT_TYPE_FAMILY])
    try:
        mlops_services.model_version_promote(version=version, user=request.user, reason=request.POST.get("reason", "") or "compared on the inspection page")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{version.family} v{version.version} is now in production.")
    return redirect("inspection:models")


@operator_required
def reports(request: HttpRequest) -> HttpResponse:
    try:
        days = query_int(request.GET, "days", default=14, minimum=1, maximum=3650)
    except ValidationError as exc:
        # A hand-edited or stale link: say what was wrong on the page (400) instead of a 500 or a silent default.
        messages.error(request, " ".join(exc.messages))
        report = selectors.defect_report(days=14)
        return render(request, "inspection/reports.html", {"report": report, "report_json": json.dumps(report)}, status=400)
    report = selectors.defect_report(days=days)
    return render(request, "inspection/reports.html", {"report": report, "report_json": json.dumps(report)})


def _serve(field) -> FileResponse:  # noqa: ANN001
    if not field:
        raise Http404("No file.")
    try:
        return FileResponse(field.open("rb"))
    except OSError:
        raise Http404("The file is missing from storage.") from None


@operator_required
def image_file(request: HttpRequest, image_id: int) -> FileResponse:
    return _serve(get_object_or_404(InspectionImage, pk=image_id).file)


@operator_required
def heatmap_file(request: HttpRequest, image_id: int) -> FileResponse:
    result = get_object_or_404(InspectionResult, image_id=image_id)
    return _serve(result.heatmap)
