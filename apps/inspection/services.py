"""Writes of defect inspection: intake, inference, reviews, retraining. Views and tasks call these.

Verdict rules (one station, one image), with ``t`` the station's threshold:

1. anomaly score ``>= t`` → **defective**; its type is the classifier's most probable defect type (or
   ``anomaly`` when no classifier is in production yet);
2. otherwise, the classifier names a defect type with confidence ``>= type_confidence_min`` → **defective**
   of that type (a typed defect the anomaly model scored low);
3. otherwise **OK**.

A result goes to the review queue when the score lies within ``review_margin × t`` of ``t``, when the two
models disagree (rule 2, or rule 1 with the classifier confidently saying OK), or when a defective verdict's
type confidence is below ``type_confidence_min``.

Pictures: the overlay colours the heatmap against the anomaly model's heat threshold (the level good parts stay
under at its target false-reject rate). A defective verdict boxes every region above that level, or, when none
reaches it (a verdict that rests on whole-image evidence or on the classifier), the region around the hottest
point; an OK verdict has no boxes.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from apps.core import webhooks
from apps.core.errors import conflict
from apps.core.outages import broker_send, redispatch
from apps.inspection import selectors
from apps.inspection.families import ANOMALY_FAMILY, DEFECT_TYPE_FAMILY
from apps.inspection.models import (
    OK_LABEL,
    ImageSource,
    ImageStatus,
    InspectionImage,
    InspectionResult,
    ProductionLine,
    Review,
    ReviewDecision,
    Split,
    Station,
    Verdict,
)
from apps.inspection.validation import check_image
from apps.mlops import services as mlops_services
from apps.mlops.models import ModelVersion, RunStatus, TrainingRun, Trigger
from apps.mlops.serving import model_cache
from ml.device import inference_cpu_threads
from ml.vision import pipeline as vision_pipeline
from ml.vision.backbone import to_gray_array
from ml.vision.render import defect_boxes, overlay_jpeg

logger = logging.getLogger(__name__)

VALIDATION_PERCENT = 30  # share of labelled images that go to the validation split
CLAIM_TIMEOUT = timedelta(minutes=5)  # a claimed image not finished by then is taken again (worker died)
MAX_BATCHES_PER_TASK = 20


# --- lines and stations ---------------------------------------------------------------------------------


def line_create(*, name: str) -> ProductionLine:
    line = ProductionLine(name=name)
    line.full_clean()
    line.save()
    return line


def station_create(*, line: ProductionLine, name: str, **fields: Any) -> Station:
    station = Station(line=line, name=name, **fields)
    station.full_clean()
    station.save()
    return station


def station_update(*, station: Station, **fields: Any) -> Station:
    allowed = {"camera", "part_type", "target_false_reject_rate", "threshold", "review_margin", "type_confidence_min", "retrain_after_reviews"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({k: ["This setting cannot be changed here."] for k in unknown})
    for key, value in fields.items():
        setattr(station, key, value)
    if station.threshold is not None and station.threshold <= 0:
        raise ValidationError({"threshold": ["The threshold must be a positive anomaly score, or empty to calibrate it."]})
    station.full_clean()
    station.save()
    return station


# --- intake ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    image: InspectionImage
    created: bool


def _split_for(key: str) -> str:
    # Stable per image: the same image always lands in the same split, whatever order labels arrive in.
    bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 100
    return Split.VALIDATION if bucket < VALIDATION_PERCENT else Split.TRAIN


def image_receive(
    *,
    station: Station,
    client_image_id: str,
    data: bytes,
    filename: str = "",
    callback_url: str = "",
    source: str = ImageSource.API,
    label: str = "",
    mask: bytes | None = None,
    inspect: bool = True,
) -> Received:
    """Store a validated image once per (station, client image id) and queue its inspection.

    A resend with the same client image id returns the stored image (and its result) without inspecting it
    again. Raises ``ValidationError`` for a file that is not an acceptable image; nothing is stored then.
    """
    client_image_id = (client_image_id or "").strip()
    if not client_image_id:
        raise ValidationError({"client_image_id": ["Give the image's id in your system (a resend is recognised by it)."]})
    if len(client_image_id) > 200:
        raise ValidationError({"client_image_id": ["At most 200 characters."]})
    existing = InspectionImage.objects.filter(station=station, client_image_id=client_image_id).first()
    if existing is not None:
        if existing.status == ImageStatus.FAILED and inspect:
            # Not inspected yet (e.g. no model was in production): a resend asks for another try.
            InspectionImage.objects.filter(pk=existing.pk, status=ImageStatus.FAILED).update(status=ImageStatus.PENDING, error="")
            existing.refresh_from_db()
            _dispatch_inspection([existing.pk])
        return Received(existing, False)
    checked = check_image(data, name=filename or client_image_id)
    if mask is not None:
        checked_mask = check_image(mask, name=f"mask of {client_image_id}")
        if (checked_mask.width, checked_mask.height) != (checked.width, checked.height):
            raise ValidationError(f"the mask of {client_image_id} is {checked_mask.width}×{checked_mask.height}, the image {checked.width}×{checked.height}")
    extension = {"JPEG": "jpg"}.get(checked.image_format, checked.image_format.lower())
    stem = hashlib.sha256(f"{station.pk}/{client_image_id}".encode()).hexdigest()[:16]
    image = InspectionImage(
        station=station,
        client_image_id=client_image_id,
        image_format=checked.image_format,
        width=checked.width,
        height=checked.height,
        size_bytes=len(data),
        source=source,
        callback_url=callback_url,
        label=label,
        split=_split_for(f"{station.pk}/{client_image_id}") if label else Split.NONE,
        status=ImageStatus.PENDING if inspect else ImageStatus.DONE,
    )
    # Not re-checked here, each a query per image: the station (a saved row the caller passes) and the unique
    # (station, client image id), which the database enforces; a concurrent resend is handled below.
    image.full_clean(exclude=["file", "mask", "station"], validate_constraints=False)
    image.file.save(f"{stem}.{extension}", ContentFile(data), save=False)
    if mask is not None:
        image.mask.save(f"{stem}.png", ContentFile(mask), save=False)
    try:
        with transaction.atomic():
            image.save()
    except IntegrityError:
        # A concurrent resend won the race: answer with its row, drop our copy of the file.
        image.file.delete(save=False)
        if image.mask:
            image.mask.delete(save=False)
        return Received(InspectionImage.objects.get(station=station, client_image_id=client_image_id), False)
    if inspect:
        _dispatch_inspection([image.pk])
    return Received(image, True)


def _dispatch_inspection(image_ids: list[int]) -> None:

    # The images are stored and stay pending when the broker is unreachable: the request is accepted as usual and
    # stale_claims_requeue (a beat task) sends them once it is back; any later inspection also drains them.
    transaction.on_commit(lambda: _send_inspection(image_ids))


def _send_inspection(image_ids: list[int]) -> bool:
    from apps.inspection.tasks import inspect_pending

    return broker_send(lambda: inspect_pending.delay(image_ids), what=f"the inspection of images {image_ids}", required=False)


# --- inference ------------------------------------------------------------------------------------------


def _claim(image_ids: list[int], limit: int) -> list[InspectionImage]:
    """Take up to ``limit`` images to inspect: the requested ones first, then whatever else is waiting (one query)."""
    stale = timezone.now() - CLAIM_TIMEOUT
    waiting = Q(status=ImageStatus.PENDING) | Q(status=ImageStatus.PROCESSING, claimed_at__lt=stale)
    requested_first = Case(When(pk__in=image_ids, then=Value(0)), default=Value(1)) if image_ids else Value(1)
    with transaction.atomic():
        # Locks the images only (of=self), not the stations joined for the verdict rules.
        base = InspectionImage.objects.select_for_update(skip_locked=True, of=("self",)).select_related("station").filter(waiting)
        chosen = list(base.order_by(requested_first, "received_at", "pk")[:limit])
        now = timezone.now()
        if chosen:
            InspectionImage.objects.filter(pk__in=[i.pk for i in chosen]).update(status=ImageStatus.PROCESSING, claimed_at=now)
    for image in chosen:
        image.status, image.claimed_at = ImageStatus.PROCESSING, now
    return chosen


def images_inspect(*, image_ids: list[int], batch_size: int | None = None) -> int:
    """Inspect the given images plus others waiting, ``batch_size`` per forward pass; return how many got results.

    Never waits to fill a batch: each pass takes what is waiting then (one image at a low rate, more as they pile up).
    """
    batch_size = batch_size or settings.INSPECTION_BATCH_SIZE
    done = 0
    for _ in range(MAX_BATCHES_PER_TASK):
        batch = _claim(image_ids, batch_size)
        if not batch:
            return done
        done += _inspect_batch(batch)
        if len(batch) < batch_size:
            # Everything waiting fit in this pass. An image received since has its own message on the way (or the beat
            # re-sends it), so no extra claim query to find nothing: at 10 images/s that was one in every two queries.
            return done
        image_ids = []
    # Still more waiting after MAX_BATCHES_PER_TASK passes: another message takes over, so the worker's slot is shared
    # with the other tasks of its queue (training) and nothing waits for the beat's re-dispatch.
    if InspectionImage.objects.filter(status=ImageStatus.PENDING).exists():
        _send_inspection([])
    return done


def _fail(images: list[InspectionImage], message: str) -> None:
    InspectionImage.objects.filter(pk__in=[i.pk for i in images]).update(status=ImageStatus.FAILED, error=message)


def station_threshold(*, station: Station, version: ModelVersion, model_threshold: float) -> float:
    """The station's manual threshold, else one calibrated on the version's held-out good scores to the station's rate."""
    if station.threshold is not None:
        return float(station.threshold)
    calibrated = selectors.calibrated_threshold(version=version, rate=station.target_false_reject_rate)
    return float(model_threshold) if calibrated is None else calibrated["threshold"]


