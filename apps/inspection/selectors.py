"""Reads of defect inspection: feeds, the review queue, threshold curves, defect-rate reports."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from django.db.models import QuerySet

from apps.inspection.models import OK_LABEL, ImageStatus, InspectionImage, InspectionResult, Split, Station, Verdict
from apps.mlops.models import ModelVersion, VersionStatus
from ml.metrics import threshold_curve, threshold_for_false_reject_rate

# Shifts by the hour an image was received (server time zone): early 06–14, late 14–22, night 22–06.
SHIFTS = (("early", 6, 14), ("late", 14, 22), ("night", 22, 6))


def shift_of(hour: int) -> str:
    for name, start, end in SHIFTS:
        if (start <= hour < end) if start < end else (hour >= start or hour < end):
            return name
    return "night"


def calibration_scores(*, version: ModelVersion) -> list[float]:
    """Scores of the held-out good images the version's threshold was calibrated on (stored by its run)."""
    run = version.training_run
    return list((run.details or {}).get("calibration_scores", [])) if run is not None else []


def calibrated_threshold(*, version: ModelVersion, rate: float) -> dict[str, Any] | None:
    """The version's threshold for false-reject ``rate``, from its held-out good scores (``None`` without them).

    ``finest_rate`` is 1/(n+1) for n calibration images: the smallest false-reject rate those n can tell apart.
    A lower target puts the threshold just above every calibration score, so the rate actually reached on new
    good parts is about ``finest_rate`` on average, not the target; ``resolves_target`` says which case applies.
    """
    scores = calibration_scores(version=version)
    if not scores:
        return None
    finest = 1.0 / (len(scores) + 1)
    return {
        "threshold": threshold_for_false_reject_rate(scores, rate),
        "images": len(scores),
        "finest_rate": finest,
        "finest_percent": round(100 * finest, 2),
        "resolves_target": rate >= finest,
    }


def result_feed(*, station: Station | None = None, limit: int = 24) -> QuerySet[InspectionResult]:
    qs = InspectionResult.objects.select_related("image", "image__station", "image__station__line").order_by("-created_at", "-id")
    if station is not None:
        qs = qs.filter(image__station=station)
    return qs[:limit]


def review_queue(*, station: Station | None = None, limit: int = 50) -> QuerySet[InspectionResult]:
    """Uncertain or disputed results not yet reviewed, oldest first."""
    qs = InspectionResult.objects.filter(needs_review=True).select_related("image", "image__station", "image__station__line")
    if station is not None:
        qs = qs.filter(image__station=station)
    return qs.order_by("created_at", "id")[:limit]


def defect_types() -> list[str]:
    """Defect types known so far (labels and predictions), for the review shortcuts."""
    labels = set(InspectionImage.objects.exclude(label="").exclude(label=OK_LABEL).values_list("label", flat=True).distinct())
    labels |= set(InspectionResult.objects.exclude(defect_type="").values_list("defect_type", flat=True).distinct())
    return sorted(labels - {"anomaly"})[:9]


def station_validation_curve(*, station: Station, points: int = 101) -> dict[str, Any]:
    """Precision / recall / false-reject rate against the threshold on the station's labelled validation images.

    Uses the current results' scores; when the station has no labelled validation results of both kinds,
    falls back to the curve the production model measured on its validation split at training time.
    """
    rows = list(
        InspectionResult.objects.filter(image__station=station, image__split=Split.VALIDATION).exclude(image__label="").values_list("score", "image__label")
    )
    labels = [int(label != OK_LABEL) for _, label in rows]
    if rows and 0 < sum(labels) < len(labels):
        return {"source": f"{len(rows)} labelled validation images of this station", "curve": threshold_curve(labels, [s for s, _ in rows], points)}
    from apps.inspection.families import ANOMALY_FAMILY

    version = ModelVersion.objects.filter(family=ANOMALY_FAMILY, status=VersionStatus.PRODUCTION).select_related("training_run").first()
    curve = (version.training_run.details or {}).get("validation_curve", []) if version and version.training_run else []
    return {"source": f"validation split of model v{version.version}" if version else "no data yet", "curve": curve}


def image_detail(*, image_id: int) -> InspectionImage | None:
    return InspectionImage.objects.select_related("result", "station").filter(pk=image_id).first()


def defect_report(*, days: int = 14) -> dict[str, Any]:
    """Defect rate per line and shift, and a Pareto of defect types, over recent results."""
    from datetime import timedelta

    from django.utils import timezone

    since = timezone.now() - timedelta(days=days)
    rows = InspectionResult.objects.filter(created_at__gte=since, image__status=ImageStatus.DONE).values_list(
        "image__station__line__name", "image__received_at", "verdict", "defect_type"
    )
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    pareto: Counter[str] = Counter()
    for line, received, verdict, defect in rows:
        key = (line, shift_of(timezone.localtime(received).hour))
        totals[key][0] += 1
        if verdict == Verdict.DEFECTIVE:
            totals[key][1] += 1
            pareto[defect or "anomaly"] += 1
    lines = sorted({line for line, _ in totals})
    shifts = [name for name, _, _ in SHIFTS]
    series = {line: [round(100 * totals[(line, s)][1] / totals[(line, s)][0], 2) if totals[(line, s)][0] else None for s in shifts] for line in lines}
    ranked = pareto.most_common()
    total_defects = sum(pareto.values())
    cumulative, running = [], 0
    for _, count in ranked:
        running += count
        cumulative.append(round(100 * running / total_defects, 1))
    return {
        "days": days,
        "shifts": shifts,
        "defect_rate": series,
        "inspected": sum(t[0] for t in totals.values()),
        "pareto": {"labels": [k for k, _ in ranked], "counts": [c for _, c in ranked], "cumulative_percent": cumulative},
    }
