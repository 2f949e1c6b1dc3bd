from pathlib import Path

from apps.commerce.imports import import_catalog_csv
from apps.commerce.management.commands._base import ImportCommand


class Command(ImportCommand):
    help = (
        "Create or update products from a CSV with columns sku,title,description,category,price,in_stock "
        "and optionally attributes (a JSON object). Idempotent: unchanged rows count as duplicates."
    )

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("path", type=Path)
        parser.add_argument("--max-errors", type=int, default=20, help="How many rejected rows to print (default 20).")

    def handle(self, *args, path: Path, max_errors: int, **options) -> None:  # noqa: ANN002, ANN003
        self.run_import(lambda: import_catalog_csv(path), max_errors=max_errors)
