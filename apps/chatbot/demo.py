"""Demo data for `make run`: a demo shop site, customer-service intents with examples, a shop FAQ, canned replies.

The first intent model is trained by `bootstrap_demo` after the seeders ran (it trains every family without a
production model), from the examples written here.
"""

from __future__ import annotations

from django.db import transaction

from apps.chatbot.models import CannedReply, Example, ExampleSource, FaqArticle, Intent, IntentAction, Site
from ml.nlp.intent import OOS_LABEL

DEMO_SITE_KEY = "pk_demo_shop"

INTENTS: dict[str, tuple[str, str, list[str], list[str]]] = {
    # name: (action, response, quick replies, examples)
    "greeting": (
        IntentAction.REPLY,
        "Hello! How can I help you today?",
        ["Where is my order?", "How do returns work?", "Recommend something"],
        [
            "hi",
            "hello",
            "hey there",
            "good morning",
            "good evening",
            "hello, anyone there?",
            "hi bot",
            "hey",
            "greetings",
            "good afternoon",
            "hiya",
            "hello I have a question",
            "yo",
            "morning!",
            "hi there, can you help me",
        ],
    ),
    "goodbye": (
        IntentAction.REPLY,
        "Goodbye, and thanks for shopping with us!",
        [],
        [
            "bye",
            "goodbye",
            "see you",
            "that's all, bye",
            "ok bye",
            "talk later",
            "see you later",
            "I'm done, goodbye",
            "have a nice day, bye",
            "cya",
            "bye bye",
            "that is everything, thanks bye",
        ],
    ),
    "thanks": (
        IntentAction.REPLY,
        "You're welcome! Anything else I can do for you?",
        [],
        [
            "thanks",
            "thank you",
            "thanks a lot",
            "great, thank you",
            "cheers",
            "much appreciated",
            "thank you so much",
            "perfect, thanks",
            "thx",
            "ty",
            "that helped, thanks",
            "awesome thank you",
        ],
    ),
    "order_status": (
        IntentAction.ORDER_STATUS,
        "",
        ["Talk to a human"],
        [
            "where is my order",
            "what's the status of my order",
            "has my order shipped",
            "track my package",
            "when will my order arrive",
            "my parcel hasn't arrived",
            "order status DS-100001",
            "where is order DS-100002",
            "can you check my order",
            "I want to know where my delivery is",
            "is my order on the way",
            "my package is late",
            "tracking number for my order",
            "did you send my order yet",
            "when does my order get delivered",
            "status of order number DS-100003",
            "I ordered last week and nothing came",
            "show my orders",
        ],
    ),
    "returns": (
        IntentAction.FAQ,
        "",
        ["Talk to a human"],
        [
            "how do I return an item",
            "what is your return policy",
            "can I get a refund",
            "how long do refunds take",
            "the product is broken, can I send it back",
            "return a damaged item",
            "I want my money back",
            "how many days do I have to return",
            "exchange for a different size",
            "do I pay for return shipping",
            "where do I send returns",
            "refund status",
            "the shoes don't fit, can I exchange them",
        ],
    ),
    # Starting a return for something the customer bought: the bot finds the order line and applies the policy.
    "start_return": (
        IntentAction.RETURN,
        "",
        ["Talk to a human"],
        [
            "I want to return my order",
            "I'd like to send back the jacket I bought",
            "start a return for my shoes",
            "return the coffee from my last order",
            "I want to return order DS-100001",
            "please open a return for me",
            "these boots don't fit, I want to send them back",
            "can I return the item I received yesterday",
            "I need to return something I ordered",
            "return my purchase",
            "how do I send back the tent I bought",
            "I want a refund for the mat I ordered",
        ],
    ),
    "shipping": (
        IntentAction.FAQ,
        "",
        [],
        [
            "how much is shipping",
            "do you ship abroad",
            "how long does delivery take",
            "shipping costs",
            "do you offer express delivery",
            "is shipping free",
            "which countries do you deliver to",
            "can I pick up my order in a store",
            "what carriers do you use",
            "delivery times to Germany",
            "can I change my delivery address",
            "do you deliver on weekends",
            "next day delivery available?",
        ],
    ),
    "payment": (
        IntentAction.FAQ,
        "",
        [],
        [
            "which payment methods do you accept",
            "can I pay with paypal",
            "do you take credit cards",
            "my payment failed",
            "can I pay by invoice",
            "was I charged twice",
            "is it safe to pay by card",
            "can I pay in installments",
            "payment declined",
            "do you accept apple pay",
            "how do I use a gift card",
            "I was charged but the order failed",
        ],
    ),
    "account": (
        IntentAction.FAQ,
        "",
        [],
        [
            "I forgot my password",
            "how do I reset my password",
            "how do I change my email address",
            "delete my account",
            "I can't log in",
            "how do I create an account",
            "update my address in my account",
            "unsubscribe from newsletter",
            "change my account details",
            "my account is locked",
        ],
    ),
    "product_advice": (
        IntentAction.RECOMMEND,
        "Here are a few products you might like:",
        [],
        [
            "can you recommend something",
            "what should I buy",
            "suggest a product",
            "any recommendations for me",
            "I'm looking for a gift",
            "what's popular right now",
            "show me something similar",
            "what do you recommend",
            "help me choose a product",
            "best sellers",
            "I need ideas for a present",
            "recommend something like SKU-0001",
            "what goes well with my last purchase",
            "do you sell yoga mats",
            "I'm looking for a tent for two people",
            "show me green tea",
            "any cheap coffee in stock",
            "do you have waterproof boots",
            "I need a jacket under 100 euros",
            "which knives do you have",
            "looking for a crime novel",
        ],
    ),
    "human_handoff": (
        IntentAction.HANDOFF,
        "",
        [],
        [
            "talk to a human",
            "I want to speak to a person",
            "can I talk to an agent",
            "real person please",
            "connect me to customer service",
            "human please",
            "I need to speak with someone",
            "operator",
            "let me talk to support staff",
            "you are not helping, get me a human",
            "transfer me to an agent",
            "is there a real person I can chat with",
        ],
    ),
    # Out-of-scope examples train their own class: the bot refuses these instead of guessing an intent.
    OOS_LABEL: (
        IntentAction.REPLY,
        "",
        [],
        [
            "what's the weather tomorrow",
            "tell me a joke",
            "who won the football game last night",
            "what is the capital of France",
            "play some music",
            "how tall is mount everest",
            "can you do my homework",
            "what's the meaning of life",
            "book me a flight to Rome",
            "how do I cook pasta",
            "what time is it in Tokyo",
            "write me a poem",
            "who is the president",
            "translate hello into Spanish",
            "what's 17 times 23",
        ],
    ),
}

