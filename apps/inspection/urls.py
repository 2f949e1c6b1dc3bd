"""Operator pages of inspection, mounted at /inspection/."""

from django.urls import path
from django.views.generic import RedirectView

app_name = "inspection"

urlpatterns = [
    path("", RedirectView.as_view(url="/products/inspection/"), name="home"),
]