def _inspect_batch(images: list[InspectionImage]) -> int:
    anomaly_version = model_cache.production(ANOMALY_FAMILY)
    if anomaly_version is None:
        _fail(images, "No anomaly model is in production yet: train one (Retrain on the station page), then resend.")
        return 0
    claimed = time.perf_counter()
    readable, arrays = [], []
    for image in images:
        try:
            with image.file.open("rb") as fh:
                arrays.append(to_gray_array(fh.read()))
            readable.append(image)
        except (OSError, ValueError) as exc:
            _fail([image], f"The stored image could not be read: {exc}")
    if not readable:
        return 0
    started = time.perf_counter()
    decode_ms = (started - claimed) * 1000
    classifier_version = model_cache.production(DEFECT_TYPE_FAMILY)
    classifier = model_cache.predictor(classifier_version) if classifier_version is not None else None
    # Set each batch: a training run in this worker may have set more, and a batch of several means a backlog.
    inference_cpu_threads(settings.INSPECTION_CPU_THREADS, backlog=len(readable) > 1)
    # One backbone pass serves both models when their input specs agree (the defaults do).
    anomaly, types = vision_pipeline.predict(model_cache.predictor(anomaly_version), classifier, arrays)
    model_ms = (time.perf_counter() - started) * 1000
    per_image_ms = model_ms / len(readable)
    thresholds: dict[int, float] = {}
    results: list[InspectionResult] = []
    for image, gray, scored, typed in zip(readable, arrays, anomaly, types, strict=True):
        station = image.station
        if station.pk not in thresholds:
            thresholds[station.pk] = station_threshold(station=station, version=anomaly_version, model_threshold=scored["threshold"])
        threshold = thresholds[station.pk]
        decision = decide(score=scored["score"], threshold=threshold, typed=typed, station=station)
        # The verdict uses the station's threshold on the image score; the picture marks heatmap levels that good
        # parts stay under (the model's heat threshold). A defective verdict always boxes at least its hottest region.
        heat_level = scored.get("heat_threshold", threshold)
        rendering = time.perf_counter()
        result = InspectionResult(
            image=image,
            verdict=decision.verdict,
            score=scored["score"],
            threshold=threshold,
            defect_type=decision.defect_type,
            type_confidence=decision.type_confidence,
            boxes=defect_boxes(scored["heatmap"], heat_level) if decision.verdict == Verdict.DEFECTIVE else [],
            needs_review=decision.needs_review,
            review_reason=decision.review_reason,
            anomaly_version=anomaly_version,
            classifier_version=classifier_version,
            inference_ms=per_image_ms,
            batch_size=len(readable),
        )
        # The file first, outside the transaction: a row never names a heatmap that is not stored yet.
        result.heatmap.save(f"{image.pk}.jpg", ContentFile(overlay_jpeg(gray, scored["heatmap"], heat_level)), save=False)
        result.timings_ms = {"render": round((time.perf_counter() - rendering) * 1000, 2)}
        results.append(result)
    _results_save(results, decode_ms=decode_ms, model_ms=model_ms, claimed=claimed)
    return len(readable)


