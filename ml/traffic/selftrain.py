"""Self-training: a camera's own footage, labelled by the motion pipeline, becomes a YOLO dataset.

The motion pipeline (background subtraction → ByteTrack → crop classifier) finds moving road users without any
weights. :func:`harvest` runs it over a camera's recordings and keeps only what it is sure of as pseudo-labels:
tracks that were confirmed, lived long enough, travelled (a "ghost" left where a parked car drove off does not),
and, per frame, boxes fully inside the frame whose size and shape agree with the track's own median around that
frame (a blob merged with a neighbour, or cut by a lane marking, does not). Each label carries the finished
track's class (its index in :data:`~ml.traffic.classes.VEHICLE_CLASSES`).

Moving things it is *not* sure of must not teach the detector that a vehicle is background: on every sampled
frame they, and every smaller moving blob a second background model of the harvest's own sees (far vehicles below
the detector's minimum size), are painted out (``mask="gray"``, the default: YOLO's letterbox grey;
``"background"``: that model's background image, so the frame looks like the empty road), or frames with an unsure
vehicle are dropped (``"drop"``). Measured on the real clips (docs/benchmarks.md, traffic_selftrain): grey and the
background image train equally well within the noise of two clips (total error of 72 crossings in two runs: grey 1
and 2, background image 3 and 3), and grey leaves no ghost of a vehicle the background model half-learnt; dropping
frames left too few to train on, as busy footage has an unsure vehicle in nearly every frame. Frames are sampled every
``every``-th frame, at most ``max_frames`` of them and ``max_bytes`` on disk, and split by time: the last
``val_fraction`` of the sampled frames is the validation split, so validation frames come after the training ones.

:func:`count_crossings` and :func:`compare_counting` count line crossings with a detector over a frame range:
how a self-trained detector is judged against the motion pipeline on footage it was not trained on.
"""

from __future__ import annotations

import math
import shutil
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ml.core import ConfigError
from ml.memory import MIB
from ml.traffic.classes import VEHICLE_CLASSES
from ml.traffic.detection import BackgroundSubtractionDetector, Box, Detection, Detector
from ml.traffic.geometry import LineSpec
from ml.traffic.pipeline import PipelineConfig, TrafficPipeline, process_video
from ml.traffic.video import probe_video, read_frames

MASK_MODES = ("background", "gray", "drop")
GRAY = 114  # ultralytics' letterbox fill
# Mean absolute difference (0-255) under a moving object below which the background image still shows the object.
CONTAMINATED = 12.0


class HarvestError(ConfigError):
    """The footage cannot make a dataset (too few confident vehicles, unreadable video); the message says what to do."""


@dataclass
class HarvestConfig:
    every: int = 2  # sample every k-th frame (raised when the footage would give more than max_frames)
    max_frames: int = 600
    max_bytes: int = 300 * MIB  # images written, staging included
    max_source_frames: int = 18_000  # frames run through the motion pipeline, all footage together (12 min at 25 fps)
    skip_seconds: float = 1.0  # the background models still learn at the start of a recording (30 frames at least)
    min_track_frames: int = 6  # a track must be seen in this many frames…
    min_travel: float = 1.0  # …and its centre must move this many of its box diagonals
    size_tolerance: float = 1.5  # a box's area and aspect ratio within this factor of the track's median around it
    size_window_seconds: float = 1.0  # that median is taken over ± this long, 5 frames at least (vehicles grow as they approach)
    edge_margin: float = 0.01  # × frame width: boxes closer to the border are cut by it, not labelled
    mask: str = "gray"  # what unsure moving objects become: gray | background | drop (the frame; small blobs stay)
    paint_margin: float = 0.15  # painted boxes grow by this fraction of their size on each side
    mask_width: int = 640  # the painting background model's width (its image fills painted boxes)
    residual_min_pixels: int = 6  # moving blobs of at least this many pixels (at mask_width) are painted, however small
    val_fraction: float = 0.2
    empty_fraction: float = 0.1  # frames with no label (the empty road) at most this share of the labelled ones
    min_labels: int = 20  # fewer confident boxes than this is an error, not a dataset
    jpeg_quality: int = 90

    def validate(self) -> None:
        if self.mask not in MASK_MODES:
            raise ConfigError(f"mask must be one of {', '.join(MASK_MODES)}")
        if self.every < 1 or self.max_frames < 2 or self.max_source_frames < 1 or self.max_bytes < MIB:
            raise ConfigError("every ≥ 1, max_frames ≥ 2, max_source_frames ≥ 1 and max_bytes ≥ 1 MiB are needed")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError("val_fraction must be between 0 and 1")
        if self.size_tolerance <= 1.0:
            raise ConfigError("size_tolerance must be above 1")


