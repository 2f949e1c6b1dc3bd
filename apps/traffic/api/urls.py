"""REST API of traffic, mounted at /api/v1/traffic/."""

urlpatterns: list = []
