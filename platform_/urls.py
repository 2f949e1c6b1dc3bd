from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from apps.accounts.views import LoginView
from platform_.health import healthz
from platform_.middleware import content_security_policy

# Swagger UI and Redoc start from inline scripts in drf-spectacular's templates; these pages show only the schema.
DOCS_POLICY = content_security_policy(
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)

api_v1 = [
    path("", include("apps.mlops.api.urls")),
    path("commerce/", include("apps.commerce.api.urls")),
    path("recommendations/", include("apps.recommendations.api.urls")),
    path("chatbot/", include("apps.chatbot.api.urls")),
    path("inspection/", include("apps.inspection.api.urls")),
    path("traffic/", include("apps.traffic.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", DOCS_POLICY(SpectacularSwaggerView.as_view(url_name="schema")), name="api-docs"),
    path("redoc/", DOCS_POLICY(SpectacularRedocView.as_view(url_name="schema")), name="api-redoc"),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include(api_v1)),
    path("recommendations/", include("apps.recommendations.urls")),
    path("chatbot/", include("apps.chatbot.urls")),
    path("inspection/", include("apps.inspection.urls")),
    path("traffic/", include("apps.traffic.urls")),
    path("", include("apps.dashboard.urls")),
]

handler404 = "apps.core.api.errors.handler404"
handler500 = "apps.core.api.errors.handler500"
