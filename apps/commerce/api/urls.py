"""REST API of commerce, mounted at /api/v1/commerce/."""

from django.urls import path

from apps.commerce.api import views

app_name = "commerce-api"

urlpatterns = [
    path("products/", views.ProductListApi.as_view(), name="product-list"),
    path("products/bulk/", views.ProductBulkApi.as_view(), name="product-bulk"),
    # path: a sku may contain "/" (bulk/ above wins for the literal sku "bulk").
    path("products/<path:sku>/", views.ProductDetailApi.as_view(), name="product-detail"),
    path("customers/bulk/", views.CustomerBulkApi.as_view(), name="customer-bulk"),
    path("customers/<path:external_id>/", views.CustomerDetailApi.as_view(), name="customer-detail"),
    path("orders/bulk/", views.OrderBulkApi.as_view(), name="order-bulk"),
    path("events/bulk/", views.EventBulkApi.as_view(), name="event-bulk"),
    path("returns/", views.ReturnRequestListApi.as_view(), name="return-list"),
    path("returns/<int:pk>/decide/", views.ReturnRequestDecideApi.as_view(), name="return-decide"),
]
