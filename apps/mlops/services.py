"""Writes of the model registry: training runs, model versions, promotion, rollback, schedules.

Every state change is one function inside a transaction; Celery tasks are dispatched on commit with ids only.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import close_old_connections, transaction
from django.utils import timezone

from apps.core.database import discard_connection, is_connection_error, retry_on_lost_connection
from apps.core.errors import conflict
from apps.core.outages import broker_send, redispatch
from apps.mlops.families import ModelFamily, UnknownFamily, all_families, get_family
from apps.mlops.models import (
    UNUSABLE_VERSION_STATUSES,
    FamilySettings,
    ModelVersion,
    PromotionAction,
    PromotionEvent,
    RunStatus,
    TrainingRun,
    Trigger,
    VersionStatus,
    WorkerHeartbeat,
)
from apps.mlops.selectors import production_version
from ml.artifacts import open_store
from ml.core import ConfigError, TrainingCancelled
from ml.device import select_device, training_cpu_threads
from ml.memory import MemoryBudgetExceeded, MemoryEstimate

logger = logging.getLogger(__name__)

# Progress is written at most this often (plus on every stage change), so a fast loop does not hammer the DB.
PROGRESS_WRITE_INTERVAL = 0.5
MAX_HISTORY_POINTS = 2000
# A training run's writes ride out a lost database connection (a failover, pg_terminate_backend): reconnect and retry
# for about 30 s (0.2 + 0.4 + ... + 5 s) before the run gives up; only then does the outage fail the run.
RUN_WRITE_ATTEMPTS = 10


def _run_write(fn: Any, what: str) -> Any:  # noqa: ANN401
    return retry_on_lost_connection(fn, attempts=RUN_WRITE_ATTEMPTS, delay=0.2, max_delay=5.0, what=what)


# --- training runs ----------------------------------------------------------------------------------------


def _family_or_error(name: str, field: str = "family") -> ModelFamily:
    try:
        return get_family(name)
    except UnknownFamily as exc:
        raise ValidationError({field: [str(exc)]}) from None


def family_settings_get(*, family: str) -> FamilySettings:
    obj, _ = FamilySettings.objects.get_or_create(family=family)
    return obj


def family_settings_ensure_registered() -> None:
    """One settings row per registered family, so every family can be configured and retrained from the admin."""
    existing = set(FamilySettings.objects.values_list("family", flat=True))
    FamilySettings.objects.bulk_create([FamilySettings(family=f.name) for f in all_families() if f.name not in existing], ignore_conflicts=True)


def family_settings_update(*, family: str, auto_promote: bool, retrain_every_minutes: int | None) -> FamilySettings:
    _family_or_error(family)
    if retrain_every_minutes is not None and retrain_every_minutes < 1:
        raise ValidationError({"retrain_every_minutes": ["Must be at least 1 minute, or empty for no schedule."]})
    fs = family_settings_get(family=family)
    fs.auto_promote = auto_promote
    fs.retrain_every_minutes = retrain_every_minutes
    fs.full_clean()
    fs.save(update_fields=["auto_promote", "retrain_every_minutes", "updated_at"])
    return fs


def training_run_start(
    *, family: str, trigger: str, user: Any = None, config: Mapping[str, Any] | None = None, dispatch: bool = True
) -> TrainingRun:
    """Create a queued run and dispatch its training task once the transaction commits.

    ``dispatch=False`` leaves the run for the caller to execute in-process (the demo bootstrap does this).
    """
    spec = _family_or_error(family)
    if trigger not in Trigger.values:
        raise ValidationError({"trigger": [f"Unknown trigger {trigger!r}."]})
    if config is not None and not isinstance(config, Mapping):
        raise ValidationError({"config": ["Must be an object of config values."]})
    with transaction.atomic():
        family_settings = family_settings_get(family=family)
        merged = {**family_settings.default_config, **(config or {})}
        try:
            resolved = spec.config_class.from_dict(merged).to_dict()
        except ConfigError as exc:
            raise ValidationError({"config": [str(exc)]}) from None
        run = TrainingRun.objects.create(
            family=family,
            trigger=trigger,
            triggered_by=user if getattr(user, "is_authenticated", False) else None,
            config=resolved,
        )
        if dispatch:
            transaction.on_commit(lambda: _dispatch_training(run.pk))
    logger.info("training run %s queued for %s (%s)", run.pk, family, trigger)
    return run


def _task_id(run_id: int) -> str:
    return f"mlops-train-run-{run_id}"


def _dispatch_training(run_id: int, *, by_reaper: bool = False) -> bool:
    """Send the run's task. A new run the broker cannot take is deleted and the request answers 503 (nothing left
    queued without a message); a re-dispatch by the reaper keeps its row and tries again at the next beat."""
    from apps.mlops.tasks import train_run

    return broker_send(
        lambda: train_run.apply_async(args=[run_id], task_id=_task_id(run_id)),
        what=f"training run #{run_id}",
        undo=None if by_reaper else lambda: TrainingRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).delete(),
        required=not by_reaper,
    )


def training_run_cancel(*, run: TrainingRun, user: Any = None) -> TrainingRun:
    """A queued run is cancelled at once; a running one stops at its next progress report."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.is_finished:
            raise conflict("status", f"Run #{run.pk} has already finished ({run.status}).")
        if run.status == RunStatus.QUEUED:
            run.status = RunStatus.CANCELLED
            run.stage = "cancelled"
            run.finished_at = timezone.now()
            run.error = f"Cancelled before it started{_by(user)}."
            run.save(update_fields=["status", "stage", "finished_at", "error"])
        else:
            run.cancel_requested = True
            run.save(update_fields=["cancel_requested"])
    if run.status == RunStatus.CANCELLED:
        # The queued message is dropped by workers that receive the revoke; others see the status and skip.
        transaction.on_commit(lambda: _revoke(run.pk))
    return run


