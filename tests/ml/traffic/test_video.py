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
