import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_.settings.local")

# Django first: the routing imports models, which need the app registry ready.
django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from apps.chatbot.routing import websocket_urlpatterns as chatbot_websockets  # noqa: E402
from apps.core.limits import RequestBodyLimitASGI  # noqa: E402
from platform_.lifespan import Lifespan  # noqa: E402

# The widget runs on the shop's own pages (any origin) and authenticates with its signed session token;
# operator sockets use the dashboard's session cookie (AuthMiddlewareStack).
application = ProtocolTypeRouter(
    {
        # Oversized bodies are refused (413) before the server hands them to Django.
        "http": RequestBodyLimitASGI(django_application),
        "websocket": AuthMiddlewareStack(URLRouter(chatbot_websockets)),
        "lifespan": Lifespan(),
    }
)
