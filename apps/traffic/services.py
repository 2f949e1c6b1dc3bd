"""Writes of traffic monitoring: cameras and their geometry, processing jobs, and what a job finds."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Count as DbCount
from django.utils import timezone

from apps.core import netguard, webhooks
from apps.core.errors import DOES_NOT_EXIST, conflict
from apps.core.outages import broker_send, redispatch
from apps.traffic import selectors
from apps.traffic.models import (
    ACTIVE_JOB_STATUSES,
    BinSize,
    Camera,
    Count,
    CountingLine,
    Crossing,
    CrossingReview,
    Direction,
    Event,
    JobKind,
    JobStatus,
    ProcessingJob,
    ReviewVerdict,
    SourceKind,
    Track,
    Zone,
)
from ml.traffic.classes import VEHICLE_CLASSES
from ml.traffic.geometry import GeometryError, Homography, LineSpec, ZoneSpec

logger = logging.getLogger(__name__)

DETECTOR_FAMILY = "traffic.detector"
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts")


# --- cameras, lines, zones, calibration -----------------------------------------------------------------------
def _points(value: Any, *, field_name: str, count: int | None = None, minimum: int = 0) -> list[list[float]]:
    try:
        points = [[float(p[0]), float(p[1])] for p in value]
        if any(len(p) != 2 for p in value) or any(not math.isfinite(c) for p in points for c in p):
            raise ValueError
    except (TypeError, ValueError, IndexError):
        raise ValidationError({field_name: ["Must be a list of [x, y] number pairs."]}) from None
    if count is not None and len(points) != count:
        raise ValidationError({field_name: [f"Needs exactly {count} points, got {len(points)}."]})
    if len(points) < minimum:
        raise ValidationError({field_name: [f"Needs at least {minimum} points."]})
    return points


def camera_calibrate(*, camera: Camera, image_points: Any, ground_points: Any) -> Camera:
    """Set (or with two empty lists, clear) the image → ground homography of a camera."""
    if not image_points and not ground_points:
        camera.calibration_image_points, camera.calibration_ground_points = [], []
    else:
        image = _points(image_points, field_name="calibration_image_points", count=4)
        ground = _points(ground_points, field_name="calibration_ground_points", count=4)
        try:
            Homography([tuple(p) for p in image], [tuple(p) for p in ground])
        except GeometryError as exc:
            raise ValidationError({"calibration_image_points": [str(exc)]}) from None
        camera.calibration_image_points, camera.calibration_ground_points = image, ground
    camera.save(update_fields=["calibration_image_points", "calibration_ground_points"])
    return camera


def line_validate(line: CountingLine) -> None:
    try:
        line_spec(line)
    except GeometryError as exc:
        raise ValidationError({"x2": [str(exc)]}) from None
    line.full_clean()


def zone_validate(zone: Zone) -> None:
    zone.polygon = _points(zone.polygon, field_name="polygon", minimum=3)
    try:
        zone_spec(zone)
    except GeometryError as exc:
        raise ValidationError({"polygon": [str(exc)]}) from None
    zone.full_clean()


def line_spec(line: CountingLine) -> LineSpec:
    wrong = {"in": line.in_side, "out": -line.in_side}.get(line.wrong_way)
    return LineSpec(str(line.pk or line.name), (line.x1, line.y1), (line.x2, line.y2), wrong_way=wrong, name=line.name)


def zone_spec(zone: Zone) -> ZoneSpec:
    return ZoneSpec(
        str(zone.pk or zone.name),
        tuple((float(x), float(y)) for x, y in zone.polygon),
        kind=zone.kind,
        min_seconds=zone.min_seconds,
        occupancy_threshold=zone.occupancy_threshold,
    )


# --- stream URLs ------------------------------------------------------------------------------------------------
STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")


def stream_url_check(url: str, *, field_name: str = "url") -> None:
    """A ValidationError on ``field_name`` unless ``url`` is an rtsp(s)/http(s) URL whose host resolves only to public
    addresses (or to a private camera network the deployment allows). Checked when a URL is submitted and again
    every time a worker connects, so a DNS answer that changed in between gains nothing."""
    try:
        netguard.url_check(
            url,
            schemes=STREAM_SCHEMES,
            allow_private=settings.TRAFFIC_ALLOW_PRIVATE_STREAMS,
            allowed_networks=settings.TRAFFIC_STREAM_ALLOWED_NETWORKS,
            hint="streams are read from public addresses only (TRAFFIC_ALLOW_PRIVATE_STREAMS or TRAFFIC_STREAM_ALLOWED_NETWORKS allow a camera network).",
        )
    except netguard.AddressRefused as exc:
        raise ValidationError({field_name: [str(exc)]}) from None


# --- jobs -------------------------------------------------------------------------------------------------------
class DuplicateJob(Exception):
    """The request repeats one already accepted. ``replay``: the same Idempotency-Key and the same request (answer
    with the first job); otherwise a conflict (409): the same recording, a second live stream, or a reused key."""

    def __init__(self, job: ProcessingJob, message: str, *, replay: bool = False) -> None:
        super().__init__(message)
        self.job, self.replay = job, replay


def _user(user: Any) -> Any:
    return user if getattr(user, "is_authenticated", False) else None


def _sha256(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    return digest.hexdigest()


def _duplicate_upload(camera: Camera, idempotency_key: str, sha256: str) -> DuplicateJob | None:
    if idempotency_key:
        earlier = ProcessingJob.objects.filter(camera=camera, idempotency_key=idempotency_key).first()
        if earlier is not None:
            if earlier.kind == JobKind.VIDEO and earlier.content_sha256 == sha256:
                return DuplicateJob(earlier, f"Already accepted as job #{earlier.pk}.", replay=True)
            return DuplicateJob(earlier, f"This Idempotency-Key was already used for another request (job #{earlier.pk}); use a new key for a new request.")
    same = ProcessingJob.objects.filter(camera=camera, kind=JobKind.VIDEO, content_sha256=sha256)
    earlier = same.exclude(status__in=(JobStatus.FAILED, JobStatus.CANCELLED)).first()
    if earlier is not None:
        return DuplicateJob(
            earlier, f"This recording was already uploaded for camera {camera.pk} (job #{earlier.pk}, {earlier.status}); its vehicles are counted once."
        )
    return None


def job_create_from_upload(
    *,
    camera: Camera,
    upload: UploadedFile,
    user: Any = None,
    recorded_at: datetime | None = None,
    dispatch: bool = True,
    idempotency_key: str = "",
) -> ProcessingJob:
    """Store an uploaded recording and queue a job for it; the worker probes the video (a file it cannot decode fails
    the job with the reason). A file that is empty, too large or not named as a video is a ValidationError (400); a
    resend is a :class:`DuplicateJob`."""
    name = Path(upload.name or "video").name
    if upload.size == 0:
        raise ValidationError({"video": ["The file is empty (0 bytes); upload the recording again."]})
    limit = settings.TRAFFIC_MAX_UPLOAD_BYTES
    if upload.size > limit:
        raise ValidationError({"video": [f"The file is {upload.size / 2**20:.0f} MiB; the limit is {limit / 2**20:.0f} MiB (TRAFFIC_MAX_UPLOAD_MB)."]})
    if Path(name).suffix.lower() not in VIDEO_EXTENSIONS:
        raise ValidationError({"video": [f"{name!r} is not a video file; upload one of {', '.join(VIDEO_EXTENSIONS)}."]})
    idempotency_key = idempotency_key.strip()[:200]
    sha256 = _sha256(upload)
    duplicate = _duplicate_upload(camera, idempotency_key, sha256)
    if duplicate is not None:
        raise duplicate
    stored = default_storage.save(f"traffic/videos/camera-{camera.pk}-{name}", upload)
    try:
        with transaction.atomic():
            job = ProcessingJob.objects.create(
                camera=camera,
                kind=JobKind.VIDEO,
                video=stored,
                original_name=name[:255],
                size_bytes=upload.size,
                recorded_at=recorded_at or timezone.now(),
                fps=camera.fps,
                idempotency_key=idempotency_key,
                content_sha256=sha256,
                created_by=_user(user),
            )
            if dispatch:
                transaction.on_commit(lambda: job_dispatch(job_id=job.pk))
    except IntegrityError:  # the same request raced this one in: answer as the first one was
        default_storage.delete(stored)
        raise _duplicate_upload(camera, idempotency_key, sha256) or DuplicateJob(ProcessingJob(), "A concurrent request was accepted first.") from None
    logger.info("traffic job %s queued for camera %s (%s)", job.pk, camera.pk, name)
    return job


def _duplicate_stream(camera: Camera, idempotency_key: str, url: str) -> DuplicateJob | None:
    if idempotency_key:
        earlier = ProcessingJob.objects.filter(camera=camera, idempotency_key=idempotency_key).first()
        if earlier is not None:
            if earlier.kind == JobKind.STREAM and earlier.source_url == url:
                return DuplicateJob(earlier, f"Already accepted as job #{earlier.pk}.", replay=True)
            return DuplicateJob(earlier, f"This Idempotency-Key was already used for another request (job #{earlier.pk}); use a new key for a new request.")
    active = ProcessingJob.objects.filter(camera=camera, kind=JobKind.STREAM, status__in=ACTIVE_JOB_STATUSES).first()
    if active is not None:
        return DuplicateJob(active, f"Camera {camera.pk} already has a stream session ({active.status}, job #{active.pk}); cancel it before starting another.")
    return None


def job_create_stream(*, camera: Camera, url: str = "", max_frames: int | None = None, user: Any = None, idempotency_key: str = "") -> ProcessingJob:
    """Queue a stream session. One active session per camera (a database constraint): a second start is a
    :class:`DuplicateJob`, as is a resend with the same Idempotency-Key (a replay)."""
    url = (url or camera.stream_url).strip()
    if not url:
        raise ValidationError({"url": ["Give a stream URL (rtsp://, rtsps://, http://, https://) or set one on the camera."]})
    stream_url_check(url, field_name="url")
    idempotency_key = idempotency_key.strip()[:200]
    duplicate = _duplicate_stream(camera, idempotency_key, url)
    if duplicate is not None:
        raise duplicate
    try:
        with transaction.atomic():
            job = ProcessingJob.objects.create(
                camera=camera,
                kind=JobKind.STREAM,
                source_url=url[:500],
                recorded_at=timezone.now(),
                fps=camera.fps,
                max_frames=max_frames,
                idempotency_key=idempotency_key,
                created_by=_user(user),
            )
            transaction.on_commit(lambda: job_dispatch(job_id=job.pk, undo=True))
    except IntegrityError:
        raise _duplicate_stream(camera, idempotency_key, url) or DuplicateJob(ProcessingJob(), "A concurrent request was accepted first.") from None
    return job


def job_dispatch(*, job_id: int, undo: bool = False) -> bool:
    """Send the job's task. When the broker is unreachable: with ``undo`` (a stream start, which carries no data)
    the job is deleted and the request answers 503; otherwise (an uploaded video, a resumed job) the job stays
    queued and :func:`jobs_redispatch_queued` sends it once the broker is back."""
    from apps.traffic.tasks import process_job, process_stream

    job = ProcessingJob.objects.filter(pk=job_id).only("attempts", "kind").first()
    if job is None:
        return False
    task = process_stream if job.kind == JobKind.STREAM else process_job
    return broker_send(
        lambda: task.apply_async(args=[job_id], task_id=f"traffic-job-{job_id}-{job.attempts}"),
        what=f"traffic job #{job_id}",
        undo=(lambda: ProcessingJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).delete()) if undo else None,
        required=undo,
    )


def jobs_redispatch_queued(*, older_than_seconds: float | None = None) -> list[int]:
    """Send again the task of jobs still queued long after they were queued (their message was lost in a broker
    outage). Idempotent: a job already claimed ignores a second message; each job is re-sent at most once per
    ``REDISPATCH_QUEUED_AFTER_SECONDS``."""
    older = settings.REDISPATCH_QUEUED_AFTER_SECONDS if older_than_seconds is None else older_than_seconds
    cutoff = timezone.now() - timedelta(seconds=older)
    ids = list(ProcessingJob.objects.filter(status=JobStatus.QUEUED, created_at__lt=cutoff).values_list("pk", flat=True))
    sent = [pk for pk in ids if redispatch("traffic-job", pk, lambda pk=pk: job_dispatch(job_id=pk))]
    if sent:
        logger.warning("traffic jobs %s were still queued after %s s; dispatched again", sent, older)
    return sent


def jobs_resume_stale(*, stale_after_seconds: float | None = None) -> list[int]:
    """Re-queue running jobs whose worker stopped sending heartbeats (killed, crashed host): they resume from their
    checkpoint. A job that lost its worker ``TRAFFIC_MAX_ATTEMPTS`` times is failed instead."""
    stale = settings.TRAFFIC_STALE_JOB_SECONDS if stale_after_seconds is None else stale_after_seconds
    cutoff = timezone.now() - timedelta(seconds=stale)
    resumed = []
    with transaction.atomic():
        for job in ProcessingJob.objects.select_for_update(skip_locked=True).filter(status=JobStatus.RUNNING, heartbeat_at__lte=cutoff):
            if job.attempts >= settings.TRAFFIC_MAX_ATTEMPTS:
                _finish(job, JobStatus.FAILED, error=f"The worker was lost {job.attempts} times (last: {job.worker}); stopped at frame {job.checkpoint_frame}.")
                continue
            job.status, job.stage = JobStatus.QUEUED, f"resuming from frame {job.checkpoint_frame}"
            job.save(update_fields=["status", "stage"])
            resumed.append(job.pk)
            transaction.on_commit(lambda pk=job.pk: job_dispatch(job_id=pk))
    if resumed:
        logger.warning("traffic jobs %s lost their worker; re-queued to resume from their checkpoints", resumed)
    return resumed


def job_cancel(*, job: ProcessingJob) -> ProcessingJob:
    with transaction.atomic():
        job = ProcessingJob.objects.select_for_update().get(pk=job.pk)
        if job.status == JobStatus.QUEUED:
            _finish(job, JobStatus.CANCELLED, error="Cancelled before it started.")
        elif job.status == JobStatus.RUNNING:
            job.cancel_requested = True
            job.save(update_fields=["cancel_requested"])
    return job


def _finish(job: ProcessingJob, status: str, *, error: str = "", **fields: Any) -> None:
    job.status, job.error, job.finished_at = status, error[:4000], timezone.now()
    for key, value in fields.items():
        setattr(job, key, value)
    job.save()


def _claim(job_id: int, worker: str) -> ProcessingJob | None:
    stale_before = timezone.now() - timedelta(seconds=settings.TRAFFIC_STALE_JOB_SECONDS)
    with transaction.atomic():
        job = ProcessingJob.objects.select_for_update().select_related("camera").filter(pk=job_id).first()
        if job is None or job.is_finished:
            return None
        if job.status == JobStatus.RUNNING and job.heartbeat_at and job.heartbeat_at > stale_before:
            logger.info("traffic job %s is already running on %s; duplicate delivery ignored", job_id, job.worker)
            return None
        now = timezone.now()
        job.status, job.attempts, job.worker, job.heartbeat_at = JobStatus.RUNNING, job.attempts + 1, worker[:200], now
        job.started_at = job.started_at or now
        job.stage = "starting" if job.checkpoint_frame == 0 else f"resuming at frame {job.checkpoint_frame}"
        job.save()
    return job


class JobLost(Exception):
    """The job row was taken over (a newer attempt) or cancelled while this worker ran it."""


@dataclass
class _Pending:
    crossings: list = field(default_factory=list)
    events: list = field(default_factory=list)
    tracks: list = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.crossings or self.events or self.tracks)


class _JobRunner:
    """Runs one attempt of a job: builds the pipeline from the camera's configuration and writes what it finds
    with a checkpoint, in one transaction per flush."""

    def __init__(self, job: ProcessingJob) -> None:
        self.job = job
        self.camera = job.camera
        self.lines = {str(line.pk): line for line in self.camera.lines.all()}
        self.zones = {str(zone.pk): zone for zone in self.camera.zones.all()}
        self.pending = _Pending()
        self.last_flush = time.monotonic()
        self.pipeline_ = None

    def detector(self):  # noqa: ANN201
        """The camera's own detector version if it has one, else the family's production version, else motion."""
        from apps.mlops.serving import model_cache
        from apps.traffic.camera_detector import camera_detector_for_job
        from ml.traffic import default_detector

        version, own = camera_detector_for_job(self.camera)
        if version is not None:
            predictor = model_cache.predictor(version)
            detector = predictor.detector
            self.job.detector = f"ultralytics YOLO {DETECTOR_FAMILY} v{version.version}{', trained on this camera' if own else ''}"[:200]
            self.job.detector_model_version = version.pk
            return detector
        detector = default_detector()
        self.job.detector = detector.description
        return detector

    def pipeline(self, fps: float, size: tuple[int, int] | None):  # noqa: ANN201
        from ml.traffic import TrafficPipeline

        homography = None
        if self.camera.is_calibrated:
            homography = Homography([tuple(p) for p in self.camera.calibration_image_points], [tuple(p) for p in self.camera.calibration_ground_points])
        totals: dict[tuple[str, int], int] = {}
        for row in Crossing.objects.filter(job=self.job).values("line_id", "direction").annotate(n=DbCount("id")):
            line = self.lines.get(str(row["line_id"]))
            if line is not None:
                key = (str(line.pk), line.in_side if row["direction"] == Direction.IN else -line.in_side)
                totals[key] = row["n"]
        self.pipeline_ = TrafficPipeline(
            detector=self.detector(),
            lines=[line_spec(line) for line in self.lines.values()],
            zones=[zone_spec(zone) for zone in self.zones.values()],
            fps=fps,
            frame_size=size,
            homography=homography,
            track_prefix=f"a{self.job.attempts}-",
            initial_counts=totals,
        )
        return self.pipeline_

    def resume_state(self) -> dict | None:
        """The previous attempt's pipeline state at the checkpoint, if this attempt resumes one."""
        return (self.job.resume_state or None) if self.job.checkpoint_frame > 0 else None

    def at(self, frame: int) -> datetime:
        return self.job.recorded_at + timedelta(seconds=frame / (self.job.fps or 25.0))

    def collect(self, result) -> None:  # noqa: ANN001
        for c in result.crossings:
            line = self.lines[c.line]
            direction = Direction.IN if c.direction == line.in_side else Direction.OUT
            self.pending.crossings.append(
                Crossing(job=self.job, line=line, track_key=c.track_id, label=c.label, direction=direction, frame=c.frame, occurred_at=self.at(c.frame))
            )
        for e in result.events:
            self.pending.events.append(
                Event(
                    camera=self.camera,
                    job=self.job,
                    kind=e.kind,
                    key=e.key[:200],
                    frame=e.frame,
                    occurred_at=self.at(e.frame),
                    track_key=e.track_id or "",
                    line=self.lines.get(e.line or ""),
                    zone=self.zones.get(e.zone or ""),
                    details=e.details,
                )
            )
        self.pending.tracks.extend(result.finished_tracks)

    def flush(self, next_frame: int, *, progress: float, stage: str, force: bool = False) -> None:
        """Write what was found up to ``next_frame`` and move the checkpoint there, atomically."""
        if not force and not self.pending and time.monotonic() - self.last_flush < settings.TRAFFIC_CHECKPOINT_SECONDS:
            return
        # Taken right after frame next_frame - 1: a resumed attempt continues these tracks and zone states.
        state = self.pipeline_.snapshot() if self.pipeline_ is not None else {}
        with transaction.atomic():
            updated = ProcessingJob.objects.filter(pk=self.job.pk, status=JobStatus.RUNNING, attempts=self.job.attempts, cancel_requested=False).update(
                resume_state=state,
                checkpoint_frame=next_frame,
                progress=round(progress, 2),
                stage=stage[:64],
                heartbeat_at=timezone.now(),
                annotated_parts=self.job.annotated_parts,
            )
            if not updated:
                raise JobLost(f"job {self.job.pk} was cancelled or taken over by another attempt")
            Crossing.objects.bulk_create(self.pending.crossings, ignore_conflicts=True)
            Event.objects.bulk_create(self.pending.events, ignore_conflicts=True)
            if self.pending.events and settings.TRAFFIC_EVENT_WEBHOOK_URL:
                keys = [e.key for e in self.pending.events]
                ids = list(Event.objects.filter(job=self.job, key__in=keys, webhook_sent_at__isnull=True).values_list("pk", flat=True))
                transaction.on_commit(lambda: _dispatch_webhooks(ids))
            for t in self.pending.tracks:
                Track.objects.update_or_create(
                    job=self.job,
                    track_key=t.track_id,
                    defaults={
                        "camera": self.camera,
                        "label": t.label,
                        "first_frame": t.first_frame,
                        "last_frame": t.last_frame,
                        "first_seen": self.at(t.first_frame),
                        "last_seen": self.at(t.last_frame),
                        "path": [list(p) for p in t.path],
                        "speed_kmh": t.speed_kmh if self.camera.is_calibrated else None,
                        "max_speed_kmh": t.max_speed_kmh if self.camera.is_calibrated else None,
                    },
                )
            counts_recompute(line_ids={c.line_id for c in self.pending.crossings}, moments=[c.occurred_at for c in self.pending.crossings])
        self.job.checkpoint_frame = next_frame
        self.pending = _Pending()
        self.last_flush = time.monotonic()


