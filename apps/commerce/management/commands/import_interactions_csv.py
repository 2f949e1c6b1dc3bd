from pathlib import Path

from apps.commerce.imports import import_interactions_csv
from apps.commerce.management.commands._base import ImportCommand


class Command(ImportCommand):
    help = (
        "Import interaction events from a CSV with columns user,item,event,weight,timestamp "
        "(event: view/add_to_cart/purchase/rating; weight: the rating or quantity; timestamp: ISO-8601, naive = UTC, "
        "or epoch seconds). user is the customer's external id (unknown ones become stub customers), item the "
        "product sku. Each row gets an event id derived from its content: importing the same file again adds nothing."
    )

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--create-missing-products",
            action="store_true",
            help='Create a placeholder product (title "Item <sku>") for items not in the catalog instead of rejecting '
            "their rows; a later import_catalog_csv fills them in.",
        )
        parser.add_argument("--max-errors", type=int, default=20, help="How many rejected rows to print (default 20).")

    def handle(self, *args, path: Path, create_missing_products: bool, max_errors: int, **options) -> None:  # noqa: ANN002, ANN003
        self.run_import(lambda: import_interactions_csv(path, create_missing_products=create_missing_products), max_errors=max_errors)
