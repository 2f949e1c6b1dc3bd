from django.apps import AppConfig


class CommerceConfig(AppConfig):
    name = "apps.commerce"
    label = "commerce"
    verbose_name = "Shop data"

    def ready(self) -> None:
        from apps.accounts.scopes import register_scope
        from apps.commerce.demo import seed_demo_shop
        from apps.core.demo import register_demo_seeder

        register_scope("commerce:read", "Read the shop's products and customers (with their orders).")
        register_scope("commerce:write", "Send products, customers, orders and interaction events in bulk.")
        register_demo_seeder("commerce", seed_demo_shop)
