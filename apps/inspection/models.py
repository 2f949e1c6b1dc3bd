"""Defect inspection: lines, stations, images posted by line cameras, results, operator reviews.

An image's ``label`` is its ground truth when known (imported with labels, or decided by an operator review);
labelled images with a ``split`` form the station's dataset that the model families train and validate on.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core.validators import validate_finite

OK_LABEL = "ok"


class ProductionLine(models.Model):
    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Station(models.Model):
    line = models.ForeignKey(ProductionLine, on_delete=models.CASCADE, related_name="stations")
    name = models.CharField(max_length=100)
    camera = models.CharField(max_length=200, blank=True, help_text="Camera model or address, for the operators' reference.")
    part_type = models.CharField(max_length=100, blank=True)
    target_false_reject_rate = models.FloatField(
        default=0.02,
        validators=[validate_finite, MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text="Share of good parts the calibrated threshold may reject (used when no manual threshold is set).",
    )
    threshold = models.FloatField(
        null=True, blank=True, validators=[validate_finite], help_text="Manual anomaly-score threshold; empty: calibrated from the target false-reject rate."
    )
    review_margin = models.FloatField(
        default=0.15,
        validators=[validate_finite, MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Scores within this fraction of the threshold go to the review queue.",
    )
    type_confidence_min = models.FloatField(
        default=0.6,
        validators=[validate_finite, MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="A defect-type prediction below this confidence goes to the review queue.",
    )
    retrain_after_reviews = models.PositiveIntegerField(default=20, help_text="Retrain automatically after this many new reviews; 0: never.")
    reviews_since_retrain = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("line__name", "name")
        constraints = [models.UniqueConstraint(fields=["line", "name"], name="inspection_unique_station_per_line")]

    def __str__(self) -> str:
        return f"{self.line.name} / {self.name}"


class ImageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Split(models.TextChoices):
    NONE = "", "Not in the dataset"
    TRAIN = "train", "Train"
    VALIDATION = "validation", "Validation"


class ImageSource(models.TextChoices):
    API = "api", "REST API"
    IMPORT = "import", "Folder import"
    DEMO = "demo", "Demo generator"


class InspectionImage(models.Model):
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="images")
    client_image_id = models.CharField(max_length=200, help_text="The sender's id; a resend with the same id is not inspected twice.")
    file = models.FileField(upload_to="inspection/images/%Y/%m/%d/", max_length=300)
    mask = models.FileField(upload_to="inspection/masks/%Y/%m/%d/", max_length=300, blank=True)
    image_format = models.CharField(max_length=16)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size_bytes = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=16, choices=ImageSource.choices, default=ImageSource.API)
    status = models.CharField(max_length=16, choices=ImageStatus.choices, default=ImageStatus.PENDING, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When an inference task took the image.")
    error = models.TextField(blank=True)
    callback_url = models.URLField(blank=True, max_length=500)
    callback_status = models.CharField(max_length=200, blank=True)
    # Ground truth when known: "ok" or a defect type.
    label = models.CharField(max_length=64, blank=True, db_index=True)
    split = models.CharField(max_length=16, choices=Split.choices, blank=True, default=Split.NONE)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    inspected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-received_at", "-id")
        constraints = [models.UniqueConstraint(fields=["station", "client_image_id"], name="inspection_unique_client_image")]
        indexes = [models.Index(fields=["station", "split", "label"])]

    def __str__(self) -> str:
        return f"{self.station} #{self.client_image_id}"


class Verdict(models.TextChoices):
    OK = "ok", "OK"
    DEFECTIVE = "defective", "Defective"


class InspectionResult(models.Model):
    image = models.OneToOneField(InspectionImage, on_delete=models.CASCADE, related_name="result")
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    score = models.FloatField()
    threshold = models.FloatField()
    defect_type = models.CharField(max_length=64, blank=True)
    type_confidence = models.FloatField(null=True, blank=True)
    heatmap = models.FileField(upload_to="inspection/heatmaps/%Y/%m/%d/", max_length=300, blank=True)
    boxes = models.JSONField(default=list, blank=True, help_text="[x, y, width, height] of regions above the threshold, in image pixels.")
    needs_review = models.BooleanField(default=False, db_index=True)
    review_reason = models.CharField(max_length=200, blank=True)
    anomaly_version = models.ForeignKey("mlops.ModelVersion", null=True, on_delete=models.SET_NULL, related_name="+")
    classifier_version = models.ForeignKey("mlops.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    latency_ms = models.FloatField(help_text="From receipt to result.")
    inference_ms = models.FloatField(help_text="Model time per image (batch time / batch size).")
    batch_size = models.PositiveSmallIntegerField(default=1)
    timings_ms = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "Where this result's time went, in ms: queue (receipt to claim), decode and model (the batch's), render (this "
            "heatmap), before_write (claim to this result's write)."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.image}: {self.verdict} ({self.score:.3f})"


class ReviewDecision(models.TextChoices):
    CONFIRM = "confirm", "Confirm the verdict"
    OK = "ok", "Mark OK"
    DEFECT = "defect", "Mark defective (with type)"


class Review(models.Model):
    result = models.ForeignKey(InspectionResult, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    decision = models.CharField(max_length=16, choices=ReviewDecision.choices)
    label = models.CharField(max_length=64, help_text="The ground truth this review set: ok or a defect type.")
    disputed = models.BooleanField(default=False, help_text="The reviewer disagreed with the model's verdict or defect type.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        # One review per result: a double key press or a second operator must not label the image twice or
        # count twice toward the station's retraining.
        constraints = [models.UniqueConstraint(fields=["result"], name="inspection_one_review_per_result")]

    def __str__(self) -> str:
        return f"review of {self.result_id}: {self.label}"
