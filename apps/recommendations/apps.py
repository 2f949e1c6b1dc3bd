from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "apps.recommendations"
    label = "recommendations"
    verbose_name = "Recommendations"

    def ready(self) -> None:
        from apps.accounts.scopes import register_scope
        from apps.recommendations.families import register

        register()
        register_scope("recommendations:read", "Get recommendations for customers, sessions and similar products.")
        register_scope("recommendations:write", "Start and stop A/B tests of recommendation models.")
