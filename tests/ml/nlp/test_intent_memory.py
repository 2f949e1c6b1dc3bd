"""The intent trainer's predicted peak memory follows the examples and the fine-tuning config."""

import pytest

from ml.memory import MIB, MemoryBudgetExceeded
from ml.nlp.intent import IntentConfig, IntentDataset, memory_estimate


def _examples(n: int) -> IntentDataset:
    return IntentDataset(texts=[f"message {i}" for i in range(n)], labels=[f"intent_{i % 20}" for i in range(n)])


def test_the_estimate_grows_with_examples_and_text_length():
    small, large = memory_estimate(IntentConfig(), _examples(500)), memory_estimate(IntentConfig(), _examples(50_000))
    assert large.peak_bytes > small.peak_bytes
    assert large.parts["frozen-layer cache"] == pytest.approx(100 * small.parts["frozen-layer cache"])
    longer = memory_estimate(IntentConfig(max_length=256), _examples(500))
    assert longer.parts["fine-tuning batch"] > 4 * small.parts["fine-tuning batch"]


def test_the_frozen_baseline_needs_no_optimiser_or_cache():
    frozen = memory_estimate(IntentConfig(finetune_epochs=0), _examples(500))
    assert "optimiser state" not in frozen.parts and "frozen-layer cache" not in frozen.parts
    assert frozen.peak_bytes < memory_estimate(IntentConfig(), _examples(500)).peak_bytes
    # Fine-tuning every layer trains the embeddings too: far more optimiser state than the top two layers.
    full = memory_estimate(IntentConfig(finetune_layers=0), _examples(500))
    assert full.parts["optimiser state"] > 5 * memory_estimate(IntentConfig(), _examples(500)).parts["optimiser state"]


def test_a_small_limit_refuses():
    with pytest.raises(MemoryBudgetExceeded, match="max_length"):
        memory_estimate(IntentConfig(), _examples(500)).check(256 * MIB, "Training chatbot.intent")
