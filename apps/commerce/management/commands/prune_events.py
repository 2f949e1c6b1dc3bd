"""Delete old interaction events in batches: the retention policy of the events table (see README, "Events table")."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.commerce import selectors, services


class Command(BaseCommand):
    help = (
        "Delete events older than the given ages, a batch at a time. Recommendation feedback (impression, click) is "
        "needed only for A/B statistics, anonymous events only for feedback counts; training reads the rest."
    )

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--feedback-older-than-days", type=int, default=None, help="delete impression and click events older than this")
        parser.add_argument("--anonymous-older-than-days", type=int, default=None, help="delete events without a customer older than this")
        parser.add_argument("--older-than-days", type=int, default=None, help="delete every event older than this (training forgets them too)")
        parser.add_argument("--batch-size", type=int, default=services.PRUNE_BATCH, help=f"rows per DELETE (default {services.PRUNE_BATCH})")
        parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")

    def handle(self, *args, dry_run: bool = False, batch_size: int = services.PRUNE_BATCH, **options) -> None:  # noqa: ANN002, ANN003
        rules = [
            ("feedback (impression, click)", options["feedback_older_than_days"], {"types": [str(t) for t in selectors.FEEDBACK_TYPES]}),
            ("anonymous", options["anonymous_older_than_days"], {"anonymous_only": True}),
            ("all", options["older_than_days"], {}),
        ]
        chosen = [(what, days, kwargs) for what, days, kwargs in rules if days is not None]
        if not chosen:
            raise CommandError("Give at least one of --feedback-older-than-days, --anonymous-older-than-days, --older-than-days.")
        if any(days < 1 for _, days, _ in chosen):
            raise CommandError("Ages must be at least 1 day.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        now = timezone.now()
        for what, days, kwargs in chosen:
            before = now - timedelta(days=days)
            count = services.event_prune(before=before, dry_run=dry_run, batch_size=batch_size, **kwargs)
            verb = "would delete" if dry_run else "deleted"
            self.stdout.write(f"{what} events older than {days} days (before {before:%Y-%m-%d %H:%M} UTC): {verb} {count}")
