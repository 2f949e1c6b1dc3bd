"""Detectors: one interface, two implementations.

- :class:`BackgroundSubtractionDetector` needs no weights: moving objects of a fixed camera by MOG2 (or KNN)
  background subtraction, shadows removed, plus a contrast test against the model's background image (below),
  cleaned by morphology, overlapping fragments merged, small blobs dropped. Its detections carry no class; the
  pipeline classifies each confirmed track's crop (see :mod:`ml.traffic.classify`).
- :class:`YoloDetector`: an ultralytics YOLO model (weights from the model registry); detections carry a class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ml.traffic.classes import VEHICLE_CLASSES, normalise_label

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Detection:
    box: Box  # x1, y1, x2, y2 in native pixels
    score: float
    label: str | None = None  # one of VEHICLE_CLASSES, or None when the detector does not classify


class Detector(Protocol):
    description: str
    classifies: bool

    def detect(self, frame: np.ndarray) -> list[Detection]:
        """Detections in one BGR frame (native resolution)."""

    def reset(self) -> None:
        """Forget any state carried between frames (a new video or a jump)."""


@dataclass
class BackgroundSubtractionConfig:
    method: str = "mog2"  # mog2 | knn
    detect_width: int = 480  # frames are downscaled to this width for detection; boxes come back in native pixels
    history: int = 300
    var_threshold: float = 24.0
    blur: int = 3  # Gaussian blur kernel (odd) before subtraction; 0 = none
    open_kernel: int = 3
    # Small: in dense traffic vehicles are a few pixels apart, and a larger closing joins a lane into one blob.
    close_kernel: int = 3
    min_area_fraction: float = 0.0012  # of the (downscaled) frame; smaller blobs are noise
    max_area_fraction: float = 0.35  # larger blobs are lighting changes or camera shake
    # Boxes closer than this fraction of the width and overlapping merge_min_overlap along the other axis are
    # fragments of one object. 0: only boxes that overlap merge (dense traffic: the next vehicle in the lane is
    # as close as a fragment would be).
    merge_gap_fraction: float = 0.0
    merge_min_overlap: float = 0.3
    learning_rate: float = -1.0  # OpenCV's automatic rate
    # Contrast test. MOG2 learns in dense traffic that a road pixel is often dark or grey (a mode of its mixture)
    # and calls such vehicles background or "shadow". A pixel is also foreground when it differs from the model's
    # background image by more than contrast_min grey levels, contrast_noise × the frame's median difference
    # (sensor noise, compression), and deviation_k × its own typical difference, learned only while it looks like
    # background (so passing vehicles do not raise it; edges that shake or shimmer do, and drop out).
    stabilise: bool = True
    contrast: bool = True
    contrast_min: float = 20.0
    contrast_noise: float = 6.0
    deviation_k: float = 3.0
    deviation_rate: float = 0.05  # learning rate of a pixel's typical difference while it looks like background
    deviation_rate_foreground: float = 0.005  # … and while it looks like foreground (slow: a parked car is absorbed)


class BackgroundSubtractionDetector:
    classifies = False

    def __init__(self, config: BackgroundSubtractionConfig | None = None) -> None:
        self.config = config or BackgroundSubtractionConfig()
        if self.config.method not in ("mog2", "knn"):
            raise ValueError("background subtraction method must be mog2 or knn")
        self.description = f"background-subtraction ({self.config.method.upper()}) + EfficientNet-Lite0"
        self.reset()

    def reset(self) -> None:
        import cv2

        c = self.config
        if c.method == "mog2":
            self._subtractor = cv2.createBackgroundSubtractorMOG2(history=c.history, varThreshold=c.var_threshold, detectShadows=True)
        else:
            self._subtractor = cv2.createBackgroundSubtractorKNN(history=c.history, detectShadows=True)
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (c.open_kernel, c.open_kernel)) if c.open_kernel > 1 else None
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (c.close_kernel, c.close_kernel)) if c.close_kernel > 1 else None
        self._deviation: np.ndarray | None = None
        self._background: np.ndarray | None = None
        self._window: np.ndarray | None = None
        self._reference: np.ndarray | None = None  # the background image, grey and small, for the stabiliser

    @property
    def warmup_frames(self) -> int:
        """Frames a fresh background model needs to come close to one that has seen the whole video: a resumed run
        feeds them to :meth:`learn` first, or vehicles would be cut differently than before the crash. At the
        steady learning rate 1/history, what the fresh start leaves weighs (1 - 1/history)^frames: 5% after three
        histories. (A resume within that many frames of the start replays the video from frame 0: exact.)"""
        return 3 * self.config.history

    def learn(self, frame: np.ndarray) -> None:
        """Update the background model with ``frame`` without detecting anything (a resume's warm-up)."""
        self.foreground(frame)

    def foreground(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """The cleaned foreground mask at detection resolution and the scale back to native pixels."""
        import cv2

        c = self.config
        height, width = frame.shape[:2]
        scale = width / c.detect_width if width > c.detect_width else 1.0
        # INTER_LINEAR, not INTER_AREA: at a non-integer factor AREA cost 6 ms per 720p frame, LINEAR under 1 ms,
        # and the blur below smooths the aliasing LINEAR leaves.
        small = cv2.resize(frame, (round(width / scale), round(height / scale)), interpolation=cv2.INTER_LINEAR) if scale != 1.0 else frame
        if c.blur > 1:
            small = cv2.GaussianBlur(small, (c.blur, c.blur), 0)
        if c.stabilise:
            small = self._stabilised(small)
        mask = self._subtractor.apply(small, learningRate=c.learning_rate)
        # MOG2/KNN mark shadows 127, foreground 255: keep only the foreground.
        _, mask = cv2.threshold(mask, 200, 255, cv2.THRESH_BINARY)
        if c.contrast:
            mask = cv2.bitwise_or(mask, self._contrast(small))
        elif c.stabilise:
            self._background, self._reference = self._subtractor.getBackgroundImage(), None
        if self._open is not None:
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
        if self._close is not None:
            mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close)
        return mask, scale

    def _stabilised(self, small: np.ndarray) -> np.ndarray:
        """``small`` shifted back onto the background when the whole picture moved (a shaking camera): the shift is
        the phase correlation of the frame with the background image (on a central window of at most 256 × 192
        pixels: a camera's shake moves the whole picture alike), applied when it is clear and small."""
        import cv2

        background = self._background
        if background is None or background.shape != small.shape:
            return small
        h, w = small.shape[:2]
        cw, ch = min(w, 256), min(h, 192)
        x0, y0 = (w - cw) // 2, (h - ch) // 2
        window = small[y0 : y0 + ch, x0 : x0 + cw]
        gray = cv2.cvtColor(window, cv2.COLOR_BGR2GRAY) if window.ndim == 3 else window
        if self._reference is None or self._reference.shape != gray.shape:
            bg = background[y0 : y0 + ch, x0 : x0 + cw]
            self._reference = (cv2.cvtColor(bg, cv2.COLOR_BGR2GRAY) if bg.ndim == 3 else bg).astype(np.float32)
        if self._window is None or self._window.shape != gray.shape:
            self._window = cv2.createHanningWindow((cw, ch), cv2.CV_32F)
        (dx, dy), response = cv2.phaseCorrelate(self._reference, gray.astype(np.float32), self._window)
        shift = math.hypot(dx, dy)
        if response < 0.3 or shift < 0.5 or shift > 0.1 * small.shape[1]:
            return small
        matrix = np.float32([[1, 0, -dx], [0, 1, -dy]])
        # The strip the shift uncovers takes the background's pixels, so it is not foreground.
        steadied = background.copy()
        cv2.warpAffine(small, matrix, (small.shape[1], small.shape[0]), dst=steadied, borderMode=cv2.BORDER_TRANSPARENT)
        return steadied

    def _contrast(self, small: np.ndarray) -> np.ndarray:
        """Pixels that differ clearly from the background image (see :class:`BackgroundSubtractionConfig`)."""
        import cv2

        c = self.config
        background = self._subtractor.getBackgroundImage()
        self._background, self._reference = background, None
        diff = cv2.absdiff(small, background)
        if diff.ndim == 3:
            b, g, r = cv2.split(diff)
            diff = cv2.max(cv2.max(b, g), r)
        floor = max(c.contrast_min, c.contrast_noise * float(np.median(diff[::4, ::4])))
        diff = diff.astype(np.float32)
        if self._deviation is None or self._deviation.shape != diff.shape:
            self._deviation = np.full_like(diff, floor / c.deviation_k)
        foreground = cv2.compare(diff, c.deviation_k * self._deviation, cv2.CMP_GT)
        cv2.bitwise_and(foreground, cv2.compare(diff, floor, cv2.CMP_GT), dst=foreground)
        cv2.accumulateWeighted(diff, self._deviation, c.deviation_rate, mask=cv2.bitwise_not(foreground))
        cv2.accumulateWeighted(diff, self._deviation, c.deviation_rate_foreground, mask=foreground)
        return foreground

    def detect(self, frame: np.ndarray) -> list[Detection]:
        import cv2

        c = self.config
        mask, scale = self.foreground(frame)
        h, w = mask.shape
        area = float(h * w)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        boxes = []
        for i in range(1, count):
            x, y, bw, bh, pixels = (int(v) for v in stats[i])
            if pixels < 0.25 * c.min_area_fraction * area:
                continue
            boxes.append([x, y, x + bw, y + bh, pixels])
        boxes = _merge_fragments(boxes, gap=c.merge_gap_fraction * w, min_overlap=c.merge_min_overlap)
        out = []
        for x1, y1, x2, y2, pixels in boxes:
            box_area = (x2 - x1) * (y2 - y1)
            if box_area < c.min_area_fraction * area or box_area > c.max_area_fraction * area:
                continue
            fill = pixels / box_area if box_area else 0.0
            # Solid blobs score high; thin, sparse ones (foliage, noise) low, so the tracker uses them only to extend tracks.
            score = float(min(1.0, 0.3 + fill))
            out.append(Detection((x1 * scale, y1 * scale, x2 * scale, y2 * scale), score))
        return out


def _merge_fragments(boxes: list[list[float]], *, gap: float, min_overlap: float) -> list[list[float]]:
    """Merge boxes that touch or nearly touch and overlap along the other axis: parts of one vehicle
    (windscreen and bonnet, a roof split by a lane marking). Repeats until stable."""
    merged = True
    while merged and len(boxes) > 1:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                gap_x = max(a[0], b[0]) - min(a[2], b[2])
                gap_y = max(a[1], b[1]) - min(a[3], b[3])
                overlap_x = -gap_x / max(1.0, min(a[2] - a[0], b[2] - b[0]))
                overlap_y = -gap_y / max(1.0, min(a[3] - a[1], b[3] - b[1]))
                if (gap > 0 and ((gap_y <= gap and overlap_x >= min_overlap) or (gap_x <= gap and overlap_y >= min_overlap))) or (gap_x < 0 and gap_y < 0):
                    boxes[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]), a[4] + b[4]]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return boxes


