"""Import FAQ articles from a CSV file with ``question,answer[,category]`` columns (BankFAQs' ``Class`` works too)."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.chatbot.services import faq_import_csv


class Command(BaseCommand):
    help = "Import FAQ articles from CSV (question,answer[,category])."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options) -> None:  # noqa: ANN002, ANN003
        try:
            result = faq_import_csv(data=path.read_bytes())
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc}") from None
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"{path}: {result['created']} articles created, {result['updated']} updated, {result['invalid']} invalid rows")