_RESULT_FIELDS = [f.name for f in InspectionResult._meta.concrete_fields if f.name not in ("id", "image", "created_at")]


def _results_save(results: list[InspectionResult], *, decode_ms: float, model_ms: float, claimed: float) -> None:
    """Store a batch's results in one transaction: new rows in one INSERT, the images marked done in one UPDATE (an
    image inspected again, e.g. after a failed try, keeps its result row, which is updated in place)."""
    writing = time.perf_counter()
    now = timezone.now()
    for result in results:
        image = result.image
        result.latency_ms = (now - image.received_at).total_seconds() * 1000
        result.timings_ms = {
            "queue": round((image.claimed_at - image.received_at).total_seconds() * 1000, 2) if image.claimed_at else None,
            "decode": round(decode_ms, 2),
            "model": round(model_ms, 2),
            **result.timings_ms,
            "before_write": round((writing - claimed) * 1000, 2),
        }
    ids = [r.image.pk for r in results]
    with transaction.atomic():
        existing = dict(InspectionResult.objects.select_for_update().filter(image_id__in=ids).values_list("image_id", "pk"))
        fresh = [r for r in results if r.image.pk not in existing]
        InspectionResult.objects.bulk_create(fresh)
        for result in results:
            if result.image.pk in existing:
                result.pk = existing[result.image.pk]
                result.save(update_fields=_RESULT_FIELDS)
        InspectionImage.objects.filter(pk__in=ids).update(status=ImageStatus.DONE, inspected_at=now, error="")
        callbacks = [r.image.pk for r in results if r.image.callback_url]
        if callbacks:
            from apps.inspection.tasks import send_callback

            for pk in callbacks:
                transaction.on_commit(lambda pk=pk: broker_send(lambda: send_callback.delay(pk), what=f"the callback of image #{pk}", required=False))


