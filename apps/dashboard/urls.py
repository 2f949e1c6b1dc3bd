from django.urls import path

from apps.dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("products/<slug:key>/", views.product, name="product"),
    path("models/", views.models, name="models"),
    path("models/retrain/", views.retrain, name="retrain"),
    path("models/versions/<int:pk>/promote/", views.promote, name="promote"),
    path("models/families/<str:family>/rollback/", views.rollback, name="rollback"),
    path("models/families/<str:family>/upload/", views.upload, name="upload"),
    path("models/families/<str:family>/settings/", views.family_settings, name="family-settings"),
    path("runs/", views.runs, name="runs"),
    path("runs/live/", views.runs_live, name="runs-live"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/cancel/", views.cancel, name="cancel"),
]