@dataclass(frozen=True)
class Footage:
    """A recording of the camera and the frame it is harvested up to (None: its end)."""

    path: str
    end_frame: int | None = None


@dataclass
class HarvestResult:
    data_yaml: Path
    images: dict[str, int]  # per split
    boxes: dict[str, int]  # labelled boxes per split
    classes: dict[str, int]  # labelled boxes per class name
    frame_size: tuple[int, int]  # the largest width and height seen
    source_frames: int
    sampled_every: int
    tracks: dict[str, int]  # confident / rejected
    painted_boxes: int
    dropped_frames: int
    bytes_written: int
    seconds: float

    def snapshot(self) -> dict[str, Any]:
        """What the registry stores with the run and version: how the dataset was made."""
        return {
            "images": self.images,
            "boxes": self.boxes,
            "classes": self.classes,
            "frame_size": list(self.frame_size),
            "source_frames": self.source_frames,
            "sampled_every": self.sampled_every,
            "tracks": self.tracks,
            "painted_boxes": self.painted_boxes,
            "dropped_frames": self.dropped_frames,
            "bytes_written": self.bytes_written,
            "harvest_seconds": round(self.seconds, 1),
        }


class _RecordingDetector:
    """The motion detector, remembering its last frame's detections (the unsure blobs to paint come from them)."""

    def __init__(self, inner: BackgroundSubtractionDetector) -> None:
        self.inner = inner
        self.description = inner.description
        self.classifies = inner.classifies
        self.last: list[Detection] = []

    def detect(self, frame: np.ndarray) -> list[Detection]:
        self.last = self.inner.detect(frame)
        return self.last

    def reset(self) -> None:
        self.inner.reset()


@dataclass
class _Sample:
    order: int
    name: str
    staged: Path
    background: Path | None
    frame: int
    video: int
    size: tuple[int, int]
    boxes: list[tuple[str, Box]]  # confirmed tracks' boxes (the tracker's smoothed state)
    detections: list[Box]  # the motion detector's blobs
    blobs: list[Box]  # everything else that moved, however small


def _area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _aspect(box: Box) -> float:
    return max(1e-6, box[3] - box[1]) / max(1e-6, box[2] - box[0])


def _intersection(a: Box, b: Box) -> float:
    return _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def _iou(a: Box, b: Box) -> float:
    inter = _intersection(a, b)
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def _explained(blob: Box, labelled: list[Box]) -> bool:
    """A motion blob that is (mostly) a labelled vehicle: nothing of it needs painting."""
    area = _area(blob)
    return any(area > 0 and (_intersection(blob, box) / area >= 0.8 or _iou(blob, box) >= 0.5) for box in labelled)


