from __future__ import annotations

from rest_framework import serializers

from apps.core.api.fields import CharField, FloatField, ModelSerializer
from apps.core.netguard import url_redact_credentials
from apps.traffic.models import Camera, Count, CountingLine, Event, ProcessingJob, Site, Track, Zone


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
            "created_at",
        )
        read_only_fields = ("site", "width", "height", "calibration_image_points", "calibration_ground_points", "created_at")

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
        child=serializers.ListField(child=FloatField(), min_length=2, max_length=2), allow_empty=True,
        max_length=4,
        help_text="4 points [x, y] in pixels, or [] to clear.",
    )
    ground_points = serializers.ListField(
        child=serializers.ListField(child=FloatField(), min_length=2, max_length=2), allow_empty=True,
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
