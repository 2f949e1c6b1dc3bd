"""A detector that learns from the camera: per-camera ``traffic.detector`` versions and which detector serves a camera.

A camera's processed recordings (the videos of its finished jobs, stored by the upload) are the footage a YOLO
learns from: a registry run of ``traffic.detector`` with ``config.camera`` set harvests them with the motion pipeline
(:mod:`ml.traffic.selftrain`) — the worker resolves the paths from the camera; nobody passes a path. After training
it counts held-out footage with the new detector and with the motion pipeline:

- the camera's jobs whose crossing review is complete, counted whole against their reviewed counts, when there are
  any; the detector is then put in service for the camera when its absolute error is below the motion pipeline's;
- otherwise the last part of each recording it learnt from (``footage_end_fraction``), where only the two counts
  can be shown: an operator decides ("Use for this camera" / back to the default detector).

A job uses its camera's version when set, else the family's production version (e.g. operator-uploaded COCO
weights), else background subtraction (:func:`camera_detector_for_job`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import QuerySet

from apps.core.errors import conflict
from apps.mlops import services as mlops_services
from apps.mlops.models import UNUSABLE_VERSION_STATUSES, ModelVersion, RunStatus, TrainingRun, Trigger
from apps.mlops.serving import model_cache
from apps.traffic import selectors
from apps.traffic.models import Camera, Direction, JobKind, JobStatus, ProcessingJob
from apps.traffic.services import DETECTOR_FAMILY, line_spec
from ml.traffic.geometry import LineSpec
from ml.traffic.selftrain import HeldOut

logger = logging.getLogger(__name__)

FOOTAGE_JOBS = 50  # the latest recordings considered, for training and for held-out counting together
# Held-out footage is counted twice after training (new detector and motion pipeline): at most this many frames
# (6 minutes at 25 fps), newest recordings first.
HELD_OUT_MAX_FRAMES = 9000


# --- reads ------------------------------------------------------------------------------------------------------
def camera_footage_jobs(*, camera: Camera) -> list[ProcessingJob]:
    """The camera's recordings a detector can learn from: finished video jobs whose file is still stored and whose
    length is known; oldest first, at most the latest :data:`FOOTAGE_JOBS`."""
    jobs = ProcessingJob.objects.filter(camera=camera, kind=JobKind.VIDEO, status=JobStatus.SUCCEEDED, frame_count__gt=0).exclude(video="")
    latest = [job for job in jobs.order_by("-recorded_at", "-id")[:FOOTAGE_JOBS] if default_storage.exists(job.video.name)]
    return latest[::-1]


@dataclass
class TrainingPlan:
    """What a camera's training run learns from and is judged on (paths resolved here, on the worker)."""

    footage: list[str]
    lines: list[LineSpec]
    held_out: list[HeldOut]
    snapshot: dict[str, Any] = field(default_factory=dict)


def _expected(counts: dict[tuple[int, str], int], lines: dict[int, Any]) -> dict[tuple[str, int], int]:
    """Reviewed counts per (line id, in/out) as the pipeline keys them: (line key, direction ±1). Lines deleted since
    the review are left out."""
    out: dict[tuple[str, int], int] = {}
    for (line_id, direction), n in counts.items():
        line = lines.get(int(line_id))
        if line is not None:
            sign = line.in_side if direction == Direction.IN else -line.in_side
            out[(str(line.pk), sign)] = out.get((str(line.pk), sign), 0) + int(n)
    return out


def camera_training_plan(*, camera_id: int, end_fraction: float) -> TrainingPlan:
    """The footage, lines and held-out counting of a camera's training run. Reviewed jobs are held out whole (their
    reviewed counts are the truth) and learnt from only when the camera has no other recording; without reviews, the
    part of each recording after ``end_fraction`` is held out. Raises a ConfigError the run shows when the camera is
    gone or has no stored recording."""
    from ml.core import ConfigError

    camera = Camera.objects.filter(pk=camera_id).first()
    if camera is None:
        raise ConfigError(f"camera {camera_id} does not exist (deleted since the run was queued?)")
    jobs = camera_footage_jobs(camera=camera)
    if not jobs:
        raise ConfigError(f"camera {camera.name!r} has no processed recording to learn from: upload a video of it and let the job finish first")
    lines = {line.pk: line for line in camera.lines.all()}
    path = lambda job: default_storage.path(job.video.name)  # noqa: E731 - the stored upload, never a path from a request
    reviewed: list[tuple[ProcessingJob, dict[tuple[str, int], int]]] = []
    frames = 0
    for job in reversed(jobs):  # newest first
        counts = selectors.job_reviewed_counts(job)
        if counts is None or frames + job.frame_count > HELD_OUT_MAX_FRAMES:
            continue
        expected = _expected(counts, lines)
        if counts and not expected:
            continue  # reviewed on lines deleted since
        reviewed.append((job, expected))
        frames += job.frame_count
    held_ids = {job.pk for job, _ in reviewed}
    training = [job for job in jobs if job.pk not in held_ids] or jobs
    held_out: list[HeldOut] = []
    if reviewed:
        held_out = [
            # Judged on the lines drawn before the review was completed: a newer line has no truth in it.
            HeldOut(
                path(job),
                0,
                None,
                expected,
                f"job #{job.pk} (reviewed)",
                frozenset(str(pk) for pk, line in lines.items() if line.created_at <= job.reviewed_at),
            )
            for job, expected in reviewed
        ]
    elif end_fraction < 1.0:
        frames = 0
        for job in reversed(training):
            start = round(job.frame_count * end_fraction)
            if frames + job.frame_count - start <= HELD_OUT_MAX_FRAMES:
                held_out.append(HeldOut(path(job), start, None, None, name=f"job #{job.pk} from frame {start}"))
                frames += job.frame_count - start
    if not lines:
        held_out = []  # nothing to count on: the operator is told to draw a counting line
    snapshot = {
        "camera": camera.pk,
        "camera_name": camera.name,
        "footage_jobs": [job.pk for job in training],
        "held_out": [h.name for h in held_out],
        "reviewed_jobs_also_learnt_from": bool(reviewed) and len(training) == len(jobs),
    }
    return TrainingPlan([path(job) for job in training], [line_spec(line) for line in lines.values()], held_out, snapshot)


