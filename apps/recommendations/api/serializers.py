from __future__ import annotations

from rest_framework import serializers

from apps.core.api.fields import BooleanField, CharField, FloatField, IntegerField
from apps.recommendations.services import MAX_N


class ItemSerializer(serializers.Serializer):
    sku = serializers.CharField()
    title = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    category = serializers.CharField()
    score = serializers.FloatField()
    reason = serializers.CharField()
    source = serializers.CharField(help_text="personal, session, content, popular, trending or collaborative")


class RecommendationListSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Send it back as `recommendation_id` on impression, click and purchase events.")
    model_version = serializers.CharField()
    family = serializers.CharField()
    variant = serializers.CharField(help_text="production, or candidate when an A/B test served this list")
    unknown_skus = serializers.ListField(child=serializers.CharField(), help_text="Session SKUs that are not in the catalog (ignored).")
    items = ItemSerializer(many=True)


class ListQuerySerializer(serializers.Serializer):
    n = serializers.IntegerField(default=10, min_value=1, max_value=MAX_N)
    in_stock = serializers.BooleanField(default=False)
    category = CharField(required=False, allow_blank=True, max_length=120)


class UserQuerySerializer(ListQuerySerializer):
    exclude_purchased = serializers.BooleanField(default=True)


class SessionRequestSerializer(ListQuerySerializer):
    # A JSON body, not query parameters: its values have their JSON types.
    n = IntegerField(default=10, min_value=1, max_value=MAX_N)
    in_stock = BooleanField(default=False)
    skus = serializers.ListField(child=CharField(max_length=64), allow_empty=True, max_length=200, help_text="Recently viewed SKUs, newest first.")
    session_id = CharField(required=False, allow_blank=True, max_length=100, default="")


class ABTestStartSerializer(serializers.Serializer):
    candidate_version_id = serializers.IntegerField()
    share = FloatField(min_value=0.0, max_value=1.0)


class RateSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    low = serializers.FloatField()
    high = serializers.FloatField()


class VariantOutcomeSerializer(serializers.Serializer):
    variant = serializers.CharField()
    version = serializers.SerializerMethodField()
    lists = serializers.IntegerField()
    impressions = serializers.IntegerField()
    clicks = serializers.IntegerField()
    purchases = serializers.IntegerField()
    ctr = RateSerializer()
    conversion = RateSerializer()

    def get_version(self, obj) -> int | None:  # noqa: ANN001
        return obj.version.version if obj.version else None


class ABTestSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    family = serializers.CharField()
    candidate_version = serializers.IntegerField(source="candidate.version")
    share = serializers.FloatField()
    is_active = serializers.BooleanField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
