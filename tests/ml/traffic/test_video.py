"""Frame-rate measurement for streams whose container reports none (or nonsense)."""

import pytest

from ml.traffic.video import fps_from_timestamps, measure_stream_fps


def test_fps_from_frame_timestamps_takes_the_median_interval():
    steady = [i / 12.5 for i in range(20)]
    assert fps_from_timestamps(steady) == pytest.approx(12.5)
    # A stall and a burst of late frames do not move it; repeated stamps are ignored.
    jittery = [0.0, 0.04, 0.08, 0.08, 0.12, 0.56, 0.57, 0.58, 0.60, 0.64, 0.68]
    assert fps_from_timestamps(jittery) == pytest.approx(25.0)


@pytest.mark.parametrize("stamps", [[], [0.0, 0.04], [0.0, 0.0, 0.0, 0.0], [i * 5.0 for i in range(10)], [i * 0.001 for i in range(10)]])
def test_too_few_or_implausible_timestamps_give_no_rate(stamps):
    assert fps_from_timestamps(stamps) is None


def test_an_unreachable_stream_has_no_measured_rate():
    assert measure_stream_fps("rtsp://127.0.0.1:9/nothing-here", max_seconds=1.0) is None


def test_read_frame_seeks_to_exactly_the_frame_that_decoding_from_the_start_reaches(tmp_path):
    import cv2
    import numpy as np

    from ml.traffic.synthetic import make_road_video
    from ml.traffic.video import H264Writer, concat_h264_parts, read_frame, read_frames

    source = tmp_path / "road.mp4"
    make_road_video(source, frames=90, fps=15, width=160, height=120, seed=4)
    # An annotated video as a job writes it: H.264 parts joined into one MP4, each frame stamped with its number.
    part, joined = tmp_path / "part.mp4", tmp_path / "joined.mp4"
    with H264Writer(part, 15, 160, 120) as writer:
        for index, frame in read_frames(source):
            cv2.putText(frame, str(index), (5, 30), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
            writer.write(frame)
    concat_h264_parts([(0, part)], joined)
    decoded = [frame for _, frame in read_frames(joined)]
    for index in (0, 1, 29, 30, 31, 61, 89):  # key frames every 30 frames: both sides of one
        seeked = read_frame(joined, index)
        assert seeked is not None and np.abs(seeked.astype(int) - decoded[index].astype(int)).mean() < 1.0, index
    assert read_frame(joined, 90) is None and read_frame(joined, -1) is None
    assert read_frame(tmp_path / "missing.mp4", 0) is None
