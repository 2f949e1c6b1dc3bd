"""REST API of traffic monitoring, for integrations (token scopes traffic:read / traffic:write) and operators."""

from __future__ import annotations

import django_filters
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import IsIntegrationOrOperator, IsOperator
from apps.core.api.filters import DateTimeFilter, FilterSet, FloatFilter, IdFilter
from apps.core.errors import DOES_NOT_EXIST
from apps.mlops.models import ModelVersion, Trigger
from apps.traffic import camera_detector, selectors, services
from apps.traffic.api import serializers as s
from apps.traffic.models import (
    BinSize,
    Camera,
    Count,
    CountingLine,
    Crossing,
    CrossingReview,
    Direction,
    Event,
    EventKind,
    JobStatus,
    ProcessingJob,
    ReviewVerdict,
    Site,
    Track,
    Zone,
)


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


# --- the camera's detector ---------------------------------------------------------------------------------------
def _detector(camera: Camera) -> Response:
    return Response(s.CameraDetectorSerializer(camera_detector.camera_detector(camera=camera)).data)


class CameraDetectorApi(TrafficApi, APIView):
    @extend_schema(responses=s.CameraDetectorSerializer)
    def get(self, request: Request, pk: int) -> Response:
        """Which detector the camera's jobs use (its own self-trained version, the global production version, or
        motion detection), its latest training run and the versions trained on its footage with their held-out
        comparison against the motion pipeline."""
        return _detector(get_object_or_404(Camera, pk=pk))


class _CameraDetectorWriteApi(APIView):
    # Training costs worker hours and changes what counts: operators (and their tokens with traffic:write) only.
    permission_classes = (IsOperator,)
    required_scopes = {"read": "traffic:read", "write": "traffic:write"}


class CameraDetectorLearnApi(_CameraDetectorWriteApi):
    schema_error_statuses = {409: "A training run on this camera's footage is already queued or running."}

    @extend_schema(request=None, responses={201: s.DetectorRunSerializer})
    def post(self, request: Request, pk: int) -> Response:
        """Start a ``traffic.detector`` training run that learns from this camera's processed recordings (the motion
        pipeline labels them; a YOLO is trained and compared with it on held-out footage). Follow it with
        ``GET /api/v1/runs/{id}/`` or this camera's ``detector/``. 400 when the camera has no processed recording."""
        camera = get_object_or_404(Camera, pk=pk)
        run = camera_detector.camera_detector_train_start(camera=camera, user=request.user, trigger=Trigger.API)
        return Response(s.DetectorRunSerializer(run).data, status=status.HTTP_201_CREATED)


class CameraDetectorUseApi(_CameraDetectorWriteApi):
    schema_error_statuses = {409: "The camera already uses this version."}

    @extend_schema(request=s.DetectorUseSerializer, responses=s.CameraDetectorSerializer)
    def post(self, request: Request, pk: int) -> Response:
        """Count this camera's next jobs with a ``traffic.detector`` version (usually one trained on its footage)."""
        camera = get_object_or_404(Camera, pk=pk)
        body = s.DetectorUseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = ModelVersion.objects.filter(pk=body.validated_data["version"]).first()
        if version is None:
            raise ApiValidationError({"version": [f"Model version {body.validated_data['version']} does not exist."]}, code=DOES_NOT_EXIST)
        return _detector(camera_detector.camera_detector_use(camera=camera, version=version, user=request.user))


class CameraDetectorRevertApi(_CameraDetectorWriteApi):
    schema_error_statuses = {409: "The camera already uses the default detector."}

    @extend_schema(request=None, responses=s.CameraDetectorSerializer)
    def post(self, request: Request, pk: int) -> Response:
        """Count this camera's next jobs with the default detector again: the global production version, else motion detection."""
        camera = get_object_or_404(Camera, pk=pk)
        return _detector(camera_detector.camera_detector_revert(camera=camera, user=request.user))


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


# --- reviews of a job's crossings -------------------------------------------------------------------------------
REVIEW_COMPLETE_409 = "The job's review is marked complete: reopen it before changing its reviews."


def _job(pk: int) -> ProcessingJob:
    return get_object_or_404(ProcessingJob.objects.select_related("camera", "reviewed_by"), pk=pk)


def _line_of(job: ProcessingJob, line_id: int) -> CountingLine:
    line = CountingLine.objects.filter(pk=line_id, camera_id=job.camera_id).first()
    if line is None:
        raise ApiValidationError({"line": [f"No counting line {line_id} on job #{job.pk}'s camera."]}, code=DOES_NOT_EXIST)
    return line


class _WritesConflict:
    """Writes of a review answer 409 once it is marked complete; reads never do."""

    @property
    def schema_error_statuses(self) -> dict[int, str]:
        request = getattr(self, "request", None)
        return {} if request is not None and request.method == "GET" else {409: REVIEW_COMPLETE_409}


class JobCrossingFilter(FilterSet):
    line = IdFilter()
    direction = django_filters.ChoiceFilter(choices=Direction.choices)
    review = django_filters.ChoiceFilter(
        choices=[(v, v) for v in selectors.REVIEW_FILTERS],
        method="filter_review",
        help_text="unreviewed, or the verdict of the crossing's review.",
    )

    class Meta:
        model = Crossing
        fields = ("line", "direction", "review")

    def filter_review(self, queryset, name: str, value: str):  # noqa: ANN001, ANN201
        return queryset.filter(reviews__isnull=True) if value == "unreviewed" else queryset.filter(reviews__verdict=value)


