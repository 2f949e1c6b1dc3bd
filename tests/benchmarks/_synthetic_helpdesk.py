"""Seeded synthetic help desks for the chatbot scale benchmark: intents with customer messages, and FAQ articles.

A shop with up to 500 intents: 10 customer-service topics (returns, delivery times, costs, warranty, sizes and
specifications, stock, prices, assembly, care, payment) for each of 50 product categories, named
``<topic>_<category>``. Each intent gets customer messages written from the topic's phrasings, the category's
products and chat habits (greetings, missing question marks, lower case), and FAQ articles whose questions name a
brand, a product and a circumstance, and whose answers are two to four sentences of the topic's policy with
seeded numbers. The first ``n`` intents of a seed are the same at every size, and each intent's articles too, so
a small help desk is part of a larger one. No shared data is read; no Django here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

CATEGORIES: dict[str, list[str]] = {
    "running_shoes": ["running shoes", "trail runners", "jogging trainers"],
    "hiking_boots": ["hiking boots", "walking boots", "mountain boots"],
    "laptops": ["laptop", "notebook", "ultrabook"],
    "smartphones": ["smartphone", "mobile phone", "phone"],
    "headphones": ["headphones", "earbuds", "headset"],
    "coffee_machines": ["coffee machine", "espresso maker", "bean-to-cup machine"],
    "sofas": ["sofa", "couch", "corner sofa"],
    "mattresses": ["mattress", "memory foam mattress", "spring mattress"],
    "kids_bikes": ["kids bike", "balance bike", "children's bicycle"],
    "winter_jackets": ["winter jacket", "down jacket", "parka"],
    "jeans": ["jeans", "denim trousers", "slim fit jeans"],
    "dresses": ["dress", "summer dress", "evening dress"],
    "watches": ["watch", "smartwatch", "wristwatch"],
    "sunglasses": ["sunglasses", "polarised glasses", "shades"],
    "backpacks": ["backpack", "rucksack", "daypack"],
    "tents": ["tent", "camping tent", "pop-up tent"],
    "sleeping_bags": ["sleeping bag", "down sleeping bag", "camping sleeping bag"],
    "cookware": ["frying pan", "saucepan set", "cast iron pot"],
    "kitchen_knives": ["kitchen knife", "chef's knife", "knife set"],
    "blenders": ["blender", "smoothie maker", "hand blender"],
    "vacuum_cleaners": ["vacuum cleaner", "robot vacuum", "cordless hoover"],
    "washing_machines": ["washing machine", "washer dryer", "front loader"],
    "fridges": ["fridge", "fridge freezer", "refrigerator"],
    "televisions": ["TV", "television", "OLED TV"],
    "cameras": ["camera", "mirrorless camera", "action cam"],
    "printers": ["printer", "inkjet printer", "laser printer"],
    "monitors": ["monitor", "computer screen", "gaming monitor"],
    "keyboards": ["keyboard", "mechanical keyboard", "wireless keyboard"],
    "game_consoles": ["game console", "handheld console", "gaming console"],
    "board_games": ["board game", "card game", "puzzle game"],
    "toys": ["toy", "building blocks", "soft toy"],
    "strollers": ["stroller", "pushchair", "pram"],
    "car_seats": ["car seat", "booster seat", "infant car seat"],
    "perfume": ["perfume", "eau de toilette", "fragrance"],
    "skincare": ["face cream", "moisturiser", "serum"],
    "shampoo": ["shampoo", "conditioner", "hair mask"],
    "vitamins": ["vitamins", "supplements", "multivitamin"],
    "dog_food": ["dog food", "puppy food", "dog treats"],
    "cat_litter": ["cat litter", "litter box", "clumping litter"],
    "aquariums": ["aquarium", "fish tank", "aquarium filter"],
    "garden_hoses": ["garden hose", "hose reel", "expandable hose"],
    "lawn_mowers": ["lawn mower", "robot mower", "cordless mower"],
    "drills": ["drill", "cordless drill", "hammer drill"],
    "paint": ["wall paint", "wood paint", "primer"],
    "light_bulbs": ["light bulb", "LED bulb", "smart bulb"],
    "curtains": ["curtains", "blackout curtains", "blinds"],
    "rugs": ["rug", "carpet", "runner rug"],
    "bed_linen": ["bed linen", "duvet cover", "bed sheets"],
    "towels": ["towels", "bath towel", "beach towel"],
    "office_chairs": ["office chair", "desk chair", "ergonomic chair"],
}

# Topic → (how customers ask, how FAQ questions ask, answer sentences). ``{item}``: a product; ``{when}``: a
# circumstance; numbers in answers are drawn per article.
TOPICS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "returns": (
        [
            "how do I return my {item}",
            "I want to send back the {item}",
            "can I return a {item} I don't like",
            "return policy for {item}",
            "the {item} doesn't fit, can I return it",
            "how long do I have to return the {item}",
            "I'd like a refund for my {item}",
            "where do I send the {item} back",
        ],
        ["Can I return {item} {when}?", "How do I send back {item} {when}?", "Is a refund possible for {item} {when}?"],
        [
            "You can return {it} within {days} days of delivery.",
            "Print the prepaid return label from your account and drop the parcel at any {carrier} point.",
            "Refunds reach the original payment method within {n} business days after the parcel arrives.",
            "Items must be unused and in their original packaging.",
            "Opened hygiene products can only be returned if faulty.",
        ],
    ),
    "delivery_time": (
        [
            "when will my {item} arrive",
            "how long does delivery take for a {item}",
            "how fast can you ship the {item}",
            "is next day delivery possible for the {item}",
            "delivery time {item}",
            "I need the {item} by friday, is that possible",
            "why is the {item} taking so long to arrive",
            "when do you ship {item} orders",
        ],
        ["How long does delivery of {item} take {when}?", "When will {item} ordered {when} arrive?", "Can I get {item} faster {when}?"],
        [
            "Orders placed before {hour} pm ship the same working day.",
            "Standard delivery takes {n} to {m} working days.",
            "Express delivery arrives within {n} working days for an extra fee.",
            "Bulky items are delivered by {carrier} on a booked time slot.",
            "You get a tracking link by email as soon as the parcel leaves our warehouse.",
        ],
    ),
    "delivery_cost": (
        [
            "how much is shipping for a {item}",
            "do I pay delivery on the {item}",
            "is shipping free for {item}",
            "delivery cost {item}",
            "why did you charge me shipping for the {item}",
            "what does it cost to deliver a {item}",
            "shipping fee for {item} to my address",
            "any free delivery on {item}",
        ],
        ["What does delivery of {item} cost {when}?", "Is shipping free for {item} {when}?", "Why is there a delivery fee on {item} {when}?"],
        [
            "Delivery is free on orders over {price} EUR.",
            "Below that, standard shipping costs {small} EUR.",
            "Bulky goods carry a flat delivery charge of {price} EUR.",
            "Members of our loyalty club never pay for standard delivery.",
            "Islands and remote areas may cost {small} EUR more.",
        ],
    ),
    "warranty": (
        [
            "my {item} broke, is it under warranty",
            "how long is the warranty on the {item}",
            "the {item} stopped working",
            "warranty claim for {item}",
            "who repairs a faulty {item}",
            "is there a guarantee on the {item}",
            "the {item} arrived damaged",
            "can I get the {item} repaired",
        ],
        ["What warranty covers {item} {when}?", "How do I claim a repair for {item} {when}?", "Is damage to {item} {when} covered?"],
        [
            "Every {it} comes with a {years}-year manufacturer warranty.",
            "Report a fault in your account and attach a photo of the problem.",
            "We collect faulty items free of charge and repair or replace them within {n} days.",
            "Damage from misuse or accidents is not covered.",
            "An extended warranty of {years} more years can be added at checkout.",
        ],
    ),
    "specs": (
        [
            "which size {item} should I get",
            "what are the dimensions of the {item}",
            "does the {item} run small",
            "size guide for {item}",
            "how heavy is the {item}",
            "what material is the {item} made of",
            "is the {item} compatible with my old one",
            "technical details of the {item}",
        ],
        ["Which size of {item} fits {when}?", "What are the specifications of {item} {when}?", "Is {item} compatible {when}?"],
        [
            "Each product page lists the exact dimensions and weight under Specifications.",
            "Our size guide compares measurements across brands.",
            "Most customers choose their usual size; if in doubt, pick {n} size up.",
            "Compatibility notes are listed in the product description.",
            "Our advisers answer technical questions by chat from {hour} am to 8 pm.",
        ],
    ),
    "stock": (
        [
            "is the {item} in stock",
            "when will the {item} be available again",
            "the {item} is sold out",
            "can I reserve a {item}",
            "do you have the {item} in another colour",
            "notify me when the {item} is back",
            "is the {item} available in store",
            "why can't I order the {item}",
        ],
        ["When is {item} back in stock {when}?", "Can I pre-order {item} {when}?", "Is {item} available {when}?"],
        [
            "Stock levels on the product page update every {n} minutes.",
            "Use the Notify me button to get an email when the {it} is back.",
            "Most items are restocked within {days} days.",
            "Pre-orders are charged only when the item ships.",
            "Store availability can be checked with the store finder.",
        ],
    ),
    "price": (
        [
            "do you price match the {item}",
            "the {item} got cheaper after I bought it",
            "is there a discount on the {item}",
            "voucher code for {item}",
            "why is the {item} more expensive than last week",
            "student discount on {item}",
            "will the {item} go on sale",
            "can I get a better price for the {item}",
        ],
        ["Do you match prices on {item} {when}?", "Can I use a discount code for {item} {when}?", "Is there a refund of the difference on {item} {when}?"],
        [
            "We match the price of major online shops for identical {it} within {days} days.",
            "If the price drops within {days} days of your purchase we refund the difference.",
            "Only one voucher code can be used per order.",
            "Students get {n} percent off with a verified account.",
            "Sale prices are valid while stocks last.",
        ],
    ),
    "assembly": (
        [
            "how do I set up the {item}",
            "do you offer installation for the {item}",
            "assembly instructions {item}",
            "can someone install the {item} for me",
            "the {item} manual is missing",
            "how long does it take to assemble the {item}",
            "I can't get the {item} to work",
            "setup help for my new {item}",
        ],
        ["Do you install {item} {when}?", "Where are the assembly instructions for {item} {when}?", "How do I set up {item} {when}?"],
        [
            "Manuals for every {it} can be downloaded from the product page.",
            "Our installation service costs {price} EUR and can be booked at checkout.",
            "A technician arrives within {n} working days of delivery.",
            "Video guides walk you through the first set-up step by step.",
            "Old appliances are taken away free of charge on installation.",
        ],
    ),
    "care": (
        [
            "how do I clean the {item}",
            "can the {item} go in the washing machine",
            "care instructions for {item}",
            "how do I maintain my {item}",
            "the {item} got a stain",
            "how do I store the {item} over winter",
            "what cleaner should I use on the {item}",
            "how often should I service the {item}",
        ],
        ["How should I clean {item} {when}?", "How do I look after {item} {when}?", "Can I wash {item} {when}?"],
        [
            "Follow the care label: most {it} can be cleaned at {temp} degrees.",
            "Use a mild detergent and avoid bleach.",
            "Let it dry naturally, away from direct heat.",
            "A yearly service keeps the warranty valid.",
            "Replacement parts and cleaning kits are sold in our accessories section.",
        ],
    ),
    "payment": (
        [
            "can I pay the {item} in instalments",
            "which payment methods for the {item}",
            "can I pay for the {item} with paypal",
            "my payment for the {item} failed",
            "pay on invoice for {item}",
            "was I charged twice for the {item}",
            "can I use a gift card for the {item}",
            "financing options for the {item}",
        ],
        ["Can I pay for {item} in instalments {when}?", "Which payment methods work for {item} {when}?", "Why was my payment for {item} declined {when}?"],
        [
            "We accept cards, PayPal, bank transfer and invoice.",
            "Orders over {price} EUR can be paid in {n} monthly instalments at 0 percent interest.",
            "Your card is charged only when the order ships.",
            "A declined payment is usually a bank limit: try another method or contact your bank.",
            "Gift cards can be combined with any other payment method.",
        ],
    ),
}
BRANDS = ["Northpeak", "Valta", "Orbis", "Kestrel", "Lumo", "Brava", "Tessel", "Quorra", "Fennik", "Arvo", "Mistral", "Calder"]
WHEN = [
    "bought on sale",
    "ordered as a gift",
    "from the outlet section",
    "from a marketplace seller",
    "paid with a voucher",
    "for a business",
    "shipped outside the EU",
    "bought in a bundle",
    "as a loyalty member",
    "with express delivery",
    "during the holidays",
    "after the package was damaged",
    "ordered by phone",
    "bought in one of your stores",
    "picked up in store",
    "ordered with a student discount",
    "delivered to a pick-up point",
    "bought second-hand from you",
]
CARRIERS = ["DHL", "UPS", "DPD", "GLS", "Hermes"]
OPENERS = ["", "", "", "hi, ", "hello ", "hey, ", "quick question: ", "good morning, ", "excuse me, "]
CLOSERS = ["", "?", "?", "??", " please", " thanks", "? thank you", "!"]


@dataclass(frozen=True)
class HelpDesk:
    intents: list[dict]  # {"name", "description", "examples": [...]}
    articles: list[dict]  # {"question", "answer", "category" (the intent's name)}
    messages: list[list[str]]  # held-out customer messages for the latency measurement: [text, intent]

    @property
    def examples(self) -> int:
        return sum(len(i["examples"]) for i in self.intents)


def intent_names() -> list[tuple[str, str]]:
    """Every (topic, category) pair, in an order that spreads the first intents of a help desk over both."""
    topics, categories = list(TOPICS), list(CATEGORIES)
    return [(topics[k % len(topics)], categories[(k // len(topics) + k) % len(categories)]) for k in range(len(topics) * len(categories))]


def _message(rng: np.random.Generator, topic: str, category: str) -> str:
    text = str(rng.choice(TOPICS[topic][0])).format(item=str(rng.choice(CATEGORIES[category])))
    text = str(rng.choice(OPENERS)) + text + str(rng.choice(CLOSERS))
    return text if rng.random() < 0.6 else text[0].upper() + text[1:]


def _article(rng: np.random.Generator, topic: str, category: str) -> tuple[str, str]:
    _, questions, answers = TOPICS[topic]
    item = f"{rng.choice(BRANDS)} {rng.choice(CATEGORIES[category])}"
    question = str(rng.choice(questions)).format(item=item, when=str(rng.choice(WHEN)))
    numbers = {
        "it": str(rng.choice(CATEGORIES[category])),
        "days": int(rng.choice([14, 30, 60, 100])),
        "n": int(rng.integers(2, 6)),
        "m": int(rng.integers(6, 10)),
        "hour": int(rng.integers(2, 10)),
        "price": int(rng.choice([29, 49, 79, 99, 149])),
        "small": f"{rng.choice([3.9, 4.9, 5.9, 6.9])}",
        "years": int(rng.integers(2, 6)),
        "temp": int(rng.choice([30, 40, 60])),
        "carrier": str(rng.choice(CARRIERS)),
    }
    chosen = rng.choice(len(answers), int(rng.integers(2, 5)), replace=False)
    answer = " ".join(answers[i].format(**numbers) for i in sorted(chosen))
    return question, answer


def generate(articles: int, intents: int, seed: int = 0, examples_per_intent: int = 20, messages: int = 1000) -> HelpDesk:
    """``intents`` intents with ``examples_per_intent`` distinct messages each, ``articles`` FAQ articles spread evenly
    over them (distinct questions), and ``messages`` held-out messages of random intents."""
    pairs = intent_names()
    if not 1 <= intents <= len(pairs):
        raise ValueError(f"intents must be between 1 and {len(pairs)}")
    out_intents, out_articles, questions = [], [], set()
    per_intent = [articles // intents + (1 if k < articles % intents else 0) for k in range(intents)]
    for k, (topic, category) in enumerate(pairs[:intents]):
        rng = np.random.default_rng([seed, k])
        name = f"{topic}_{category}"
        examples: dict[str, None] = {}
        for _ in range(examples_per_intent * 50):
            if len(examples) == examples_per_intent:
                break
            examples.setdefault(_message(rng, topic, category))
        out_intents.append({"name": name, "description": f"{topic.replace('_', ' ')} of {category.replace('_', ' ')}", "examples": list(examples)})
        made = 0
        while made < per_intent[k]:
            question, answer = _article(rng, topic, category)
            if question.lower() in questions:
                continue
            questions.add(question.lower())
            out_articles.append({"question": question, "answer": answer, "category": name})
            made += 1
    held_out = np.random.default_rng([seed, 1_000_003])
    held = []
    for _ in range(messages):
        topic, category = pairs[int(held_out.integers(intents))]
        held.append([_message(held_out, topic, category), f"{topic}_{category}"])
    return HelpDesk(out_intents, out_articles, held)


def load_or_generate(articles: int, intents: int, data_dir: Path, seed: int = 0, examples_per_intent: int = 20) -> tuple[HelpDesk, Path]:
    """The help desk of that size, cached as JSON under ``data_dir``; also the file's path (children read it)."""
    path = Path(data_dir) / f"helpdesk-{articles}x{intents}-e{examples_per_intent}-seed{seed}.json"
    if path.is_file():
        return HelpDesk(**json.loads(path.read_text())), path
    desk = generate(articles, intents, seed, examples_per_intent)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(desk)))
    tmp.replace(path)
    return desk, path