def camera_versions(*, camera: Camera) -> QuerySet[ModelVersion]:
    """Versions trained on this camera's footage, newest first."""
    return ModelVersion.objects.filter(family=DETECTOR_FAMILY, config__camera=camera.pk).order_by("-version")


def camera_runs(*, camera: Camera) -> QuerySet[TrainingRun]:
    """Training runs on this camera's footage, newest first."""
    return TrainingRun.objects.filter(family=DETECTOR_FAMILY, config__camera=camera.pk).order_by("-queued_at", "-id")


@dataclass
class CameraDetector:
    """Which detector serves a camera and what it could switch to."""

    serving: str  # "camera" (its own version), "global" (the family's production version) or "motion"
    version: ModelVersion | None  # the version serving it (camera or global)
    global_version: ModelVersion | None  # what "back to the default" falls back to
    versions: list[ModelVersion]  # trained on this camera, newest first
    latest_run: TrainingRun | None
    footage_jobs: int
    note: str

    @property
    def latest_version(self) -> ModelVersion | None:
        return self.versions[0] if self.versions else None

    @property
    def rows(self) -> list[tuple[ModelVersion, str, bool]]:
        """This camera's versions with their held-out comparison and whether they serve it now."""
        serving = self.version.pk if self.serving == "camera" else None
        return [(v, version_comparison(v), v.pk == serving) for v in self.versions]

    @property
    def training(self) -> bool:
        return self.latest_run is not None and self.latest_run.status in (RunStatus.QUEUED, RunStatus.RUNNING)

    @property
    def description(self) -> str:
        if self.serving == "camera":
            return f"this camera's YOLO v{self.version.version}"
        if self.serving == "global":
            return f"global YOLO v{self.version.version}"
        return "motion detection (background subtraction + EfficientNet-Lite0)"

    @property
    def default_description(self) -> str:
        """What the camera uses without its own version."""
        return f"global YOLO v{self.global_version.version}" if self.global_version else "motion detection"


def camera_detector(*, camera: Camera, versions: int = 5) -> CameraDetector:
    from apps.mlops.selectors import production_version

    global_version = production_version(family=DETECTOR_FAMILY)
    own = camera.detector_version if camera.detector_version_id else None
    if own is not None:
        serving, version = "camera", own
    elif global_version is not None:
        serving, version = "global", global_version
    else:
        serving, version = "motion", None
    return CameraDetector(
        serving=serving,
        version=version,
        global_version=global_version,
        versions=list(camera_versions(camera=camera)[:versions]),
        latest_run=camera_runs(camera=camera).first(),
        footage_jobs=len(camera_footage_jobs(camera=camera)),
        note=camera.detector_note,
    )


def camera_detector_for_job(camera: Camera) -> tuple[ModelVersion | None, bool]:
    """The version a job of ``camera`` runs (None: background subtraction) and whether it is the camera's own."""
    if camera.detector_version_id:
        version = ModelVersion.objects.filter(pk=camera.detector_version_id).first()
        if version is not None and version.status not in UNUSABLE_VERSION_STATUSES:
            return version, True
    return model_cache.production(DETECTOR_FAMILY), False


# --- writes -----------------------------------------------------------------------------------------------------
def _by(user: Any) -> str:
    return f" by {user.get_username()}" if getattr(user, "is_authenticated", False) else ""


