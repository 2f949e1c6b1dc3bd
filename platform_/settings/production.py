"""Production: secrets and hosts have no defaults and fail loudly when missing."""

from .base import *  # noqa: F403
from .base import database_settings, env
from .checks import require_strong_secret_key

DEBUG = False
# A placeholder or short key would let anyone forge sessions and chat tokens: refuse to start instead.
SECRET_KEY = require_strong_secret_key(env.str("DJANGO_SECRET_KEY", default=""))
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
DATABASES = {"default": database_settings(env.str("DATABASE_URL"))}
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL")

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
# HTTPS only: plain HTTP is redirected, and browsers are told to use HTTPS from then on (HSTS). Turn these off only
# for a plain-HTTP trial. /healthz stays on HTTP for load balancers and the container healthcheck.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
# The demo shop signs a demo customer for anyone who asks: never in production unless asked for.
DOWNSTREAM_DEMO = env.bool("DOWNSTREAM_DEMO", default=False)
