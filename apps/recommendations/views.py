"""Operator pages of recommendations: overview (versions, metrics, A/B), catalog, product, customer."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.decorators import operator_required
from apps.commerce import selectors as commerce
from apps.mlops import selectors as mlops_selectors
from apps.mlops import services as mlops
from apps.mlops.families import UnknownFamily, get_family
from apps.mlops.models import ModelVersion, Trigger, VersionStatus
from apps.recommendations import selectors, services
from apps.recommendations.families import MAIN_FAMILY

CHART_METRICS = ("ndcg@10", "precision@10", "recall@10", "map@10", "coverage@10", "popularity_bias@10")


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


@operator_required
def home(request: HttpRequest) -> HttpResponse:
    overviews = mlops_selectors.family_overviews(product="recommendations")
    families = [o.spec.name for o in overviews]
    test = selectors.ab_test_active(family=MAIN_FAMILY)
    last_test = test or next(iter(selectors.ab_test_list(family=MAIN_FAMILY)), None)
    return render(
        request,
        "recommendations/home.html",
        {
            "overviews": overviews,
            "metric_names": CHART_METRICS,
            "history": selectors.version_metrics_history(families=families),
            "ab_test": test,
            "last_test": last_test,
            "outcomes": selectors.ab_test_outcomes(test=last_test) if last_test else [],
            "candidates": ModelVersion.objects.filter(family=MAIN_FAMILY).exclude(status=VersionStatus.PRODUCTION).order_by("-version")[:20],
            "main_family": MAIN_FAMILY,
        },
    )


@require_POST
@operator_required
def retrain(request: HttpRequest) -> HttpResponse:
    family = request.POST.get("family", MAIN_FAMILY)
    try:
        if get_family(family).product != "recommendations":
            raise UnknownFamily(family)
        run = mlops.training_run_start(family=family, trigger=Trigger.DASHBOARD, user=request.user)
    except UnknownFamily:
        messages.error(request, f"{family!r} is not a recommendation model family.")
        return redirect("recommendations:home")
    except ValidationError as exc:
        messages.error(request, f"Could not start training: {_error_text(exc)}")
        return redirect("recommendations:home")
    messages.success(request, f"Training run #{run.pk} of {family} queued; progress below.")
    return redirect("dashboard:run-detail", pk=run.pk)


@require_POST
@operator_required
def ab_start(request: HttpRequest) -> HttpResponse:
    try:
        version = ModelVersion.objects.filter(pk=int(request.POST.get("candidate", ""))).first()
        share = float(request.POST.get("share_percent", "")) / 100
    except ValueError:
        messages.error(request, "Choose a candidate version and a share in percent (e.g. 20).")
        return redirect("recommendations:home")
    if version is None:
        messages.error(request, "That model version does not exist.")
        return redirect("recommendations:home")
    try:
        test = services.ab_test_start(candidate=version, share=share, user=request.user)
    except ValidationError as exc:
        messages.error(request, f"Could not start the A/B test: {_error_text(exc)}")
    else:
        messages.success(request, f"A/B test started: v{test.candidate.version} serves {test.share:.0%} of customers.")
    return redirect("recommendations:home")


@require_POST
@operator_required
def ab_stop(request: HttpRequest) -> HttpResponse:
    if services.ab_test_stop(family=MAIN_FAMILY):
        messages.success(request, "A/B test stopped: production serves everyone again.")
    else:
        messages.error(request, "No A/B test is running.")
    return redirect("recommendations:home")


@operator_required
def catalog(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    category = request.GET.get("category", "").strip()
    in_stock = request.GET.get("in_stock") == "1"
    products = commerce.product_list(category=category or None, in_stock=True if in_stock else None, search=q or None)
    page = Paginator(products, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "recommendations/catalog.html",
        {"page": page, "q": q, "category": category, "in_stock": in_stock, "categories": commerce.category_list()},
    )


@operator_required
def product(request: HttpRequest, sku: str) -> HttpResponse:
    item = commerce.product_get(sku=sku)
    if item is None:
        raise Http404(f"No product {sku!r}.")
    similar, error = None, ""
    try:
        similar = services.similar_items(sku=sku, n=12, record=False)
    except services.NoRecommendationModel as exc:
        error = str(exc)
    return render(request, "recommendations/product.html", {"product": item, "similar": similar, "error": error})


@operator_required
def customer_lookup(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    if q:
        if commerce.customer_get(external_id=q) is None:
            messages.error(request, f"No customer with id {q!r}; an unknown shopper is served the cold-start list.")
        return redirect("recommendations:customer", external_id=q)
    return redirect("recommendations:home")


@operator_required
def customer(request: HttpRequest, external_id: str) -> HttpResponse:
    found = commerce.customer_get(external_id=external_id)
    history = commerce.customer_history(external_id=external_id, limit=50) if found else []
    recs, error = None, ""
    try:
        recs = services.user_recommendations(external_id=external_id, n=12, record=False)
    except services.NoRecommendationModel as exc:
        error = str(exc)
    return render(
        request,
        "recommendations/customer.html",
        {"external_id": external_id, "customer": found, "history": history, "recs": recs, "error": error},
    )
