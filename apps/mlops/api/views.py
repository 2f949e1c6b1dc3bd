"""REST API of the model registry: operators and admins only (integrators reach product endpoints)."""

from __future__ import annotations

from dataclasses import asdict

import django_filters
from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import IsOperator
from apps.core.api.schema import AutoSchema
from apps.mlops import inputs, selectors, services
from apps.mlops.api import serializers as s
from apps.mlops.families import UnknownFamily, all_families, get_family
from apps.mlops.models import ModelVersion, RunStatus, TrainingRun, Trigger, VersionStatus
from apps.mlops.serving import NoProductionModel, model_cache
from apps.mlops.uploads import uploaded_file_path


class OperatorAPIView(APIView):
    permission_classes = (IsOperator,)
    required_scopes = {"read": "models:read", "write": "models:write"}


class ModelVersionFilter(django_filters.FilterSet):
    family = django_filters.CharFilter()
    status = django_filters.ChoiceFilter(choices=VersionStatus.choices)

    class Meta:
        model = ModelVersion
        fields = ("family", "status")


class ModelVersionListApi(OperatorAPIView, generics.ListAPIView):
    serializer_class = s.ModelVersionSerializer
    filterset_class = ModelVersionFilter
    ordering_fields = ("created_at", "version", "primary_value")

    def get_queryset(self):  # noqa: ANN201
        return selectors.model_version_list().order_by("-created_at", "-id")


class ModelVersionDetailApi(OperatorAPIView, generics.RetrieveAPIView):
    serializer_class = s.ModelVersionSerializer

    def get_queryset(self):  # noqa: ANN201
        return selectors.model_version_list()


class ModelVersionPromoteApi(OperatorAPIView):
    schema_error_statuses = {409: "Already in production, or it does not beat production and no reason was given."}
    @extend_schema(request=s.PromoteSerializer, responses=s.ModelVersionSerializer)
    def post(self, request: Request, pk: int) -> Response:
        version = get_object_or_404(ModelVersion, pk=pk)
        body = s.PromoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = services.model_version_promote(version=version, user=request.user, reason=body.validated_data["reason"])
        return Response(s.ModelVersionSerializer(version).data)


def _family_payload(overview: selectors.FamilyOverview) -> dict:
    spec, fs = overview.spec, overview.settings
    return {
        "name": spec.name,
        "title": spec.title,
        "product": spec.product,
        "description": spec.description,
        "primary_metric": spec.primary_metric,
        "higher_is_better": spec.higher_is_better,
        "auto_promote": fs.auto_promote if fs else True,
        "retrain_every_minutes": fs.retrain_every_minutes if fs else None,
        "production": overview.production,
        "default_config": {**asdict(spec.config_class()), **(fs.default_config if fs else {})},
    }


class FamilyListApi(OperatorAPIView):
    @extend_schema(responses=s.FamilySerializer(many=True))
    def get(self, request: Request) -> Response:
        payload = [_family_payload(o) for o in selectors.family_overviews(versions_per_family=1)]
        return Response(s.FamilySerializer(payload, many=True).data)


def _family_or_404(name: str) -> None:
    try:
        get_family(name)
    except UnknownFamily as exc:
        from rest_framework.exceptions import NotFound

        raise NotFound(str(exc)) from None


class FamilyRollbackApi(OperatorAPIView):
    schema_error_statuses = {409: "No production version, or none it replaced to go back to."}
    @extend_schema(request=s.PromoteSerializer, responses=s.ModelVersionSerializer)
    def post(self, request: Request, name: str) -> Response:
        _family_or_404(name)
        body = s.PromoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = services.model_family_rollback(family=name, user=request.user, reason=body.validated_data["reason"])
        return Response(s.ModelVersionSerializer(version).data)


