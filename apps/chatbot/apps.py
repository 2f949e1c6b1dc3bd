from django.apps import AppConfig


class ChatbotConfig(AppConfig):
    name = "apps.chatbot"
    label = "chatbot"
    verbose_name = "Chatbot"

    def ready(self) -> None:
        from apps.accounts.scopes import register_scope
        from apps.chatbot import families  # noqa: F401 - registers the model family
        from apps.chatbot.demo import seed_demo
        from apps.core.demo import register_demo_seeder

        register_scope("chatbot:read", "Read chatbot conversations, intents and FAQ articles")
        register_scope("chatbot:write", "Import chatbot examples and FAQ articles")
        register_demo_seeder("chatbot", seed_demo)
