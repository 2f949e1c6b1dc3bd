"""REST API of inspection, mounted at /api/v1/inspection/."""

from django.urls import path

from apps.inspection.api import views

urlpatterns = [
    path("images/", views.ImageUploadApi.as_view(), name="inspection-image-upload"),
    path("images/<int:pk>/", views.ImageDetailApi.as_view(), name="inspection-image-detail"),
]
