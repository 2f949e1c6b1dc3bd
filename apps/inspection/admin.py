from django.contrib import admin

from apps.inspection.models import InspectionImage, InspectionResult, ProductionLine, Review, Station


@admin.register(ProductionLine)
class ProductionLineAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")


@admin.register(Station)
class StationAdmin(admin.ModelAdmin):
    list_display = ("name", "line", "part_type", "target_false_reject_rate", "threshold", "retrain_after_reviews", "reviews_since_retrain")
    list_filter = ("line",)


@admin.register(InspectionImage)
class InspectionImageAdmin(admin.ModelAdmin):
    list_display = ("client_image_id", "station", "status", "label", "split", "source", "received_at")
    list_filter = ("status", "split", "source", "station")
    search_fields = ("client_image_id",)
    readonly_fields = ("received_at", "inspected_at", "claimed_at")


@admin.register(InspectionResult)
class InspectionResultAdmin(admin.ModelAdmin):
    list_display = ("image", "verdict", "score", "threshold", "defect_type", "needs_review", "latency_ms", "created_at")
    list_filter = ("verdict", "needs_review")
    raw_id_fields = ("image", "anomaly_version", "classifier_version")


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ("result", "decision", "label", "disputed", "reviewer", "created_at")
    list_filter = ("decision", "disputed")
    raw_id_fields = ("result",)
