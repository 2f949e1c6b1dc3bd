"""Traffic monitoring: detect, track and count road users in fixed-camera video (no Django here)."""

from ml.traffic.classes import VEHICLE_CLASSES
from ml.traffic.counting import Crossing, LineCounter
from ml.traffic.detection import BackgroundSubtractionConfig, BackgroundSubtractionDetector, Detection, Detector, YoloDetector
from ml.traffic.events import Event
from ml.traffic.geometry import GeometryError, Homography, LineSpec, ZoneSpec
from ml.traffic.pipeline import FrameResult, PipelineConfig, TrackSummary, TrafficPipeline, default_detector, process_video
from ml.traffic.video import H264Writer, StreamLost, VideoError, VideoInfo, probe_video, read_frames

__all__ = [
    "VEHICLE_CLASSES",
    "BackgroundSubtractionConfig",
    "BackgroundSubtractionDetector",
    "Crossing",
    "Detection",
    "Detector",
    "Event",
    "FrameResult",
    "GeometryError",
    "H264Writer",
    "Homography",
    "LineCounter",
    "LineSpec",
    "PipelineConfig",
    "StreamLost",
    "TrackSummary",
    "TrafficPipeline",
    "VideoError",
    "VideoInfo",
    "YoloDetector",
    "ZoneSpec",
    "default_detector",
    "probe_video",
    "read_frames",
    "process_video",
]