def camera_detector_train_start(*, camera: Camera, user: Any = None, trigger: str = Trigger.DASHBOARD) -> TrainingRun:
    """Queue a ``traffic.detector`` run that learns from the camera's recordings. A camera without a processed
    recording is a ValidationError (400); one whose run is already queued or running a conflict (409)."""
    if not camera_footage_jobs(camera=camera):
        raise ValidationError({"camera": ["This camera has no processed recording to learn from: upload a video of it and let the job finish first."]})
    with transaction.atomic():
        Camera.objects.select_for_update().filter(pk=camera.pk).first()  # one start at a time per camera
        active = camera_runs(camera=camera).filter(status__in=(RunStatus.QUEUED, RunStatus.RUNNING)).first()
        if active is not None:
            raise conflict("camera", f"Camera {camera.name!r} is already learning (training run #{active.pk}, {active.status}).")
        run = mlops_services.training_run_start(family=DETECTOR_FAMILY, trigger=trigger, user=user, config={"camera": camera.pk})
    logger.info("training run %s learns from camera %s", run.pk, camera.pk)
    return run


def camera_detector_use(*, camera: Camera, version: ModelVersion, user: Any = None, note: str = "") -> Camera:
    """Serve ``camera``'s jobs with ``version`` (a usable ``traffic.detector`` version)."""
    if version.family != DETECTOR_FAMILY:
        raise ValidationError({"version": [f"{version.family} v{version.version} is not a {DETECTOR_FAMILY} version."]})
    if version.status in UNUSABLE_VERSION_STATUSES:
        raise ValidationError({"version": [f"{DETECTOR_FAMILY} v{version.version} is {version.get_status_display().lower()}: it cannot serve yet."]})
    with transaction.atomic():
        camera = Camera.objects.select_for_update().get(pk=camera.pk)
        if camera.detector_version_id == version.pk:
            raise conflict("version", f"Camera {camera.name!r} already uses {DETECTOR_FAMILY} v{version.version}.")
        camera.detector_version = version
        camera.detector_note = (note or f"v{version.version} chosen{_by(user)}: {version_comparison(version)}")[:300]
        camera.save(update_fields=["detector_version", "detector_note"])
    logger.info("camera %s now uses %s v%s%s", camera.pk, DETECTOR_FAMILY, version.version, _by(user))
    return camera


def camera_detector_revert(*, camera: Camera, user: Any = None) -> Camera:
    """Serve ``camera``'s jobs with the default detector again (the family's production version, else motion)."""
    with transaction.atomic():
        camera = Camera.objects.select_for_update().get(pk=camera.pk)
        if camera.detector_version_id is None:
            raise conflict("camera", f"Camera {camera.name!r} already uses the default detector.")
        previous = camera.detector_version
        camera.detector_version = None
        camera.detector_note = f"Back to the default detector{_by(user)} (was v{previous.version})."[:300]
        camera.save(update_fields=["detector_version", "detector_note"])
    return camera


def version_comparison(version: ModelVersion) -> str:
    """How a camera version counted its held-out footage, against the motion pipeline, in words."""
    m = version.metrics or {}
    if "reviewed_abs_error_yolo" in m:
        return (
            f"on {m['reviewed_items']:.0f} reviewed job(s) ({m['reviewed_count_expected']:.0f} crossings) it counted with absolute error "
            f"{m['reviewed_abs_error_yolo']:.0f}, the motion pipeline {m['reviewed_abs_error_motion']:.0f}"
        )
    if "heldout_count_yolo" in m:
        frames, yolo, motion = m["heldout_frames"], m["heldout_count_yolo"], m["heldout_count_motion"]
        return f"on held-out footage ({frames:.0f} frames) it counted {yolo:.0f} crossings, the motion pipeline {motion:.0f}"
    return "no counting line to compare counts on"


def camera_detector_consider_promotion(*, version: ModelVersion) -> ModelVersion:
    """The ``traffic.detector`` promotion rule (called when a run registers its version). A version trained on a
    camera never replaces the global production version: it serves its camera when it counted the camera's reviewed
    jobs with a lower absolute error than the motion pipeline (and the family's auto-promotion is on); otherwise an
    operator decides on the camera page. Other versions follow the family rule."""
    camera_id = (version.config or {}).get("camera")
    if not camera_id:
        return mlops_services.model_version_consider_promotion(version=version)
    camera = Camera.objects.select_for_update().filter(pk=camera_id).first()
    metrics = version.metrics or {}
    comparison = version_comparison(version)
    if camera is None:
        note = "Trained on a camera that no longer exists."
    elif "reviewed_abs_error_yolo" in metrics:
        beats = metrics["reviewed_abs_error_yolo"] < metrics["reviewed_abs_error_motion"]
        auto = mlops_services.family_settings_get(family=DETECTOR_FAMILY).auto_promote
        if beats and auto:
            camera.detector_version = version
            camera.detector_note = f"v{version.version} chosen automatically: {comparison}."[:300]
            camera.save(update_fields=["detector_version", "detector_note"])
            note = f"Serves camera {camera.name!r}: {comparison}."
        elif beats:
            note = f"For camera {camera.name!r}: {comparison}. Auto-promotion is off for this family: use it from the camera page."
        else:
            note = f"Not used for camera {camera.name!r}: {comparison}. An operator can still choose it on the camera page."
    else:
        note = f"For camera {camera.name!r}: {comparison}. No reviewed job to judge it on: an operator decides on the camera page."
    ModelVersion.objects.filter(pk=version.pk).update(promotion_note=note[:300])
    version.promotion_note = note[:300]
    return version
