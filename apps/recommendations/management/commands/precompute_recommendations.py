"""Precompute top-N for active customers under the production version now (the beat task does it every 5 min)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.mlops.selectors import production_version
from apps.recommendations import services
from apps.recommendations.families import MAIN_FAMILY


class Command(BaseCommand):
    help = "Store top-N recommendations for customers active in the last --days days under the production model."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--n", type=int, default=None, help="items per customer (default RECOMMENDATIONS_PRECOMPUTE_N)")
        parser.add_argument("--days", type=int, default=None, help="activity window (default RECOMMENDATIONS_ACTIVE_DAYS)")

    def handle(self, *args, n: int | None = None, days: int | None = None, **options) -> None:  # noqa: ANN002, ANN003
        if n is not None and not 1 <= n <= services.MAX_N:
            raise CommandError(f"--n must be between 1 and {services.MAX_N}")
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1")
        version = production_version(family=MAIN_FAMILY)
        if version is None:
            raise CommandError(f"{MAIN_FAMILY} has no production version yet; train it first.")
        stored = services.precompute_for_version(version_id=version.pk, n=n, days=days)
        self.stdout.write(f"precomputed top-{n or 'N'} for {stored} customers under {MAIN_FAMILY} v{version.version}")
