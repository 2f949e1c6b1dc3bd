"""REST API of traffic, mounted at /api/v1/traffic/."""

from django.urls import path

from apps.traffic.api import views

urlpatterns = [
    path("cameras/", views.CameraListApi.as_view(), name="traffic-camera-list"),
    path("cameras/<int:pk>/", views.CameraDetailApi.as_view(), name="traffic-camera-detail"),
    path("cameras/<int:pk>/calibration/", views.CameraCalibrationApi.as_view(), name="traffic-camera-calibration"),
    path("cameras/<int:pk>/detector/", views.CameraDetectorApi.as_view(), name="traffic-camera-detector"),
    path("cameras/<int:pk>/detector/learn/", views.CameraDetectorLearnApi.as_view(), name="traffic-camera-detector-learn"),
    path("cameras/<int:pk>/detector/use/", views.CameraDetectorUseApi.as_view(), name="traffic-camera-detector-use"),
    path("cameras/<int:pk>/detector/revert/", views.CameraDetectorRevertApi.as_view(), name="traffic-camera-detector-revert"),
    path("lines/", views.LineListApi.as_view(), name="traffic-line-list"),
    path("lines/<int:pk>/", views.LineDetailApi.as_view(), name="traffic-line-detail"),
    path("zones/", views.ZoneListApi.as_view(), name="traffic-zone-list"),
    path("zones/<int:pk>/", views.ZoneDetailApi.as_view(), name="traffic-zone-detail"),
    path("jobs/", views.JobListApi.as_view(), name="traffic-job-list"),
    path("jobs/stream/", views.StreamJobApi.as_view(), name="traffic-job-stream"),
    path("jobs/<int:pk>/", views.JobDetailApi.as_view(), name="traffic-job-detail"),
    path("jobs/<int:pk>/cancel/", views.JobCancelApi.as_view(), name="traffic-job-cancel"),
    path("jobs/<int:pk>/crossings/", views.JobCrossingListApi.as_view(), name="traffic-job-crossings"),
    path("jobs/<int:pk>/reviews/", views.JobReviewListApi.as_view(), name="traffic-job-reviews"),
    path("jobs/<int:pk>/reviews/missed/", views.MissedCrossingApi.as_view(), name="traffic-job-reviews-missed"),
    path("jobs/<int:pk>/reviews/<int:review_id>/", views.JobReviewDetailApi.as_view(), name="traffic-job-review-detail"),
    path("jobs/<int:pk>/evaluation/", views.JobEvaluationApi.as_view(), name="traffic-job-evaluation"),
    path("jobs/<int:pk>/review/complete/", views.JobReviewCompleteApi.as_view(), name="traffic-job-review-complete"),
    path("jobs/<int:pk>/review/reopen/", views.JobReviewReopenApi.as_view(), name="traffic-job-review-reopen"),
    path("counts/", views.CountListApi.as_view(), name="traffic-count-list"),
    path("events/", views.EventListApi.as_view(), name="traffic-event-list"),
    path("tracks/", views.TrackListApi.as_view(), name="traffic-track-list"),
]