@dataclass(frozen=True)
class Decision:
    verdict: str
    defect_type: str
    type_confidence: float | None
    needs_review: bool
    review_reason: str


def decide(*, score: float, threshold: float, typed: dict[str, Any] | None, station: Station) -> Decision:
    """Apply the verdict rules in this module's docstring."""
    reasons = []
    anomalous = score >= threshold
    type_label, confidence = "", None
    if typed is not None:
        probabilities = typed["probabilities"]
        defect_probs = {k: v for k, v in probabilities.items() if k != OK_LABEL}
        if defect_probs:
            type_label = max(defect_probs, key=defect_probs.get)
            confidence = float(defect_probs[type_label])
    confident_defect = typed is not None and typed["label"] != OK_LABEL and typed["confidence"] >= station.type_confidence_min
    confident_ok = typed is not None and typed["label"] == OK_LABEL and typed["confidence"] >= station.type_confidence_min
    if anomalous:
        verdict = Verdict.DEFECTIVE
        defect_type = type_label or "anomaly"
        if confident_ok:
            reasons.append("the classifier says OK")
        elif typed is not None and (confidence or 0) < station.type_confidence_min:
            reasons.append("defect type uncertain")
    elif confident_defect:
        verdict, defect_type = Verdict.DEFECTIVE, typed["label"]
        reasons.append("typed defect below the anomaly threshold")
    else:
        verdict, defect_type, confidence = Verdict.OK, "", None
    if abs(score - threshold) <= station.review_margin * threshold:
        reasons.insert(0, "score near the threshold")
    return Decision(verdict, defect_type, confidence, bool(reasons), "; ".join(reasons))


