"""The open-intent reject option: learned from in-scope examples only, stored in the /3 artifact, /2 still loads."""

import math

import numpy as np
import pytest

from ml.nlp.intent import IntentConfig, IntentDataset, IntentPredictor, RejectOption, train

# A shop's day-one data: no out-of-scope examples at all.
KNOWN = {
    "order_status": [
        "where is my order",
        "has my parcel shipped yet",
        "track my package",
        "when will my order arrive",
        "my delivery is late",
        "what is the status of my order",
        "my parcel has not arrived",
        "is my order on its way",
    ],
    "returns": [
        "how do I return this",
        "I want a refund",
        "can I send it back",
        "what is your return policy",
        "I'd like to exchange for another size",
        "refund my purchase please",
        "the item is broken, I want my money back",
        "how long do refunds take",
    ],
    "payment": [
        "can I pay with paypal",
        "my card was declined",
        "do you accept credit cards",
        "I was charged twice",
        "can I pay in instalments",
        "why did my payment fail",
        "which payment methods do you take",
        "the payment did not go through",
    ],
}
UNKNOWN = ["what's the weather tomorrow", "tell me a joke about cats", "who won the football match last night", "how tall is mount everest"]
IN_SCOPE = ["where is my parcel?", "I want to return these shoes", "can I pay by card?"]
FROZEN = {"finetune_epochs": 0, "feature_layers": 1, "val_fraction": 0.25}


def known_dataset() -> IntentDataset:
    texts = [t for examples in KNOWN.values() for t in examples]
    labels = [label for label, examples in KNOWN.items() for _ in examples]
    return IntentDataset(texts, labels)


@pytest.fixture(scope="module")
def trained():
    return train(known_dataset(), IntentConfig.from_dict(FROZEN))


def test_typicality_ranks_among_held_out_messages_and_the_threshold_refuses_the_quantile():
    # Held-out in-scope messages: top probabilities and neighbour similarities.
    reject = RejectOption(np.array([0.9, 0.6, 0.8, 0.7]), np.array([0.8, 0.5, 0.6, 0.7]), quantile=0.25, neighbours=5)
    # A message ranks (count of held-out values at or under its own) / 4 on each score, then the mean of the two.
    assert reject.typicality(np.array([0.75, 0.1, 1.0]), np.array([0.65, 0.1, 1.0])).tolist() == pytest.approx([0.5, 0.0, 1.0])
    # The held-out messages score [4+4, 1+1, 3+2, 2+3] / 8 → sorted 0.25, 0.625, 0.625, 1: a quarter of them (one) falls
    # under the threshold; a share of 0 refuses nothing.
    assert reject.threshold == pytest.approx(0.625)
    assert reject.threshold_for(0) == -math.inf
    assert RejectOption.from_state(reject.tensor_state()).threshold == reject.threshold


def test_unknown_intents_are_refused_and_known_ones_answered_without_out_of_scope_examples(trained):
    predictor: IntentPredictor = trained.model
    assert predictor.reject is not None and "out_of_scope" not in predictor.classes
    predictions = predictor.predict_batch(IN_SCOPE + UNKNOWN)
    assert [p.intent for p in predictions[: len(IN_SCOPE)]] == ["order_status", "returns", "payment"]
    assert all(p.out_of_scope and p.intent is None for p in predictions[len(IN_SCOPE) :])
    # It is the reject option that refuses them: the probability threshold alone answers some as one of the intents.
    probs, typicality = predictor.scores(UNKNOWN)
    assert not predictor.refused(probs, None).all()
    assert predictor.refused(probs, typicality).all()


def test_reject_option_round_trips_through_the_artifact(trained, tmp_path):
    import torch

    path = tmp_path / trained.artifact_name
    trained.save(path)
    assert torch.load(path, weights_only=True)["format"] == "downstream.chatbot.intent/3"
    loaded = IntentPredictor.load(path)
    assert loaded.reject.threshold == trained.model.reject.threshold
    messages = IN_SCOPE + UNKNOWN
    fresh, reloaded = trained.model.scores(messages), loaded.scores(messages)
    assert reloaded[1] == pytest.approx(fresh[1], abs=1e-6)
    assert [p.out_of_scope for p in loaded.predictions(*reloaded)] == [False] * len(IN_SCOPE) + [True] * len(UNKNOWN)


def test_a_format_2_artifact_still_loads_and_refuses_on_probability_only(trained, tmp_path):
    import torch

    path = tmp_path / "intent.pt"
    trained.save(path)
    state = torch.load(path, weights_only=True)
    # What a /2 model held: no reject option, and no neighbour bank on a frozen encoder.
    state = {k: v for k, v in state.items() if k != "reject"} | {"format": "downstream.chatbot.intent/2", "knn": None}
    torch.save(state, path)
    legacy = IntentPredictor.load(path)
    assert legacy.reject is None
    probs, _, typicality = legacy.classify_and_embed(IN_SCOPE)
    assert typicality is None
    predictions = legacy.predictions(probs, typicality)
    assert [p.best_guess for p in predictions] == ["order_status", "returns", "payment"]
    assert [p.out_of_scope for p in predictions] == (probs.max(1) < legacy.threshold).tolist()


def test_reject_quantile_zero_turns_the_option_off():
    assert train(known_dataset(), IntentConfig.from_dict({**FROZEN, "reject_quantile": 0})).model.reject is None
