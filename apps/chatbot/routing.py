from django.urls import path

from apps.chatbot import consumers

websocket_urlpatterns = [
    path("ws/chatbot/widget/", consumers.WidgetConsumer.as_asgi()),
    path("ws/chatbot/operator/<int:conversation_id>/", consumers.OperatorConsumer.as_asgi()),
    path("ws/chatbot/inbox/", consumers.InboxConsumer.as_asgi()),
]
