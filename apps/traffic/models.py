"""Traffic monitoring: sites, cameras with their lines, zones and calibration; processing jobs and what they found."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.netguard import url_redact_credentials


class Site(models.Model):
    name = models.CharField(max_length=200, unique=True)
    location = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class SourceKind(models.TextChoices):
    FILE = "file", "Uploaded recordings"
    STREAM = "stream", "Stream URL (RTSP/HTTP)"


class Camera(models.Model):
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.SET_NULL, related_name="cameras")
    name = models.CharField(max_length=200)
    location = models.CharField(max_length=300, blank=True)
    source_kind = models.CharField(max_length=8, choices=SourceKind.choices, default=SourceKind.FILE)
    stream_url = models.CharField(max_length=500, blank=True)
    fps = models.FloatField(null=True, blank=True, help_text="Frames per second; read from the video when empty.")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    # Calibration: four image points (pixels) and the same four points on the ground plane (metres).
    calibration_image_points = models.JSONField(default=list, blank=True)
    calibration_ground_points = models.JSONField(default=list, blank=True)
    latest_frame = models.FileField(upload_to="traffic/frames/", blank=True)
    # The detector this camera's jobs use: a traffic.detector version (usually self-trained on its own footage). Empty:
    # the family's production version if there is one, else background subtraction.
    detector_version = models.ForeignKey(
        "mlops.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Empty: the global detector."
    )
    detector_note = models.CharField(max_length=300, blank=True, help_text="Why the camera uses its detector, and who chose it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name", "id")

    def __str__(self) -> str:
        return self.name

    @property
    def stream_url_display(self) -> str:
        """The stream URL without its credentials: what pages and API responses show."""
        return url_redact_credentials(self.stream_url)

    @property
    def is_calibrated(self) -> bool:
        return len(self.calibration_image_points) == 4 and len(self.calibration_ground_points) == 4


class InSide(models.IntegerChoices):
    # The ml layer names crossing directions by the side moved to: +1 is where cross(B − A, P − A) > 0 in image
    # coordinates (y down): below a line drawn left to right, left of a line drawn top to bottom.
    POSITIVE = 1, "below a line drawn left→right (right of one drawn bottom→top)"
    NEGATIVE = -1, "above a line drawn left→right (left of one drawn bottom→top)"


class Direction(models.TextChoices):
    IN = "in", "In"
    OUT = "out", "Out"


class CountingLine(models.Model):
    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="lines")
    name = models.CharField(max_length=100)
    x1 = models.FloatField()
    y1 = models.FloatField()
    x2 = models.FloatField()
    y2 = models.FloatField()
    in_side = models.SmallIntegerField(choices=InSide.choices, default=InSide.POSITIVE, help_text="Crossing towards this side counts as 'in'.")
    wrong_way = models.CharField(max_length=3, choices=Direction.choices, blank=True, help_text="A crossing in this direction raises a wrong-way event.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("camera", "name", "id")
        constraints = [models.UniqueConstraint(fields=("camera", "name"), name="traffic_line_unique_name")]

    def __str__(self) -> str:
        return f"{self.camera} / {self.name}"


class ZoneKind(models.TextChoices):
    STOPPED_VEHICLE = "stopped_vehicle", "Stopped vehicle (no stopping)"
    CONGESTION = "congestion", "Congestion (occupancy)"


class Zone(models.Model):
    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="zones")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=ZoneKind.choices, default=ZoneKind.STOPPED_VEHICLE)
    polygon = models.JSONField(help_text="Image points [[x, y], ...], at least 3.")
    min_seconds = models.FloatField(default=5.0, help_text="How long a vehicle must stand / occupancy must last.")
    occupancy_threshold = models.PositiveIntegerField(default=5, help_text="Congestion: this many vehicles inside.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("camera", "name", "id")
        constraints = [models.UniqueConstraint(fields=("camera", "name"), name="traffic_zone_unique_name")]

    def __str__(self) -> str:
        return f"{self.camera} / {self.name}"


class JobKind(models.TextChoices):
    VIDEO = "video", "Uploaded video"
    STREAM = "stream", "Stream session"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_JOB_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
ACTIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class ProcessingJob(models.Model):
    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=8, choices=JobKind.choices, default=JobKind.VIDEO)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=64, blank=True, default="queued")
    video = models.FileField(upload_to="traffic/videos/", blank=True)
    original_name = models.CharField(max_length=255, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    source_url = models.CharField(max_length=500, blank=True)
    # Nothing counted twice: a client's Idempotency-Key (a resent request returns the first job) and the SHA-256 of an
    # uploaded recording (the same file for the same camera is refused while a job for it is queued, running or done).
    idempotency_key = models.CharField(max_length=200, blank=True, default="")
    content_sha256 = models.CharField(max_length=64, blank=True, default="")
    recorded_at = models.DateTimeField(help_text="Wall-clock time of the first frame: counts are binned from it.")
    fps = models.FloatField(null=True, blank=True)
    frame_count = models.PositiveIntegerField(null=True, blank=True)
    max_frames = models.PositiveIntegerField(null=True, blank=True, help_text="Stream sessions stop after this many frames.")
    detector = models.CharField(max_length=200, blank=True, help_text="Which detector ran, e.g. a YOLO version or background subtraction.")
    detector_model_version = models.PositiveIntegerField(null=True, blank=True)
    checkpoint_frame = models.PositiveIntegerField(default=0, help_text="Everything before this frame is written.")
    resume_state = models.JSONField(
        default=dict, blank=True, help_text="The pipeline's open tracks and zone state at the checkpoint: a resumed attempt carries on from them."
    )
    annotated_parts = models.JSONField(default=list, blank=True)
    annotated_video = models.FileField(upload_to="traffic/annotated/", blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    reconnects = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    worker = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # An operator's review of the job's crossings is complete: its reviewed counts are ground truth from then on.
    reviewed_at = models.DateTimeField(null=True, blank=True, help_text="When an operator marked the review of the crossings complete.")
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["camera", "status"])]
        constraints = [
            models.UniqueConstraint(fields=("camera", "idempotency_key"), condition=~Q(idempotency_key=""), name="traffic_job_unique_idempotency_key"),
            models.UniqueConstraint(
                fields=("camera", "content_sha256"),
                condition=Q(kind="video") & ~Q(content_sha256="") & ~Q(status__in=["failed", "cancelled"]),
                name="traffic_job_unique_recording",
            ),
            models.UniqueConstraint(
                fields=("camera",), condition=Q(kind="stream", status__in=["queued", "running"]), name="traffic_one_active_stream_per_camera"
            ),
        ]

    def __str__(self) -> str:
        return f"job #{self.pk} ({self.status})"

    @property
    def source_url_display(self) -> str:
        return url_redact_credentials(self.source_url)

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL_JOB_STATUSES


class Track(models.Model):
    job = models.ForeignKey(ProcessingJob, on_delete=models.CASCADE, related_name="tracks")
    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="tracks")
    track_key = models.CharField(max_length=64)
    label = models.CharField(max_length=20, db_index=True)
    first_frame = models.PositiveIntegerField()
    last_frame = models.PositiveIntegerField()
    first_seen = models.DateTimeField(db_index=True)
    last_seen = models.DateTimeField()
    path = models.JSONField(default=list, help_text="[[frame, x, y], ...] box centres in image pixels.")
    speed_kmh = models.FloatField(null=True, blank=True)
    max_speed_kmh = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ("-first_seen", "-id")
        constraints = [models.UniqueConstraint(fields=("job", "track_key"), name="traffic_track_unique_key")]

    def __str__(self) -> str:
        return f"track {self.track_key} ({self.label})"


class Crossing(models.Model):
    """One counted crossing. Unique per job, track and line: a resumed or redelivered job cannot add it twice."""

    job = models.ForeignKey(ProcessingJob, on_delete=models.CASCADE, related_name="crossings")
    line = models.ForeignKey(CountingLine, on_delete=models.CASCADE, related_name="crossings")
    track_key = models.CharField(max_length=64)
    label = models.CharField(max_length=20)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    frame = models.PositiveIntegerField()
    occurred_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ("occurred_at", "id")
        constraints = [models.UniqueConstraint(fields=("job", "track_key", "line"), name="traffic_crossing_once_per_track")]

    def __str__(self) -> str:
        return f"{self.label} {self.direction} at frame {self.frame}"


class ReviewVerdict(models.TextChoices):
    CONFIRMED = "confirmed", "Confirmed"
    REJECTED = "rejected", "Rejected (a false count)"
    CORRECTED = "corrected", "Corrected (direction or class)"
    ADDED = "added", "Added (a missed crossing)"


class CrossingReview(models.Model):
    """An operator's judgement of one counted crossing, or a crossing the machine missed (``verdict`` added, no
    ``crossing``). ``direction`` and ``label`` are the true ones; the crossing itself keeps what the machine counted."""

    job = models.ForeignKey(ProcessingJob, on_delete=models.CASCADE, related_name="crossing_reviews")
    line = models.ForeignKey(CountingLine, on_delete=models.CASCADE, related_name="+")
    crossing = models.ForeignKey(Crossing, null=True, blank=True, on_delete=models.CASCADE, related_name="reviews")
    verdict = models.CharField(max_length=10, choices=ReviewVerdict.choices)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    label = models.CharField(max_length=20)
    frame = models.PositiveIntegerField()
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reviewed_at = models.DateTimeField()

    class Meta:
        ordering = ("frame", "id")
        constraints = [
            # One review per crossing: a second judgement replaces the first instead of counting it twice.
            models.UniqueConstraint(fields=("crossing",), condition=Q(crossing__isnull=False), name="traffic_review_once_per_crossing"),
            models.CheckConstraint(
                condition=Q(verdict="added", crossing__isnull=True) | (~Q(verdict="added") & Q(crossing__isnull=False)),
                name="traffic_review_added_has_no_crossing",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.verdict} {self.label} {self.direction} at frame {self.frame}"


class BinSize(models.IntegerChoices):
    ONE_MINUTE = 1, "1 minute"
    FIFTEEN_MINUTES = 15, "15 minutes"


class Count(models.Model):
    """Crossings per line, class and direction in a time bin; recomputed from :class:`Crossing` rows."""

    line = models.ForeignKey(CountingLine, on_delete=models.CASCADE, related_name="counts")
    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="counts")
    label = models.CharField(max_length=20)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    bin_minutes = models.PositiveSmallIntegerField(choices=BinSize.choices)
    bin_start = models.DateTimeField(db_index=True)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("bin_start", "line", "label", "direction")
        constraints = [
            models.UniqueConstraint(fields=("line", "label", "direction", "bin_minutes", "bin_start"), name="traffic_count_unique_bin"),
        ]

    def __str__(self) -> str:
        return f"{self.count} {self.label} {self.direction} in {self.bin_minutes} min from {self.bin_start:%Y-%m-%d %H:%M}"


class EventKind(models.TextChoices):
    STOPPED_VEHICLE = "stopped_vehicle", "Stopped vehicle"
    WRONG_WAY = "wrong_way", "Wrong-way crossing"
    CONGESTION = "congestion", "Congestion"


class Event(models.Model):
    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="events")
    job = models.ForeignKey(ProcessingJob, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=EventKind.choices, db_index=True)
    key = models.CharField(max_length=200)
    frame = models.PositiveIntegerField()
    occurred_at = models.DateTimeField(db_index=True)
    track_key = models.CharField(max_length=64, blank=True)
    line = models.ForeignKey(CountingLine, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    zone = models.ForeignKey(Zone, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    details = models.JSONField(default=dict, blank=True)
    webhook_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-occurred_at", "-id")
        constraints = [models.UniqueConstraint(fields=("job", "key"), name="traffic_event_unique_key")]

    def __str__(self) -> str:
        return f"{self.kind} at frame {self.frame}"
