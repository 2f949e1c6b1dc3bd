"""REST API of inspection: line cameras (integrator tokens with inspection scopes) and operators."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import IsIntegrationOrOperator
from apps.core.api.filters import MAX_BIGINT
from apps.core.errors import DOES_NOT_EXIST
from apps.core.params import int_param
from apps.inspection import services
from apps.inspection.api import serializers as s
from apps.inspection.models import InspectionImage, Station


class InspectionAPIView(APIView):
    permission_classes = (IsIntegrationOrOperator,)
    required_scopes = {"read": "inspection:read", "write": "inspection:write"}


def _messages(exc: ValidationError) -> str:
    return " ".join(exc.messages)


class ImageUploadApi(InspectionAPIView):
    parser_classes = (MultiPartParser,)

    @extend_schema(
        request={"multipart/form-data": s.ImageUploadSerializer},
        responses={201: s.UploadResponseSerializer, 200: s.UploadResponseSerializer},
        summary="Send one or several part images for inspection",
        description=(
            "Single image: `image` + `client_image_id`. Several: repeat `images` and `client_image_ids` (same order). "
            "Every file is validated on its own; a bad file is listed under `rejected` and the others are still accepted. "
            "400 when no file was accepted. A client image id sent before returns the stored image (`duplicate`: true)."
        ),
    )
    def post(self, request: Request) -> Response:
        station_id = request.data.get("station")
        pk = int_param(station_id if isinstance(station_id, str) else None, name="station", minimum=1, maximum=MAX_BIGINT)
        if pk is None:
            raise ApiValidationError({"station": ["This field is required."]})
        station = Station.objects.filter(pk=pk).first()
        if station is None:
            raise ApiValidationError({"station": [f"No station with id {pk}."]}, code=DOES_NOT_EXIST)
        files = list(request.FILES.getlist("images"))
        ids = list(request.data.getlist("client_image_ids")) if hasattr(request.data, "getlist") else []
        if "image" in request.FILES:
            files = [request.FILES["image"], *files]
            ids = [request.data.get("client_image_id", ""), *ids]
        if not files:
            raise ApiValidationError({"image": ["Attach an image (field `image`) or several (field `images`)."]})
        if len(files) != len(ids):
            raise ApiValidationError({"client_image_ids": [f"Got {len(files)} files but {len(ids)} client image ids; give one id per file."]})
        if len(files) > settings.INSPECTION_MAX_FILES_PER_REQUEST:
            raise ApiValidationError({"images": [f"At most {settings.INSPECTION_MAX_FILES_PER_REQUEST} images per request."]})
        callback_url = request.data.get("callback_url", "") or ""
        if callback_url:
            body = s.ImageUploadSerializer(data={"station": station.pk, "callback_url": callback_url})
            body.is_valid(raise_exception=True)
        accepted, rejected = [], []
        created_any = False
        for upload, client_id in zip(files, ids, strict=True):
            name = upload.name or ""
            if upload.size > settings.INSPECTION_MAX_UPLOAD_BYTES:
                rejected.append(
                    {
                        "client_image_id": client_id,
                        "file": name,
                        "error": f"{name} is {upload.size} bytes; the limit is {settings.INSPECTION_MAX_UPLOAD_BYTES} bytes.",
                    }
                )
                continue
            try:
                received = services.image_receive(station=station, client_image_id=client_id, data=upload.read(), filename=name, callback_url=callback_url)
            except ValidationError as exc:
                rejected.append({"client_image_id": client_id, "file": name, "error": _messages(exc)})
                continue
            created_any |= received.created
            accepted.append({**services.result_payload(received.image), "duplicate": not received.created})
        body = {"accepted": accepted, "rejected": rejected}
        if not accepted:
            first = rejected[0]["error"] if len(rejected) == 1 else f"None of the {len(rejected)} files was accepted."
            return Response({"detail": first, "errors": {"images": [r["error"] for r in rejected]}, **body}, status=status.HTTP_400_BAD_REQUEST)
        return Response(body, status=status.HTTP_201_CREATED if created_any else status.HTTP_200_OK)


class ImageDetailApi(InspectionAPIView):
    @extend_schema(responses=s.ImageSerializer, summary="An image's inspection: pending → done (with the result)")
    def get(self, request: Request, pk: int) -> Response:
        image = get_object_or_404(InspectionImage.objects.select_related("result"), pk=pk)
        return Response(services.result_payload(image))
