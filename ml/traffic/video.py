"""Reading video (files and RTSP/HTTP streams, OpenCV) and writing browser-playable H.264 MP4 (PyAV)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np


class VideoError(Exception):
    """A video that cannot be used; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frame_count: int | None  # None for streams
    codec: str

    @property
    def duration_seconds(self) -> float | None:
        return self.frame_count / self.fps if self.frame_count else None


def _fourcc(cap) -> str:  # noqa: ANN001
    code = int(cap.get(__import__("cv2").CAP_PROP_FOURCC))
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00 ")
    return text if text.isprintable() and text else "unknown"


def probe_video(path: Path | str) -> VideoInfo:
    """Check a video file can be decoded and describe it; raises :class:`VideoError` with a clear reason."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video file {path.name} does not exist")
    if path.stat().st_size == 0:
        raise VideoError("the video file is empty (0 bytes); upload the recording again")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            codec = _container_codec(path)
            if codec is not None:
                raise VideoError(f"the video's codec ({codec}) is not supported: no decoder for it; re-encode it as H.264 MP4")
            raise VideoError("the file is not a video OpenCV/FFmpeg can open (corrupt, truncated or not a video); upload an MP4 (H.264) file")
        codec = _fourcc(cap)
        ok, frame = cap.read()
        if not ok or frame is None:
            raise VideoError(f"the video's frames cannot be decoded (codec {codec!r} unsupported or the data is corrupt); re-encode it as H.264 MP4")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not 0.5 <= fps <= 240:
            raise VideoError(f"the video reports {fps:g} frames per second; re-encode it with a constant frame rate")
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None
        return VideoInfo(width=frame.shape[1], height=frame.shape[0], fps=fps, frame_count=count, codec=codec)
    finally:
        cap.release()


def probe_video_isolated(path: Path | str, *, timeout_seconds: float, memory_bytes: int | None = 4 * 2**30) -> VideoInfo:
    """:func:`probe_video` in a child process that is killed after ``timeout_seconds`` (and, on Linux, limited to
    ``memory_bytes`` of address space): a crafted file that hangs or crashes a decoder fails only the probe."""
    import dataclasses
    import json
    import os
    import subprocess
    import sys

    def limit() -> None:  # runs in the child before exec
        if memory_bytes:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
    code = "import sys; from ml.traffic.video import _probe_main; _probe_main(sys.argv[1])"
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter and module; the path is an argument, not code
            [sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            timeout=timeout_seconds,
            env=env,
            preexec_fn=limit if sys.platform.startswith("linux") else None,  # noqa: PLW1509 - no threads are started in between
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise VideoError(f"checking the video took longer than {timeout_seconds:g} s; re-encode it as H.264 MP4 and upload it again") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise VideoError(f"the video could not be checked (the decoder stopped: exit status {done.returncode}); re-encode it as H.264 MP4")
    result = json.loads(lines[-1])
    if "error" in result:
        raise VideoError(result["error"])
    fields = {f.name for f in dataclasses.fields(VideoInfo)}
    return VideoInfo(**{k: v for k, v in result.items() if k in fields})


def _probe_main(path: str) -> None:
    """Entry point of the probing child: one JSON line on stdout, the video's info or the reason it is unusable."""
    import dataclasses
    import json
    import sys

    try:
        result = dataclasses.asdict(probe_video(path))
    except VideoError as exc:
        result = {"error": str(exc)}
    sys.stdout.write(json.dumps(result) + "\n")


