import re

from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from rest_framework import serializers

from apps.mlops.families import all_families
from apps.mlops.models import ModelVersion, PromotionEvent, TrainingRun


def _same_shape(a: dict, b: dict) -> bool:
    def strip(schema: dict) -> dict:
        return {k: v for k, v in schema.items() if k not in ("description", "maxLength")}

    return strip(a) == strip(b)


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
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

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
    """``config`` is checked by the family's config class (``TrainConfig.from_dict``): unknown keys, wrong types and
    values out of range are a 400 naming the key. The schema lists each family's keys (see the extension below)."""

    family = serializers.ChoiceField(choices=())
    config = serializers.DictField(required=False, default=dict, help_text="Overrides of the family's config.")

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        # Families register in their AppConfig.ready(): read the registry when the serializer is made, not imported.
        self.fields["family"].choices = sorted(spec.name for spec in all_families())


class TrainingRunStartSerializerExtension(OpenApiSerializerExtension):
    """Documents the body as one of the registered families, each with its own ``config`` keys and their JSON types
    (``additionalProperties: false``): a client sees which overrides a family takes before it sends them."""

    target_class = TrainingRunStartSerializer

    def map_serializer(self, auto_schema, direction):  # noqa: ANN001, ANN201
        families = all_families()
        return {
            "type": "object",
            "properties": {
                "family": {"type": "string", "enum": [f.name for f in families]},
                "config": {"type": "object", "description": "Overrides of the family's config (GET /models/families/ lists the defaults)."},
            },
            "required": ["family"],
            "oneOf": [
                {
                    "properties": {
                        # A pattern, not a one-value enum: spectacular folds enums of one property name into one component.
                        "family": {"type": "string", "pattern": f"^{re.escape(family.name)}$"},
                        "config": {
                            **family.config_class.json_schema(),
                            "description": f"{family.name}: its hyper-parameters; value ranges and rules across keys are checked "
                            "when the run starts (a 400 names the key).",
                        },
                    },
                }
                for family in families
            ],
        }


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


class PredictItemField(serializers.JSONField):
    """One input of a family's predict call. Validation is per family (``ModelFamily.predict_input``); the schema is
    every registered family's item schema (see :class:`PredictItemFieldExtension`)."""


class PredictSerializer(serializers.Serializer):
    """The documented request body; the view validates with the family's own item field and item limit."""

    inputs = serializers.ListField(child=PredictItemField(), min_length=1, help_text="The items to predict on; what an item is depends on the family.")


class PredictItemFieldExtension(OpenApiSerializerFieldExtension):
    """Documents an item as ``anyOf`` the distinct item schemas of the registered families, each saying whose it is."""

    target_class = PredictItemField

    def map_serializer_field(self, auto_schema, direction):  # noqa: ANN001, ANN201
        groups: list[tuple[dict, list[str], list[str]]] = []  # (schema, kinds, family names)
        for family in all_families():
            if family.predict_input is None:
                continue
            field = family.predict_input.field()
            schema = auto_schema._map_serializer_field(field, direction)
            auto_schema._insert_field_validators(field, schema)  # minItems/maxItems, maxLength
            group = next((g for g in groups if _same_shape(g[0], schema)), None)
            if group is None:
                group = (schema, [], [])
                groups.append(group)
            if group[0].get("maxLength") != schema.get("maxLength"):
                group[0].pop("maxLength", None)  # a string of either kind: the longest limit is the family's
            if family.predict_input.kind not in group[1]:
                group[1].append(family.predict_input.kind)
            group[2].append(family.name)
        schemas = [
            # A $ref takes no sibling keywords in OpenAPI 3.0: wrap it to describe it.
            {**({"allOf": [schema]} if "$ref" in schema else schema), "description": f"{' or '.join(kinds)}: {', '.join(names)}"}
            for schema, kinds, names in groups
        ]
        return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}


class PredictionSerializer(serializers.Serializer):
    family = serializers.CharField()
    version = serializers.IntegerField()
    model_version_id = serializers.IntegerField()
    predictions = serializers.ListField(child=serializers.JSONField())
