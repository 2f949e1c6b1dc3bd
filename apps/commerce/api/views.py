"""Ingestion and lookup API of the shop data, for the shop's systems (integrator tokens) and operators."""

from __future__ import annotations

from collections.abc import Callable

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import IsIntegrationOrOperator
from apps.commerce import selectors, services
from apps.commerce.api import serializers as s
from apps.commerce.models import ReturnStatus
from apps.core.api.responses import BODY_TOO_LARGE


class CommerceAPIView(APIView):
    permission_classes = (IsIntegrationOrOperator,)
    required_scopes = {"read": "commerce:read", "write": "commerce:write"}


class _BulkApi(CommerceAPIView):
    service: Callable[..., services.BulkResult]
    # Larger than other endpoints' bodies (apps.core.limits); a body over it is answered 413 before it is read.
    max_body_setting = "COMMERCE_BULK_MAX_BODY_BYTES"

    def post(self, request: Request) -> Response:
        body = request.data
        if not isinstance(body, dict) or not isinstance(body.get("rows"), list):
            raise ValidationError({"rows": ['Expected a JSON body {"rows": [...]}.']})
        result = type(self).service(rows=body["rows"])
        return Response(result.as_dict())


def _bulk_schema(row: s.serializers.Serializer, name: str, what: str) -> Callable:
    return extend_schema(
        request=s.bulk_request(name, row),
        responses={200: s.BulkResultSerializer, 413: BODY_TOO_LARGE},
        description=f"{what} Up to {services.MAX_BULK_ROWS} rows; each row is validated on its own and rejected rows are listed in "
        "`errors` while the others are stored. 400 when the body itself is malformed or has too many rows; 413 when it is "
        "over COMMERCE_BULK_MAX_BODY_BYTES.",
    )


class ProductBulkApi(_BulkApi):
    service = staticmethod(services.product_upsert_many)

    @_bulk_schema(s.ProductRowSerializer(), "ProductBulkRequest", "Create or update products by sku.")
    def post(self, request: Request) -> Response:
        return super().post(request)


class CustomerBulkApi(_BulkApi):
    service = staticmethod(services.customer_upsert_many)

    @_bulk_schema(s.CustomerRowSerializer(), "CustomerBulkRequest", "Create or update customers by external_id.")
    def post(self, request: Request) -> Response:
        return super().post(request)


class OrderBulkApi(_BulkApi):
    service = staticmethod(services.order_upsert_many)

    @_bulk_schema(s.OrderRowSerializer(), "OrderBulkRequest", "Create or update orders by number; lines replace the stored ones.")
    def post(self, request: Request) -> Response:
        return super().post(request)


class EventBulkApi(_BulkApi):
    service = staticmethod(services.event_ingest_many)

    @_bulk_schema(s.EventRowSerializer(), "EventBulkRequest", "Store interaction events; a resent event_id counts as a duplicate.")
    def post(self, request: Request) -> Response:
        return super().post(request)


_TRUTH = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


@extend_schema(
    parameters=[
        OpenApiParameter("category", OpenApiTypes.STR, description="Exact category."),
        OpenApiParameter("in_stock", OpenApiTypes.BOOL),
        OpenApiParameter("search", OpenApiTypes.STR, description="Case-insensitive match on sku, title or description."),
    ]
)
class ProductListApi(CommerceAPIView, generics.ListAPIView):
    serializer_class = s.ProductSerializer
    filter_backends = ()

    def get_queryset(self):  # noqa: ANN201
        params = self.request.query_params
        in_stock = params.get("in_stock")
        if in_stock is not None and in_stock.lower() not in _TRUTH:
            raise ValidationError({"in_stock": ["Expected true or false."]})
        return selectors.product_list(
            category=params.get("category") or None,
            in_stock=None if in_stock is None else _TRUTH[in_stock.lower()],
            search=params.get("search") or None,
        )


class ProductDetailApi(CommerceAPIView):
    @extend_schema(responses=s.ProductSerializer)
    def get(self, request: Request, sku: str) -> Response:
        product = selectors.product_get(sku=sku)
        if product is None:
            raise Http404
        return Response(s.ProductSerializer(product).data)


class CustomerDetailApi(CommerceAPIView):
    @extend_schema(responses=s.CustomerSerializer, description="The customer with their 10 most recent orders and their lines.")
    def get(self, request: Request, external_id: str) -> Response:
        customer = selectors.customer_get(external_id=external_id)
        if customer is None:
            raise Http404
        orders = selectors.customer_orders(external_id=external_id, limit=10)
        return Response(s.CustomerSerializer(customer, context={"orders": orders}).data)


@extend_schema(parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=ReturnStatus.values, description="Only requests in this state.")])
class ReturnRequestListApi(CommerceAPIView, generics.ListAPIView):
    """Return requests the chatbot opened, newest first: the shop's system picks them up and sends the label."""

    serializer_class = s.ReturnRequestSerializer
    filter_backends = ()

    def get_queryset(self):  # noqa: ANN201
        status = self.request.query_params.get("status") or None
        if status is not None and status not in ReturnStatus.values:
            raise ValidationError({"status": [f"Must be one of: {', '.join(ReturnStatus.values)}."]})
        return selectors.return_requests(status=status)


class ReturnRequestDecideApi(CommerceAPIView):
    @extend_schema(request=s.ReturnDecisionInput, responses=s.ReturnRequestSerializer, summary="Approve, reject, refund or withdraw a return request")
    def post(self, request: Request, pk: int) -> Response:
        if not selectors.return_requests().filter(pk=pk).exists():
            raise Http404
        data = s.ReturnDecisionInput(data=request.data)
        data.is_valid(raise_exception=True)
        decided = services.return_request_decide(
            request_id=pk, status=data.validated_data["status"], decided_by=request.user.get_username(), note=data.validated_data["note"]
        )
        return Response(s.ReturnRequestSerializer(selectors.return_requests().get(pk=decided.pk)).data)