class JobCrossingListApi(TrafficApi, generics.ListAPIView):
    """The job's counted crossings in frame order, each with its review (null while nobody reviewed it)."""

    serializer_class = s.JobCrossingSerializer
    filterset_class = JobCrossingFilter

    def get_queryset(self):  # noqa: ANN201
        if getattr(self, "swagger_fake_view", False):
            return Crossing.objects.none()
        return selectors.job_crossings(_job(self.kwargs["pk"])).select_related("job__camera")


class ReviewFilter(FilterSet):
    verdict = django_filters.ChoiceFilter(choices=ReviewVerdict.choices)
    line = IdFilter()

    class Meta:
        model = CrossingReview
        fields = ("verdict", "line")


class JobReviewListApi(_WritesConflict, TrafficApi, generics.ListAPIView):
    """The reviews of a job's crossings in frame order: judgements of counted crossings and added (missed) ones."""

    serializer_class = s.CrossingReviewSerializer
    filterset_class = ReviewFilter

    def get_queryset(self):  # noqa: ANN201
        if getattr(self, "swagger_fake_view", False):
            return CrossingReview.objects.none()
        return selectors.job_reviews(_job(self.kwargs["pk"])).select_related("job__camera")

    @extend_schema(request=s.CrossingReviewInputSerializer, responses={201: s.CrossingReviewSerializer, 200: s.CrossingReviewSerializer})
    def post(self, request: Request, pk: int) -> Response:
        """Review a counted crossing: confirm it, reject it (a false count) or correct its direction or class. One
        review per crossing: sending one again replaces it (200). The crossing itself stays as counted."""
        job = _job(pk)
        body = s.CrossingReviewInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        crossing = Crossing.objects.filter(pk=data["crossing"], job=job).select_related("job__camera", "line").first()
        if crossing is None:
            raise ApiValidationError({"crossing": [f"No crossing {data['crossing']} in job #{job.pk}; GET its crossings/ for their ids."]}, code=DOES_NOT_EXIST)
        review, created = services.crossing_review_set(
            crossing=crossing, verdict=data["verdict"], direction=data.get("direction"), label=data.get("label"), user=request.user
        )
        return Response(s.CrossingReviewSerializer(review).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class MissedCrossingApi(_WritesConflict, TrafficApi, APIView):
    @extend_schema(request=s.MissedCrossingInputSerializer, responses={201: s.CrossingReviewSerializer})
    def post(self, request: Request, pk: int) -> Response:
        """Add a crossing the machine missed (a review with verdict added): line, direction, class and its moment as
        ``frame`` or ``seconds`` (one of them) within the job's video."""
        job = _job(pk)
        body = s.MissedCrossingInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        review = services.crossing_review_add(
            job=job,
            line=_line_of(job, data["line"]),
            direction=data["direction"],
            label=data["label"],
            frame=data.get("frame"),
            seconds=data.get("seconds"),
            user=request.user,
        )
        return Response(s.CrossingReviewSerializer(review).data, status=status.HTTP_201_CREATED)


class JobReviewDetailApi(_WritesConflict, TrafficApi, APIView):
    """One review of a job's crossings."""

    def _review(self, pk: int, review_id: int) -> CrossingReview:
        return get_object_or_404(CrossingReview.objects.select_related("job__camera", "crossing", "line", "reviewer"), pk=review_id, job_id=pk)

    @extend_schema(responses=s.CrossingReviewSerializer)
    def get(self, request: Request, pk: int, review_id: int) -> Response:
        return Response(s.CrossingReviewSerializer(self._review(pk, review_id)).data)

    @extend_schema(request=s.CrossingReviewUpdateSerializer, responses=s.CrossingReviewSerializer)
    def patch(self, request: Request, pk: int, review_id: int) -> Response:
        """Change a review: a counted crossing's verdict, direction or class; an added crossing's line, direction,
        class or moment."""
        review = self._review(pk, review_id)
        body = s.CrossingReviewUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        if "line" in data:
            data["line"] = _line_of(review.job, data["line"])
        review = services.crossing_review_update(review=review, user=request.user, **data)
        review.refresh_from_db()
        return Response(s.CrossingReviewSerializer(review).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int, review_id: int) -> Response:
        """Undo a review: a counted crossing counts as counted again; an added crossing is removed."""
        services.crossing_review_delete(review=self._review(pk, review_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class JobEvaluationApi(TrafficApi, APIView):
    @extend_schema(responses=s.EvaluationSerializer)
    def get(self, request: Request, pk: int) -> Response:
        """Counted against reviewed crossings per line and direction, with the error (counted − reviewed)."""
        return Response(s.EvaluationSerializer(selectors.job_evaluation(_job(pk))).data)


class JobReviewCompleteApi(TrafficApi, APIView):
    schema_error_statuses = {409: "The review is already complete, or the job has not succeeded or been stopped (it is queued, running or failed)."}

    @extend_schema(request=None, responses=s.EvaluationSerializer)
    def post(self, request: Request, pk: int) -> Response:
        """Mark the review complete (the job must have succeeded or been stopped): crossings nobody rejected or
        corrected count as confirmed, and the reviewed counts are ground truth from now on."""
        job = services.job_review_complete(job=_job(pk), user=request.user)
        return Response(s.EvaluationSerializer(selectors.job_evaluation(job)).data)


class JobReviewReopenApi(TrafficApi, APIView):
    @extend_schema(request=None, responses=s.EvaluationSerializer)
    def post(self, request: Request, pk: int) -> Response:
        """Reopen a completed review for changes; its counts are not ground truth until it is completed again."""
        job = services.job_review_reopen(job=_job(pk))
        return Response(s.EvaluationSerializer(selectors.job_evaluation(job)).data)
