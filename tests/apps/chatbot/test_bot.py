"""The bot engine on a real trained intent model (frozen encoder) and real PostgreSQL."""

import pytest
from django.core.exceptions import ValidationError

from apps.chatbot import services
from apps.chatbot.models import AnswerSource, ConversationState, Message, Sender
from tests.apps.chatbot.helpers import demo_site, identified_conversation, shop_orders, train_intent_model
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bot():
    site = demo_site()
    version = train_intent_model()
    return site, version


def _say(conversation, text):
    created = services.customer_message_post(conversation=conversation, text=text)
    return created[0], created[1:]


def test_bot_answers_faq_with_source_greets_and_refuses_out_of_scope(bot):
    site, version = bot
    conversation = services.session_start(site_key=site.site_key)
    assert conversation.messages.get().sender == Sender.BOT  # the greeting

    asked, (answer,) = _say(conversation, "What is your return policy?")
    assert asked.intent == "returns" and asked.confidence > 0.5 and asked.model_version == str(version.version)
    assert answer.answer_source == AnswerSource.FAQ
    assert answer.faq_article.question == "What is your return policy?"
    assert "30 days" in answer.text
    assert answer.payload["faq"]["question"] == "What is your return policy?"
    assert answer.intent == "returns" and answer.reply_to == asked

    _, (hello,) = _say(conversation, "hello there!")
    assert hello.answer_source == AnswerSource.INTENT and hello.text.startswith("Hello")

    asked, (refusal,) = _say(conversation, "what's the capital of Peru?")
    assert asked.out_of_scope
    assert refusal.answer_source in (AnswerSource.FAQ_SEARCH, AnswerSource.FALLBACK)
    assert "Talk to a human" in refusal.payload["quick_replies"]


def test_order_status_only_for_the_identified_owner(bot):
    site, _ = bot
    orders = shop_orders()
    alice = identified_conversation(site, "alice")
    _, (answer,) = _say(alice, f"where is my order {orders['alice'][0]}?")
    assert answer.answer_source == AnswerSource.ORDER
    assert orders["alice"][0] in answer.text and "Shipped" in answer.text and "TRK0" in answer.text

    # Bob's order asked about in Alice's chat reads exactly like an unknown order: nothing leaks.
    _, (answer,) = _say(alice, f"where is my order {orders['bob'][0]}?")
    assert answer.text == f"I couldn't find order {orders['bob'][0]} on your account."
    _, (answer,) = _say(alice, "where is my order DS-999999?")
    assert answer.text == "I couldn't find order DS-999999 on your account."

    # Without an order number: the customer's own latest orders, never anyone else's.
    _, (answer,) = _say(alice, "has my order shipped?")
    assert all(n in answer.text for n in orders["alice"]) and orders["bob"][0] not in answer.text

    anonymous = services.session_start(site_key=site.site_key)
    _, (answer,) = _say(anonymous, f"where is my order {orders['alice'][0]}?")
    assert orders["alice"][0] not in answer.text and "signed-in" in answer.text


def test_identity_needs_the_sites_hmac(bot):
    site, _ = bot
    with pytest.raises(ValidationError) as err:
        services.session_start(site_key=site.site_key, customer_id="alice", signature="0" * 64)
    assert "customer_signature" in err.value.message_dict
    with pytest.raises(ValidationError):
        services.session_start(site_key="pk_unknown")
    assert identified_conversation(site, "alice").customer_external_id == "alice"


