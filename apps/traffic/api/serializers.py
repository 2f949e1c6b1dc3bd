from __future__ import annotations

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.fields import CharField, FloatField, IntegerField, ModelSerializer
from apps.core.api.filters import MAX_BIGINT, MAX_INT
from apps.core.netguard import url_redact_credentials
from apps.traffic import selectors
from apps.traffic.models import Camera, Count, CountingLine, Crossing, CrossingReview, Direction, Event, ProcessingJob, ReviewVerdict, Site, Track, Zone
from apps.traffic.services import CROSSING_VERDICTS
from ml.traffic.classes import VEHICLE_CLASSES


class SiteSerializer(ModelSerializer):
    class Meta:
        model = Site
        fields = ("id", "name", "location", "created_at")


class CameraSerializer(ModelSerializer):
    is_calibrated = serializers.BooleanField(read_only=True)
    latest_frame_url = serializers.SerializerMethodField()
    site_name = CharField(write_only=True, required=False, allow_blank=True, help_text="Creates the site when new.")

    class Meta:
        model = Camera
        fields = (
            "id",
            "site",
            "site_name",
            "name",
            "location",
            "source_kind",
            "stream_url",
            "fps",
            "width",
            "height",
            "calibration_image_points",
            "calibration_ground_points",
            "is_calibrated",
            "latest_frame_url",
            "detector_version",
            "created_at",
        )
        read_only_fields = ("site", "width", "height", "calibration_image_points", "calibration_ground_points", "detector_version", "created_at")

    def validate_stream_url(self, value: str) -> str:
        # The camera's URL is shown without its credentials: sending that masked form back keeps the stored one.
        if self.instance is not None and value and value == url_redact_credentials(self.instance.stream_url):
            return self.instance.stream_url
        return value

    def to_representation(self, camera: Camera) -> dict:
        data = super().to_representation(camera)
        data["stream_url"] = url_redact_credentials(camera.stream_url)
        return data

    def get_latest_frame_url(self, camera: Camera) -> str | None:
        from django.urls import reverse

        return reverse("traffic:camera-frame", args=[camera.pk]) if camera.latest_frame else None


class CalibrationSerializer(serializers.Serializer):
    """Four image points and the four ground points (metres) they lie on, or both lists empty to clear the
    calibration; the points must not be collinear (a 400 says so)."""

    image_points = serializers.ListField(
        child=serializers.ListField(child=FloatField(), min_length=2, max_length=2),
        allow_empty=True,
        max_length=4,
        help_text="4 points [x, y] in pixels, or [] to clear.",
    )
    ground_points = serializers.ListField(
        child=serializers.ListField(child=FloatField(), min_length=2, max_length=2),
        allow_empty=True,
        max_length=4,
        help_text="4 points [x, y] in metres, or [] to clear.",
    )


class CountingLineSerializer(ModelSerializer):
    class Meta:
        model = CountingLine
        fields = ("id", "camera", "name", "x1", "y1", "x2", "y2", "in_side", "wrong_way", "created_at")
        read_only_fields = ("created_at",)


class ZoneSerializer(ModelSerializer):
    polygon = serializers.ListField(child=serializers.ListField(child=FloatField(), min_length=2, max_length=2), min_length=3)

    class Meta:
        model = Zone
        fields = ("id", "camera", "name", "kind", "polygon", "min_seconds", "occupancy_threshold", "created_at")
        read_only_fields = ("created_at",)


class JobSerializer(ModelSerializer):
    annotated_video_url = serializers.SerializerMethodField()

    class Meta:
        model = ProcessingJob
        fields = (
            "id",
            "camera",
            "kind",
            "status",
            "progress",
            "stage",
            "original_name",
            "size_bytes",
            "source_url",
            "recorded_at",
            "fps",
            "frame_count",
            "max_frames",
            "detector",
            "detector_model_version",
            "checkpoint_frame",
            "attempts",
            "reconnects",
            "worker",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "reviewed_at",
            "annotated_video_url",
        )
        read_only_fields = fields

    def to_representation(self, job: ProcessingJob) -> dict:
        data = super().to_representation(job)
        data["source_url"] = url_redact_credentials(job.source_url)  # the worker reads the real one from the row
        return data

    def get_annotated_video_url(self, job: ProcessingJob) -> str | None:
        from django.urls import reverse

        return reverse("traffic:job-video", args=[job.pk]) if job.annotated_video else None


