from django.contrib import admin

from apps.traffic.models import Camera, Count, CountingLine, Crossing, CrossingReview, Event, ProcessingJob, Site, Track, Zone


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("name", "location", "created_at")
    search_fields = ("name",)


class LineInline(admin.TabularInline):
    model = CountingLine
    extra = 0


class ZoneInline(admin.TabularInline):
    model = Zone
    extra = 0


@admin.register(Camera)
class CameraAdmin(admin.ModelAdmin):
    list_display = ("name", "site", "source_kind", "width", "height", "created_at")
    list_filter = ("source_kind", "site")
    search_fields = ("name", "location")
    inlines = (LineInline, ZoneInline)


@admin.register(ProcessingJob)
class ProcessingJobAdmin(admin.ModelAdmin):
    list_display = ("id", "camera", "kind", "status", "progress", "checkpoint_frame", "attempts", "detector", "created_at", "reviewed_at")
    list_filter = ("status", "kind")
    readonly_fields = (
        "checkpoint_frame",
        "resume_state",
        "attempts",
        "worker",
        "heartbeat_at",
        "started_at",
        "finished_at",
        "error",
        "reviewed_at",
        "reviewed_by",
    )


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("kind", "camera", "job", "frame", "occurred_at", "track_key")
    list_filter = ("kind",)


@admin.register(CrossingReview)
class CrossingReviewAdmin(admin.ModelAdmin):
    list_display = ("job", "line", "crossing", "verdict", "direction", "label", "frame", "reviewer", "reviewed_at")
    list_filter = ("verdict",)
    raw_id_fields = ("job", "line", "crossing", "reviewer")


admin.site.register(Track)
admin.site.register(Crossing)
admin.site.register(Count)
