"""REST API of traffic monitoring, for integrations (token scopes traffic:read / traffic:write) and operators."""

from __future__ import annotations

import django_filters
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import IsIntegrationOrOperator
from apps.core.api.filters import DateTimeFilter, FilterSet, FloatFilter, IdFilter
from apps.traffic import services
from apps.traffic.api import serializers as s
from apps.traffic.models import BinSize, Camera, Count, CountingLine, Direction, Event, EventKind, JobStatus, ProcessingJob, Site, Track, Zone


class TrafficApi:
    permission_classes = (IsIntegrationOrOperator,)
    required_scopes = {"read": "traffic:read", "write": "traffic:write"}


# --- cameras ----------------------------------------------------------------------------------------------------
class CameraListApi(TrafficApi, generics.ListCreateAPIView):
    serializer_class = s.CameraSerializer
    queryset = Camera.objects.select_related("site").order_by("name", "id")
    filterset_fields = ("site", "source_kind")

    def perform_create(self, serializer: s.CameraSerializer) -> None:
        site_name = serializer.validated_data.pop("site_name", "")
        with transaction.atomic():
            site = Site.objects.get_or_create(name=site_name.strip())[0] if site_name.strip() else None
            camera = Camera(site=site, **serializer.validated_data)
            services.camera_source_kind_ok(camera)
            camera.full_clean()
            camera.save()
        serializer.instance = camera


class CameraDetailApi(TrafficApi, generics.RetrieveUpdateDestroyAPIView):
    serializer_class = s.CameraSerializer
    queryset = Camera.objects.select_related("site")

    def perform_update(self, serializer: s.CameraSerializer) -> None:
        serializer.validated_data.pop("site_name", None)
        camera = serializer.instance
        for key, value in serializer.validated_data.items():
            setattr(camera, key, value)
        services.camera_source_kind_ok(camera)
        camera.full_clean()
        camera.save()


class CameraCalibrationApi(TrafficApi, APIView):
    @extend_schema(request=s.CalibrationSerializer, responses=s.CameraSerializer)
    def put(self, request: Request, pk: int) -> Response:
        camera = get_object_or_404(Camera, pk=pk)
        body = s.CalibrationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        camera = services.camera_calibrate(camera=camera, image_points=body.validated_data["image_points"], ground_points=body.validated_data["ground_points"])
        return Response(s.CameraSerializer(camera).data)


# --- lines and zones ------------------------------------------------------------------------------------------
class _GeometryListApi(TrafficApi, generics.ListCreateAPIView):
    filterset_fields = ("camera",)
    validate = staticmethod(services.line_validate)

    def perform_create(self, serializer) -> None:  # noqa: ANN001
        instance = serializer.Meta.model(**serializer.validated_data)
        self.validate(instance)
        instance.save()
        serializer.instance = instance


class _GeometryDetailApi(TrafficApi, generics.RetrieveUpdateDestroyAPIView):
    validate = staticmethod(services.line_validate)

    def perform_update(self, serializer) -> None:  # noqa: ANN001
        instance = serializer.instance
        for key, value in serializer.validated_data.items():
            setattr(instance, key, value)
        self.validate(instance)
        instance.save()


class LineListApi(_GeometryListApi):
    serializer_class = s.CountingLineSerializer
    queryset = CountingLine.objects.order_by("camera", "name", "id")


class LineDetailApi(_GeometryDetailApi):
    serializer_class = s.CountingLineSerializer
    queryset = CountingLine.objects.all()


class ZoneListApi(_GeometryListApi):
    serializer_class = s.ZoneSerializer
    queryset = Zone.objects.order_by("camera", "name", "id")
    filterset_fields = ("camera", "kind")
    validate = staticmethod(services.zone_validate)


class ZoneDetailApi(_GeometryDetailApi):
    serializer_class = s.ZoneSerializer
    queryset = Zone.objects.all()
    validate = staticmethod(services.zone_validate)


# --- jobs -------------------------------------------------------------------------------------------------------
class JobFilter(FilterSet):
    camera = IdFilter()
    status = django_filters.ChoiceFilter(choices=JobStatus.choices)
    kind = django_filters.CharFilter()

    class Meta:
        model = ProcessingJob
        fields = ("camera", "status", "kind")


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string (e.g. a UUID) per request. A resent request with the same key for the same camera answers 200 "
        "with the job the first one created instead of starting a second one; the same key with a different request is a 409."
    ),
)


def _submitted(job_create, request: Request, **kwargs) -> Response:  # noqa: ANN001, ANN003
    """Run a job-creating service; a replay answers 200 with the first job, any other duplicate a 409."""
    try:
        job = job_create(user=request.user, idempotency_key=request.headers.get("Idempotency-Key", ""), **kwargs)
    except services.DuplicateJob as exc:
        if exc.replay:
            return Response(s.JobSerializer(exc.job).data, status=status.HTTP_200_OK, headers={"Idempotent-Replayed": "true"})
        return Response({"detail": str(exc), "errors": {}}, status=status.HTTP_409_CONFLICT)
    return Response(s.JobSerializer(job).data, status=status.HTTP_201_CREATED)


