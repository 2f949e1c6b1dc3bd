from django.core.asgi import get_asgi_application

from platform_.environment import use_settings_module

use_settings_module()

# Django first: the routing imports models, which need the app registry ready.
django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import URLPattern  # noqa: E402

from apps.chatbot.routing import operator_websocket_urlpatterns, widget_websocket_urlpatterns  # noqa: E402
from apps.core.limits import RequestBodyLimitASGI  # noqa: E402
from platform_.lifespan import Lifespan  # noqa: E402

# The widget runs on the shop's own pages and authenticates with its signed session token; its consumer accepts
# the origins on its site's allow-list. Operator sockets use the dashboard's session cookie, so another site's
# page must not open them with the operator's cookie (cross-site WebSocket hijacking): their Origin must be one of
# ALLOWED_HOSTS.
application = ProtocolTypeRouter(
    {
        # Oversized bodies are refused (413) before the server hands them to Django.
        "http": RequestBodyLimitASGI(django_application),
        "websocket": AuthMiddlewareStack(
            URLRouter(
                [
                    *widget_websocket_urlpatterns,
                    *(URLPattern(route.pattern, AllowedHostsOriginValidator(route.callback), name=route.name) for route in operator_websocket_urlpatterns),
                ]
            )
        ),
        "lifespan": Lifespan(),
    }
)
