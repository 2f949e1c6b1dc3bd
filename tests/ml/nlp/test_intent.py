"""The intent model on a tiny data set: frozen baseline and partial fine-tuning, calibration, save/load."""

import numpy as np
import pytest

from ml.core import ConfigError
from ml.nlp.intent import (
    OOS_LABEL,
    IntentConfig,
    IntentDataset,
    IntentPredictor,
    choose_threshold,
    fit_temperature,
    softmax,
    stratified_split,
)

EXAMPLES = {
    "order_status": [
        "where is my order",
        "has my parcel shipped",
        "track my package",
        "when will my order arrive",
        "my delivery is late",
        "status of my order",
    ],
    "returns": ["how do I return this", "I want a refund", "can I send it back", "return policy please", "exchange for another size", "refund my purchase"],
    "greeting": ["hello", "hi there", "good morning", "hey", "hello, anyone there?", "hiya"],
    OOS_LABEL: [
        "what's the weather tomorrow",
        "tell me a joke",
        "who won the football match",
        "what is the capital of France",
        "play some music",
        "how tall is mount everest",
    ],
}


def dataset() -> IntentDataset:
    texts, labels = [], []
    for label, examples in EXAMPLES.items():
        texts += examples
        labels += [label] * len(examples)
    return IntentDataset(texts, labels)


def test_stratified_split_keeps_every_label_in_training():
    labels = ["a"] * 10 + ["b"] * 2 + ["c"]
    train, val = stratified_split(labels, 0.2, seed=0)
    assert sorted(train + val) == list(range(13))
    assert [labels[i] for i in val].count("a") == 2 and [labels[i] for i in val].count("b") == 1
    assert "c" not in [labels[i] for i in val]


def test_temperature_is_one_without_mistakes_and_softens_overconfident_errors():
    y = np.array([0, 1, 0, 1])
    assert fit_temperature(np.array([[5.0, 0], [0, 5], [5, 0], [0, 5]]), y) == 1.0
    wrong = np.array([[9.0, 0], [0, 9], [9, 0], [9, 0]])  # the last one is confidently wrong
    t = fit_temperature(wrong, y)
    assert t > 1.5
    assert softmax(wrong, t)[3, 0] < softmax(wrong)[3, 0]


def test_threshold_maximises_messages_handled_right():
    confidence = np.array([0.9, 0.8, 0.6, 0.4, 0.3])
    oos = np.array([False, False, False, False, True])
    # Right = accepted and correct, or refused when wrong or out of scope. With the 0.6 guess wrong:
    # t=0.4 → 3 accepted right + OOS refused = 4; t=0.8 → 2 + wrong 0.6 refused + OOS = 4: the tie goes low.
    assert choose_threshold(confidence, np.array([True, True, False, True, False]), oos) == pytest.approx(0.4)
    # With the 0.4 guess wrong as well, t=0.8 handles 5 of 5 right.
    assert choose_threshold(confidence, np.array([True, True, False, False, False]), oos) == pytest.approx(0.8)


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError):
        IntentConfig.from_dict({"finetune_layers": 9})
    with pytest.raises(ConfigError):
        IntentConfig.from_dict({"bogus": 1})


FROZEN = {"finetune_epochs": 0, "feature_layers": 1}
FINETUNE_TOP_LAYER = {"finetune_epochs": 2, "finetune_layers": 1, "batch_size": 8}


@pytest.mark.parametrize("config", [FROZEN, FINETUNE_TOP_LAYER], ids=["frozen", "finetune-top-layer"])
def test_train_save_load_predict(tmp_path, config):
    trained = train_config(config)
    assert trained.metrics["accuracy"] >= 0.5
    assert 0.5 <= trained.metrics["oos_threshold"] <= 1
    path = tmp_path / trained.artifact_name
    trained.save(path)
    loaded = IntentPredictor.load(path)
    messages = ["where is my parcel?", "hello!", "what's the weather like"]
    fresh, reloaded = trained.model.predict_batch(messages), loaded.predict_batch(messages)
    assert [p.best_guess for p in fresh] == [p.best_guess for p in reloaded]
    assert [p.confidence for p in fresh] == pytest.approx([p.confidence for p in reloaded], abs=1e-4)
    assert reloaded[0].intent == "order_status"
    assert reloaded[1].intent == "greeting"
    # Out of scope: refused (no intent) and never guessed.
    assert reloaded[2].intent is None and reloaded[2].out_of_scope
    assert loaded.predict_batch([]) == []


def train_config(config):
    from ml.nlp.intent import train

    return train(dataset(), IntentConfig.from_dict({"val_fraction": 0.34, **config}))


def test_loading_something_else_fails_clearly(tmp_path):
    path = tmp_path / "x.pt"
    path.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a readable"):
        IntentPredictor.load(path)


@pytest.mark.parametrize("bf16", [False, True], ids=["float32", "bfloat16-if-native"])
@pytest.mark.parametrize("config", [FROZEN, FINETUNE_TOP_LAYER], ids=["frozen", "finetune-top-layer"])
def test_one_pass_gives_the_pretrained_sentence_embedding(tmp_path, monkeypatch, config, bf16):
    import torch

    from ml.nlp.encoder import Encoder

    monkeypatch.setenv("DOWNSTREAM_NLP_BF16", "1" if bf16 else "0")
    trained = train_config(config)
    path = tmp_path / trained.artifact_name
    trained.save(path)
    predictor = IntentPredictor.load(path)
    texts = ["where is my parcel?", "hello there"]
    probs, embeddings, _ = predictor.classify_and_embed(texts)
    assert probs == pytest.approx(predictor.probabilities(texts), abs=1e-5)
    # The same vectors the plain (float32) pretrained encoder gives (what the FAQ index is built with); in
    # bfloat16 the same directions to rounding.
    expected = Encoder.pretrained().encode(texts)
    if predictor.dtype == torch.float32:
        assert embeddings == pytest.approx(expected, abs=1e-4)
    else:
        assert (embeddings * expected).sum(1).min() > 0.99
    # One message alone gets what it gets in a batch (the product answers one at a time, the benchmark scores batches).
    single, _, _ = predictor.classify_and_embed(texts[:1])
    assert single[0] == pytest.approx(probs[0], abs=2e-3 if bf16 else 1e-5)


def test_artifact_holds_tensors_and_plain_data_only(tmp_path):
    import torch

    from ml.pickle_scan import check_tensor_file

    trained = train_config(FINETUNE_TOP_LAYER)  # the richest artifact: fine-tuned layers, logistic head, neighbour vote
    path = tmp_path / trained.artifact_name
    trained.save(path)
    check_tensor_file(path)  # the upload check's allow-list: no pickled objects, no NumPy
    state = torch.load(path, weights_only=True)
    assert state["format"] == "downstream.chatbot.intent/3" and set(state["head"]) == {"coef", "intercept", "classes"}
    assert set(state["reject"]) == {"confidence", "similarity", "quantile", "neighbours", "threshold"}


def test_an_old_pickle_holding_artifact_is_refused_without_unpickling_it(tmp_path):
    import os
    import pickle

    import torch

    marker = tmp_path / "unpickled"

    class RunsWhenUnpickled:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    # The /1 format kept the logistic head as pickle bytes (pickle.loads on load): a payload in them used to run.
    path = tmp_path / "intent.pt"
    torch.save({"format": "downstream.chatbot.intent/1", "classes": ["a", "b"], "head": pickle.dumps(RunsWhenUnpickled())}, path)
    with pytest.raises(ValueError, match=r"retrain this family \(chatbot.intent\)"):
        IntentPredictor.load(path)
    assert not marker.exists()
