"""Shop data shared by recommendations and the chatbot: catalog, customers, orders, interaction events.

Single-tenant: one Downstream deployment serves one business (one catalog, one customer base). Other apps read
this data only through `apps.commerce.selectors` and write it only through `apps.commerce.services`.
"""

from __future__ import annotations

from django.db import models


class Product(models.Model):
    sku = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=120, blank=True, db_index=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="EUR")
    in_stock = models.BooleanField(default=True, db_index=True)
    attributes = models.JSONField(default=dict, blank=True)
    image_url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sku"]

    def __str__(self) -> str:
        return f"{self.sku} · {self.title}"


class Customer(models.Model):
    # The shop's own id for the customer (what the integration, the chat widget and the API use).
    external_id = models.CharField(max_length=64, unique=True)
    email = models.EmailField(blank=True)
    name = models.CharField(max_length=200, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    # Created from an event or order that named an unknown customer; the integration can fill it in later.
    is_stub = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["external_id"]

    def __str__(self) -> str:
        return self.external_id


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Pending payment"
    PAID = "paid", "Paid"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled"
    RETURNED = "returned", "Returned"


class Order(models.Model):
    number = models.CharField(max_length=64, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default=OrderStatus.PAID)
    placed_at = models.DateTimeField(db_index=True)
    total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="EUR")
    carrier = models.CharField(max_length=60, blank=True)
    tracking_number = models.CharField(max_length=100, blank=True)
    estimated_delivery = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-placed_at"]

    def __str__(self) -> str:
        return self.number


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_lines")
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, default=0)

    def __str__(self) -> str:
        return f"{self.order_id}: {self.quantity} × {self.product_id}"


class EventType(models.TextChoices):
    VIEW = "view", "View"
    ADD_TO_CART = "add_to_cart", "Add to cart"
    PURCHASE = "purchase", "Purchase"
    RATING = "rating", "Rating"
    # Feedback on served recommendation lists (attributed through `recommendation_id`).
    IMPRESSION = "impression", "Recommendation impression"
    CLICK = "click", "Recommendation click"


class Event(models.Model):
    """One interaction. `event_id` is the client's id: a resent event is ignored, never counted twice."""

    event_id = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=16, choices=EventType.choices)
    # Anonymous shoppers have a session id and no customer.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, null=True, blank=True, related_name="events")
    session_id = models.CharField(max_length=100, blank=True)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="events")
    # Rating value for `rating`, quantity for `purchase`/`add_to_cart`; null otherwise.
    value = models.FloatField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    # The served recommendation list this event answers (impression/click/purchase after a recommendation).
    recommendation_id = models.CharField(max_length=64, blank=True, db_index=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["customer", "occurred_at"]),
            models.Index(fields=["occurred_at"]),
            models.Index(fields=["type", "occurred_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.product_id} by {self.customer_id or self.session_id}"


class ReturnStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    REFUNDED = "refunded", "Refunded"
    WITHDRAWN = "withdrawn", "Withdrawn by the customer"


OPEN_RETURN_STATUSES = (ReturnStatus.REQUESTED, ReturnStatus.APPROVED)


class ReturnRequest(models.Model):
    """A customer's request to send back one order line, opened by the chatbot (or the API); operators decide."""

    order_line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="return_requests")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="return_requests")
    quantity = models.PositiveIntegerField(default=1)
    reason = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=12, choices=ReturnStatus.choices, default=ReturnStatus.REQUESTED, db_index=True)
    channel = models.CharField(max_length=20, default="chat")
    # Where it came from, e.g. "conversation 42": the operator opens the chat from the inbox.
    reference = models.CharField(max_length=64, blank=True)
    deadline = models.DateField(null=True, blank=True)  # the last day of the return window when it was opened
    decided_by = models.CharField(max_length=150, blank=True)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open request per order line: a customer who asks twice is shown the request they already have.
            models.UniqueConstraint(fields=["order_line"], condition=models.Q(status__in=["requested", "approved"]), name="commerce_one_open_return_per_line"),
        ]

    def __str__(self) -> str:
        return f"Return {self.pk} ({self.status})"
