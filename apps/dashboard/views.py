"""Server-rendered operator dashboard. Views call one service or selector each and render."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.decorators import operator_required
from apps.dashboard.products import PRODUCTS, PRODUCTS_BY_KEY
from apps.mlops import selectors, services
from apps.mlops.api.serializers import TrainingRunSerializer
from apps.mlops.families import UnknownFamily, get_family
from apps.mlops.models import ModelVersion, TrainingRun, Trigger
from apps.mlops.uploads import uploaded_file_path


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


@operator_required
def home(request: HttpRequest) -> HttpResponse:
    overviews = selectors.family_overviews(versions_per_family=1)
    return render(
        request,
        "dashboard/home.html",
        {
            "products": [(p, [o for o in overviews if o.spec.product == p.key]) for p in PRODUCTS],
            "platform_families": [o for o in overviews if o.spec.product == "platform"],
            "recent_runs": selectors.training_run_list()[:8],
            "workers": selectors.workers_alive(),
        },
    )


@operator_required
def product(request: HttpRequest, key: str) -> HttpResponse:
    product = PRODUCTS_BY_KEY.get(key)
    if product is None:
        raise Http404(f"No product {key!r}.")
    overviews = selectors.family_overviews(product=key)
    return render(request, "dashboard/product.html", {"product": product, "overviews": overviews})


@operator_required
def models(request: HttpRequest) -> HttpResponse:
    overviews = selectors.family_overviews()
    charts = {
        o.spec.name: [
            {"version": v.version, "status": v.status, "value": v.primary_value, "metrics": v.metrics}
            for v in reversed(o.versions)
        ]
        for o in overviews
    }
    return render(request, "dashboard/models.html", {"overviews": overviews, "charts": charts})


@operator_required
def runs(request: HttpRequest) -> HttpResponse:
    family = request.GET.get("family") or None
    return render(request, "dashboard/runs.html", {"runs": selectors.training_run_list(family=family)[:100], "family": family})


@operator_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(selectors.training_run_list(), pk=pk)
    pretty = lambda value: json.dumps(value, indent=2, sort_keys=True)  # noqa: E731 - copy-pasteable into "Config overrides"
    context = {
        "run": run,
        "run_json": TrainingRunSerializer(run).data,
        "config_json": pretty(run.config),
        "snapshot_json": pretty(run.data_snapshot),
        "metrics_json": pretty(run.metrics),
    }
    return render(request, "dashboard/run_detail.html", context)


def runs_live(request: HttpRequest) -> JsonResponse:
    """Progress of the runs the page shows (``?ids=1,2,3``) or the latest 100; polled by runs.js."""
    # A JSON endpoint answers in JSON: no login-page redirect for a script to parse.
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Log in to see training runs.", "errors": {}}, status=401)
    if not request.user.is_operator:
        return JsonResponse({"detail": "The dashboard is for operators and admins.", "errors": {}}, status=403)
    ids = [int(i) for i in request.GET.get("ids", "").split(",") if i.isdigit()][:200]
    family_runs = selectors.training_run_list(family=request.GET.get("family") or None)
    qs = selectors.training_run_list().filter(pk__in=ids) if ids else family_runs[:100]
    newest = family_runs.order_by("-id").values_list("id", flat=True).first()
    return JsonResponse({"runs": TrainingRunSerializer(qs, many=True).data, "newest_id": newest})


@require_POST
@operator_required
def retrain(request: HttpRequest) -> HttpResponse:
    family = request.POST.get("family", "")
    raw_config = request.POST.get("config", "").strip()
    try:
        config = json.loads(raw_config) if raw_config else {}
    except json.JSONDecodeError as exc:
        messages.error(request, f"Config is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).")
        return redirect("dashboard:models")
    try:
        run = services.training_run_start(family=family, trigger=Trigger.DASHBOARD, user=request.user, config=config)
    except ValidationError as exc:
        messages.error(request, f"Could not start training: {_error_text(exc)}")
        return redirect("dashboard:models")
    messages.success(request, f"Training run #{run.pk} of {family} queued.")
    return redirect("dashboard:runs")


@require_POST
@operator_required
def promote(request: HttpRequest, pk: int) -> HttpResponse:
    version = get_object_or_404(ModelVersion, pk=pk)
    try:
        services.model_version_promote(version=version, user=request.user, reason=request.POST.get("reason", ""))
    except ValidationError as exc:
        messages.error(request, f"Could not promote {version.family} v{version.version}: {_error_text(exc)}")
    else:
        messages.success(request, f"{version.family} v{version.version} is now in production.")
    return redirect("dashboard:models")


@require_POST
@operator_required
def upload(request: HttpRequest, family: str) -> HttpResponse:
    upload = request.FILES.get("file")
    raw_metrics = request.POST.get("metrics", "").strip()
    try:
        if upload is None:
            raise ValidationError({"file": ["Choose a weights file to upload."]})
        if upload.size > settings.MLOPS_MAX_UPLOAD_BYTES:
            raise ValidationError({"file": [f"The file is over the {settings.MLOPS_MAX_UPLOAD_BYTES // 2**20} MB limit."]})
        try:
            metrics = json.loads(raw_metrics) if raw_metrics else {}
        except json.JSONDecodeError as exc:
            raise ValidationError({"metrics": [f"Metrics are not valid JSON: {exc.msg}."]}) from None
        with uploaded_file_path(upload) as path:
            version = services.model_version_import(
                family=family, source=path, filename=upload.name, user=request.user, metrics=metrics, note=request.POST.get("note", "")
            )
    except ValidationError as exc:
        # The page again, with the reason, and the status a refused form gets.
        messages.error(request, f"Could not register the upload: {_error_text(exc)}")
        response = models(request)
        response.status_code = 400
        return response
    messages.success(
        request, f"{upload.name} registered as {family} v{version.version} ({version.status}): a worker loads it before it can be promoted."
    )
    return redirect("dashboard:models")


@require_POST
@operator_required
def rollback(request: HttpRequest, family: str) -> HttpResponse:
    try:
        version = services.model_family_rollback(family=family, user=request.user, reason=request.POST.get("reason", ""))
    except ValidationError as exc:
        messages.error(request, f"Could not roll back {family}: {_error_text(exc)}")
    else:
        messages.success(request, f"{family} rolled back to v{version.version}.")
    return redirect("dashboard:models")


@require_POST
@operator_required
def family_settings(request: HttpRequest, family: str) -> HttpResponse:
    try:
        get_family(family)
    except UnknownFamily as exc:
        raise Http404(str(exc)) from None
    raw = request.POST.get("retrain_every_minutes", "").strip()
    try:
        if raw and not raw.isdigit():
            raise ValidationError({"retrain_every_minutes": ["Must be a whole number of minutes."]})
        services.family_settings_update(
            family=family, auto_promote=request.POST.get("auto_promote") == "on", retrain_every_minutes=int(raw) if raw else None
        )
    except ValidationError as exc:
        messages.error(request, f"Retrain interval must be a whole number of minutes (1 or more), or empty for none. {_error_text(exc)}")
    else:
        messages.success(request, f"Settings of {family} saved.")
    return redirect("dashboard:models")


@require_POST
@operator_required
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=pk)
    try:
        services.training_run_cancel(run=run, user=request.user)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"Cancellation of run #{run.pk} requested.")
    return redirect("dashboard:run-detail", pk=run.pk)
