"""Train → promote → the bot uses the new model, with a real Celery worker consuming ml_gpu (on CPU here)."""

import pytest
from django.test import Client

from apps.chatbot.families import INTENT_FAMILY
from apps.chatbot.models import Message, Sender
from apps.mlops import services as mlops
from apps.mlops.models import ModelVersion, RunStatus, TrainingRun, VersionStatus
from tests.apps.chatbot.helpers import TINY_CONFIG, demo_site
from tests.workers import celery_worker, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_broker")]


def test_operator_retrains_the_worker_promotes_and_the_bot_uses_the_new_model(operator_client: Client):
    site = demo_site()
    family_settings = mlops.family_settings_get(family=INTENT_FAMILY)
    family_settings.default_config = TINY_CONFIG
    family_settings.save()
    widget = Client()
    token = widget.post("/api/v1/chatbot/widget/sessions/", {"site_key": site.site_key}, content_type="application/json").json()["token"]

    def ask(text: str) -> list[dict]:
        response = widget.post("/api/v1/chatbot/widget/messages/", {"text": text}, content_type="application/json", HTTP_X_CHAT_TOKEN=token)
        assert response.status_code == 201
        return response.json()["messages"]

    # No model yet: the bot does not guess an intent.
    ask("what is your return policy?")
    assert Message.objects.filter(sender=Sender.CUSTOMER).latest("id").intent == ""

    with celery_worker() as worker:
        response = operator_client.post("/chatbot/retrain/")
        run = TrainingRun.objects.get(family=INTENT_FAMILY)
        assert response.status_code == 302 and response["Location"] == f"/runs/{run.pk}/"
        wait_for(lambda: TrainingRun.objects.get(pk=run.pk).is_finished, timeout=180, interval=0.2, message=f"intent training\n{worker.log()[-3000:]}")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    version = ModelVersion.objects.get(training_run=run)
    assert version.status == VersionStatus.PRODUCTION and version.metrics["accuracy"] >= 0.6

    answer = ask("what is your return policy?")[-1]
    asked = Message.objects.filter(sender=Sender.CUSTOMER).latest("id")
    assert asked.intent == "returns" and asked.model_version == str(version.version)
    assert answer["answer_source"] == "faq" and answer["faq"]["question"] == "What is your return policy?"
