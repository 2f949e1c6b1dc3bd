from __future__ import annotations

from rest_framework import serializers

from apps.core.webhooks import webhook_url_validator


class ImageUploadSerializer(serializers.Serializer):
    """Multipart form: one ``image`` with ``client_image_id``, or several ``images`` with as many ``client_image_ids``."""

    station = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="Station id.")
    client_image_id = serializers.CharField(required=False, max_length=200, help_text="Id of a single image in your system.")
    image = serializers.FileField(required=False, help_text="A single image (PNG, JPEG, BMP, TIFF or WebP).")
    client_image_ids = serializers.ListField(child=serializers.CharField(max_length=200), required=False, help_text="One id per file in images, in order.")
    images = serializers.ListField(child=serializers.FileField(), required=False, help_text="Several images.")
    callback_url = serializers.URLField(
        required=False,
        allow_blank=True,
        validators=[webhook_url_validator],
        help_text="POSTed the result as JSON when it is ready; must resolve to a public address.",
    )


class ResultSerializer(serializers.Serializer):
    verdict = serializers.CharField(help_text="ok or defective.")
    score = serializers.FloatField()
    threshold = serializers.FloatField()
    defect_type = serializers.CharField()
    type_confidence = serializers.FloatField(allow_null=True)
    boxes = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    needs_review = serializers.BooleanField()
    anomaly_model_version = serializers.IntegerField(allow_null=True)
    classifier_model_version = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.FloatField()


class ImageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    station = serializers.IntegerField()
    client_image_id = serializers.CharField()
    status = serializers.CharField(help_text="pending, processing, done or failed.")
    error = serializers.CharField()
    received_at = serializers.DateTimeField()
    result = ResultSerializer(allow_null=True)


class AcceptedImageSerializer(ImageSerializer):
    duplicate = serializers.BooleanField(help_text="True when this client image id was sent before: nothing new was inspected.")


class FileErrorSerializer(serializers.Serializer):
    client_image_id = serializers.CharField(allow_blank=True)
    file = serializers.CharField(allow_blank=True)
    error = serializers.CharField()


class UploadResponseSerializer(serializers.Serializer):
    accepted = AcceptedImageSerializer(many=True)
    rejected = FileErrorSerializer(many=True)
