from django.urls import path

from apps.chatbot import consumers

# Embedded in the shops' pages: each socket checks its site's allowed origins itself.
widget_websocket_urlpatterns = [
    path("ws/chatbot/widget/", consumers.WidgetConsumer.as_asgi()),
]
# The dashboard's own pages only: platform_/asgi.py checks the Origin against ALLOWED_HOSTS.
operator_websocket_urlpatterns = [
    path("ws/chatbot/operator/<int:conversation_id>/", consumers.OperatorConsumer.as_asgi()),
    path("ws/chatbot/inbox/", consumers.InboxConsumer.as_asgi()),
]