# --- webhooks -------------------------------------------------------------------------------------------


def result_payload(image: InspectionImage) -> dict[str, Any]:
    # Only a done image shows its result: looking one up for a pending image (every fresh upload) is a query per image.
    result = getattr(image, "result", None) if image.status == ImageStatus.DONE else None
    payload: dict[str, Any] = {
        "id": image.pk,
        "station": image.station_id,
        "client_image_id": image.client_image_id,
        "status": image.status,
        "error": image.error,
        "received_at": image.received_at.isoformat(),
        "result": None,
    }
    if result is not None:
        payload["result"] = {
            "verdict": result.verdict,
            "score": round(result.score, 6),
            "threshold": round(result.threshold, 6),
            "defect_type": result.defect_type,
            "type_confidence": result.type_confidence,
            "boxes": result.boxes,
            "needs_review": result.needs_review,
            "anomaly_model_version": result.anomaly_version_id,
            "classifier_model_version": result.classifier_version_id,
            "latency_ms": round(result.latency_ms, 1),
        }
    return payload


def callback_send(*, image_id: int) -> None:
    """POST the result to the image's callback URL once. Raises :class:`~apps.core.webhooks.WebhookFailed` so the
    task retries; a URL the webhook guard refuses (e.g. it now resolves to an internal address) is not retried."""
    image = InspectionImage.objects.select_related("result").filter(pk=image_id).first()
    if image is None or not image.callback_url or image.callback_status.startswith("delivered"):
        return
    try:
        status = webhooks.webhook_post(image.callback_url, result_payload(image), timeout=10, user_agent="downstream-inspection")
    except webhooks.WebhookRefused as exc:
        InspectionImage.objects.filter(pk=image_id).update(callback_status=f"refused: {exc}"[:200])
        return
    except webhooks.WebhookFailed as exc:
        InspectionImage.objects.filter(pk=image_id).update(callback_status=f"failed: {exc}"[:200])
        raise
    InspectionImage.objects.filter(pk=image_id).update(callback_status=f"delivered: HTTP {status}")


# --- reviews and retraining -----------------------------------------------------------------------------


