import pytest

from ml.metrics.proportions import wilson_interval


def test_wilson_interval_matches_the_textbook_values():
    # 10 successes in 100 trials, 95 %: (0.0552, 0.1744) — e.g. Newcombe (1998), Table I method 3.
    low, high = wilson_interval(10, 100)
    assert low == pytest.approx(0.0552, abs=1e-4) and high == pytest.approx(0.1744, abs=1e-4)
    # 0 of 10 stays inside [0, 1] and is not degenerate: upper bound 0.2775.
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 0.0)
    with pytest.raises(ValueError):
        wilson_interval(5, 3)