class JobUploadSerializer(serializers.Serializer):
    camera = serializers.PrimaryKeyRelatedField(queryset=Camera.objects.all())
    video = serializers.FileField(allow_empty_file=True)
    recorded_at = serializers.DateTimeField(required=False, help_text="Time of the first frame; default now.")


class StreamJobSerializer(serializers.Serializer):
    camera = serializers.PrimaryKeyRelatedField(queryset=Camera.objects.all())
    url = CharField(required=False, allow_blank=True, help_text="Default: the camera's stream URL.")
    max_frames = serializers.IntegerField(required=False, min_value=1, help_text="End the session after this many frames.")


class CountSerializer(ModelSerializer):
    line_name = serializers.CharField(source="line.name", read_only=True)

    class Meta:
        model = Count
        fields = ("camera", "line", "line_name", "label", "direction", "bin_minutes", "bin_start", "count")


class EventSerializer(ModelSerializer):
    class Meta:
        model = Event
        fields = ("id", "camera", "job", "kind", "frame", "occurred_at", "track_key", "line", "zone", "details")


class TrackSerializer(ModelSerializer):
    class Meta:
        model = Track
        fields = ("id", "camera", "job", "track_key", "label", "first_frame", "last_frame", "first_seen", "last_seen", "path", "speed_kmh", "max_speed_kmh")


# --- reviews of counted crossings -------------------------------------------------------------------------------
MAX_SECONDS = 10**9


class _MomentFields(serializers.Serializer):
    """The moment of a crossing in its job: seconds into the video, wall-clock time and a picture of it."""

    seconds = serializers.SerializerMethodField(help_text="Seconds from the job's first frame.")
    occurred_at = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField(help_text="A JPEG of the moment (operators' session); null when no stored video holds it.")

    @extend_schema_field(OpenApiTypes.DOUBLE)
    def get_seconds(self, obj: Crossing | CrossingReview) -> float:
        return round(selectors.job_seconds(obj.job, obj.frame), 3)

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_occurred_at(self, obj: Crossing | CrossingReview) -> str:
        return serializers.DateTimeField().to_representation(selectors.job_moment(obj.job, obj.frame))

    def _thumbnail(self, obj: Crossing | CrossingReview, name: str) -> str | None:
        return reverse(name, args=[obj.job_id, obj.pk]) if selectors.job_frame_source(obj.job, obj.frame) is not None else None


class CrossingReviewSerializer(_MomentFields, ModelSerializer):
    """An operator's review of a counted crossing (``crossing`` set) or a crossing the machine missed (verdict
    added, ``crossing`` null). ``direction`` and ``label`` are the true ones; the counted ones are beside them."""

    line_name = serializers.CharField(source="line.name", read_only=True)
    counted_direction = serializers.SerializerMethodField(help_text="What the machine counted; null for an added crossing.")
    counted_label = serializers.SerializerMethodField(help_text="What the machine counted; null for an added crossing.")
    reviewer = serializers.SerializerMethodField(help_text="User name of who reviewed it last.")

    class Meta:
        model = CrossingReview
        fields = (
            "id",
            "job",
            "crossing",
            "line",
            "line_name",
            "verdict",
            "direction",
            "label",
            "counted_direction",
            "counted_label",
            "frame",
            "seconds",
            "occurred_at",
            "reviewer",
            "reviewed_at",
            "thumbnail_url",
        )
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=Direction.choices, allow_null=True))
    def get_counted_direction(self, review: CrossingReview) -> str | None:
        return review.crossing.direction if review.crossing_id else None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_counted_label(self, review: CrossingReview) -> str | None:
        return review.crossing.label if review.crossing_id else None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_reviewer(self, review: CrossingReview) -> str | None:
        return review.reviewer.get_username() if review.reviewer_id else None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_thumbnail_url(self, review: CrossingReview) -> str | None:
        if review.crossing_id:
            return self._thumbnail(review.crossing, "traffic:crossing-thumbnail")
        return self._thumbnail(review, "traffic:review-thumbnail")


