"""The dashboard's login page: Django's, with the throttled form and a 429 once it refuses to check passwords."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpResponse

from apps.accounts.forms import ThrottledAuthenticationForm


class LoginView(auth_views.LoginView):
    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form: ThrottledAuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.throttled:
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response
