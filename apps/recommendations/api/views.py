"""Recommendation API for the shop's systems (integrator tokens with ``recommendations:read``) and operators."""

from __future__ import annotations

from decimal import Decimal

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers as drf_serializers
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import IsIntegrationOrOperator, IsOperator
from apps.mlops.models import ModelVersion
from apps.recommendations import selectors, services
from apps.recommendations.api import serializers as s
from apps.recommendations.families import MAIN_FAMILY


class NoModelYet(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "No recommendation model is trained yet."


class RecommendationsAPIView(APIView):
    permission_classes = (IsIntegrationOrOperator,)
    # Asking for a session's recommendations is a read even though it is a POST (the body carries the SKUs).
    required_scopes = {"read": "recommendations:read", "write": "recommendations:read"}
    schema_error_statuses = {503: "No recommendation model is trained yet."}


def _price(value: Decimal | None) -> str | None:
    return None if value is None else format(value, ".2f")  # as DRF's DecimalField(decimal_places=2) renders it


def _respond(result: services.RecommendationList) -> Response:
    """The RecommendationListSerializer shape, built as plain dicts (a serializer per item costs more than the
    whole scoring)."""
    return Response(
        {
            "id": result.id,
            "model_version": result.model_version,
            "family": result.family,
            "variant": str(result.variant),
            "unknown_skus": list(result.unknown_skus),
            "items": [
                {
                    "sku": i.sku,
                    "title": i.title,
                    "price": _price(i.price),
                    "category": i.category,
                    "score": float(i.score),
                    "reason": i.reason,
                    "source": i.source,
                }
                for i in result.items
            ],
        }
    )


def _serve(call, **kwargs) -> Response:  # noqa: ANN001
    try:
        return _respond(call(**kwargs))
    except services.NoRecommendationModel as exc:
        raise NoModelYet(str(exc)) from None
    except services.UnknownProduct as exc:
        raise NotFound(str(exc)) from None


_FILTERS = [
    OpenApiParameter("n", {"type": "integer", "minimum": 1, "maximum": 100}, description="How many items (1–100, default 10)."),
    OpenApiParameter("in_stock", bool, description="Only products in stock."),
    OpenApiParameter("category", str, description="Only products of this category."),
]


class UserRecommendationsApi(RecommendationsAPIView):
    @extend_schema(
        parameters=[*_FILTERS, OpenApiParameter("exclude_purchased", bool, description="Leave out what the customer bought (default true).")],
        responses=s.RecommendationListSerializer,
        description="Recommendations for a customer by the shop's id. An unknown customer gets the cold-start (popular) list.",
    )
    def get(self, request: Request, external_id: str) -> Response:
        query = s.UserQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        return _serve(
            services.user_recommendations,
            external_id=external_id,
            n=q["n"],
            exclude_purchased=q["exclude_purchased"],
            in_stock=q["in_stock"],
            category=q.get("category") or None,
        )


class SessionRecommendationsApi(RecommendationsAPIView):
    @extend_schema(
        request=s.SessionRequestSerializer,
        responses=s.RecommendationListSerializer,
        description="Recommendations for an anonymous shopper from the SKUs of their session; unknown SKUs are listed and ignored.",
    )
    def post(self, request: Request) -> Response:
        body = s.SessionRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        q = body.validated_data
        return _serve(
            services.session_recommendations,
            skus=q["skus"],
            session_id=q["session_id"],
            n=q["n"],
            in_stock=q["in_stock"],
            category=q.get("category") or None,
        )


class SimilarItemsApi(RecommendationsAPIView):
    @extend_schema(parameters=_FILTERS, responses=s.RecommendationListSerializer, description="Products similar to this one.")
    def get(self, request: Request, sku: str) -> Response:
        query = s.ListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        return _serve(services.similar_items, sku=sku, n=q["n"], in_stock=q["in_stock"], category=q.get("category") or None)


class ABTestApi(APIView):
    """The running A/B test of the main family with CTR and conversion per arm (operators)."""

    permission_classes = (IsOperator,)
    required_scopes = {"read": "recommendations:read", "write": "recommendations:write"}
    schema_error_statuses = {404: "No model version with candidate_version_id."}

    @extend_schema(
        responses=inline_serializer("ABTestStatus", {"test": s.ABTestSerializer(allow_null=True), "outcomes": s.VariantOutcomeSerializer(many=True)})
    )
    def get(self, request: Request) -> Response:
        test = selectors.ab_test_active(family=MAIN_FAMILY) or next(iter(selectors.ab_test_list(family=MAIN_FAMILY)), None)
        outcomes = selectors.ab_test_outcomes(test=test) if test else []
        data = {"test": s.ABTestSerializer(test).data if test else None, "outcomes": [self._outcome(o) for o in outcomes]}
        return Response(data)

    @staticmethod
    def _outcome(o: selectors.VariantOutcome) -> dict:
        rate = lambda r: {"value": r.value, "low": r.low, "high": r.high}  # noqa: E731
        return {
            "variant": o.variant,
            "version": o.version.version if o.version else None,
            "lists": o.lists,
            "impressions": o.impressions,
            "clicks": o.clicks,
            "purchases": o.purchases,
            "ctr": rate(o.ctr),
            "conversion": rate(o.conversion),
        }

    @extend_schema(request=s.ABTestStartSerializer, responses={201: s.ABTestSerializer}, description="Start (or replace) the A/B test.")
    def post(self, request: Request) -> Response:
        body = s.ABTestStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        candidate = get_object_or_404(ModelVersion, pk=body.validated_data["candidate_version_id"])
        test = services.ab_test_start(candidate=candidate, share=body.validated_data["share"], user=request.user)
        return Response(s.ABTestSerializer(test).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: inline_serializer("ABTestStopped", {"stopped": drf_serializers.IntegerField()})})
    def delete(self, request: Request) -> Response:
        return Response({"stopped": services.ab_test_stop(family=MAIN_FAMILY)})