class ReviewOfCrossingSerializer(serializers.Serializer):
    """A counted crossing's review, in short: the verdict and the true direction and class."""

    id = serializers.IntegerField()
    verdict = serializers.ChoiceField(choices=ReviewVerdict.choices)
    direction = serializers.ChoiceField(choices=Direction.choices)
    label = serializers.CharField()


class JobCrossingSerializer(_MomentFields, ModelSerializer):
    """A crossing as the machine counted it, with its review."""

    line_name = serializers.CharField(source="line.name", read_only=True)
    review = serializers.SerializerMethodField(help_text="The crossing's review; null while nobody reviewed it.")

    class Meta:
        model = Crossing
        fields = ("id", "job", "line", "line_name", "track_key", "label", "direction", "frame", "seconds", "occurred_at", "review", "thumbnail_url")
        read_only_fields = fields

    @extend_schema_field(ReviewOfCrossingSerializer(allow_null=True))
    def get_review(self, crossing: Crossing) -> dict | None:
        review = next(iter(crossing.reviews.all()), None)
        return ReviewOfCrossingSerializer(review).data if review else None

    @extend_schema_field({"type": "string", "nullable": True})
    def get_thumbnail_url(self, crossing: Crossing) -> str | None:
        return self._thumbnail(crossing, "traffic:crossing-thumbnail")


class CrossingReviewInputSerializer(serializers.Serializer):
    """Review a counted crossing. Sending a review again replaces the earlier one (200)."""

    crossing = IntegerField(min_value=1, max_value=MAX_BIGINT, help_text="A crossing of this job (GET …/crossings/).")
    verdict = serializers.ChoiceField(
        choices=CROSSING_VERDICTS,
        help_text="rejected: it did not happen (direction and label are not used). confirmed or corrected: it happened, with direction and label "
        "(default: what was counted); stored as corrected exactly when one of them differs from the count.",
    )
    direction = serializers.ChoiceField(choices=Direction.choices, required=False, help_text="The true direction.")
    label = serializers.ChoiceField(choices=VEHICLE_CLASSES, required=False, help_text="The true class.")


class MissedCrossingInputSerializer(serializers.Serializer):
    """A crossing the machine missed. Its moment is either ``frame`` or ``seconds`` (one of them), within the job."""

    line = IntegerField(min_value=1, max_value=MAX_BIGINT, help_text="A counting line of the job's camera.")
    direction = serializers.ChoiceField(choices=Direction.choices)
    label = serializers.ChoiceField(choices=VEHICLE_CLASSES)
    frame = IntegerField(min_value=0, max_value=MAX_INT, required=False, help_text="Frame number from the job's first frame.")
    seconds = FloatField(min_value=0, max_value=MAX_SECONDS, required=False, help_text="Seconds from the job's first frame.")


class CrossingReviewUpdateSerializer(serializers.Serializer):
    """Change a review. A counted crossing's review changes verdict, direction and label; an added crossing's
    review changes line, direction, label and moment (``frame`` or ``seconds``)."""

    verdict = serializers.ChoiceField(choices=ReviewVerdict.choices, required=False)
    line = IntegerField(min_value=1, max_value=MAX_BIGINT, required=False)
    direction = serializers.ChoiceField(choices=Direction.choices, required=False)
    label = serializers.ChoiceField(choices=VEHICLE_CLASSES, required=False)
    frame = IntegerField(min_value=0, max_value=MAX_INT, required=False)
    seconds = FloatField(min_value=0, max_value=MAX_SECONDS, required=False)


class EvaluationRowSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    line_name = serializers.CharField()
    direction = serializers.ChoiceField(choices=Direction.choices)
    counted = serializers.IntegerField(help_text="Crossings the machine counted.")
    reviewed = serializers.IntegerField(help_text="Crossings as reviewed: ground truth once the review is complete.")
    error = serializers.IntegerField(help_text="counted − reviewed: positive counted too many, negative too few.")
    abs_error = serializers.IntegerField()


class EvaluationTotalSerializer(serializers.Serializer):
    counted = serializers.IntegerField()
    reviewed = serializers.IntegerField()
    error = serializers.IntegerField()
    abs_error = serializers.IntegerField(help_text="Sum of the absolute errors of every line and direction.")


class VerdictCountsSerializer(serializers.Serializer):
    confirmed = serializers.IntegerField()
    rejected = serializers.IntegerField()
    corrected = serializers.IntegerField()
    added = serializers.IntegerField()


class EvaluationSerializer(serializers.Serializer):
    """A job's counts against its review, per line and direction. Until the review is complete, ``reviewed`` counts
    the crossings nobody reviewed yet as counted."""

    job = serializers.IntegerField()
    complete = serializers.BooleanField(help_text="An operator marked the review complete: reviewed counts are ground truth.")
    reviewed_at = serializers.DateTimeField(allow_null=True)
    reviewed_by = serializers.CharField(allow_null=True)
    crossings = serializers.IntegerField(help_text="Crossings the machine counted.")
    unreviewed = serializers.IntegerField(help_text="Counted crossings nobody reviewed.")
    verdicts = VerdictCountsSerializer()
    rows = EvaluationRowSerializer(many=True)
    total = EvaluationTotalSerializer()


class DetectorVersionSerializer(serializers.Serializer):
    """A ``traffic.detector`` version as the camera's detector card shows it."""

    id = serializers.IntegerField()
    version = serializers.IntegerField()
    status = serializers.CharField(help_text="Registry status: candidate, production, archived…")
    primary_metric = serializers.CharField()
    primary_value = serializers.FloatField(allow_null=True, help_text="mAP50 on the frames the motion pipeline labelled (its agreement with it).")
    metrics = serializers.DictField(child=serializers.FloatField(), help_text="With heldout_* (and reviewed_*) counts against the motion pipeline.")
    comparison = serializers.SerializerMethodField(help_text="The held-out comparison in words.")
    promotion_note = serializers.CharField()
    training_run = serializers.IntegerField(source="training_run_id", allow_null=True)
    created_at = serializers.DateTimeField()

    def get_comparison(self, version) -> str:  # noqa: ANN001
        from apps.traffic.camera_detector import version_comparison

        return version_comparison(version)


class DetectorRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    progress = serializers.FloatField()
    stage = serializers.CharField()
    error = serializers.CharField()
    queued_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    model_version = serializers.SerializerMethodField()

    def get_model_version(self, run) -> int | None:  # noqa: ANN001
        version = getattr(run, "model_version", None)
        return version.pk if version else None


class CameraDetectorSerializer(serializers.Serializer):
    """Which detector a camera's jobs use, and what it learnt from its own footage."""

    serving = serializers.ChoiceField(
        choices=("camera", "global", "motion"),
        help_text="camera: a version trained on this camera; global: the family's production version; motion: background subtraction.",
    )
    description = serializers.CharField()
    version = DetectorVersionSerializer(allow_null=True, help_text="The version serving the camera (none for motion).")
    default = serializers.CharField(source="default_description", help_text="What the camera uses without a version of its own.")
    note = serializers.CharField(help_text="Why the camera uses its detector, and who chose it.")
    footage_jobs = serializers.IntegerField(help_text="Processed recordings a training run would learn from.")
    training = serializers.BooleanField(help_text="A training run on this camera's footage is queued or running.")
    latest_run = DetectorRunSerializer(allow_null=True)
    versions = DetectorVersionSerializer(many=True, help_text="Versions trained on this camera, newest first (at most 5).")


class DetectorUseSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, max_value=2**31 - 1, help_text="A traffic.detector model version id.")
