"""What the import commands share: run an import, print its counts and the first row errors."""

from __future__ import annotations

from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError

from apps.commerce.imports import ImportFileError, ImportReport


class ImportCommand(BaseCommand):
    def run_import(self, do_import: Callable[[], ImportReport], *, max_errors: int) -> ImportReport:
        try:
            report = do_import()
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
        for line in report.summary_lines(max_errors=max_errors):
            self.stdout.write(line)
        return report