def review_create(*, result: InspectionResult, decision: str, defect_type: str = "", user: Any = None) -> Review:
    """Record an operator's decision; it becomes the image's label (dataset) and may trigger a retrain."""
    if decision not in ReviewDecision.values:
        raise ValidationError({"decision": [f"Must be one of {', '.join(ReviewDecision.values)}."]})
    predicted = (result.defect_type or "anomaly") if result.verdict == Verdict.DEFECTIVE else OK_LABEL
    if decision == ReviewDecision.CONFIRM:
        label = predicted
    elif decision == ReviewDecision.OK:
        label = OK_LABEL
    else:
        label = (defect_type or "").strip().lower()
        if not label or label == OK_LABEL or len(label) > 64:
            raise ValidationError({"defect_type": ["Name the defect type (up to 64 characters)."]})
    disputed = label != predicted
    with transaction.atomic():
        # The result's row lock serialises two reviews of one result (double key press, two operators): the
        # second waits, then finds the first and is refused; the unique constraint backs this up.
        locked = InspectionResult.objects.select_for_update().select_related("image").filter(pk=result.pk).first()
        if locked is None:
            raise ValidationError({"result": ["This result no longer exists."]})
        earlier = Review.objects.select_related("reviewer").filter(result=locked).first()
        if earlier is not None:
            raise _already_reviewed(earlier)
        try:
            with transaction.atomic():
                review = Review.objects.create(
                    result=locked, reviewer=user if getattr(user, "is_authenticated", False) else None, decision=decision, label=label, disputed=disputed
                )
        except IntegrityError:
            raise _already_reviewed(Review.objects.select_related("reviewer").get(result=locked)) from None
        image = locked.image
        image.label = label
        image.split = image.split or _split_for(f"{image.station_id}/{image.client_image_id}")
        image.save(update_fields=["label", "split"])
        InspectionResult.objects.filter(pk=locked.pk).update(needs_review=False)
        station = Station.objects.select_for_update().get(pk=image.station_id)
        station.reviews_since_retrain += 1
        retrain = station.retrain_after_reviews and station.reviews_since_retrain >= station.retrain_after_reviews
        if retrain:
            station.reviews_since_retrain = 0
        station.save(update_fields=["reviews_since_retrain"])
        if retrain and not _training_in_progress():
            retrain_start(trigger=Trigger.SCHEDULE, user=None)
    return review


def _already_reviewed(review: Review) -> ValidationError:
    who = review.reviewer.get_username() if review.reviewer else "someone"
    detail = f"This result was already reviewed by {who} ({review.label}); a result is reviewed once."
    return conflict("result", detail)


def _training_in_progress() -> bool:
    return TrainingRun.objects.filter(family__in=[ANOMALY_FAMILY, DEFECT_TYPE_FAMILY], status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).exists()


def retrain_start(*, trigger: str, user: Any = None) -> list[TrainingRun]:
    """Queue a training run of both families (the runs execute on the ml_gpu workers)."""
    return [mlops_services.training_run_start(family=family, trigger=trigger, user=user) for family in (ANOMALY_FAMILY, DEFECT_TYPE_FAMILY)]


def stale_claims_requeue() -> int:
    """Put images whose worker died mid-inspection back in the queue (also done lazily by the next claim), and send
    again images still pending ``REDISPATCH_QUEUED_AFTER_SECONDS`` after they arrived (their message was lost in a
    broker outage). Idempotent: an inspected image is skipped, a claimed one is not taken twice."""
    stale = timezone.now() - CLAIM_TIMEOUT
    ids = list(InspectionImage.objects.filter(status=ImageStatus.PROCESSING, claimed_at__lt=stale).values_list("pk", flat=True))
    if ids:
        InspectionImage.objects.filter(pk__in=ids).update(status=ImageStatus.PENDING)
    waiting_since = timezone.now() - timedelta(seconds=settings.REDISPATCH_QUEUED_AFTER_SECONDS)
    waiting = InspectionImage.objects.filter(status=ImageStatus.PENDING, received_at__lt=waiting_since).exclude(pk__in=ids)
    pending = list(waiting.values_list("pk", flat=True)[:1000])
    # One message drains many images (inspect_pending takes whatever waits): re-send it at most once a period.
    if ids:
        _dispatch_inspection(ids)
    if pending and redispatch("inspection-pending", 0, lambda: _send_inspection(pending)):
        logger.warning("%s inspection images still pending after %s s; dispatched again", len(pending), settings.REDISPATCH_QUEUED_AFTER_SECONDS)
        return len(ids) + len(pending)
    return len(ids)
