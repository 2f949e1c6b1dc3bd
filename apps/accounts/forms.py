"""Login forms of the dashboard (/login/) and the admin (/admin/login/), throttled per username and per address."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from apps.accounts import services
from apps.core.clients import request_client_key

THROTTLED = "throttled"


def _client_ip(request) -> str:  # noqa: ANN001
    # The same client key as every other rate limit: X-Forwarded-For believed only from FORWARDED_ALLOW_IPS,
    # an IPv6 client counted by its /64.
    return request_client_key(request) if request is not None else ""


class _ThrottledLoginMixin:
    """Refuses to check a password once the username or the address had too many failures in the window."""

    retry_after = 0

    def clean(self) -> dict:
        username = self.data.get("username", "") if hasattr(self.data, "get") else ""
        ip = _client_ip(self.request)
        wait = services.login_throttle_wait(username=username, ip=ip)
        self.retry_after = wait
        if wait:
            minutes = max(1, round(wait / 60))
            raise forms.ValidationError(
                f"Too many failed login attempts for this account or from this address. Wait {minutes} minute{'s' if minutes != 1 else ''} "
                "and try again, or ask an admin to reset your password.",
                code=THROTTLED,
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            services.login_failure_record(username=username, ip=ip)
            raise
        if self.get_user() is not None:  # a blank password checks nothing and clears nothing
            services.login_success_record(username=username)
        return cleaned

    @property
    def throttled(self) -> bool:
        return any(error.code == THROTTLED for error in self.errors.as_data().get(forms.forms.NON_FIELD_ERRORS, []))


class ThrottledAuthenticationForm(_ThrottledLoginMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(_ThrottledLoginMixin, AdminAuthenticationForm):
    pass
