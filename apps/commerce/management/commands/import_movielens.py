from pathlib import Path

from apps.commerce.imports import import_movielens
from apps.commerce.management.commands._base import ImportCommand


class Command(ImportCommand):
    help = (
        "Import MovieLens 100k from DIR: u.item → products (sku ml-<item>, genres as category/attributes), "
        "u.user/u.data → customers ml-<user> and rating events (event id ml100k-<user>-<item>). Idempotent."
    )

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("directory", type=Path)
        parser.add_argument("--max-errors", type=int, default=20, help="How many rejected rows to print (default 20).")

    def handle(self, *args, directory: Path, max_errors: int, **options) -> None:  # noqa: ANN002, ANN003
        self.run_import(lambda: import_movielens(directory), max_errors=max_errors)
