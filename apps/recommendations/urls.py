"""Operator pages of recommendations, mounted at /recommendations/."""

from django.urls import path
from django.views.generic import RedirectView

app_name = "recommendations"

urlpatterns = [
    path("", RedirectView.as_view(url="/products/recommendations/"), name="home"),
]