def harvest(
    footage: Sequence[Footage],
    out_dir: Path,
    config: HarvestConfig | None = None,
    *,
    pipeline_config: PipelineConfig | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> HarvestResult:
    """Run the motion pipeline over ``footage`` (in order: the last sampled frames are the validation split) and
    write a YOLO dataset under ``out_dir`` (``data.yaml``, ``images/{train,val}``, ``labels/{train,val}``).
    Raises :class:`HarvestError` when the footage gives too few confident labels."""
    import cv2

    config = config or HarvestConfig()
    config.validate()
    if not footage:
        raise HarvestError("no footage to learn from: process a recording of this camera first")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    staging = out_dir / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    infos = []
    for item in footage:
        try:
            infos.append(probe_video(item.path))
        except Exception as exc:  # noqa: BLE001 - a VideoError or an OS error: the same message for the operator
            raise HarvestError(f"{Path(item.path).name} cannot be read: {exc}") from None
    ends = [
        min(item.end_frame if item.end_frame is not None else (info.frame_count or 0), info.frame_count or 10**9)
        for item, info in zip(footage, infos, strict=True)
    ]
    total = min(config.max_source_frames, sum(max(0, e) for e in ends))
    every = max(config.every, math.ceil(total / config.max_frames)) if total else config.every
    samples: list[_Sample] = []
    boxes_of: dict[str, list[tuple[int, Box]]] = defaultdict(list)
    summaries: dict = {}
    fps_of: dict[str, float] = {}
    written = processed = 0
    full = False
    quality = [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality]
    for v, (item, info, end) in enumerate(zip(footage, infos, ends, strict=True)):
        if processed >= config.max_source_frames or full:
            break
        end = min(end, config.max_source_frames - processed)
        detector = _RecordingDetector(BackgroundSubtractionDetector((pipeline_config or PipelineConfig()).detection))
        motion = _MotionMask(config.mask_width)
        pipeline = TrafficPipeline(
            detector=detector, lines=[], fps=info.fps, frame_size=(info.width, info.height), config=pipeline_config, track_prefix=f"v{v}-"
        )
        skip = max(30, round(config.skip_seconds * info.fps))
        frames = read_frames(item.path, prefetch=8)
        try:
            for index, frame in frames:
                if index >= end:
                    break
                result = pipeline.process(index, frame)
                moving = motion.update(frame)
                processed += 1
                for key, box in result.boxes:
                    boxes_of[key].append((index, box))
                    fps_of[key] = info.fps
                for summary in result.finished_tracks:
                    summaries[summary.track_id] = summary
                if index >= skip and index % every == 0 and not full and len(samples) < config.max_frames:
                    name = f"v{v:02d}_{index:07d}"
                    staged = staging / f"{name}.jpg"
                    ok, data = cv2.imencode(".jpg", frame, quality)
                    background = motion.background()
                    background_path = None
                    if ok and background is not None and config.mask == "background":
                        ok_bg, bg_data = cv2.imencode(".jpg", background, quality)
                        if ok_bg:
                            background_path = staging / f"{name}.bg.jpg"
                            background_path.write_bytes(bg_data.tobytes())
                            written += len(bg_data)
                    if ok:
                        staged.write_bytes(data.tobytes())
                        written += len(data)
                        blobs = motion.boxes(moving, frame.shape[1], config.residual_min_pixels)
                        samples.append(
                            _Sample(
                                len(samples),
                                name,
                                staged,
                                background_path,
                                index,
                                v,
                                (frame.shape[1], frame.shape[0]),
                                list(result.boxes),
                                [d.box for d in detector.last],
                                blobs,
                            )
                        )
                    # Finished images are about as large as the staged ones: stop sampling at half the budget.
                    full = written >= config.max_bytes / 2
                if progress is not None and processed % 25 == 0:
                    progress(min(1.0, processed / max(1, total)), f"harvesting frame {processed}/{total}")
        finally:
            frames.close()
        for summary in pipeline.finish():
            summaries[summary.track_id] = summary
    confident, rejected = _confident_tracks(summaries, boxes_of, config)
    result = _write_dataset(samples, out_dir, confident, boxes_of, fps_of, config, written)
    shutil.rmtree(staging, ignore_errors=True)
    labelled = sum(result["boxes"].values())
    if labelled < config.min_labels or result["images"]["train"] == 0 or result["boxes"]["val"] == 0:
        raise HarvestError(
            f"the footage gave {labelled} confident vehicle boxes in {sum(result['images'].values())} sampled frames "
            f"({len(confident)} of {len(confident) + rejected} tracks confident); at least {config.min_labels}, some of them in the last "
            f"{config.val_fraction:.0%} of the footage, are needed. Process longer recordings of this camera with traffic moving "
            "through the frame, then try again."
        )
    width = max(info.width for info in infos)
    height = max(info.height for info in infos)
    return HarvestResult(
        data_yaml=result["data_yaml"],
        images=result["images"],
        boxes=result["boxes"],
        classes=result["classes"],
        frame_size=(width, height),
        source_frames=processed,
        sampled_every=every,
        tracks={"confident": len(confident), "rejected": rejected},
        painted_boxes=result["painted"],
        dropped_frames=result["dropped"],
        bytes_written=result["bytes"],
        seconds=time.perf_counter() - started,
    )


class _MotionMask:
    """A background model of its own (MOG2 at ``width`` pixels wide), beside whatever the product detector does: its
    raw foreground marks everything that moves, however small (far vehicles below the detector's minimum blob size
    move too and must not stay in a frame unlabelled), and its background image is the empty road to paint with."""

    def __init__(self, width: int, history: int = 300) -> None:
        import cv2

        self.width = width
        self._model = cv2.createBackgroundSubtractorMOG2(history=history, varThreshold=16, detectShadows=True)
        self._kernel = np.ones((3, 3), np.uint8)

    def update(self, frame: np.ndarray) -> np.ndarray:
        """Learn ``frame``; its moving pixels (shadows included) at mask resolution."""
        import cv2

        scale = frame.shape[1] / self.width if frame.shape[1] > self.width else 1.0
        small = cv2.resize(frame, (round(frame.shape[1] / scale), round(frame.shape[0] / scale)), interpolation=cv2.INTER_AREA) if scale != 1.0 else frame
        mask = self._model.apply(cv2.GaussianBlur(small, (3, 3), 0))
        return cv2.morphologyEx((mask > 0).astype(np.uint8), cv2.MORPH_OPEN, self._kernel)

    def background(self) -> np.ndarray | None:
        image = self._model.getBackgroundImage()
        return image if image is not None and image.size else None

    def boxes(self, mask: np.ndarray, frame_width: int, min_pixels: int) -> list[Box]:
        """Boxes (native pixels) of the moving blobs of ``mask``."""
        import cv2

        scale = frame_width / mask.shape[1]
        mask = cv2.dilate(mask, self._kernel, iterations=2)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        return [
            (x * scale, y * scale, (x + w) * scale, (y + h) * scale)
            for x, y, w, h, pixels in (tuple(int(v) for v in stats[i]) for i in range(1, count))
            if pixels >= min_pixels
        ]


def _confident_tracks(summaries: dict, boxes_of: dict[str, list[tuple[int, Box]]], config: HarvestConfig) -> tuple[dict[str, int], int]:
    """Confident tracks → class index; and how many confirmed tracks were not confident."""
    confident: dict[str, int] = {}
    for key, summary in summaries.items():
        seen = boxes_of.get(key, [])
        if len(seen) < config.min_track_frames or summary.label not in VEHICLE_CLASSES:
            continue
        diagonal = statistics.median(math.hypot(b[2] - b[0], b[3] - b[1]) for _, b in seen)
        xs = [(b[0] + b[2]) / 2 for _, b in seen]
        ys = [(b[1] + b[3]) / 2 for _, b in seen]
        if math.hypot(max(xs) - min(xs), max(ys) - min(ys)) < config.min_travel * diagonal:
            continue  # a ghost (where a parked vehicle stood) or a swaying tree: it never went anywhere
        confident[key] = VEHICLE_CLASSES.index(summary.label)
    return confident, len(summaries) - len(confident)


def _box_consistent(key: str, frame: int, box: Box, boxes_of: dict[str, list[tuple[int, Box]]], window: int, tolerance: float) -> bool:
    near = [b for f, b in boxes_of[key] if abs(f - frame) <= window]
    area, aspect = statistics.median(_area(b) for b in near), statistics.median(_aspect(b) for b in near)
    return area / tolerance <= _area(box) <= area * tolerance and aspect / tolerance <= _aspect(box) <= aspect * tolerance


def _nearest_box(key: str, frame: int, boxes_of: dict[str, list[tuple[int, Box]]]) -> Box:
    return min(boxes_of[key], key=lambda fb: abs(fb[0] - frame))[1]


def _write_dataset(
    samples: list[_Sample],
    out_dir: Path,
    confident: dict[str, int],
    boxes_of: dict[str, list[tuple[int, Box]]],
    fps_of: dict[str, float],
    config: HarvestConfig,
    staged_bytes: int,
) -> dict[str, Any]:
    import cv2

    spans = {key: (seen[0][0], seen[-1][0], {f for f, _ in seen}) for key, seen in boxes_of.items()}
    kept: list[tuple[_Sample, list[tuple[int, Box]], list[Box], list[Box]]] = []
    empty: list[tuple[_Sample, list[tuple[int, Box]], list[Box], list[Box]]] = []
    dropped = 0
    for sample in samples:
        width, height = sample.size
        margin = max(2.0, config.edge_margin * width)
        labels: list[tuple[int, Box]] = []
        paint: list[Box] = []
        for key, box in sample.boxes:
            inside = box[0] >= margin and box[1] >= margin and box[2] <= width - margin and box[3] <= height - margin
            # At least 5 frames each side: a merge lasting a few frames of a low-rate video would otherwise be its own median.
            window = max(5, round(config.size_window_seconds * fps_of.get(key, 25.0)))
            if key in confident and inside and _box_consistent(key, sample.frame, box, boxes_of, window, config.size_tolerance):
                # The detector's own box of the vehicle when there is one: the tracker's state lags behind a vehicle
                # that speeds up or enters the frame.
                matched = max(sample.detections, key=lambda d: _iou(d, box), default=None)
                labels.append((confident[key], matched if matched is not None and _iou(matched, box) >= 0.5 else box))
            else:
                paint.append(box)
        # A confirmed track not seen in this frame but seen before and after it (occluded, merged into a neighbour's
        # blob, standing still) is a vehicle still there.
        prefix = f"v{sample.video}-"
        for key, (first, last, frames) in spans.items():
            if first < sample.frame < last and sample.frame not in frames and key.startswith(prefix):
                paint.append(_nearest_box(key, sample.frame, boxes_of))
        labelled_boxes = [box for _, box in labels]
        paint.extend(d for d in sample.detections if not _explained(d, labelled_boxes))
        residual = [blob for blob in sample.blobs if not _explained(blob, labelled_boxes)]
        if config.mask == "drop":
            # Frames with an unsure vehicle are left out. The small moving blobs the detector never took for objects
            # are in nearly every frame (noise, swaying leaves, far vehicles): dropping on them drops everything
            # (measured), so in this mode they stay as they are.
            if paint:
                dropped += 1
                continue
            residual = []
        (kept if labels else empty).append((sample, labels, paint, residual))
    # Some frames of the empty road teach what is not a vehicle; evenly spread, a bounded share.
    allowed = int(config.empty_fraction * len(kept))
    if empty and allowed:
        step = len(empty) / allowed
        kept.extend(empty[int(i * step)] for i in range(min(allowed, len(empty))))
    kept.sort(key=lambda item: item[0].order)
    n_val = max(1, round(config.val_fraction * len(kept))) if len(kept) > 1 else 0
    split_at = len(kept) - n_val
    for split in ("train", "val"):
        (out_dir / "images" / split).mkdir(parents=True, exist_ok=True)
        (out_dir / "labels" / split).mkdir(parents=True, exist_ok=True)
    images = {"train": 0, "val": 0}
    boxes = {"train": 0, "val": 0}
    classes: dict[str, int] = defaultdict(int)
    painted = 0
    written = 0
    quality = [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality]
    for i, (sample, labels, paint, residual) in enumerate(kept):
        split = "train" if i < split_at else "val"
        image = cv2.imread(str(sample.staged))
        if image is None:
            continue
        if paint or residual:
            painted += len(paint) + len(residual)
            _paint(image, paint, residual, [box for _, box in labels], sample.background, config)
        ok, data = cv2.imencode(".jpg", image, quality)
        if not ok:
            continue
        (out_dir / "images" / split / f"{sample.name}.jpg").write_bytes(data.tobytes())
        written += len(data)
        width, height = sample.size
        rows = []
        for cls, (x1, y1, x2, y2) in labels:
            rows.append(f"{cls} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")
            classes[VEHICLE_CLASSES[cls]] += 1
        (out_dir / "labels" / split / f"{sample.name}.txt").write_text("\n".join(rows) + ("\n" if rows else ""))
        images[split] += 1
        boxes[split] += len(rows)
        sample.staged.unlink(missing_ok=True)
    names = "\n".join(f"  {i}: {name}" for i, name in enumerate(VEHICLE_CLASSES))
    data_yaml = out_dir / "data.yaml"
    data_yaml.write_text(f"path: {out_dir.resolve()}\ntrain: images/train\nval: images/val\nnames:\n{names}\n")
    return {
        "data_yaml": data_yaml,
        "images": images,
        "boxes": boxes,
        "classes": dict(classes),
        "painted": painted,
        "dropped": dropped,
        "bytes": written + staged_bytes,
    }


def _paint(image: np.ndarray, objects: list[Box], residual: list[Box], keep: list[Box], background: Path | None, config: HarvestConfig) -> None:
    """Replace the (grown) boxes of unsure ``objects`` and ``residual`` motion with the empty road (or grey), leaving
    the labelled ``keep`` boxes as they are. Where the background model has not yet learnt the road under an object
    (it still holds the vehicle: a slow one, early in a recording), that object is painted grey instead."""
    import cv2

    height, width = image.shape[:2]
    fill = None
    if config.mask == "background" and background is not None:
        small = cv2.imread(str(background))
        if small is not None:
            fill = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)

    def region(box: Box, grow: float) -> tuple[slice, slice]:
        x1, y1, x2, y2 = box
        dx, dy = grow * (x2 - x1), grow * (y2 - y1)
        return slice(max(0, int(y1 - dy)), min(height, math.ceil(y2 + dy))), slice(max(0, int(x1 - dx)), min(width, math.ceil(x2 + dx)))

    mask = np.zeros((height, width), np.uint8)  # 1: paint with the fill, 2: paint grey
    for box in residual:
        mask[region(box, config.paint_margin)] = 1
    for box in objects:
        inner = region(box, 0.0)
        contaminated = fill is not None and image[inner].size and float(cv2.absdiff(image[inner], fill[inner]).mean()) < CONTAMINATED
        mask[region(box, config.paint_margin)] = 2 if fill is None or contaminated else 1
    for box in keep:
        mask[region(box, 0.0)] = 0
    if fill is not None:
        image[mask == 1] = fill[mask == 1]
    else:
        mask[mask == 1] = 2
    image[mask == 2] = GRAY


