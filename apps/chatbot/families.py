"""The chatbot's model family: the intent classifier (ml/nlp), trained on the intents' examples."""

from __future__ import annotations

from typing import Any

from apps.mlops.families import ModelFamily, register_family
from apps.mlops.inputs import PredictInput, TextInputField
from ml.nlp.intent import IntentConfig, IntentDataset, IntentPredictor, memory_estimate, train

INTENT_FAMILY = "chatbot.intent"


def _prepare(config: IntentConfig, run: Any) -> tuple[IntentDataset, dict[str, Any]]:
    from apps.chatbot.selectors import training_examples

    texts, labels = training_examples()
    dataset = IntentDataset(texts=texts, labels=labels)
    per_intent: dict[str, int] = {}
    for label in labels:
        per_intent[label] = per_intent.get(label, 0) + 1
    return dataset, {"source": "chatbot examples", **dataset.describe(), "per_intent": per_intent}


register_family(
    ModelFamily(
        name=INTENT_FAMILY,
        title="Chat intent classifier",
        product="chatbot",
        config_class=IntentConfig,
        prepare=_prepare,
        train=train,
        predictor_class=IntentPredictor,
        primary_metric="accuracy",
        description="MiniLM sentence features + calibrated logistic head (optionally fine-tuned); accuracy on a held-out split of the examples.",
        predict_input=PredictInput(
            kind="text",
            field=TextInputField,
            max_items=256,
            description="Each input is a customer message (text, at most 2000 characters).",
            example="where is my order?",
        ),
        memory_estimate=memory_estimate,
    )
)
