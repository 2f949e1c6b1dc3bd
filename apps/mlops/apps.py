from django.apps import AppConfig


class MlopsConfig(AppConfig):
    name = "apps.mlops"
    label = "mlops"
    verbose_name = "Models and training"

    def ready(self) -> None:
        from apps.mlops import demo_family, signals  # noqa: F401 - registers the demo family, worker hooks
