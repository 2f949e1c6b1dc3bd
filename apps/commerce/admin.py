from django.contrib import admin

from apps.commerce.models import Customer, Event, Order, OrderLine, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "title", "category", "price", "currency", "in_stock", "updated_at")
    list_filter = ("category", "in_stock")
    search_fields = ("sku", "title")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("external_id", "name", "email", "is_stub", "created_at")
    list_filter = ("is_stub",)
    search_fields = ("external_id", "name", "email")


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    raw_id_fields = ("product",)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("number", "customer", "status", "placed_at", "total", "currency", "carrier", "tracking_number", "estimated_delivery")
    list_filter = ("status", "carrier")
    search_fields = ("number", "customer__external_id", "tracking_number")
    raw_id_fields = ("customer",)
    list_select_related = ("customer",)
    date_hierarchy = "placed_at"
    inlines = (OrderLineInline,)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    # Events are the shop's record of what happened: read-only here, sent through the API.
    list_display = ("event_id", "type", "customer", "session_id", "product", "value", "occurred_at", "recommendation_id")
    list_filter = ("type",)
    search_fields = ("event_id", "customer__external_id", "product__sku", "recommendation_id")
    list_select_related = ("customer", "product")
    raw_id_fields = ("customer", "product")
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:  # noqa: ANN001
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False