class FamilyUploadApi(OperatorAPIView):
    parser_classes = (MultiPartParser,)

    @extend_schema(
        request={"multipart/form-data": s.ModelUploadSerializer},
        responses={201: s.ModelVersionSerializer, 400: s.ModelUploadErrorSerializer},
        description=(
            "Register weights trained elsewhere. The request only checks the file statically (size; the pickle's "
            "imports against an allow-list: nothing is loaded or run) and answers 201 with the version in 'checking'; "
            "a worker then loads it and sets 'candidate' or 'rejected' (see check_error)."
        ),
    )
    def post(self, request: Request, name: str) -> Response:
        _family_or_404(name)
        body = s.ModelUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        if upload.size > settings.MLOPS_MAX_UPLOAD_BYTES:
            return Response(
                {"detail": "Invalid input.", "errors": {"file": [f"{upload.size} bytes is over the {settings.MLOPS_MAX_UPLOAD_BYTES}-byte limit."]}},
                status=status.HTTP_400_BAD_REQUEST,
            )
        with uploaded_file_path(upload) as path:
            version = services.model_version_import(
                family=name, source=path, filename=upload.name, user=request.user,
                metrics=body.validated_data["metrics"], note=body.validated_data["note"],
            )
        return Response(s.ModelVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class _PredictSchema(AutoSchema):
    def get_description(self) -> str:
        lines = [
            "Predict with the family's production model. `inputs` is a list of *data* items whose type the family "
            "declares; strings are never opened as paths or fetched as URLs. Per family:",
            "",
        ]
        for family in all_families():
            spec = family.predict_input
            if spec is not None:
                lines.append(f"- `{family.name}` ({spec.kind}, at most {spec.max_items} per call): {spec.description}")
        return "\n".join(lines)


class FamilyPredictApi(OperatorAPIView):
    # Predicting reads a model: allowed with the read scope.
    required_scopes = {"read": "models:read", "write": "models:read"}
    schema_error_statuses = {409: "The family has no production model yet."}
    schema = _PredictSchema()

    @extend_schema(request=s.PredictSerializer, responses=s.PredictionSerializer)
    def post(self, request: Request, name: str) -> Response:
        _family_or_404(name)
        spec = get_family(name).predict_input
        if spec is None:
            return Response({"detail": f"{name} does not serve predictions through the API.", "errors": {}}, status=status.HTTP_400_BAD_REQUEST)
        body = inputs.predict_serializer(spec, data=request.data)
        if not body.is_valid():
            errors = {field: inputs.error_messages(detail, field) for field, detail in body.errors.items()}
            return Response({"detail": "Invalid input.", "errors": errors}, status=status.HTTP_400_BAD_REQUEST)
        try:
            version, predictions = model_cache.predict(name, body.validated_data["inputs"])
        except NoProductionModel as exc:
            return Response({"detail": str(exc), "errors": {}}, status=status.HTTP_409_CONFLICT)
        except (ValueError, TypeError) as exc:
            return Response({"detail": "Invalid input.", "errors": {"inputs": [str(exc)]}}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"family": name, "version": version.version, "model_version_id": version.pk, "predictions": inputs.present(spec, predictions)})


class TrainingRunFilter(django_filters.FilterSet):
    family = django_filters.CharFilter()
    status = django_filters.MultipleChoiceFilter(choices=RunStatus.choices)
    trigger = django_filters.ChoiceFilter(choices=Trigger.choices)

    class Meta:
        model = TrainingRun
        fields = ("family", "status", "trigger")


class TrainingRunListApi(OperatorAPIView, generics.ListAPIView):
    serializer_class = s.TrainingRunSerializer
    filterset_class = TrainingRunFilter
    ordering_fields = ("queued_at", "finished_at", "progress")

    def get_queryset(self):  # noqa: ANN201
        return selectors.training_run_list()

    @extend_schema(request=s.TrainingRunStartSerializer, responses={201: s.TrainingRunSerializer})
    def post(self, request: Request) -> Response:
        body = s.TrainingRunStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = services.training_run_start(
            family=body.validated_data["family"], config=body.validated_data["config"], trigger=Trigger.API, user=request.user
        )
        return Response(s.TrainingRunSerializer(run).data, status=status.HTTP_201_CREATED)


class TrainingRunDetailApi(OperatorAPIView, generics.RetrieveAPIView):
    serializer_class = s.TrainingRunSerializer

    def get_queryset(self):  # noqa: ANN201
        return selectors.training_run_list()


class TrainingRunCancelApi(OperatorAPIView):
    schema_error_statuses = {409: "The run has already finished."}
    @extend_schema(request=None, responses=s.TrainingRunSerializer)
    def post(self, request: Request, pk: int) -> Response:
        run = get_object_or_404(TrainingRun, pk=pk)
        run = services.training_run_cancel(run=run, user=request.user)
        return Response(s.TrainingRunSerializer(run).data)