def job_execute(*, job_id: int, worker: str = "") -> ProcessingJob | None:
    """Run (or resume) a job on this worker; idempotent under redelivery."""
    from celery.exceptions import SoftTimeLimitExceeded

    from ml.traffic import VideoError

    job = _claim(job_id, worker)
    if job is None:
        return None
    runner = _JobRunner(job)
    try:
        if job.kind == JobKind.STREAM:
            _run_stream(runner)
        else:
            _run_video(runner)
    except JobLost as exc:
        logger.info("%s", exc)
        job.refresh_from_db()
        if job.cancel_requested and job.status == JobStatus.RUNNING:
            _finish(job, JobStatus.CANCELLED, error="Cancelled by an operator.")
        return job
    except SoftTimeLimitExceeded:
        # Everything up to the checkpoint is written: continue in a fresh task instead of failing a long video.
        ProcessingJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(status=JobStatus.QUEUED, stage="continuing after the task time limit")
        transaction.on_commit(lambda: job_dispatch(job_id=job.pk))
        return job
    except (VideoError, StreamUnavailable, ValidationError) as exc:
        _finish(job, JobStatus.FAILED, error=str(exc.messages[0] if isinstance(exc, ValidationError) else exc))
        return job
    except Exception as exc:
        logger.exception("traffic job %s failed", job.pk)
        _finish(job, JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        return job
    job.refresh_from_db()
    if job.status == JobStatus.RUNNING:
        _finish(
            job,
            JobStatus.SUCCEEDED,
            progress=100.0,
            stage="done",
            resume_state={},
            detector=runner.job.detector,
            detector_model_version=runner.job.detector_model_version,
        )
    return job


def _annotated_part(job: ProcessingJob, start: int) -> Path:
    name = f"traffic/annotated/job-{job.pk}-part-{start}.mp4"
    path = Path(default_storage.path(name))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    job.annotated_parts = [p for p in job.annotated_parts if p["start"] < start] + [{"start": start, "name": name}]
    return path


def _save_latest_frame(camera: Camera, frame) -> None:  # noqa: ANN001
    import cv2

    name = f"traffic/frames/camera-{camera.pk}.jpg"
    path = Path(default_storage.path(name))
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if ok:
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data.tobytes())
        tmp.replace(path)
        Camera.objects.filter(pk=camera.pk).update(latest_frame=name, width=frame.shape[1], height=frame.shape[0])


