"""Operator pages of recommendations, mounted at /recommendations/."""

from django.urls import path

from apps.recommendations import views

app_name = "recommendations"

urlpatterns = [
    path("", views.home, name="home"),
    path("retrain/", views.retrain, name="retrain"),
    path("ab-test/start/", views.ab_start, name="ab-start"),
    path("ab-test/stop/", views.ab_stop, name="ab-stop"),
    path("catalog/", views.catalog, name="catalog"),
    path("catalog/<str:sku>/", views.product, name="product"),
    path("customers/", views.customer_lookup, name="customer-lookup"),
    path("customers/<str:external_id>/", views.customer, name="customer"),
]
