"""REST API of inspection, mounted at /api/v1/inspection/."""

urlpatterns: list = []
