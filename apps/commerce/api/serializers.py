"""Serializers of the commerce API. The bulk *row* serializers only document the request body in OpenAPI: rows are
validated by `apps.commerce.services` in plain Python (a serializer per row would be far too slow at 10,000 rows)."""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.commerce.models import Customer, EventType, Order, OrderLine, OrderStatus, Product, ReturnRequest, ReturnStatus
from apps.commerce.services import MAX_BULK_ROWS
from apps.core.api.fields import FloatField


class ProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ("sku", "title", "description", "category", "price", "currency", "in_stock", "attributes", "image_url", "created_at", "updated_at")
        read_only_fields = fields


class OrderLineSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="product.sku", read_only=True)
    title = serializers.CharField(source="product.title", read_only=True)

    class Meta:
        model = OrderLine
        fields = ("sku", "title", "quantity", "unit_price")
        read_only_fields = fields


class OrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = ("number", "status", "placed_at", "total", "currency", "carrier", "tracking_number", "estimated_delivery", "lines")
        read_only_fields = fields


class CustomerSerializer(serializers.ModelSerializer):
    recent_orders = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = ("external_id", "email", "name", "attributes", "is_stub", "created_at", "updated_at", "recent_orders")
        read_only_fields = fields

    @extend_schema_field(OrderSerializer(many=True))
    def get_recent_orders(self, customer: Customer) -> list[dict]:
        return OrderSerializer(self.context.get("orders", []), many=True).data


# Schemas of the bulk rows (documentation only, see the module docstring).


class ProductRowSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    title = serializers.CharField(max_length=300)
    description = serializers.CharField(required=False)
    category = serializers.CharField(required=False, max_length=120)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, required=False, allow_null=True)
    currency = serializers.CharField(required=False, min_length=3, max_length=3)
    in_stock = serializers.BooleanField(required=False)
    attributes = serializers.DictField(required=False)
    image_url = serializers.URLField(required=False)


class CustomerRowSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=64, help_text="The shop's own id for the customer.")
    email = serializers.EmailField(required=False)
    name = serializers.CharField(required=False, max_length=200)
    attributes = serializers.DictField(required=False)


class OrderLineRowSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, default=1)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, required=False, help_text="Default: the product's price.")


class OrderRowSerializer(serializers.Serializer):
    number = serializers.CharField(max_length=64)
    customer_external_id = serializers.CharField(max_length=64, help_text="Unknown customers are created as stubs.")
    placed_at = serializers.DateTimeField(help_text="ISO-8601 with a timezone.")
    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False)
    total = serializers.DecimalField(max_digits=12, decimal_places=2, required=False, help_text="Default: the sum of the lines.")
    currency = serializers.CharField(required=False, max_length=3)
    carrier = serializers.CharField(required=False, max_length=60)
    tracking_number = serializers.CharField(required=False, max_length=100)
    estimated_delivery = serializers.DateField(required=False, allow_null=True)
    lines = OrderLineRowSerializer(many=True, help_text="Replace the stored lines on update.")


class EventRowSerializer(serializers.Serializer):
    event_id = serializers.CharField(max_length=100, help_text="The client's id; a resent event is counted as a duplicate.")
    type = serializers.ChoiceField(choices=EventType.choices)
    sku = serializers.CharField(max_length=64, help_text="Must name a known product.")
    customer_external_id = serializers.CharField(required=False, max_length=64, help_text="Unknown customers are created as stubs.")
    session_id = serializers.CharField(required=False, max_length=100, help_text="For anonymous shoppers (no customer).")
    value = FloatField(required=False, allow_null=True, help_text="Rating 0–5 (required for rating); quantity for purchase/add_to_cart.")
    occurred_at = serializers.DateTimeField(required=False, help_text="ISO-8601 with a timezone; default: now.")
    recommendation_id = serializers.CharField(required=False, max_length=64, help_text="The served recommendation list this answers.")


class RowsField(serializers.ListField):
    """The ``rows`` of a bulk request: each row is validated on its own by the service, so any item is taken and one
    that is not a valid row is reported in ``errors`` by its index (the others are stored)."""


class RowsFieldExtension(OpenApiSerializerFieldExtension):
    """Documents each item as the row schema *or anything else*: the row schema says what is stored, the open branch
    says that a malformed row is not a malformed request (it comes back in ``errors``, 200)."""

    target_class = RowsField

    def map_serializer_field(self, auto_schema, direction):  # noqa: ANN001, ANN201
        row = auto_schema._map_serializer_field(self.target.child, direction)
        rejected = {"description": "Any other item: not stored, reported in `errors` with its index."}
        return {"type": "array", "maxItems": self.target.max_length, "items": {"anyOf": [row, rejected]}}


def bulk_request(name: str, row: serializers.Serializer) -> type[serializers.Serializer]:
    return type(name, (serializers.Serializer,), {"rows": RowsField(child=row, max_length=MAX_BULK_ROWS), "__module__": __name__})


class RowErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the row in `rows`.")
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class BulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Rows that changed nothing: resent events, unchanged upserts, keys repeated in the batch.")
    errors = RowErrorSerializer(many=True, help_text="Rejected rows; every other row was stored.")


class ReturnRequestSerializer(serializers.ModelSerializer):
    order = serializers.CharField(source="order_line.order.number", read_only=True)
    sku = serializers.CharField(source="order_line.product.sku", read_only=True)
    title = serializers.CharField(source="order_line.product.title", read_only=True)
    customer = serializers.CharField(source="customer.external_id", read_only=True)

    class Meta:
        model = ReturnRequest
        fields = (
            "id",
            "order",
            "sku",
            "title",
            "customer",
            "quantity",
            "reason",
            "status",
            "channel",
            "reference",
            "deadline",
            "decided_by",
            "note",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class ReturnDecisionInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=[c for c in ReturnStatus.values if c != ReturnStatus.REQUESTED])
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
