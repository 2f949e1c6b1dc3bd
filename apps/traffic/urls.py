"""Operator pages of traffic, mounted at /traffic/."""

from django.urls import path
from django.views.generic import RedirectView

app_name = "traffic"

urlpatterns = [
    path("", RedirectView.as_view(url="/products/traffic/"), name="home"),
]