def _revoke(run_id: int) -> None:
    from celery import current_app

    try:
        current_app.control.revoke(_task_id(run_id))
    except Exception:  # noqa: BLE001 - best effort: the task checks the row anyway
        logger.warning("could not broadcast revoke for run %s", run_id, exc_info=True)


def _by(user: Any) -> str:
    return f" by {user.get_username()}" if getattr(user, "is_authenticated", False) else ""


class _RunProgress:
    """The progress callback handed to trainers: writes progress, keeps the metric history, checks cancellation."""

    def __init__(self, run_id: int, attempt: int) -> None:
        self.run_id = run_id
        self.attempt = attempt
        self.history: list[dict[str, Any]] = []
        self.stage = ""
        self.percent = 0.0
        self._last_write = 0.0

    def __call__(self, percent: float, stage: str, metrics: Mapping[str, float] | None = None) -> None:
        self.percent = max(0.0, min(100.0, float(percent)))
        if metrics:
            self.history.append({k: float(v) for k, v in metrics.items()})
            if len(self.history) > MAX_HISTORY_POINTS:
                self.history = self.history[::2]  # keep the whole curve at half resolution
        now = time.monotonic()
        if stage != self.stage or now - self._last_write >= PROGRESS_WRITE_INTERVAL:
            self.stage = stage
            self._last_write = now
            self.flush()

    def flush(self) -> None:
        updated = _run_write(
            lambda: TrainingRun.objects.filter(pk=self.run_id, status=RunStatus.RUNNING, attempts=self.attempt, cancel_requested=False).update(
                progress=round(self.percent, 2), stage=self.stage[:64], metric_history=self.history, heartbeat_at=timezone.now()
            ),
            f"progress of run {self.run_id}",
        )
        if not updated:
            # Cancelled by an operator, or no longer ours (marked failed as stale): stop training.
            raise TrainingCancelled(f"run {self.run_id} was cancelled or taken over")


class _Heartbeat(threading.Thread):
    """Keeps ``heartbeat_at`` fresh while a trainer computes between progress reports."""

    def __init__(self, run_id: int, attempt: int, interval: float) -> None:
        super().__init__(name=f"heartbeat-run-{run_id}", daemon=True)
        self.run_id, self.attempt, self.interval = run_id, attempt, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        # Runs until training ends, whatever the database does: a beat that fails (a lost connection, the database
        # away) is logged and the next one reconnects. Stopping here would let the reaper fail a healthy run.
        try:
            while not self.stopped.wait(self.interval):
                try:
                    TrainingRun.objects.filter(pk=self.run_id, status=RunStatus.RUNNING, attempts=self.attempt).update(heartbeat_at=timezone.now())
                except Exception as exc:  # noqa: BLE001 - a missed beat is reported by the reaper, never crashes training
                    if is_connection_error(exc):
                        logger.warning("heartbeat of run %s: database connection lost (%s); reconnecting", self.run_id, exc)
                        discard_connection()
                    else:
                        logger.warning("heartbeat of run %s failed", self.run_id, exc_info=True)
        finally:
            discard_connection()