class JobListApi(TrafficApi, generics.ListAPIView):
    serializer_class = s.JobSerializer
    filterset_class = JobFilter
    queryset = ProcessingJob.objects.order_by("-created_at", "-id")
    parser_classes = (MultiPartParser,)

    @extend_schema(
        request={"multipart/form-data": s.JobUploadSerializer},
        parameters=[IDEMPOTENCY_KEY],
        responses={201: s.JobSerializer, 200: s.JobSerializer},
    )
    def post(self, request: Request) -> Response:
        """Upload a recording: it is checked (a video file within the size limit) and queued; the worker then probes
        it, and a file it cannot decode fails the job with the reason. The same recording for the same camera is
        refused (409) while a job for it is queued, running or done, so no vehicle is counted twice."""
        body = s.JobUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return _submitted(
            services.job_create_from_upload,
            request,
            camera=body.validated_data["camera"],
            upload=body.validated_data["video"],
            recorded_at=body.validated_data.get("recorded_at"),
        )


class StreamJobApi(TrafficApi, APIView):
    @extend_schema(request=s.StreamJobSerializer, parameters=[IDEMPOTENCY_KEY], responses={201: s.JobSerializer, 200: s.JobSerializer})
    def post(self, request: Request) -> Response:
        """Start a stream session (rtsp, rtsps, http, https; the host must resolve to a public address unless the
        deployment allows its camera network): reconnects with backoff, then fails the job with the reason. One
        session per camera: a second start while one is queued or running is a 409."""
        body = s.StreamJobSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return _submitted(
            services.job_create_stream,
            request,
            camera=body.validated_data["camera"],
            url=body.validated_data.get("url", ""),
            max_frames=body.validated_data.get("max_frames"),
        )


class JobDetailApi(TrafficApi, generics.RetrieveAPIView):
    serializer_class = s.JobSerializer
    queryset = ProcessingJob.objects.all()


class JobCancelApi(TrafficApi, APIView):
    @extend_schema(request=None, responses=s.JobSerializer)
    def post(self, request: Request, pk: int) -> Response:
        job = services.job_cancel(job=get_object_or_404(ProcessingJob, pk=pk))
        return Response(s.JobSerializer(job).data)


# --- results ----------------------------------------------------------------------------------------------------
class CountFilter(FilterSet):
    camera = IdFilter()
    line = IdFilter()
    label = django_filters.CharFilter(help_text="car, bus, truck, motorcycle, bicycle or person")
    direction = django_filters.ChoiceFilter(choices=Direction.choices)
    bin = django_filters.ChoiceFilter(field_name="bin_minutes", choices=BinSize.choices, help_text="Bin size in minutes (default 15).")
    start = DateTimeFilter(field_name="bin_start", lookup_expr="gte")
    end = DateTimeFilter(field_name="bin_start", lookup_expr="lt")

    class Meta:
        model = Count
        fields = ("camera", "line", "label", "direction", "bin", "start", "end")


class CountListApi(TrafficApi, generics.ListAPIView):
    """Counts per line, class and direction in time bins (``bin`` = 1 or 15 minutes, default 15)."""

    serializer_class = s.CountSerializer
    filterset_class = CountFilter

    def get_queryset(self):  # noqa: ANN201
        rows = Count.objects.select_related("line").order_by("bin_start", "line_id", "label", "direction")
        if "bin" not in self.request.query_params:
            rows = rows.filter(bin_minutes=BinSize.FIFTEEN_MINUTES)
        return rows


class EventFilter(FilterSet):
    camera = IdFilter()
    job = IdFilter()
    kind = django_filters.ChoiceFilter(choices=EventKind.choices)
    start = DateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    end = DateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Event
        fields = ("camera", "job", "kind", "start", "end")


class EventListApi(TrafficApi, generics.ListAPIView):
    serializer_class = s.EventSerializer
    filterset_class = EventFilter
    queryset = Event.objects.order_by("-occurred_at", "-id")


class TrackFilter(FilterSet):
    camera = IdFilter()
    job = IdFilter()
    label = django_filters.CharFilter()
    start = DateTimeFilter(field_name="first_seen", lookup_expr="gte")
    end = DateTimeFilter(field_name="first_seen", lookup_expr="lt")
    min_speed = FloatFilter(field_name="speed_kmh", lookup_expr="gte", min_value=0, max_value=10_000, help_text="km/h")

    class Meta:
        model = Track
        fields = ("camera", "job", "label", "start", "end", "min_speed")


class TrackListApi(TrafficApi, generics.ListAPIView):
    serializer_class = s.TrackSerializer
    filterset_class = TrackFilter
    queryset = Track.objects.order_by("-first_seen", "-id")
