"""Small videos for the traffic tests (drawn here; the real clips are for the benchmark)."""

from __future__ import annotations

from pathlib import Path


def road_video(path: Path, *, frames: int = 90, seed: int = 0):
    """A small synthetic road video (320x240, 15 fps) and its ground truth (crossings of y = 120)."""
    from ml.traffic.synthetic import make_road_video

    return make_road_video(path, frames=frames, fps=15, width=320, height=240, seed=seed)


def unsupported_codec_video(path: Path) -> None:
    """An AVI whose video stream claims a codec no decoder knows (its FourCC rewritten to ZZZZ)."""
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(10):
        writer.write(np.full((48, 64, 3), i * 20, np.uint8))
    writer.release()
    path.write_bytes(path.read_bytes().replace(b"MJPG", b"ZZZZ"))
