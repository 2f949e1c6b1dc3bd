from django.apps import AppConfig


class ChatbotConfig(AppConfig):
    name = "apps.chatbot"
    label = "chatbot"
    verbose_name = "Chatbot"