def _run_video(runner: _JobRunner) -> None:
    from ml.traffic import process_video, read_frames
    from ml.traffic.video import probe_video_isolated

    job = runner.job
    path = Path(default_storage.path(job.video.name))
    ProcessingJob.objects.filter(pk=job.pk).update(stage="checking the video")
    info = probe_video_isolated(path, timeout_seconds=settings.TRAFFIC_PROBE_TIME_LIMIT_SECONDS)
    if job.fps is None or job.frame_count is None:
        job.fps, job.frame_count = job.fps or info.fps, info.frame_count
        ProcessingJob.objects.filter(pk=job.pk).update(fps=job.fps, frame_count=job.frame_count)
        Camera.objects.filter(pk=job.camera_id, width__isnull=True).update(width=info.width, height=info.height)
    fps = job.fps or info.fps
    for _, first in read_frames(path):
        _save_latest_frame(job.camera, first)
        break
    pipeline = runner.pipeline(fps, (info.width, info.height))
    ProcessingJob.objects.filter(pk=job.pk).update(detector=job.detector, detector_model_version=job.detector_model_version, stage="processing")
    total = job.frame_count or info.frame_count or 1
    start = job.checkpoint_frame
    annotated = _annotated_part(job, start)
    last = start - 1
    for result in process_video(path, pipeline, start_frame=start, annotated_path=annotated, resume_state=runner.resume_state()):
        runner.collect(result)
        last = max(last, result.frame)
        runner.flush(last + 1, progress=min(99.0, 100.0 * (last + 1) / total), stage=f"frame {last + 1}/{total}")
    runner.flush(last + 1, progress=99.0, stage="writing the annotated video", force=True)
    _merge_annotated(job)