# --- judging a detector by its counts --------------------------------------------------------------------------
Counts = dict[tuple[str, int], int]


@dataclass(frozen=True)
class HeldOut:
    """Footage to count on: a video's frames ``[start_frame, end_frame)`` and, when known, the true counts per
    (line key, direction ±1); a (line, direction) missing from them had no crossing."""

    path: str
    start_frame: int = 0
    end_frame: int | None = None
    expected: Counts | None = None
    name: str = ""
    judged_lines: frozenset[str] | None = None  # the lines ``expected`` covers (a line drawn after a review has no truth); None: all


def count_crossings(
    source: str | Path, detector: Detector, lines: list[LineSpec], *, start_frame: int = 0, end_frame: int | None = None
) -> tuple[Counts, int, float]:
    """Crossings per (line key, direction) counted by the product pipeline with ``detector`` over
    ``[start_frame, end_frame)`` (a background model is re-learnt from the frames before), the number of frames
    counted and the seconds it took."""
    info = probe_video(source)
    pipeline = TrafficPipeline(detector=detector, lines=lines, fps=info.fps, frame_size=(info.width, info.height))
    counts: Counts = defaultdict(int)
    last = start_frame - 1
    started = time.perf_counter()
    for result in process_video(source, pipeline, start_frame=start_frame, end_frame=end_frame):
        last = max(last, result.frame)
        for crossing in result.crossings:
            counts[(crossing.line, crossing.direction)] += 1
    return dict(counts), last + 1 - start_frame, time.perf_counter() - started


