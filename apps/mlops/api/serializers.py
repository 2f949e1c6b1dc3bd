from rest_framework import serializers

from apps.mlops.models import ModelVersion, PromotionEvent, TrainingRun


class ModelVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    training_run = serializers.PrimaryKeyRelatedField(read_only=True)
    parent = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = ModelVersion
        fields = (
            "id", "family", "version", "status", "primary_metric", "primary_value", "metrics", "config",
            "data_snapshot", "artifact_uri", "artifact_sha256", "artifact_size", "device", "training_run",
            "parent", "created_by", "created_via", "promotion_note", "check_error", "created_at", "promoted_at",
        )
        read_only_fields = fields


class TrainingRunSerializer(serializers.ModelSerializer):
    triggered_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    model_version = serializers.SerializerMethodField()
    duration_seconds = serializers.FloatField(read_only=True)

    class Meta:
        model = TrainingRun
        fields = (
            "id", "family", "status", "progress", "stage", "config", "data_snapshot", "metrics", "metric_history",
            "details", "device", "worker", "attempts", "cancel_requested", "error", "trigger", "triggered_by", "queued_at",
            "started_at", "finished_at", "heartbeat_at", "duration_seconds", "model_version",
        )
        read_only_fields = fields

    def get_model_version(self, run: TrainingRun) -> int | None:
        version = getattr(run, "model_version", None)
        return version.pk if version else None


class TrainingRunStartSerializer(serializers.Serializer):
    family = serializers.CharField(max_length=100)
    config = serializers.DictField(required=False, default=dict, help_text="Overrides of the family's config.")


class PromoteSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ModelUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text=(
            "The weights file, in the format the family's predictor loads. It is checked without running anything in it "
            "(a pickle that names code is refused with 400), then loaded by a worker: the version is 'checking' until "
            "then, and becomes 'candidate' or 'rejected' (with check_error)."
        )
    )
    metrics = serializers.JSONField(required=False, default=dict, help_text='Measured elsewhere, e.g. {"accuracy": 0.91}.')
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)


class ModelUploadErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text='Per field, e.g. {"file": ["w.pt cannot be a traffic.detector model: refused: … posix.system …"]}.',
    )


class PromotionEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)
    from_version = serializers.SlugRelatedField(slug_field="version", read_only=True)
    to_version = serializers.SlugRelatedField(slug_field="version", read_only=True)

    class Meta:
        model = PromotionEvent
        fields = ("id", "family", "from_version", "to_version", "action", "actor", "reason", "created_at")
        read_only_fields = fields


class FamilySerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    product = serializers.CharField()
    description = serializers.CharField()
    primary_metric = serializers.CharField()
    higher_is_better = serializers.BooleanField()
    auto_promote = serializers.BooleanField()
    retrain_every_minutes = serializers.IntegerField(allow_null=True)
    production = ModelVersionSerializer(allow_null=True)
    default_config = serializers.DictField()


class PredictSerializer(serializers.Serializer):
    inputs = serializers.ListField(child=serializers.JSONField(), min_length=1, max_length=1000)


class PredictionSerializer(serializers.Serializer):
    family = serializers.CharField()
    version = serializers.IntegerField()
    model_version_id = serializers.IntegerField()
    predictions = serializers.ListField(child=serializers.JSONField())
