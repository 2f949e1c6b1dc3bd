from django.apps import AppConfig


class TrafficConfig(AppConfig):
    name = "apps.traffic"
    label = "traffic"
    verbose_name = "Traffic monitoring"

    def ready(self) -> None:
        from apps.accounts.scopes import register_scope
        from apps.core.demo import register_demo_seeder
        from apps.traffic import demo, detector_family  # noqa: F401 - registers the detector family

        register_scope("traffic:read", "Read traffic cameras, lines, zones, jobs, counts, tracks and events.")
        register_scope("traffic:write", "Configure traffic cameras, lines and zones; upload videos and start stream sessions.")
        register_demo_seeder("traffic", demo.seed)
