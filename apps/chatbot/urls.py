"""Operator pages of chatbot, mounted at /chatbot/."""

from django.urls import path
from django.views.generic import RedirectView

app_name = "chatbot"

urlpatterns = [
    path("", RedirectView.as_view(url="/products/chatbot/"), name="home"),
]
