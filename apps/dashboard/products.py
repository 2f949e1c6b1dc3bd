"""The dashboard's navigation: the four products and the platform pages."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    key: str
    title: str
    summary: str

    @property
    def url_name(self) -> str:  # each product app's urls.py names its landing page "home"
        return f"{self.key}:home"


PRODUCTS = (
    Product("recommendations", "Recommendations", "Personalised and similar-item recommendations from shop events."),
    Product("chatbot", "Chatbot", "Customer-service chat: FAQ answers, order lookup, handoff to operators."),
    Product("inspection", "Inspection", "Defect inspection of part images from line cameras."),
    Product("traffic", "Traffic", "Vehicle detection, tracking, counting and events from camera video."),
)
PRODUCTS_BY_KEY = {p.key: p for p in PRODUCTS}
