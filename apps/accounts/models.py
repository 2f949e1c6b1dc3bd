from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    OPERATOR = "operator", "Operator"  # uses the dashboard
    INTEGRATOR = "integrator", "Integrator"  # a system calling the API with a scoped token
    CUSTOMER = "customer", "Customer"  # a shopper identified through the chat widget


class User(AbstractUser):
    # Least privilege: an account made anywhere (admin, createsuperuser, a script) may do nothing until an admin
    # gives it a role. Superusers are admins whatever their role.
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CUSTOMER)
    # What customers see in the chat when this operator joins or writes; the login name is never shown to them.
    display_name = models.CharField(max_length=80, blank=True, help_text="Shown to customers in the chat (e.g. 'Anna'). Empty: the first name, else 'Support'.")

    @property
    def is_operator(self) -> bool:
        """Admins and operators work the dashboard and the operator API."""
        return self.is_active and (self.is_superuser or self.role in (Role.ADMIN, Role.OPERATOR))

    @property
    def public_name(self) -> str:
        """The name customers see: the display name, else the first name, never the login name."""
        return self.display_name.strip() or self.first_name.strip() or "Support"

    @property
    def is_platform_admin(self) -> bool:
        return self.is_active and (self.is_superuser or self.role == Role.ADMIN)


class ApiToken(models.Model):
    """A bearer token for the REST API. Only a hash is stored; the secret is shown once at creation."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True, help_text="Public part, shown to identify the token.")
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list, blank=True, help_text="What the token may call, e.g. models:read.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