def test_handoff_then_the_bot_stays_silent_and_the_operator_talks(bot):
    site, _ = bot
    conversation = services.session_start(site_key=site.site_key)
    asked, created = _say(conversation, "I want to talk to a human")
    assert asked.intent == "human_handoff" and created == []
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.WAITING

    # Waiting: the customer's messages are stored for the operator, the bot says nothing.
    _, created = _say(conversation, "hello? what is your return policy?")
    assert created == []

    operator, other = UserFactory(role="operator"), UserFactory(role="operator")
    with pytest.raises(ValidationError):
        services.operator_reply(conversation=conversation, user=operator, text="Hi")  # not claimed yet
    services.conversation_claim(conversation=conversation, user=operator)
    with pytest.raises(ValidationError):
        services.conversation_claim(conversation=conversation, user=other)
    reply = services.operator_reply(conversation=conversation, user=operator, text="Hi, I'm Sam. How can I help?")
    assert reply.sender == Sender.OPERATOR

    _, created = _say(conversation, "What is your return policy?")
    assert created == []  # claimed by a human: the bot stays silent
    assert not conversation.messages.filter(sender=Sender.BOT, created_at__gt=reply.created_at).exists()

    services.conversation_transfer(conversation=conversation, user=operator, to_user=other)
    conversation.refresh_from_db()
    assert conversation.assigned_to == other
    services.conversation_close(conversation=conversation, user=other)
    services.conversation_rate(conversation=conversation, rating=5)
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.CLOSED and conversation.rating == 5
    with pytest.raises(ValidationError):
        services.customer_message_post(conversation=conversation, text="one more thing")


def test_feedback_and_teaching_file_an_example(bot):
    site, _ = bot
    conversation = services.session_start(site_key=site.site_key)
    asked, (answer,) = _say(conversation, "my parcel never came and I want a refund")
    services.feedback_set(conversation=conversation, message_id=answer.pk, value="down")
    from apps.chatbot.selectors import teaching_queue

    assert asked in list(teaching_queue())
    example = services.example_file(message_id=asked.pk, intent_name="returns")
    assert example.intent.name == "returns" and example.source == "operator"
    assert asked not in list(teaching_queue())
    with pytest.raises(ValidationError):
        services.feedback_set(conversation=conversation, message_id=asked.pk, value="up")  # not a bot message
    with pytest.raises(ValidationError):
        services.example_file(message_id=asked.pk, intent_name="no_such_intent")


def test_without_a_model_the_bot_offers_the_faq_and_a_human():
    site = demo_site()
    conversation = services.session_start(site_key=site.site_key)
    asked, (answer,) = _say(conversation, "how long does a refund take?")
    assert asked.confidence is None
    assert answer.answer_source == AnswerSource.FAQ_SEARCH
    assert answer.payload["faq_results"][0]["question"] == "How long does a refund take?"


def test_bad_messages_are_refused_with_a_clear_error_and_nothing_stored():
    site = demo_site()
    conversation = services.session_start(site_key=site.site_key)
    before = Message.objects.count()
    for text, fragment in [("", "empty"), ("   ", "empty"), ("x" * 2001, "2000"), (None, "string")]:
        with pytest.raises(ValidationError) as err:
            services.customer_message_post(conversation=conversation, text=text)
        assert fragment in err.value.message_dict["text"][0]
    assert Message.objects.count() == before
    # Exactly 2,000 characters is allowed, and HTML is stored verbatim as text.
    created = services.customer_message_post(conversation=conversation, text="<script>alert(1)</script>" + "y" * 1975)
    assert created[0].text.startswith("<script>")


def test_flooding_is_rate_limited(settings):
    settings.CHATBOT_MESSAGES_PER_MINUTE = 3
    site = demo_site()
    conversation = services.session_start(site_key=site.site_key)
    for i in range(3):
        services.customer_message_post(conversation=conversation, text=f"hi {i}")
    with pytest.raises(services.RateLimited):
        services.customer_message_post(conversation=conversation, text="hi again")


def test_product_advice_without_a_recommendation_model_offers_a_human(bot):
    site, _ = bot
    conversation = services.session_start(site_key=site.site_key)
    asked, (answer,) = _say(conversation, "can you recommend something for me?")
    assert asked.intent == "product_advice"
    assert answer.answer_source == AnswerSource.FALLBACK and "Talk to a human" in answer.payload["quick_replies"]
