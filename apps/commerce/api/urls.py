"""REST API of commerce, mounted at /api/v1/commerce/."""

urlpatterns: list = []