class YoloDetector:
    """An ultralytics YOLO model; class names are mapped onto :data:`VEHICLE_CLASSES` (COCO names map directly),
    detections of other classes are dropped."""

    classifies = True

    def __init__(self, weights: Path | str, *, device: str = "cpu", confidence: float = 0.25, imgsz: int = 640, model=None) -> None:  # noqa: ANN001
        from ml.traffic.checkpoints import load_detector

        self.model = model if model is not None else load_detector(Path(weights))
        self.device = device
        self.confidence = confidence
        self.imgsz = imgsz
        names = self.model.names
        self._labels = {int(i): normalise_label(str(n)) for i, n in (names.items() if isinstance(names, dict) else enumerate(names))}
        version = getattr(self.model, "ckpt_path", None) or str(weights)
        self.description = f"ultralytics YOLO ({Path(str(version)).name})"
        from ml.traffic.tracking import TrackerConfig

        # ultralytics' own ByteTrack thresholds, tuned for YOLO confidences.
        self.tracker_config = TrackerConfig(high_threshold=0.25, low_threshold=0.1, new_track_threshold=0.25)

    def reset(self) -> None:
        pass

    def detect(self, frame: np.ndarray) -> list[Detection]:
        result = self.model.predict(frame, conf=min(self.confidence, 0.1), imgsz=self.imgsz, device=self.device, verbose=False)[0]
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return []
        xyxy = boxes.xyxy.cpu().numpy()
        conf = boxes.conf.cpu().numpy()
        cls = boxes.cls.cpu().numpy().astype(int)
        out = []
        for box, score, c in zip(xyxy, conf, cls, strict=True):
            label = self._labels.get(int(c))
            if label in VEHICLE_CLASSES:
                out.append(Detection(tuple(float(v) for v in box), float(score), label))
        return out
