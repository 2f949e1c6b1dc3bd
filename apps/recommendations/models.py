"""Served recommendation lists (for attribution and A/B), A/B tests, and precomputed top-N per customer.

Shop data lives in ``apps.commerce``; this app stores its ids (customer and product primary keys, SKUs) as plain
values and reads the rows through commerce's selectors.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.mlops.models import ModelVersion


class Variant(models.TextChoices):
    PRODUCTION = "production", "Production"
    CANDIDATE = "candidate", "Candidate (A/B)"


class ListKind(models.TextChoices):
    USER = "user", "Customer"
    SESSION = "session", "Anonymous session"
    SIMILAR = "similar", "Similar items"


class ABTest(models.Model):
    """A share of customers is served by ``candidate`` instead of the family's production version."""

    family = models.CharField(max_length=100)
    candidate = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="ab_tests")
    share = models.FloatField(help_text="Fraction of customers (0–1) served by the candidate, by a stable hash of their id.")
    is_active = models.BooleanField(default=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-started_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=["family"], condition=Q(is_active=True), name="recommendations_one_active_ab_test_per_family"),
            models.CheckConstraint(condition=Q(share__gte=0) & Q(share__lte=1), name="recommendations_ab_share_0_1"),
        ]

    def __str__(self) -> str:
        return f"A/B {self.family}: v{self.candidate.version} for {self.share:.0%}"


class ServedList(models.Model):
    """One recommendation list as served: which model version answered whom with which items.

    Its ``id`` travels to the shop, which sends it back as ``recommendation_id`` on impression, click and purchase
    events; that is how outcomes are attributed to versions.
    """

    id = models.CharField(primary_key=True, max_length=64)
    kind = models.CharField(max_length=16, choices=ListKind.choices)
    family = models.CharField(max_length=100)
    model_version = models.ForeignKey(ModelVersion, null=True, on_delete=models.SET_NULL, related_name="+")
    variant = models.CharField(max_length=16, choices=Variant.choices, default=Variant.PRODUCTION)
    ab_test = models.ForeignKey(ABTest, null=True, blank=True, on_delete=models.SET_NULL, related_name="served_lists")
    customer_external_id = models.CharField(max_length=64, blank=True, db_index=True)
    session_id = models.CharField(max_length=100, blank=True)
    items = models.JSONField(default=list, help_text="SKUs in the order served.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=["ab_test", "variant"])]

    def __str__(self) -> str:
        return f"{self.id} ({self.kind}, {self.variant})"


class PrecomputedRecommendations(models.Model):
    """Top-N of one active customer under one model version, written by the batch task on ``ml_cpu``."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    customer_id = models.BigIntegerField()
    # [[product_id, score, because_product_id | null, source], ...], best first, seen items already excluded.
    items = models.JSONField(default=list)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model_version", "customer_id"], name="recommendations_one_precompute_per_version")]

    def __str__(self) -> str:
        return f"top-N of customer {self.customer_id} under version {self.model_version_id}"
