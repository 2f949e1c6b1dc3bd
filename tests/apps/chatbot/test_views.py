"""Operator pages: inbox, claim, reply, transfer, close, teaching, and who may see them."""

import pytest
from django.test import Client

from apps.chatbot import services
from apps.chatbot.models import ConversationState, Example, Intent, IntentAction, Message, Sender
from tests.apps.chatbot.helpers import demo_site
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting():
    site = demo_site()
    conversation = services.session_start(site_key=site.site_key)
    services.customer_message_post(conversation=conversation, text="<b>help</b> me please")
    services.handoff_request(conversation=conversation)
    return conversation


def test_inbox_claim_reply_transfer_close(operator_client: Client, operator, waiting):
    page = operator_client.get("/chatbot/")
    assert page.status_code == 200 and f'data-waiting-conversation="{waiting.pk}"'.encode() in page.content

    operator_client.post(f"/chatbot/conversations/{waiting.pk}/claim/")
    waiting.refresh_from_db()
    assert waiting.state == ConversationState.HUMAN and waiting.assigned_to == operator

    page = operator_client.get(f"/chatbot/conversations/{waiting.pk}/")
    # Customer text is escaped by the template: inert on the operator's page too.
    assert b"&lt;b&gt;help&lt;/b&gt; me please" in page.content and b"<b>help</b>" not in page.content
    assert b"Intent history" in page.content and b"Canned reply" in page.content

    response = operator_client.post(f"/chatbot/conversations/{waiting.pk}/reply/", {"text": "Hi, Sam here"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 201 and response.json()["message"]["sender"] == "operator"
    response = operator_client.post(f"/chatbot/conversations/{waiting.pk}/reply/", {"text": ""}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and "empty" in response.json()["detail"]

    polled = operator_client.get(f"/chatbot/conversations/{waiting.pk}/messages/?after=0").json()
    assert polled["messages"][-1]["text"] == "Hi, Sam here"

    other = UserFactory(role="operator")
    operator_client.post(f"/chatbot/conversations/{waiting.pk}/transfer/", {"to_user": other.pk})
    waiting.refresh_from_db()
    assert waiting.assigned_to == other
    # Only the operator who has it can close or transfer it now.
    response = operator_client.post(f"/chatbot/conversations/{waiting.pk}/reply/", {"text": "still me"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400

    other_client = Client()
    other_client.force_login(other)
    other_client.post(f"/chatbot/conversations/{waiting.pk}/close/")
    waiting.refresh_from_db()
    assert waiting.state == ConversationState.CLOSED
    assert waiting.messages.filter(sender=Sender.SYSTEM, payload__ask_rating=True).exists()


def test_teaching_page_files_a_message_as_an_example(operator_client: Client):
    site = demo_site()
    conversation = services.session_start(site_key=site.site_key)
    message = Message.objects.create(conversation=conversation, sender=Sender.CUSTOMER, text="parcel missing, money back?", intent="shipping", confidence=0.31)
    page = operator_client.get("/chatbot/teach/")
    assert f'data-teach-message="{message.pk}"'.encode() in page.content
    response = operator_client.post(f"/chatbot/teach/{message.pk}/file/", {"intent": "returns"}, follow=True)
    assert b"Retrain to teach the bot" in response.content
    assert Example.objects.filter(intent__name="returns", text="parcel missing, money back?", source="operator").exists()
    assert f'data-teach-message="{message.pk}"'.encode() not in operator_client.get("/chatbot/teach/").content


def test_teaching_page_lists_a_refused_message_and_files_it_as_a_new_intent(operator_client: Client):
    site = demo_site()
    conversation = services.session_start(site_key=site.site_key)
    refused = Message.objects.create(
        conversation=conversation, sender=Sender.CUSTOMER, text="do you sell gift vouchers?", intent="returns", confidence=0.9, out_of_scope=True
    )
    page = operator_client.get("/chatbot/teach/")
    assert f'data-teach-message="{refused.pk}"'.encode() in page.content and b"out of scope" in page.content
    response = operator_client.post(
        f"/chatbot/teach/{refused.pk}/file/", {"new_intent": "Gift vouchers", "response": "Yes: vouchers from 10 to 200 EUR."}, follow=True
    )
    assert b"as an example of gift_vouchers" in response.content
    intent = Intent.objects.get(name="gift_vouchers")
    assert (intent.action, intent.response) == (IntentAction.REPLY, "Yes: vouchers from 10 to 200 EUR.")
    assert Example.objects.filter(intent=intent, text="do you sell gift vouchers?", source="operator").exists()
    assert f'data-teach-message="{refused.pk}"'.encode() not in operator_client.get("/chatbot/teach/").content
    # A second message under a name that exists now is refused with a message saying what to do; nothing is filed.
    other = Message.objects.create(conversation=conversation, sender=Sender.CUSTOMER, text="vouchers?", confidence=0.2, out_of_scope=True)
    response = operator_client.post(f"/chatbot/teach/{other.pk}/file/", {"new_intent": "gift_vouchers", "response": ""}, follow=True)
    assert b"already exists" in response.content
    assert not Example.objects.filter(text="vouchers?").exists()


def test_operator_pages_need_an_operator(client, waiting):
    assert client.get("/chatbot/").status_code == 302  # to the login page
    viewer = UserFactory(role="integrator")
    client.force_login(viewer)
    assert client.get("/chatbot/").status_code == 403
    assert client.post(f"/chatbot/conversations/{waiting.pk}/claim/").status_code == 403
