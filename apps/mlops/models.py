from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Trigger(models.TextChoices):
    ADMIN = "admin", "Django admin"
    DASHBOARD = "dashboard", "Dashboard"
    API = "api", "REST API"
    SCHEDULE = "schedule", "Schedule"
    CLI = "cli", "Command line"
    UPLOAD = "upload", "Uploaded weights"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_RUN_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class VersionStatus(models.TextChoices):
    # An uploaded file waits in "checking" until a worker has loaded it; it is then a candidate or "rejected".
    CHECKING = "checking", "Checking upload"
    REJECTED = "rejected", "Rejected upload"
    CANDIDATE = "candidate", "Candidate"
    PRODUCTION = "production", "Production"
    ARCHIVED = "archived", "Archived"


UNUSABLE_VERSION_STATUSES = (VersionStatus.CHECKING, VersionStatus.REJECTED)


class FamilySettings(models.Model):
    """Per-family knobs an operator can change: auto-promotion, the retraining schedule, default config."""

    family = models.CharField(max_length=100, unique=True)
    auto_promote = models.BooleanField(default=True, help_text="Promote a candidate that beats production on the primary metric.")
    retrain_every_minutes = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no scheduled retraining.")
    last_scheduled_at = models.DateTimeField(null=True, blank=True)
    default_config = models.JSONField(default=dict, blank=True, help_text="Config overrides applied to every run of this family.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "family settings"

    def __str__(self) -> str:
        return self.family


class TrainingRun(models.Model):
    family = models.CharField(max_length=100, db_index=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=64, blank=True, default="queued")
    config = models.JSONField(default=dict)
    data_snapshot = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    metric_history = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=dict, blank=True, help_text="What the trainer reports beside metrics: timings, sizes.")
    device = models.CharField(max_length=200, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    triggered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-queued_at", "-id")
        indexes = [models.Index(fields=["family", "status"])]

    def __str__(self) -> str:
        return f"{self.family} run #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or self.heartbeat_at or self.started_at
        return (end - self.started_at).total_seconds()


class ModelVersion(models.Model):
    family = models.CharField(max_length=100, db_index=True)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.CANDIDATE, db_index=True)
    artifact_uri = models.CharField(max_length=500)
    artifact_sha256 = models.CharField(max_length=64)
    artifact_size = models.PositiveBigIntegerField(default=0)
    metrics = models.JSONField(default=dict)
    primary_metric = models.CharField(max_length=64)
    primary_value = models.FloatField(null=True)
    config = models.JSONField(default=dict)
    data_snapshot = models.JSONField(default=dict, blank=True)
    device = models.CharField(max_length=200, blank=True)
    training_run = models.OneToOneField(TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_version")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children", help_text="Production version when this one was trained."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_via = models.CharField(max_length=16, choices=Trigger.choices)
    promotion_note = models.CharField(max_length=300, blank=True)
    check_error = models.TextField(blank=True, help_text="Why a worker rejected the uploaded file (status rejected).")
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("family", "-version")
        constraints = [
            models.UniqueConstraint(fields=["family", "version"], name="mlops_unique_family_version"),
            models.UniqueConstraint(fields=["family"], condition=Q(status="production"), name="mlops_one_production_per_family"),
        ]

    def __str__(self) -> str:
        return f"{self.family} v{self.version} ({self.status})"


class PromotionAction(models.TextChoices):
    AUTO = "auto", "Automatic (beat production)"
    MANUAL = "manual", "Manual"
    OVERRIDE = "override", "Manual override (did not beat production)"
    ROLLBACK = "rollback", "Rollback"


class PromotionEvent(models.Model):
    """Audit log: every change of a family's production version, who made it and why."""

    family = models.CharField(max_length=100, db_index=True)
    from_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    to_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="promotion_events")
    action = models.CharField(max_length=16, choices=PromotionAction.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.family}: {self.action} to v{self.to_version.version}"


class WorkerHeartbeat(models.Model):
    """Written by every Celery worker every few seconds: /healthz and the dashboard read who is alive."""

    hostname = models.CharField(max_length=200, unique=True)
    queues = models.JSONField(default=list)
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.hostname