def _merge_annotated(job: ProcessingJob) -> None:
    from ml.traffic.video import concat_h264_parts

    parts = [(p["start"], Path(default_storage.path(p["name"]))) for p in job.annotated_parts if Path(default_storage.path(p["name"])).exists()]
    if not parts:
        return
    name = f"traffic/annotated/job-{job.pk}.mp4"
    target = Path(default_storage.path(name))
    try:
        # Also for a single part: the remux turns the fragmented MP4 (safe while writing) into a plain one with its
        # index up front, so browsers know the duration at once and can seek.
        concat_h264_parts(parts, target)
    except Exception:  # noqa: BLE001 - the counts are written; a video that cannot be joined falls back to the last part
        logger.warning("job %s: could not join the annotated parts; keeping the last one", job.pk, exc_info=True)
        shutil.copyfile(parts[-1][1], target)
    for _, part in parts:
        part.unlink(missing_ok=True)
    ProcessingJob.objects.filter(pk=job.pk).update(annotated_video=name, annotated_parts=[])


class StreamUnavailable(Exception):
    """The stream could not be read after every retry."""


STREAM_DEFAULT_FPS = 25.0


def _stream_fps(job: ProcessingJob) -> float | None:
    """Measure the frame rate of a stream whose camera does not set one, and record it on the job."""
    from ml.traffic.video import measure_stream_fps

    ProcessingJob.objects.filter(pk=job.pk).update(stage="measuring the frame rate")
    fps = measure_stream_fps(job.source_url)
    if fps is None:
        logger.warning("job %s: could not measure the stream's frame rate; assuming %s fps", job.pk, STREAM_DEFAULT_FPS)
        return None
    ProcessingJob.objects.filter(pk=job.pk).update(fps=fps)
    return fps


