from django.contrib import admin

from apps.recommendations.models import ABTest, ServedList


@admin.register(ABTest)
class ABTestAdmin(admin.ModelAdmin):
    """Read-only: tests start and stop through the Recommendations page or the API (the service validates them)."""

    list_display = ("family", "candidate", "share", "is_active", "started_by", "started_at", "ended_at")
    list_filter = ("is_active", "family")

    def has_add_permission(self, request) -> bool:  # noqa: ANN001
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False


@admin.register(ServedList)
class ServedListAdmin(admin.ModelAdmin):
    """The audit trail of what was served to whom by which version (read-only)."""

    list_display = ("id", "kind", "model_version", "variant", "customer_external_id", "created_at")
    list_filter = ("kind", "variant", "family")
    search_fields = ("id", "customer_external_id", "session_id")
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:  # noqa: ANN001
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False
