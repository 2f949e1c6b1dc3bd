"""Developer machine and the embedded demo (`make run`): SQLite and a file-system broker unless told otherwise."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = SECRET_KEY or "insecure-local-development-key-do-not-use-in-production"  # noqa: F405
# A developer's webhook receivers run on localhost.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=True)
# …and a developer's test cameras too.
TRAFFIC_ALLOW_PRIVATE_STREAMS = env.bool("TRAFFIC_ALLOW_PRIVATE_STREAMS", default=True)
WHITENOISE_USE_FINDERS = True  # serve static files straight from the apps, no collectstatic needed
# The demo shop page and its demo customer identity (`make run`).
DOWNSTREAM_DEMO = env.bool("DOWNSTREAM_DEMO", default=True)
