"""The recommendation model families: the main blend, an ALS-only family, and two baselines kept for comparison.

All four train with ``ml.recommenders.train`` on the shop's events (``apps.commerce.selectors.interaction_log``);
they differ only in their default ``algorithm``. nDCG@10 on each run's held-out split gates promotion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from rest_framework import serializers

from apps.commerce import selectors as commerce
from apps.mlops.families import ModelFamily, register_family
from apps.mlops.inputs import PredictInput
from ml.memory import MemoryEstimate
from ml.recommenders import Interactions, RecommenderConfig, RecommenderDataset, RecommenderPredictor, train
from ml.recommenders.sizing import plan

MAIN_FAMILY = "recommendations.blend"
ALS_FAMILY = "recommendations.als"
POPULARITY_FAMILY = "recommendations.popularity"
TRENDING_FAMILY = "recommendations.trending"
PRIMARY_METRIC = "ndcg@10"


@dataclass
class ALSConfig(RecommenderConfig):
    algorithm: str = "als"
    content: bool = False  # the main family carries the text neighbours for serving


@dataclass
class PopularityConfig(RecommenderConfig):
    algorithm: str = "popularity"
    content: bool = False


@dataclass
class TrendingConfig(RecommenderConfig):
    algorithm: str = "trending"
    content: bool = False


def prepare(config: RecommenderConfig, run: Any) -> tuple[RecommenderDataset, dict[str, Any]]:
    """Every customer event (views, carts, purchases, ratings) plus the catalog's ids and texts."""
    log = commerce.interaction_log()
    interactions = Interactions.from_log(log)
    catalog_ids = np.array(list(commerce.product_list().values_list("id", flat=True)), dtype=np.int64)
    texts = dict(commerce.catalog_texts()) if config.content else None
    snapshot = {"source": "apps.commerce interaction_log", **interactions.describe(), "catalog_products": int(len(catalog_ids))}
    dataset = RecommenderDataset(interactions, catalog_item_ids=catalog_ids, item_texts=texts, memory_limit=settings.ML_MEMORY_LIMIT_BYTES)
    return dataset, snapshot


def memory_estimate(config: RecommenderConfig, dataset: RecommenderDataset) -> MemoryEstimate:
    """The scale plan's estimate before the matrix is built: every event counted as its own (user, item) cell (an
    upper bound; ``train`` plans again on the exact matrix, and may pick a cheaper strategy within the same limit)."""
    interactions = dataset.interactions
    items = np.union1d(interactions.item_ids, dataset.catalog_item_ids if dataset.catalog_item_ids is not None else np.zeros(0, np.int64))
    events = len(interactions)
    users = len(np.unique(interactions.user_ids))
    return plan(config, users=users, items=len(items), cells=events, events=events, memory_limit=dataset.memory_limit).estimate


_ID = {"min_value": 1, "max_value": 2**63 - 1}


class RecommendationRequestSerializer(serializers.Serializer):
    """One recommendation request: a known customer and/or a browsing history; becomes ``recommend()``'s arguments."""

    customer_id = serializers.IntegerField(required=False, allow_null=True, help_text="The shop customer's id (known users).", **_ID)
    history = serializers.ListField(
        child=serializers.IntegerField(**_ID), required=False, max_length=500, help_text="Product ids the shopper viewed or bought (anonymous sessions)."
    )
    n = serializers.IntegerField(required=False, default=10, min_value=1, max_value=100)
    exclude_item_ids = serializers.ListField(child=serializers.IntegerField(**_ID), required=False, max_length=1000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("customer_id") is None and not attrs.get("history"):
            raise serializers.ValidationError("Give a customer_id, a history of product ids, or both.")
        return {
            "user_id": attrs.get("customer_id"),
            "history": {item: 1.0 for item in attrs.get("history", [])},
            "n": attrs["n"],
            "exclude_item_ids": set(attrs.get("exclude_item_ids", [])) or None,
        }


PREDICT_INPUT = PredictInput(
    kind="recommendation request",
    field=RecommendationRequestSerializer,
    max_items=100,
    description=(
        "Each input is an object {customer_id?, history?: [product ids], n?: 1-100 (default 10), exclude_item_ids?: [product ids]}; "
        "each prediction is a list of {item_id, score, source, because_item_id}."
    ),
    example={"customer_id": 1, "n": 5},
)


def _family(name: str, title: str, config_class: type[RecommenderConfig], description: str) -> ModelFamily:
    return register_family(
        ModelFamily(
            name=name,
            title=title,
            product="recommendations",
            config_class=config_class,
            prepare=prepare,
            train=train,
            predictor_class=RecommenderPredictor,
            primary_metric=PRIMARY_METRIC,
            higher_is_better=True,
            description=description,
            predict_input=PREDICT_INPUT,
            memory_estimate=memory_estimate,
        )
    )


def register() -> None:
    _family(
        MAIN_FAMILY,
        "Personalised recommendations (EASE + ALS blend)",
        RecommenderConfig,
        "Serves the shop: EASE and implicit ALS scores blended with weights chosen on validation; MiniLM text neighbours for cold start.",
    )
    _family(ALS_FAMILY, "Implicit ALS", ALSConfig, "Matrix factorisation alone (implicit on CPU, torch on cuda), for comparison with the blend.")
    _family(POPULARITY_FAMILY, "Popularity baseline", PopularityConfig, "Most-interacted products; what every personalised model must beat.")
    _family(TRENDING_FAMILY, "Recently trending baseline", TrendingConfig, "Products with the most recent activity (exponential decay, 7-day half-life).")