def _stream_segment_path(job: ProcessingJob, first: int) -> Path:
    path = Path(default_storage.path(f"traffic/annotated/job-{job.pk}-writing-{first}.mp4"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    return path


def _stream_segment_done(job: ProcessingJob, written: Path, first: int, last: int) -> None:
    """A stream session's annotated segment is complete: make it the camera's latest annotated video (remuxed
    with its index up front so the browser plays and seeks it) and keep the last TRAFFIC_STREAM_SEGMENTS_KEPT."""
    from ml.traffic.video import concat_h264_parts

    name = f"traffic/annotated/job-{job.pk}-frames-{first}-{last}.mp4"
    try:
        concat_h264_parts([(first, written)], Path(default_storage.path(name)))
    except Exception:  # noqa: BLE001 - a segment that cannot be remuxed is skipped; counting goes on
        logger.warning("job %s: could not finish the annotated segment of frames %s-%s", job.pk, first, last, exc_info=True)
        return
    finally:
        written.unlink(missing_ok=True)
    segments = [*job.annotated_parts, {"start": first, "end": last, "name": name}]
    keep = max(1, settings.TRAFFIC_STREAM_SEGMENTS_KEPT)
    for old in segments[:-keep]:
        default_storage.delete(old["name"])
    job.annotated_parts = segments[-keep:]
    job.annotated_video = name
    ProcessingJob.objects.filter(pk=job.pk).update(annotated_video=name, annotated_parts=job.annotated_parts)


def _run_stream(runner: _JobRunner) -> None:
    from ml.traffic import StreamLost, process_video

    job = runner.job
    failures = 0
    stream_url_check(job.source_url, field_name="source_url")
    if not (job.fps or job.camera.fps):
        job.fps = _stream_fps(job)
    pipeline = runner.pipeline(job.fps or job.camera.fps or STREAM_DEFAULT_FPS, None)
    ProcessingJob.objects.filter(pk=job.pk).update(detector=job.detector, detector_model_version=job.detector_model_version, stage="connecting")
    next_frame = job.checkpoint_frame
    resume_state = runner.resume_state()
    while True:
        if job.max_frames is not None and next_frame >= job.max_frames:
            break
        stream_url_check(job.source_url, field_name="source_url")  # the host may resolve elsewhere by now
        try:
            for result in process_video(
                job.source_url,
                pipeline,
                is_stream=True,
                index_offset=next_frame,
                end_frame=job.max_frames,
                on_first_frame=lambda frame: _save_latest_frame(job.camera, frame),
                resume_state=resume_state,
                annotated_path=lambda first: _stream_segment_path(job, first),
                segment_frames=max(1, round(settings.TRAFFIC_STREAM_SEGMENT_SECONDS * pipeline.fps)),
                on_segment=lambda path, first, last: _stream_segment_done(job, path, first, last),
            ):
                resume_state = None  # restored at the first frame; a reconnect keeps the pipeline's own state
                failures = 0
                runner.collect(result)
                next_frame = result.frame + 1
                progress = 100.0 * next_frame / job.max_frames if job.max_frames else 0.0
                runner.flush(next_frame, progress=min(99.0, progress), stage=f"streaming, frame {next_frame}")
            break
        except StreamLost as exc:
            failures += 1
            job.reconnects += 1
            ProcessingJob.objects.filter(pk=job.pk).update(reconnects=job.reconnects, heartbeat_at=timezone.now())
            if failures > settings.TRAFFIC_STREAM_MAX_RETRIES:
                raise StreamUnavailable(
                    f"Stream unreachable after {failures} attempts ({exc}). Check the URL and that the camera is online, then start a new session."
                ) from None
            delay = min(settings.TRAFFIC_STREAM_BACKOFF_MAX_SECONDS, settings.TRAFFIC_STREAM_BACKOFF_SECONDS * 2 ** (failures - 1))
            logger.warning("job %s: %s; reconnecting in %.1f s (attempt %s)", job.pk, exc, delay, failures)
            runner.flush(next_frame, progress=0.0, stage=f"reconnecting ({failures}/{settings.TRAFFIC_STREAM_MAX_RETRIES})", force=True)
            time.sleep(delay)
    runner.flush(next_frame, progress=99.0, stage="closing", force=True)


# --- event webhook --------------------------------------------------------------------------------------------
def _dispatch_webhooks(event_ids: list[int]) -> None:
    from apps.traffic.tasks import send_event_webhooks

    if event_ids:
        # Events keep webhook_sent_at empty until delivered; a lost notification is only logged.
        broker_send(lambda: send_event_webhooks.delay(event_ids), what=f"webhooks of traffic events {event_ids}", required=False)


def event_payload(event: Event) -> dict[str, Any]:
    return {
        "id": event.pk,
        "kind": event.kind,
        "camera": {"id": event.camera_id, "name": event.camera.name},
        "job": event.job_id,
        "occurred_at": event.occurred_at.isoformat(),
        "frame": event.frame,
        "track": event.track_key or None,
        "line": event.line.name if event.line else None,
        "zone": event.zone.name if event.zone else None,
        "details": event.details,
    }


def event_webhooks_send(*, event_ids: list[int]) -> int:
    """POST each unsent event as JSON to ``TRAFFIC_EVENT_WEBHOOK_URL``; returns how many were delivered.
    Raises :class:`~apps.core.webhooks.WebhookFailed` (after marking the delivered ones) so the task retries the
    rest; a URL the webhook guard refuses is logged once and nothing is sent."""
    url = settings.TRAFFIC_EVENT_WEBHOOK_URL
    if not url:
        return 0
    sent = 0
    for event in Event.objects.filter(pk__in=event_ids, webhook_sent_at__isnull=True).select_related("camera", "line", "zone"):
        try:
            webhooks.webhook_post(url, event_payload(event), timeout=settings.TRAFFIC_WEBHOOK_TIMEOUT_SECONDS, user_agent="downstream-traffic")
        except webhooks.WebhookRefused as exc:
            logger.error("TRAFFIC_EVENT_WEBHOOK_URL refused, events not sent: %s", exc)
            return sent
        Event.objects.filter(pk=event.pk).update(webhook_sent_at=timezone.now())
        sent += 1
    return sent


# --- counts ---------------------------------------------------------------------------------------------------
def bin_start(moment: datetime, minutes: int) -> datetime:
    moment = moment.replace(second=0, microsecond=0)
    return moment - timedelta(minutes=moment.minute % minutes)


def counts_recompute(*, line_ids: Iterable[int], moments: Iterable[datetime]) -> None:
    """Rebuild the 1- and 15-minute count bins that hold ``moments`` from the crossing rows (idempotent)."""
    line_ids, moments = set(line_ids), list(moments)
    if not line_ids or not moments:
        return
    for minutes in BinSize.values:
        for start in {bin_start(m, minutes) for m in moments}:
            end = start + timedelta(minutes=minutes)
            rows = (
                Crossing.objects.filter(line_id__in=line_ids, occurred_at__gte=start, occurred_at__lt=end)
                .values("line_id", "line__camera_id", "label", "direction")
                .annotate(n=DbCount("id"))
            )
            for row in rows:
                Count.objects.update_or_create(
                    line_id=row["line_id"],
                    label=row["label"],
                    direction=row["direction"],
                    bin_minutes=minutes,
                    bin_start=start,
                    defaults={"count": row["n"], "camera_id": row["line__camera_id"]},
                )


# --- reviews of counted crossings -------------------------------------------------------------------------------
# An operator's reviews are ground truth kept beside the machine's crossings, which stay as counted. The job's row
# lock serialises every review write with marking the review complete: a write either lands before (and counts) or
# finds the review complete and is refused.
CROSSING_VERDICTS = (ReviewVerdict.CONFIRMED, ReviewVerdict.REJECTED, ReviewVerdict.CORRECTED)


def _user_or_none(user: Any) -> Any:
    return user if getattr(user, "is_authenticated", False) else None


def _review_lock(job: ProcessingJob) -> ProcessingJob:
    """The job's row, locked; a ValidationError (409) once its review is marked complete."""
    locked = ProcessingJob.objects.select_for_update().get(pk=job.pk)
    if locked.reviewed_at is not None:
        raise conflict("job", f"The review of job #{job.pk} is marked complete; reopen it before changing its reviews.")
    return locked


def _review_values(*, direction: str | None, label: str | None) -> None:
    errors = {}
    if direction is not None and direction not in Direction.values:
        errors["direction"] = [f"Must be one of {', '.join(Direction.values)}."]
    if label is not None and label not in VEHICLE_CLASSES:
        errors["label"] = [f"Must be one of {', '.join(VEHICLE_CLASSES)}."]
    if errors:
        raise ValidationError(errors)


def _review_frame(job: ProcessingJob, *, frame: int | None, seconds: float | None) -> int:
    """The frame of a missed crossing, given as a frame number or as seconds into the job's video."""
    if (frame is None) == (seconds is None):
        raise ValidationError({"frame": ["Give the moment as either frame or seconds (one of them)."]})
    if seconds is not None:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValidationError({"seconds": ["Must be a number of seconds from 0."]})
        frame = round(seconds * selectors.job_fps(job))
    limit = selectors.job_frame_limit(job)
    if limit == 0:
        raise ValidationError({"frame": [f"Job #{job.pk} has no processed frames yet; add missed crossings once it has."]})
    if not 0 <= frame < limit:
        field = "seconds" if seconds is not None else "frame"
        last = f"{selectors.job_seconds(job, limit - 1):.2f} s" if seconds is not None else f"frame {limit - 1}"
        raise ValidationError({field: [f"The job's video ends at {last}; give a moment within it."]})
    return frame


def crossing_review_set(
    *, crossing: Crossing, verdict: str, direction: str | None = None, label: str | None = None, user: Any = None
) -> tuple[CrossingReview, bool]:
    """Record an operator's judgement of a counted crossing, replacing an earlier one; returns it and whether it
    is new. ``rejected``: it did not happen (``direction`` and ``label`` are not used). ``confirmed`` or
    ``corrected``: it happened with ``direction`` and ``label`` (default: what the machine counted); it is stored
    as ``corrected`` exactly when one of them differs from the machine's."""
    if verdict not in CROSSING_VERDICTS:
        raise ValidationError({"verdict": [f"Must be one of {', '.join(CROSSING_VERDICTS)}; a missed crossing is added on its own."]})
    _review_values(direction=direction, label=label)
    if verdict == ReviewVerdict.REJECTED:
        direction, label = crossing.direction, crossing.label
    else:
        direction, label = direction or crossing.direction, label or crossing.label
        changed = (direction, label) != (crossing.direction, crossing.label)
        verdict = ReviewVerdict.CORRECTED if changed else ReviewVerdict.CONFIRMED
    with transaction.atomic():
        _review_lock(crossing.job)
        review, created = CrossingReview.objects.update_or_create(
            crossing=crossing,
            defaults={
                "job_id": crossing.job_id,
                "line_id": crossing.line_id,
                "verdict": verdict,
                "direction": direction,
                "label": label,
                "frame": crossing.frame,
                "reviewer": _user_or_none(user),
                "reviewed_at": timezone.now(),
            },
        )
    return review, created


def crossing_review_add(
    *, job: ProcessingJob, line: CountingLine, direction: str, label: str, frame: int | None = None, seconds: float | None = None, user: Any = None
) -> CrossingReview:
    """Add a crossing the machine missed: on ``line`` (one of the job's camera), in ``direction``, of class
    ``label``, at ``frame`` or ``seconds`` into the job's video."""
    if line.camera_id != job.camera_id:
        raise ValidationError({"line": [ValidationError(f"Line {line.pk} is not a counting line of job #{job.pk}'s camera.", code=DOES_NOT_EXIST)]})
    _review_values(direction=direction, label=label)
    frame = _review_frame(job, frame=frame, seconds=seconds)
    with transaction.atomic():
        _review_lock(job)
        review = CrossingReview(
            job=job,
            line=line,
            verdict=ReviewVerdict.ADDED,
            direction=direction,
            label=label,
            frame=frame,
            reviewer=_user_or_none(user),
            reviewed_at=timezone.now(),
        )
        review.full_clean()
        review.save()
    return review


def crossing_review_update(
    *,
    review: CrossingReview,
    verdict: str | None = None,
    line: CountingLine | None = None,
    direction: str | None = None,
    label: str | None = None,
    frame: int | None = None,
    seconds: float | None = None,
    user: Any = None,
) -> CrossingReview:
    """Change a review. A counted crossing's review may change its verdict, direction and label (as
    :func:`crossing_review_set`); an added crossing stays added and may change its line, direction, label and moment."""
    if review.crossing_id is not None:
        errors = {
            name: ["A counted crossing keeps its line and moment; only its verdict, direction and label are reviewed."]
            for name, value in (("line", line), ("frame", frame), ("seconds", seconds))
            if value is not None
        }
        if errors:
            raise ValidationError(errors)
        verdict = verdict or review.verdict
        if verdict == ReviewVerdict.REJECTED and (direction or label):
            raise ValidationError({"verdict": ["A rejected crossing did not happen: it has no direction or class. Set verdict corrected to change them."]})
        keep = review.verdict != ReviewVerdict.REJECTED  # a rejection stored the machine's values: nothing to keep
        return crossing_review_set(
            crossing=review.crossing,
            verdict=verdict,
            direction=direction or (review.direction if keep else None),
            label=label or (review.label if keep else None),
            user=user,
        )[0]
    if verdict is not None and verdict != ReviewVerdict.ADDED:
        raise ValidationError({"verdict": ["An added crossing stays added; delete it if it did not happen."]})
    if line is not None and line.camera_id != review.job.camera_id:
        raise ValidationError({"line": [ValidationError(f"Line {line.pk} is not a counting line of job #{review.job_id}'s camera.", code=DOES_NOT_EXIST)]})
    _review_values(direction=direction, label=label)
    if frame is not None or seconds is not None:
        review.frame = _review_frame(review.job, frame=frame, seconds=seconds)
    review.line = line or review.line
    review.direction, review.label = direction or review.direction, label or review.label
    review.reviewer, review.reviewed_at = _user_or_none(user) or review.reviewer, timezone.now()
    with transaction.atomic():
        _review_lock(review.job)
        review.full_clean()
        review.save()
    return review


def crossing_review_delete(*, review: CrossingReview) -> None:
    """Undo a review: a counted crossing is unreviewed again (it counts as the machine counted it), an added one is gone."""
    with transaction.atomic():
        _review_lock(review.job)
        CrossingReview.objects.filter(pk=review.pk).delete()


def job_review_complete(*, job: ProcessingJob, user: Any = None) -> ProcessingJob:
    """Mark the review of a finished job's crossings complete: crossings nobody rejected or corrected count as
    confirmed, and the reviewed counts become ground truth (:func:`~apps.traffic.selectors.job_reviewed_counts`)."""
    with transaction.atomic():
        locked = _review_lock(job)
        if locked.status not in (JobStatus.SUCCEEDED, JobStatus.CANCELLED):
            state = (
                "has failed: what it did not process cannot be reviewed"
                if locked.status == JobStatus.FAILED
                else f"is {locked.status}: its counts may still grow"
            )
            raise conflict("job", f"Job #{job.pk} {state}. A review can be completed once the job has succeeded or was stopped.")
        locked.reviewed_at, locked.reviewed_by = timezone.now(), _user_or_none(user)
        locked.save(update_fields=["reviewed_at", "reviewed_by"])
    return locked


def job_review_reopen(*, job: ProcessingJob) -> ProcessingJob:
    """Open a completed review again for changes; its counts are no longer ground truth until completed again."""
    with transaction.atomic():
        locked = ProcessingJob.objects.select_for_update().get(pk=job.pk)
        locked.reviewed_at, locked.reviewed_by = None, None
        locked.save(update_fields=["reviewed_at", "reviewed_by"])
    return locked


THUMBNAIL_SIZE = 192  # pixels: the side of a crop around a vehicle, the width of a whole frame


def _track_point(job: ProcessingJob, track_key: str, frame: int) -> tuple[float, float] | None:
    path = Track.objects.filter(job=job, track_key=track_key).values_list("path", flat=True).first()
    if not path:
        return None
    _, x, y = min(path, key=lambda p: abs(p[0] - frame))
    return float(x), float(y)


def _thumbnail(job: ProcessingJob, frame_number: int, name: str, centre: tuple[float, float] | None) -> Path | None:
    """A cached JPEG of ``frame_number`` of the job: a square around ``centre`` (source pixels) or the whole frame.
    ``name`` is built from ids only; the file lives under the job's own folder."""
    import cv2

    from ml.traffic.video import read_frame

    source = selectors.job_frame_source(job, frame_number)
    if source is None:
        return None
    # Cut from the recording until the annotated video exists, then from that: each has a picture of its own.
    kind = "recording" if job.video and source[0] == Path(default_storage.path(job.video.name)) else "annotated"
    target = Path(default_storage.path(f"traffic/reviews/job-{job.pk}/{name}-{kind}.jpg"))
    try:
        # A picture older than its video was cut from another one (rewritten, or a job id used again): cut anew.
        if target.stat().st_mtime_ns >= source[0].stat().st_mtime_ns:
            return target
    except FileNotFoundError:
        pass
    image = read_frame(*source)
    if image is None:
        return None
    height, width = image.shape[:2]
    if centre is not None:
        scale = width / job.camera.width if job.camera.width else 1.0  # the annotated video may be scaled down
        side = min(height, width, max(32, min(height, width) // 2))
        x0 = int(min(max(0.0, centre[0] * scale - side / 2), width - side))
        y0 = int(min(max(0.0, centre[1] * scale - side / 2), height - side))
        image = cv2.resize(image[y0 : y0 + side, x0 : x0 + side], (THUMBNAIL_SIZE, THUMBNAIL_SIZE), interpolation=cv2.INTER_AREA)
    elif width > THUMBNAIL_SIZE:
        image = cv2.resize(image, (THUMBNAIL_SIZE, max(1, round(height * THUMBNAIL_SIZE / width))), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: two requests for the same picture never serve a half-written file.
    handle, written = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data.tobytes())
        os.replace(written, target)
    except BaseException:
        Path(written).unlink(missing_ok=True)
        raise
    return target


def crossing_thumbnail(*, crossing: Crossing) -> Path | None:
    """The moment a crossing was counted, cut around its vehicle from the job's stored video (cached); None when
    no stored video holds that frame (a stream session keeps its latest segments only)."""
    job = crossing.job
    return _thumbnail(job, crossing.frame, f"crossing-{crossing.pk}", _track_point(job, crossing.track_key, crossing.frame))


def review_thumbnail(*, review: CrossingReview) -> Path | None:
    """The whole frame at an added crossing's moment (cached per moment); None as for :func:`crossing_thumbnail`."""
    if review.crossing_id is not None:
        return crossing_thumbnail(crossing=review.crossing)
    return _thumbnail(review.job, review.frame, f"frame-{review.frame}", None)


def camera_source_kind_ok(camera: Camera) -> None:
    if camera.source_kind == SourceKind.STREAM and not camera.stream_url:
        raise ValidationError({"stream_url": ["A stream camera needs a stream URL."]})
    if camera.stream_url:
        stream_url_check(camera.stream_url, field_name="stream_url")