def _claim_run(run_id: int, worker: str, claimed_at: datetime | None = None) -> TrainingRun | None:
    """Move a queued run to running; returns None when there is nothing to do (idempotent redelivery).

    ``claimed_at`` marks this claim: called again with the same value (a retry after the connection was lost during
    the COMMIT, which may have been applied), it recognises its own claim instead of taking it for a duplicate.
    """
    now = claimed_at or timezone.now()
    stale_before = now - timedelta(seconds=settings.MLOPS_STALE_RUN_SECONDS)
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.is_finished:
            return None
        if run.status == RunStatus.RUNNING and run.heartbeat_at == now and run.worker == worker[:200]:
            return run  # ours: the first try committed, only its answer was lost
        if run.status == RunStatus.RUNNING and run.heartbeat_at and run.heartbeat_at >= stale_before:
            logger.info("run %s is already running on %s; duplicate delivery ignored", run_id, run.worker)
            return None
        if run.cancel_requested:
            _finish(run, RunStatus.CANCELLED, error="Cancelled before it started.")
            return None
        run.status = RunStatus.RUNNING
        run.attempts += 1
        run.started_at = run.started_at or now
        run.heartbeat_at = now
        run.worker = worker[:200]
        run.stage = "starting"
        run.progress = 0
        run.error = ""
        run.save()
    return run


def _finish(run: TrainingRun, status: str, *, error: str = "", **fields: Any) -> bool:
    """Set a terminal status unless the run was already finished (e.g. by the stale-run reaper)."""
    values = {"status": status, "finished_at": timezone.now(), "error": error[:20000], **fields}
    if status == RunStatus.SUCCEEDED:
        values.update(progress=100.0, stage="done")
    else:
        values.setdefault("stage", status)
    updated = TrainingRun.objects.filter(pk=run.pk, status__in=(RunStatus.QUEUED, RunStatus.RUNNING), attempts=run.attempts).update(**values)
    return bool(updated)


def _describe_error(exc: BaseException) -> str:
    # Celery's SoftTimeLimitExceeded is matched by name: services do not import celery.
    if type(exc).__name__ == "SoftTimeLimitExceeded":
        return f"Training exceeded its time limit ({settings.ML_TRAINING_SOFT_TIME_LIMIT} s) and was stopped."
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}"


