from django.apps import AppConfig


class InspectionConfig(AppConfig):
    name = "apps.inspection"
    label = "inspection"
    verbose_name = "Defect inspection"

    def ready(self) -> None:
        from apps.accounts.scopes import register_scope
        from apps.core.demo import register_demo_seeder
        from apps.inspection import families
        from apps.inspection.demo import seed_demo

        families.register()
        register_scope("inspection:read", "Read inspection images and their results.")
        register_scope("inspection:write", "Send images to inspection.")
        register_demo_seeder("inspection", seed_demo)
