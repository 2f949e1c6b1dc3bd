from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.mlops import services
from apps.mlops.models import FamilySettings, ModelVersion, PromotionEvent, TrainingRun, Trigger, WorkerHeartbeat


def _retrain(modeladmin: admin.ModelAdmin, request: HttpRequest, families: set[str]) -> None:
    for family in sorted(families):
        try:
            run = services.training_run_start(family=family, trigger=Trigger.ADMIN, user=request.user)
        except ValidationError as exc:
            modeladmin.message_user(request, f"{family}: {'; '.join(exc.messages)}", messages.ERROR)
        else:
            modeladmin.message_user(request, f"Training run #{run.pk} of {family} queued.", messages.SUCCESS)


def _report(modeladmin: admin.ModelAdmin, request: HttpRequest, label: str, action) -> None:  # noqa: ANN001
    try:
        action()
    except ValidationError as exc:
        modeladmin.message_user(request, f"{label}: {'; '.join(exc.messages)}", messages.ERROR)
    else:
        modeladmin.message_user(request, f"{label}: done.", messages.SUCCESS)


@admin.action(description="Retrain now")
def retrain_now(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _retrain(modeladmin, request, set(queryset.values_list("family", flat=True)))


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("family", "version", "status", "primary_metric", "primary_value", "created_via", "created_at", "promoted_at")
    list_filter = ("family", "status", "created_via")
    readonly_fields = [f.name for f in ModelVersion._meta.fields]
    actions = (retrain_now, "promote", "roll_back")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # versions come from training runs only

    @admin.action(description="Promote to production")
    def promote(self, request: HttpRequest, queryset: QuerySet) -> None:
        reason = f"Promoted from the Django admin by {request.user.get_username()}."
        for version in queryset:
            _report(self, request, str(version), lambda v=version: services.model_version_promote(version=v, user=request.user, reason=reason))

    @admin.action(description="Roll back the family to its previous production version")
    def roll_back(self, request: HttpRequest, queryset: QuerySet) -> None:
        for family in sorted(set(queryset.values_list("family", flat=True))):
            _report(self, request, f"Roll back {family}", lambda f=family: services.model_family_rollback(family=f, user=request.user))


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "family", "status", "progress", "stage", "trigger", "triggered_by", "device", "queued_at", "finished_at")
    list_filter = ("family", "status", "trigger")
    readonly_fields = [f.name for f in TrainingRun._meta.fields]
    actions = (retrain_now, "cancel")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # start runs with "Retrain now", the dashboard or the API

    @admin.action(description="Cancel")
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        for run in queryset:
            _report(self, request, f"Run #{run.pk}", lambda r=run: services.training_run_cancel(run=r, user=request.user))


@admin.register(FamilySettings)
class FamilySettingsAdmin(admin.ModelAdmin):
    list_display = ("family", "auto_promote", "retrain_every_minutes", "last_scheduled_at", "updated_at")
    actions = (retrain_now,)

    def changelist_view(self, request: HttpRequest, extra_context=None):  # noqa: ANN001, ANN201
        services.family_settings_ensure_registered()
        return super().changelist_view(request, extra_context)


@admin.register(PromotionEvent)
class PromotionEventAdmin(admin.ModelAdmin):
    list_display = ("family", "from_version", "to_version", "action", "actor", "created_at")
    list_filter = ("family", "action")
    readonly_fields = [f.name for f in PromotionEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # noqa: ANN001
        return False  # an audit log is not edited


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "queues", "pid", "started_at", "last_seen_at")
