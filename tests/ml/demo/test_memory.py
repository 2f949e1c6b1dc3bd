"""The demo trainer's predicted peak memory: it grows with the data and the model, and a small limit refuses it."""

import pytest

from ml.demo import DemoConfig, make_dataset, memory_estimate
from ml.memory import MIB, MemoryBudgetExceeded


def test_the_estimate_grows_with_the_samples_and_the_hidden_width():
    base = memory_estimate(DemoConfig(), make_dataset(n_samples=300))
    more_data = memory_estimate(DemoConfig(), make_dataset(n_samples=30_000))
    wider = memory_estimate(DemoConfig(hidden=1024), make_dataset(n_samples=300))
    assert more_data.peak_bytes > base.peak_bytes and more_data.parts["points"] == 100 * base.parts["points"]
    assert wider.parts["model and optimiser"] > 100 * base.parts["model and optimiser"]


def test_a_limit_below_the_peak_refuses_with_what_to_change():
    estimate = memory_estimate(DemoConfig(), make_dataset(n_samples=300))
    estimate.check(estimate.peak_bytes, "Training the demo")  # exactly at the limit: allowed
    with pytest.raises(MemoryBudgetExceeded, match=r"Training the demo needs about .* limit of 64.0 MB \(ML_MEMORY_LIMIT\).*Lower n_samples or hidden"):
        estimate.check(64 * MIB, "Training the demo")