FAQ: list[tuple[str, str, str]] = [
    (
        "returns",
        "What is your return policy?",
        "You can return any item within 30 days of delivery for a full refund, as long as it is unused and in its original packaging. "
        "Start a return from 'My orders' in your account.",
    ),
    (
        "returns",
        "How long does a refund take?",
        "Refunds are issued within 5 business days after your return reaches our warehouse, to the payment method you used.",
    ),
    (
        "returns",
        "Can I exchange an item for another size?",
        "Yes. Start a return for the item and choose 'Exchange' — we ship the new size as soon as the return is scanned by the carrier.",
    ),
    (
        "returns",
        "Who pays for return shipping?",
        "Returns within the EU are free: use the prepaid label from 'My orders'. From other countries the return shipping is at your cost.",
    ),
    (
        "returns",
        "What if my item arrived damaged?",
        "We're sorry! Send us a photo through the return form within 14 days and we'll send a replacement or refund you in full, including shipping.",
    ),
    ("shipping", "How much does shipping cost?", "Standard shipping is free for orders over 50 EUR, otherwise 4.90 EUR. Express delivery costs 9.90 EUR."),
    (
        "shipping",
        "How long does delivery take?",
        "Standard delivery takes 2–4 business days within the EU and 5–10 business days elsewhere. "
        "Express delivery arrives the next business day when ordered before 2 pm.",
    ),
    ("shipping", "Which countries do you ship to?", "We ship to all EU countries, the United Kingdom, Switzerland, Norway, the United States and Canada."),
    (
        "shipping",
        "Can I change my delivery address after ordering?",
        "Yes, as long as the order hasn't shipped yet: contact us in the chat with your order number and the new address.",
    ),
    (
        "payment",
        "Which payment methods do you accept?",
        "We accept Visa, Mastercard, American Express, PayPal, Apple Pay, Google Pay and invoice (for returning customers).",
    ),
    (
        "payment",
        "My payment failed — what now?",
        "No money is taken for a failed payment. Check the card details and try again, or choose another payment method. "
        "If a charge appears anyway, it is released within 3 business days.",
    ),
    ("payment", "Can I pay in installments?", "Yes, orders over 100 EUR can be paid in 3 interest-free installments with PayPal Pay Later."),
    (
        "payment",
        "How do I use a gift card?",
        "Enter the gift card code at checkout in the 'Gift card or voucher' field; any remaining balance stays on the card.",
    ),
    ("account", "How do I reset my password?", "Click 'Forgot password' on the sign-in page and follow the link we e-mail you. The link is valid for 1 hour."),
    (
        "account",
        "How do I delete my account?",
        "Go to Account → Privacy and choose 'Delete account'. Your data is removed within 30 days; orders must be kept for tax law.",
    ),
    (
        "account",
        "How do I unsubscribe from the newsletter?",
        "Use the unsubscribe link at the bottom of any newsletter, or switch it off under Account → Communication.",
    ),
    ("orders", "Can I cancel my order?", "You can cancel an order from 'My orders' until it has shipped. After that, return it within 30 days for a refund."),
    (
        "orders",
        "Where do I find my tracking number?",
        "Your tracking number is in the shipping confirmation e-mail and under 'My orders' once the parcel has shipped.",
    ),
]

CANNED = [
    ("Greeting", "Hi, I'm here to help. Could you tell me a bit more about the problem?"),
    ("Order number", "Could you give me your order number (it looks like DS-100001)?"),
    ("Refund started", "I've started the refund; you'll see it on your statement within 5 business days."),
    ("Closing", "Is there anything else I can help you with today?"),
]


def seed_demo() -> str:
    with transaction.atomic():
        site, _ = Site.objects.get_or_create(site_key=DEMO_SITE_KEY, defaults={"name": "Demo shop"})
        new_examples = 0
        for name, (action, response, quick_replies, examples) in INTENTS.items():
            intent, _ = Intent.objects.get_or_create(name=name, defaults={"action": action, "response": response, "quick_replies": quick_replies})
            for text in examples:
                _, created = Example.objects.get_or_create(intent=intent, text=text, defaults={"source": ExampleSource.SEED})
                new_examples += created
        new_articles = 0
        for category, question, answer in FAQ:
            _, created = FaqArticle.objects.get_or_create(question=question, defaults={"answer": answer, "category": category})
            new_articles += created
        for title, text in CANNED:
            CannedReply.objects.get_or_create(title=title, defaults={"text": text})
    return f"site {site.site_key}, {len(INTENTS)} intents (+{new_examples} examples), {len(FAQ)} FAQ articles (+{new_articles})"
