"""Operator pages of inspection, mounted at /inspection/."""

from django.urls import path

from apps.inspection import views

app_name = "inspection"

urlpatterns = [
    path("", views.home, name="home"),
    path("feed.json", views.feed_json, name="feed-json"),
    path("review/", views.review_queue, name="review"),
    path("review/<int:result_id>/", views.review_submit, name="review-submit"),
    path("stations/<int:station_id>/", views.station_settings, name="station"),
    path("stations/<int:station_id>/curve.json", views.station_curve, name="station-curve"),
    path("retrain/", views.retrain, name="retrain"),
    path("models/", views.models_compare, name="models"),
    path("models/<int:version_id>/promote/", views.promote, name="promote"),
    path("reports/", views.reports, name="reports"),
    path("images/<int:image_id>/file", views.image_file, name="image-file"),
    path("images/<int:image_id>/heatmap", views.heatmap_file, name="heatmap-file"),
]
