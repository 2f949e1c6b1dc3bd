"""REST API of recommendations, mounted at /api/v1/recommendations/."""

urlpatterns: list = []
