"""Operator pages of traffic, mounted at /traffic/."""

from django.urls import path

from apps.traffic import views

app_name = "traffic"

urlpatterns = [
    path("", views.home, name="home"),
    path("cameras/new/", views.camera_create, name="camera-create"),
    path("cameras/<int:pk>/", views.camera_detail, name="camera"),
    path("cameras/<int:pk>/frame.jpg", views.camera_frame, name="camera-frame"),
    path("cameras/<int:pk>/upload/", views.upload, name="upload"),
    path("cameras/<int:pk>/stream/", views.stream_start, name="stream-start"),
    path("jobs/<int:pk>/video.mp4", views.job_video, name="job-video"),
]
