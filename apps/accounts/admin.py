from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from apps.accounts.forms import ThrottledAdminAuthenticationForm
from apps.accounts.models import ApiToken, User

# /admin/ login counts failures per username and per address like /login/ does.
admin.site.login_form = ThrottledAdminAuthenticationForm


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "display_name", "email", "role", "is_active", "last_login")
    list_filter = ("role", "is_active")
    fieldsets = (*BaseUserAdmin.fieldsets, ("Downstream", {"fields": ("role", "display_name")}))
    add_fieldsets = (*BaseUserAdmin.add_fieldsets, ("Downstream", {"fields": ("role", "display_name")}))


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_filter = ("revoked_at",)
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")

    def has_add_permission(self, request) -> bool:  # noqa: ANN001
        # The secret must be shown once at creation; use `manage.py create_api_token`.
        return False
