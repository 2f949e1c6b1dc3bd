from django.urls import path

from apps.mlops.api import views

app_name = "mlops-api"

urlpatterns = [
    path("models/", views.ModelVersionListApi.as_view(), name="model-list"),
    path("models/<int:pk>/", views.ModelVersionDetailApi.as_view(), name="model-detail"),
    path("models/<int:pk>/promote/", views.ModelVersionPromoteApi.as_view(), name="model-promote"),
    path("models/families/", views.FamilyListApi.as_view(), name="family-list"),
    path("models/families/<str:name>/rollback/", views.FamilyRollbackApi.as_view(), name="family-rollback"),
    path("models/families/<str:name>/versions/", views.FamilyUploadApi.as_view(), name="family-upload"),
    path("models/families/<str:name>/predict/", views.FamilyPredictApi.as_view(), name="family-predict"),
    path("runs/", views.TrainingRunListApi.as_view(), name="run-list"),
    path("runs/<int:pk>/", views.TrainingRunDetailApi.as_view(), name="run-detail"),
    path("runs/<int:pk>/cancel/", views.TrainingRunCancelApi.as_view(), name="run-cancel"),
]