def _container_codec(path: Path) -> str | None:
    """The codec a readable container names for its video stream, when OpenCV could not open it (else None)."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            tag = stream.codec_context.codec_tag if stream.codec_context else ""
            name = stream.codec_context.name if stream.codec_context else ""
            return f"{name or 'unknown'} / FourCC {tag}" if tag else (name or "unknown")
    except Exception:  # noqa: BLE001 - not a container FFmpeg knows: the caller reports a corrupt file
        return None


SANE_FPS = (1.0, 120.0)


def fps_from_timestamps(seconds: list[float]) -> float | None:
    """The frame rate of frames stamped at ``seconds`` (stream or arrival times): the median interval is robust to
    a stalled or bunched frame. None when there are too few frames or the rate is not plausible."""
    intervals = sorted(b - a for a, b in zip(seconds, seconds[1:], strict=False) if b > a)
    if len(intervals) < 3:
        return None
    fps = 1.0 / intervals[len(intervals) // 2]
    return round(fps, 3) if SANE_FPS[0] <= fps <= SANE_FPS[1] else None


def measure_stream_fps(source: str, *, sample_frames: int = 30, max_seconds: float = 5.0) -> float | None:
    """A stream's frame rate: what the container reports (OpenCV ``CAP_PROP_FPS``) when plausible (RTSP sources
    often report 0 or 90000), else measured from the stream's frame timestamps, else from arrival times over
    ``sample_frames`` frames. None when the stream cannot be read (the caller's reconnect logic reports that)."""
    import time

    import cv2

    cap = cv2.VideoCapture(source)
    try:
        if not cap.isOpened():
            return None
        reported = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if SANE_FPS[0] <= reported <= SANE_FPS[1]:
            return round(reported, 3)
        stamps, arrivals = [], []
        deadline = time.monotonic() + max_seconds
        while len(arrivals) < sample_frames and time.monotonic() < deadline:
            if not cap.grab():
                break
            arrivals.append(time.monotonic())
            stamps.append(float(cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0) / 1000.0)
        return fps_from_timestamps(stamps) or fps_from_timestamps(arrivals)
    finally:
        cap.release()


class StreamLost(Exception):
    """A stream stopped delivering frames (the caller may reconnect)."""


def _shown(source: str | Path) -> str:
    """A source as error messages and logs may show it: a stream URL without its user name and password."""
    text = str(source)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    authority, slash, path = rest.partition("/")
    return f"{scheme}://***@{authority.rsplit('@', 1)[1]}{slash}{path}" if "@" in authority else text


def read_frames(source: str | Path, *, start: int = 0, is_stream: bool = False, index_offset: int = 0, prefetch: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, bgr_frame)`` from ``start``. Files skip to ``start`` by decoding (exact, unlike
    seeking on H.264); streams number frames from ``index_offset`` (frames already processed in earlier
    connections) and raise :class:`StreamLost` when they stop. With ``prefetch`` > 0 a thread decodes up to that
    many frames ahead (OpenCV releases the GIL while decoding, so decoding overlaps the caller's work)."""
    frames = _read_frames(source, start=start, is_stream=is_stream, index_offset=index_offset)
    return _prefetched(frames, prefetch) if prefetch > 0 else frames


_DONE = object()


def _prefetched(iterator: Iterator, size: int) -> Iterator:
    import queue
    import threading

    items: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()

    def put(item: object) -> bool:
        """Hand ``item`` over unless the consumer has gone away (then never block)."""
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in iterator:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            put(exc)
        finally:
            iterator.close()

    thread = threading.Thread(target=produce, name="frame-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _read_frames(source: str | Path, *, start: int, is_stream: bool, index_offset: int) -> Iterator[tuple[int, np.ndarray]]:
    import cv2

    cap = cv2.VideoCapture(str(source))
    try:
        if not cap.isOpened():
            if is_stream:
                raise StreamLost(f"cannot connect to stream {_shown(source)}")
            raise VideoError(f"cannot open video {Path(str(source)).name}")
        index = index_offset if is_stream else 0
        while index < start and not is_stream:
            if not cap.grab():
                return
            index += 1
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                if is_stream:
                    raise StreamLost(f"stream {_shown(source)} stopped delivering frames")
                return
            yield index, frame
            index += 1
    finally:
        cap.release()


def read_frame(path: Path | str, index: int) -> np.ndarray | None:
    """The BGR frame ``index`` (counted from 0) of a video file, or None when the file has no such frame.

    Seeks instead of decoding from the start, so a frame an hour in costs as much as the first. The annotated MP4s
    written here (H.264, constant frame rate, timestamps ``frame / fps``) seek exactly; that is what it is for."""
    import cv2

    if index < 0:
        return None
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return None
        if index and not cap.set(cv2.CAP_PROP_POS_FRAMES, index):
            return None
        ok, frame = cap.read()
        return frame if ok and frame is not None else None
    finally:
        cap.release()


class H264Writer:
    """Writes BGR frames as H.264 (yuv420p) in a fragmented MP4: browsers play it, and a file cut short by a
    killed worker is still playable up to its last fragment. Encoding runs on a thread (FFmpeg releases the GIL),
    overlapping the caller's work."""

    def __init__(self, path: Path | str, fps: float, width: int, height: int, *, crf: int = 28, preset: str = "ultrafast") -> None:
        import av

        self.path = Path(path)
        self.width, self.height = width - width % 2, height - height % 2  # yuv420p needs even sizes
        self._container = av.open(str(self.path), mode="w", format="mp4", options={"movflags": "frag_keyframe+empty_moov+default_base_moof"})
        self._stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        self._stream.width, self._stream.height = self.width, self.height
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"preset": preset, "crf": str(crf), "bf": "0", "g": str(max(1, round(fps * 2)))}
        self.frames = 0
        import queue
        import threading

        self._queue: queue.Queue = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._encode_loop, name="h264-writer", daemon=True)
        self._thread.start()

    def _encode_loop(self) -> None:
        import av

        while True:
            frame = self._queue.get()
            if frame is None:
                return
            if self._error is not None:
                continue  # drain the queue after a failure; close() reports it
            try:
                for packet in self._stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                    self._container.mux(packet)
            except BaseException as exc:  # noqa: BLE001 - re-raised by write() / close() in the caller's thread
                self._error = exc

    def write(self, frame: np.ndarray) -> None:
        if self._error is not None:
            raise self._error
        if frame.shape[1] != self.width or frame.shape[0] != self.height:
            frame = frame[: self.height, : self.width]
        self._queue.put(np.ascontiguousarray(frame))
        self.frames += 1

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        try:
            if self._error is not None:
                raise self._error
            for packet in self._stream.encode():
                self._container.mux(packet)
        finally:
            self._container.close()

    def __enter__(self) -> H264Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def concat_h264_parts(parts: list[tuple[int, Path]], target: Path) -> int:
    """Join annotated parts written by successive attempts of one job into one MP4 (no re-encoding).

    ``parts`` are ``(first_frame, path)`` in order; a part is cut where the next one starts (a killed attempt may
    have written past its last checkpoint). Parts are encoded without B-frames and start with a key frame, so
    packets can be cut and joined. Returns the number of frames written."""
    import av

    parts = sorted(parts)
    written = 0
    with av.open(str(parts[0][1])) as first:
        template = first.streams.video[0]
        fps = template.average_rate or template.guessed_rate
        out = av.open(str(target), mode="w", format="mp4", options={"movflags": "+faststart"})
        try:
            stream = out.add_stream_from_template(template)
            for i, (start, path) in enumerate(parts):
                limit = parts[i + 1][0] - start if i + 1 < len(parts) else None
                with av.open(str(path)) as source:
                    count = 0
                    for packet in source.demux(source.streams.video[0]):
                        if packet.dts is None:
                            continue
                        if limit is not None and count >= limit:
                            break
                        ts = round((start + count) / fps / stream.time_base) if stream.time_base else start + count
                        packet.pts = packet.dts = ts
                        packet.stream = stream
                        out.mux(packet)
                        count += 1
                        written += 1
        finally:
            out.close()
    return written