def training_run_execute(*, run_id: int, worker: str = "") -> TrainingRun | None:
    """Train, store the artifact, register a candidate and decide promotion. Called by the Celery task."""
    claimed_at = timezone.now()
    run = _run_write(lambda: _claim_run(run_id, worker, claimed_at), f"claim of run {run_id}")
    if run is None:
        return None
    spec = get_family(run.family)
    progress = _RunProgress(run.pk, run.attempts)
    heartbeat = _Heartbeat(run.pk, run.attempts, settings.MLOPS_HEARTBEAT_SECONDS)
    heartbeat.start()
    try:
        training_cpu_threads(settings.ML_TRAINING_CPU_THREADS)
        device = select_device()
        _run_write(lambda: TrainingRun.objects.filter(pk=run.pk).update(device=device.description[:200]), f"device of run {run.pk}")
        config = spec.config_class.from_dict(run.config)
        progress(0, "loading data")
        dataset, snapshot = _run_write(lambda: spec.prepare(config, run), f"data of run {run.pk}")  # reads: safe to repeat
        estimate = spec.memory_estimate(config, dataset) if spec.memory_estimate is not None else None
        if estimate is not None:
            # On the run and its version: what the run was predicted to need beside what the worker allows.
            snapshot = {**snapshot, "memory": _memory_snapshot(estimate)}
        _run_write(lambda: TrainingRun.objects.filter(pk=run.pk).update(data_snapshot=snapshot), f"data snapshot of run {run.pk}")
        if estimate is not None:
            estimate.check(settings.ML_MEMORY_LIMIT_BYTES, f"Training {spec.name}")
        trained = spec.train(dataset, config, progress, device)
        progress(97, "storing artifact")
        stored = _store_artifact(spec, run, trained)
        # How the trainer fitted the data's size (details["scale"], e.g. a recommender's dense / head / factors plan)
        # stays with the version's data snapshot, where the API and the Models page show it.
        version_snapshot = {**snapshot, "scale": trained.details["scale"]} if isinstance(trained.details.get("scale"), dict) else snapshot

        def register() -> None:
            # One transaction: whoever sees the run succeeded also sees its version and the promotion decision. Retried
            # whole when the connection drops; if a lost COMMIT had in fact been applied, _finish finds the run
            # finished and the repeat rolls back, so no second version is registered.
            with transaction.atomic():
                version = _create_version(
                    spec=spec, stored=stored, metrics=trained.metrics, config=run.config, data_snapshot=version_snapshot, device=device.description[:200],
                    training_run=run, created_by=run.triggered_by, created_via=run.trigger,
                )
                finished = _finish(run, RunStatus.SUCCEEDED, metrics=trained.metrics, details=trained.details, metric_history=progress.history)
                if not finished:
                    # The run was reaped or cancelled while we stored the artifact: keep the registry consistent.
                    transaction.set_rollback(True)
                    return
                (spec.consider_promotion or model_version_consider_promotion)(version=version)

        _run_write(register, f"result of run {run.pk}")
    except TrainingCancelled:
        _run_write(run.refresh_from_db, f"cancellation of run {run.pk}")
        if run.cancel_requested:
            _run_write(
                lambda: _finish(run, RunStatus.CANCELLED, error="Cancelled while running.", metric_history=progress.history), f"cancellation of run {run.pk}"
            )
    except MemoryBudgetExceeded as exc:
        # Refused before it allocated: the message says what it needs and what to change; a traceback adds nothing.
        refusal = str(exc)
        logger.warning("training run %s refused: %s", run.pk, refusal)
        _run_write(lambda: _finish(run, RunStatus.FAILED, error=refusal, metric_history=progress.history), f"failure of run {run.pk}")
    except BaseException as exc:
        logger.exception("training run %s failed", run.pk)
        error = f"{_describe_error(exc)}\n\n{traceback.format_exc(limit=20)}"
        # The failure itself may have been a lost connection: record it on a fresh one (the real cause, not "Worker lost").
        _run_write(lambda: _finish(run, RunStatus.FAILED, error=error, metric_history=progress.history), f"failure of run {run.pk}")
        if not isinstance(exc, Exception):
            raise
    finally:
        heartbeat.stopped.set()
    return _run_write(lambda: TrainingRun.objects.get(pk=run.pk), f"run {run.pk}")


def _memory_snapshot(estimate: MemoryEstimate) -> dict[str, Any]:
    return {"predicted_peak_bytes": estimate.peak_bytes, "limit_bytes": settings.ML_MEMORY_LIMIT_BYTES, "parts": dict(estimate.parts)}


def _store_artifact(spec: ModelFamily, run: TrainingRun, trained: Any):  # noqa: ANN202
    store = open_store(settings.ARTIFACT_STORE_URI)
    with tempfile.TemporaryDirectory(prefix="downstream-artifact-") as tmp:
        path = Path(tmp) / trained.artifact_name
        trained.save(path)
        # A random part keeps keys unique even when run ids repeat (a restored database, a shared store).
        return store.put(path, f"{spec.name}/run-{run.pk}-{uuid.uuid4().hex[:12]}/{trained.artifact_name}")


def _create_version(*, spec: ModelFamily, stored: Any, metrics: Mapping[str, float], **fields: Any) -> ModelVersion:
    """Number and create a version of ``spec``; the caller holds the transaction."""
    # Locking the family's settings row serialises version numbering between concurrent runs of one family.
    FamilySettings.objects.get_or_create(family=spec.name)
    FamilySettings.objects.select_for_update().get(family=spec.name)
    last = ModelVersion.objects.filter(family=spec.name).order_by("-version").values_list("version", flat=True).first()
    primary = metrics.get(spec.primary_metric)
    return ModelVersion.objects.create(
        family=spec.name,
        version=(last or 0) + 1,
        artifact_uri=stored.uri,
        artifact_sha256=stored.sha256,
        artifact_size=stored.size_bytes,
        metrics=dict(metrics),
        primary_metric=spec.primary_metric,
        primary_value=float(primary) if primary is not None else None,
        parent=production_version(family=spec.name),
        **fields,
    )