def abs_error(counted: Counts, expected: Counts) -> int:
    """Sum over (line, direction) of |counted − expected|."""
    return sum(abs(counted.get(k, 0) - expected.get(k, 0)) for k in set(counted) | set(expected))


def compare_counting(
    make_detector: Callable[[], Detector],
    held_out: Sequence[HeldOut],
    lines: list[LineSpec],
    *,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, Any]:
    """Count ``held_out`` with the detector ``make_detector`` builds and with the motion pipeline.

    Returns ``metrics`` (floats: totals of both, and where true counts are known the absolute errors of both over
    those items) and ``items`` (per item: counts, frames, seconds)."""
    items = []
    totals = {"yolo": 0, "motion": 0}
    errors = {"yolo": 0, "motion": 0}
    expected_total = reviewed = frames_total = 0
    seconds = {"yolo": 0.0, "motion": 0.0}
    for i, item in enumerate(held_out):
        row: dict[str, Any] = {"name": item.name or Path(item.path).name, "start_frame": item.start_frame, "end_frame": item.end_frame}
        for kind, make in (("yolo", make_detector), ("motion", lambda: BackgroundSubtractionDetector())):
            if progress is not None:
                progress(i / max(1, len(held_out)), f"counting {row['name']} ({kind})")
            counted, frames, took = count_crossings(item.path, make(), lines, start_frame=item.start_frame, end_frame=item.end_frame)
            row[kind] = {f"{line}:{direction:+d}": n for (line, direction), n in sorted(counted.items())}
            row[f"{kind}_seconds"] = round(took, 2)
            row["frames"] = frames
            totals[kind] += sum(counted.values())
            seconds[kind] += took
            if item.expected is not None:
                judged = item.judged_lines if item.judged_lines is not None else {line.key for line in lines}
                row[f"{kind}_abs_error"] = abs_error({k: n for k, n in counted.items() if k[0] in judged}, item.expected)
                errors[kind] += row[f"{kind}_abs_error"]
        frames_total += row["frames"]
        if item.expected is not None:
            row["expected"] = {f"{line}:{direction:+d}": n for (line, direction), n in sorted(item.expected.items())}
            expected_total += sum(item.expected.values())
            reviewed += 1
        items.append(row)
    metrics = {
        "heldout_frames": float(frames_total),
        "heldout_count_yolo": float(totals["yolo"]),
        "heldout_count_motion": float(totals["motion"]),
        "heldout_seconds_yolo": round(seconds["yolo"], 2),
        "heldout_seconds_motion": round(seconds["motion"], 2),
    }
    if reviewed:
        metrics.update(
            reviewed_items=float(reviewed),
            reviewed_count_expected=float(expected_total),
            reviewed_abs_error_yolo=float(errors["yolo"]),
            reviewed_abs_error_motion=float(errors["motion"]),
        )
    return {"metrics": metrics, "items": items}
