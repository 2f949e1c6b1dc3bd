"""How a recommender fits the catalog it meets: the scale strategy and the predicted peak memory of training.

- ``dense``: EASE over every item (an items × items matrix: 3 · n² · 8 bytes while fitting, n² · 4 to serve)
  blended with ALS — the best quality, for catalogs up to ``dense_item_limit`` items.
- ``head``: EASE over the ``head_items`` items with the most shoppers, ALS over all of them; the tail is scored
  by ALS alone. Memory is linear in users + items + events plus a fixed head² block.
- ``factors``: ALS alone (BPR when asked): memory linear in users + items + events.

``auto`` picks dense when the catalog is small enough and the dense fit fits the memory limit, else head with the
largest head that fits (at most ``head_items``), else factors. The chosen plan is recorded on the model version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ml.memory import MIB, MemoryEstimate, format_bytes

STRATEGIES = ("auto", "dense", "head", "factors")
MIN_HEAD_ITEMS = 500
# Rows scored at once (evaluation, precompute, neighbours): about this many float32 cells per block.
BLOCK_CELLS = 4_000_000

# Bytes per raw event while the log is read and aggregated: ids (2 × 8), type (1), value and time (2 × 8),
# the weight (8), and the sort/unique temporaries of build_matrix (about 40).
_EVENT_BYTES = 81
# Bytes per (user, item) cell: the CSR matrix (4 + 4) held as the full matrix, the train/test split and its COO
# temporaries, the confidence-weighted copy and implicit's transposed copy — about eight copies.
_CELL_BYTES = 8 * 12


@dataclass(frozen=True)
class ScalePlan:
    strategy: str  # dense, head or factors (never auto: that is resolved)
    head_items: int  # items EASE covers (0 without EASE)
    reason: str
    estimate: MemoryEstimate

    def as_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "head_items": self.head_items, "reason": self.reason, "predicted_peak_bytes": self.estimate.peak_bytes}


def block_rows(n_items: int) -> int:
    """Rows per scoring block so one block of dense scores stays near :data:`BLOCK_CELLS` cells."""
    return int(max(16, min(1024, BLOCK_CELLS // max(n_items, 1))))


def estimate(config: Any, *, users: int, items: int, cells: int, events: int, strategy: str, head_items: int) -> MemoryEstimate:
    """Predicted peak memory of ``train`` for these sizes (``config``: a RecommenderConfig)."""
    parts = {"events": events * _EVENT_BYTES, "interaction matrix": cells * _CELL_BYTES}
    uses_ease = config.algorithm in ("blend", "ease") and strategy in ("dense", "head")
    uses_factors = config.algorithm in ("blend", "als", "bpr") or strategy == "factors"
    if uses_ease:
        k = items if strategy == "dense" else head_items
        parts["EASE item-item matrices"] = 3 * k * k * 8 + k * k * 4  # Gram, inverse, B (float64) + the float32 weights
    if uses_factors:
        width = config.bpr_factors + 1 if config.algorithm == "bpr" else config.als_factors * config.als_members
        # Factors of both the held-out fit and the final fit, float64 solves, the ensemble's concatenation.
        parts["factor models"] = (users + items) * width * 4 * 6
    # Scoring blocks: scores, their z-scores (float64) and the top-k selection, per block of rows.
    parts["scoring blocks"] = block_rows(items) * items * (4 + 8 + 8 + 8) * 2
    if getattr(config, "content", False):
        parts["text embeddings"] = items * 384 * 4 * 2 + 400 * MIB
    return MemoryEstimate(parts, hint=_hint(strategy, config))


def _hint(strategy: str, config: Any) -> str:
    if strategy == "dense":
        return "Set scale_strategy to head or factors (or a smaller dense_item_limit), or raise ML_MEMORY_LIMIT on a larger worker."
    if strategy == "head":
        return "Lower head_items or set scale_strategy to factors, or raise ML_MEMORY_LIMIT on a larger worker."
    return "Lower als_members or als_factors, train on a shorter window of events, or raise ML_MEMORY_LIMIT on a larger worker."


def plan(config: Any, *, users: int, items: int, cells: int, events: int, memory_limit: int | None = None) -> ScalePlan:
    """Resolve ``config.scale_strategy`` for a dataset of these sizes under ``memory_limit`` bytes (None: no limit)."""
    sizes = {"users": users, "items": items, "cells": cells, "events": events}

    def make(strategy: str, head_items: int, reason: str) -> ScalePlan:
        return ScalePlan(strategy, head_items, reason, estimate(config, **sizes, strategy=strategy, head_items=head_items))

    if config.algorithm not in ("blend", "ease"):
        return make("factors" if config.algorithm in ("als", "bpr") else "static", 0, f"{config.algorithm} has no item–item matrix")
    wanted = config.scale_strategy
    head = min(config.head_items, items)
    if wanted == "dense":
        return make("dense", items, "forced by scale_strategy=dense")
    if wanted == "factors":
        return make("factors", 0, "forced by scale_strategy=factors")
    if wanted == "head":
        return make("head", head, f"forced by scale_strategy=head: EASE on the {head} items with the most shoppers")

    limit = memory_limit if memory_limit is not None else math.inf
    dense = estimate(config, **sizes, strategy="dense", head_items=items)
    if items <= config.dense_item_limit and dense.peak_bytes <= limit:
        return ScalePlan("dense", items, f"{items} items ≤ dense_item_limit {config.dense_item_limit}: EASE over the whole catalog", dense)
    if items > config.dense_item_limit:
        why = f"{items} items > dense_item_limit {config.dense_item_limit}"
    else:
        why = f"dense EASE would need {format_bytes(dense.peak_bytes)}, over the limit"
    # The largest head that fits: the EASE block grows with head², everything else does not depend on it.
    while head >= MIN_HEAD_ITEMS:
        candidate = estimate(config, **sizes, strategy="head", head_items=head)
        if candidate.peak_bytes <= limit:
            return ScalePlan("head", head, f"{why}: EASE on the {head} items with the most shoppers, ALS for all", candidate)
        head = int(head * 0.8)
    factors = estimate(config, **sizes, strategy="factors", head_items=0)
    return ScalePlan("factors", 0, f"{why}, and no EASE head of ≥ {MIN_HEAD_ITEMS} items fits: ALS alone", factors)