def model_version_import(
    *,
    family: str,
    source: Path,
    filename: str,
    user: Any = None,
    metrics: Mapping[str, float] | None = None,
    note: str = "",
    check_inline: bool = False,
) -> ModelVersion:
    """Register weights trained elsewhere (e.g. a COCO-pretrained YOLO file) as a version in ``checking``.

    Here the file only gets the family's static check, which loads and runs nothing (a pickle naming code is
    refused at once). A worker then loads it (:func:`model_version_check_upload`, dispatched on commit) and makes it
    a candidate or rejects it; ``check_inline`` runs that check in this process instead (the command line).
    Without metrics the version is never promoted automatically: an operator promotes it, with a reason when
    production has a measured metric.
    """
    spec = _family_or_error(family)
    if metrics is not None and not (isinstance(metrics, Mapping) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in metrics.values())):
        raise ValidationError({"metrics": ["Must be an object of numbers, e.g. {\"accuracy\": 0.91}."]})
    name = Path(filename).name or "weights.bin"
    try:
        spec.predictor_class.check_file(source)
    except (ValueError, OSError) as exc:
        raise ValidationError({"file": [f"{name} cannot be a {spec.name} model: {exc}"]}) from None
    stored = open_store(settings.ARTIFACT_STORE_URI).put(source, f"{spec.name}/upload-{uuid.uuid4().hex[:12]}/{name}")
    with transaction.atomic():
        version = _create_version(
            spec=spec, stored=stored, metrics=metrics or {}, data_snapshot={"source": "uploaded weights", "filename": name},
            created_by=user if getattr(user, "is_authenticated", False) else None, created_via=Trigger.UPLOAD,
            status=VersionStatus.CHECKING, promotion_note=(note or f"Uploaded {name}{_by(user)}; promote it manually.")[:300],
        )
        if not check_inline:
            transaction.on_commit(lambda: _dispatch_upload_check(version.pk))
    if check_inline:
        return model_version_check_upload(version_id=version.pk)
    return version


def _dispatch_upload_check(version_id: int) -> bool:
    """Send the check of an uploaded file. The file is stored and the version stays ``checking`` when the broker is
    unreachable: the upload is accepted as usual and the reaper sends its check once the broker is back."""
    from apps.mlops.tasks import check_upload

    return broker_send(lambda: check_upload.delay(version_id), what=f"the check of uploaded version #{version_id}", required=False)


def model_version_check_upload(*, version_id: int) -> ModelVersion | None:
    """Load an uploaded version's file with its family's predictor (in a worker, under the task's time limits):
    a file that loads becomes a candidate, one that does not is rejected with the reason. Idempotent: a version
    no longer in ``checking`` is left as it is. Returns the version, or ``None`` when it is gone."""
    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None or version.status != VersionStatus.CHECKING:
        return version
    spec = get_family(version.family)
    name = version.data_snapshot.get("filename") or Path(version.artifact_uri).name
    error = ""
    try:
        path = open_store(settings.ARTIFACT_STORE_URI).fetch(version.artifact_uri, version.artifact_sha256)
        spec.predictor_class.check_file(path)
        spec.predictor_class.load(path, select_device())
    except Exception as exc:  # noqa: BLE001 - any failure to load means the upload is unusable
        if type(exc).__name__ == "SoftTimeLimitExceeded":  # matched by name: services do not import celery
            error = f"{name} took longer to load than the check allows ({settings.MLOPS_UPLOAD_CHECK_SOFT_TIME_LIMIT} s)."
        else:
            error = f"{name} cannot be loaded as a {spec.name} model: {str(exc) or type(exc).__name__}"
    status = VersionStatus.REJECTED if error else VersionStatus.CANDIDATE
    updated = ModelVersion.objects.filter(pk=version.pk, status=VersionStatus.CHECKING).update(status=status, check_error=error[:5000])
    if updated:
        logger.info("uploaded %s v%s %s%s", version.family, version.version, status, f": {error}" if error else "")
    version.refresh_from_db()
    return version


