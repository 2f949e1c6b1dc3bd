"""REST API of recommendations, mounted at /api/v1/recommendations/."""

from django.urls import path

from apps.recommendations.api import views

urlpatterns = [
    path("users/<str:external_id>/", views.UserRecommendationsApi.as_view(), name="recommendations-user"),
    path("items/<str:sku>/similar/", views.SimilarItemsApi.as_view(), name="recommendations-similar"),
    path("session/", views.SessionRecommendationsApi.as_view(), name="recommendations-session"),
    path("ab-test/", views.ABTestApi.as_view(), name="recommendations-ab-test"),
]
