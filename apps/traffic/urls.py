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
    path("jobs/<int:pk>/", views.job_detail, name="job"),
    path("cameras/<int:pk>/detector/learn/", views.detector_learn, name="detector-learn"),
    path("cameras/<int:pk>/detector/use/", views.detector_use, name="detector-use"),
    path("cameras/<int:pk>/detector/revert/", views.detector_revert, name="detector-revert"),
    path("jobs/<int:pk>/video.mp4", views.job_video, name="job-video"),
    path("jobs/<int:pk>/review/", views.job_review, name="job-review"),
    path("jobs/<int:pk>/review/crossings/<int:crossing_pk>/", views.crossing_review, name="crossing-review"),
    path("jobs/<int:pk>/review/added/", views.review_add, name="review-add"),
    path("jobs/<int:pk>/review/<int:review_pk>/delete/", views.review_delete, name="review-delete"),
    path("jobs/<int:pk>/review/complete/", views.review_complete, name="review-complete"),
    path("jobs/<int:pk>/review/reopen/", views.review_reopen, name="review-reopen"),
    path("jobs/<int:pk>/crossings/<int:crossing_pk>.jpg", views.crossing_thumbnail, name="crossing-thumbnail"),
    path("jobs/<int:pk>/review/<int:review_pk>.jpg", views.review_thumbnail, name="review-thumbnail"),
]