def model_versions_reject_stale_checks(*, now: datetime | None = None) -> list[int]:
    """Reject uploads still in ``checking`` well after the check's hard time limit: the worker checking them was
    killed (a file that exhausts memory, a load stuck in native code). Returns their ids."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.MLOPS_UPLOAD_CHECK_SOFT_TIME_LIMIT + 60 + settings.MLOPS_STALE_RUN_SECONDS)
    stale = list(ModelVersion.objects.filter(status=VersionStatus.CHECKING, created_at__lt=cutoff).values_list("pk", flat=True))
    if stale:
        ModelVersion.objects.filter(pk__in=stale, status=VersionStatus.CHECKING).update(
            status=VersionStatus.REJECTED,
            check_error="The worker checking this file stopped without an answer (killed, out of memory, or over its time limit).",
        )
        logger.warning("uploads %s rejected: their check never finished", stale)
    return stale


def training_runs_redispatch_queued(*, older_than_seconds: int | None = None, now: datetime | None = None) -> list[int]:
    """Send again the task of runs still ``queued`` long after they were queued: their message was lost (a broker
    outage after the dispatch, a flushed Redis). Idempotent: the task id is the run's, a second delivery finds the
    run claimed or finished, and each run is re-sent at most once per ``REDISPATCH_QUEUED_AFTER_SECONDS``. Keeps
    scheduled retraining going: it waits only while a run is queued or running."""
    older = settings.REDISPATCH_QUEUED_AFTER_SECONDS if older_than_seconds is None else older_than_seconds
    cutoff = (now or timezone.now()) - timedelta(seconds=older)
    ids = list(TrainingRun.objects.filter(status=RunStatus.QUEUED, cancel_requested=False, queued_at__lt=cutoff).values_list("pk", flat=True))
    sent = [pk for pk in ids if redispatch("training-run", pk, lambda pk=pk: _dispatch_training(pk, by_reaper=True))]
    if sent:
        logger.warning("training runs %s were still queued after %s s; dispatched again", sent, older)
    return sent


def model_versions_redispatch_checks(*, older_than_seconds: int | None = None, now: datetime | None = None) -> list[int]:
    """Send again the check of uploads still ``checking`` after ``REDISPATCH_QUEUED_AFTER_SECONDS`` (idempotent:
    a version already checked is left alone)."""
    older = settings.REDISPATCH_QUEUED_AFTER_SECONDS if older_than_seconds is None else older_than_seconds
    cutoff = (now or timezone.now()) - timedelta(seconds=older)
    ids = list(ModelVersion.objects.filter(status=VersionStatus.CHECKING, created_at__lt=cutoff).values_list("pk", flat=True))
    sent = [pk for pk in ids if redispatch("upload-check", pk, lambda pk=pk: _dispatch_upload_check(pk))]
    if sent:
        logger.warning("upload checks of versions %s were still waiting after %s s; dispatched again", sent, older)
    return sent


def training_runs_reap_stale(*, stale_after_seconds: int | None = None, now: datetime | None = None) -> list[int]:
    """Mark running runs whose worker stopped sending heartbeats as failed; returns their ids."""
    stale_after = settings.MLOPS_STALE_RUN_SECONDS if stale_after_seconds is None else stale_after_seconds
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=stale_after)
    reaped = []
    for run in TrainingRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff):
        error = (
            f"Worker lost: no heartbeat from {run.worker or 'the worker'} since "
            f"{run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC (the process died or was killed). Start a new run to retry."
        )
        if _finish(run, RunStatus.FAILED, error=error, stage="worker lost"):
            logger.warning("run %s marked failed: %s", run.pk, error)
            reaped.append(run.pk)
    return reaped


# --- model versions ---------------------------------------------------------------------------------------


def model_version_promote(*, version: ModelVersion, user: Any = None, reason: str = "", action: str | None = None) -> ModelVersion:
    """Make ``version`` the family's production version; archives the previous one and records who and why.

    A manual promotion of a version that does not beat production is an override and needs a reason.
    """
    spec = _family_or_error(version.family)
    with transaction.atomic():
        FamilySettings.objects.get_or_create(family=version.family)
        FamilySettings.objects.select_for_update().get(family=version.family)
        version = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if version.status in UNUSABLE_VERSION_STATUSES:
            state = "is still being checked" if version.status == VersionStatus.CHECKING else f"was rejected: {version.check_error}"
            raise ValidationError({"status": [f"{version.family} v{version.version} {state}"[:1000]]})
        if version.status == VersionStatus.PRODUCTION:
            raise conflict("status", f"{version.family} v{version.version} is already in production.")
        current = ModelVersion.objects.select_for_update().filter(family=version.family, status=VersionStatus.PRODUCTION).first()
        if action is None:
            beats = current is None or spec.beats(version.primary_value, current.primary_value)
            action = PromotionAction.MANUAL if beats else PromotionAction.OVERRIDE
        if action == PromotionAction.OVERRIDE and not reason.strip():
            raise conflict("reason", f"v{version.version} does not beat production v{current.version} on {spec.primary_metric}; give a reason to override.")
        now = timezone.now()
        if current is not None:
            current.status = VersionStatus.ARCHIVED
            current.save(update_fields=["status"])
        version.status = VersionStatus.PRODUCTION
        version.promoted_at = now
        version.save(update_fields=["status", "promoted_at"])
        PromotionEvent.objects.create(
            family=version.family,
            from_version=current,
            to_version=version,
            action=action,
            actor=user if getattr(user, "is_authenticated", False) else None,
            reason=reason.strip(),
        )
    logger.info("%s v%s promoted (%s)", version.family, version.version, action)
    return version


def model_version_consider_promotion(*, version: ModelVersion) -> ModelVersion:
    """Automatic promotion: a candidate that beats production on the primary metric replaces it."""
    spec = get_family(version.family)
    family_settings = family_settings_get(family=version.family)
    current = production_version(family=version.family)
    metric = spec.primary_metric
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    if current is None:
        note, promote = "First version of the family.", True
    elif spec.beats(version.primary_value, current.primary_value):
        note, promote = f"{metric} {fmt(version.primary_value)} beats production v{current.version} ({fmt(current.primary_value)}).", True
    else:
        note, promote = f"{metric} {fmt(version.primary_value)} does not beat production v{current.version} ({fmt(current.primary_value)}).", False
    if promote and not family_settings.auto_promote:
        note, promote = f"{note} Auto-promotion is off for this family.", False
    ModelVersion.objects.filter(pk=version.pk).update(promotion_note=note[:300])
    version.promotion_note = note[:300]
    if promote:
        version = model_version_promote(version=version, reason=note, action=PromotionAction.AUTO)
    return version


def model_family_rollback(*, family: str, user: Any = None, reason: str = "") -> ModelVersion:
    """Put back the version that production replaced most recently."""
    _family_or_error(family)
    current = production_version(family=family)
    if current is None:
        raise conflict("family", f"{family} has no production version to roll back.")
    event = PromotionEvent.objects.filter(to_version=current, from_version__isnull=False).order_by("-created_at", "-id").first()
    if event is None:
        raise conflict("family", f"{family} v{current.version} replaced no earlier version; nothing to roll back to.")
    return model_version_promote(
        version=event.from_version,
        user=user,
        reason=reason.strip() or f"Rolled back from v{current.version}{_by(user)}.",
        action=PromotionAction.ROLLBACK,
    )


# --- schedules and workers ------------------------------------------------------------------------------


def scheduled_retraining_start_due(*, now: datetime | None = None) -> list[TrainingRun]:
    """Start a run for each family whose schedule is due and that has no run queued or running."""
    now = now or timezone.now()
    started = []
    for family_settings in FamilySettings.objects.filter(retrain_every_minutes__isnull=False):
        with transaction.atomic():
            fs = FamilySettings.objects.select_for_update(skip_locked=True).filter(pk=family_settings.pk).first()
            if fs is None or fs.retrain_every_minutes is None:
                continue
            if fs.last_scheduled_at and now - fs.last_scheduled_at < timedelta(minutes=fs.retrain_every_minutes):
                continue
            if TrainingRun.objects.filter(family=fs.family, status__in=(RunStatus.QUEUED, RunStatus.RUNNING)).exists():
                continue
            try:
                run = training_run_start(family=fs.family, trigger=Trigger.SCHEDULE)
            except ValidationError:
                logger.exception("scheduled retraining of %s could not start", fs.family)
                continue
            fs.last_scheduled_at = now
            fs.save(update_fields=["last_scheduled_at"])
            started.append(run)
    return started


def worker_heartbeat_record(*, hostname: str, queues: list[str], pid: int, started_at: datetime) -> None:
    close_old_connections()
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname[:200], defaults={"queues": queues, "pid": pid, "started_at": started_at, "last_seen_at": timezone.now()}
    )


def worker_heartbeat_remove(*, hostname: str) -> None:
    WorkerHeartbeat.objects.filter(hostname=hostname[:200]).delete()
