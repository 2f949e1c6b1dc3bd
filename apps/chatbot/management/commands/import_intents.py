"""Import intent examples from a CSV file: ``text,intent`` or Banking77-style ``text,category``."""

from __future__ import annotations

import csv
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.chatbot.models import IntentAction
from apps.chatbot.services import examples_import_csv


class Command(BaseCommand):
    help = "Import intent examples from CSV (columns text,intent — or text,category as in Banking77)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("path", type=Path)
        parser.add_argument("--action", default=IntentAction.FAQ, choices=IntentAction.values, help="action of intents the file creates")

    def handle(self, *args, path: Path, action: str, **options) -> None:  # noqa: ANN002, ANN003
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc}") from None
        header = next(csv.reader(data.decode("utf-8-sig", errors="replace").splitlines()[:1]), [])
        column = "intent" if "intent" in [h.strip().lower() for h in header] else "category"
        try:
            result = examples_import_csv(data=data, intent_column=column, action=action)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        counts = f"{result['created']} examples created, {result['skipped']} already present, {result['invalid']} invalid rows"
        self.stdout.write(f"{path}: {counts}, {result['new_intents']} new intents")
