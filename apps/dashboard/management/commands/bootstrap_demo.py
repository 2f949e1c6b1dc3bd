"""Prepare the embedded demo: operator logins, each product's demo data, and the first model of every family."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.accounts.models import Role, User
from apps.accounts.services import user_create
from apps.core.demo import demo_seeders
from apps.mlops import selectors, services
from apps.mlops.families import all_families
from apps.mlops.models import RunStatus, Trigger

DEMO_USERS = (("operator", Role.OPERATOR), ("admin", Role.ADMIN))


class Command(BaseCommand):
    help = "Create demo logins, seed every product's demo data and train each model family's first version."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--skip-training", action="store_true", help="Do not train missing models.")

    def handle(self, *args, skip_training: bool = False, **options) -> None:  # noqa: ANN002, ANN003
        password = self._demo_password()
        for username, role in DEMO_USERS:
            if not User.objects.filter(username=username).exists():
                user_create(username=username, password=password, role=role)
        for name, seeder in demo_seeders().items():
            self.stdout.write(f"demo data  {name}: {seeder()}")
        if not skip_training:
            self._train_missing()
        self.stdout.write(self.style.SUCCESS(f"Dashboard login: operator / {password}   (Django admin: admin / {password})"))

    def _demo_password(self) -> str:
        # Kept in the git-ignored var/ so every `make run` prints the same login.
        path = settings.VAR_DIR / "demo-password.txt"
        if path.exists():
            return path.read_text().strip()
        password = secrets.token_urlsafe(9)
        path.write_text(password + "\n")
        path.chmod(0o600)
        return password

    def _train_missing(self) -> None:
        for spec in all_families():
            if selectors.production_version(family=spec.name) is not None:
                continue
            if not spec.train_at_bootstrap:
                self.stdout.write(f"training   {spec.name}: skipped: trained or imported on request (see the Models page)")
                continue
            self.stdout.write(f"training   {spec.name}: no production model yet, training the first version…")
            run = services.training_run_start(family=spec.name, trigger=Trigger.CLI, dispatch=False)
            run = services.training_run_execute(run_id=run.pk, worker="bootstrap")
            if run.status != RunStatus.SUCCEEDED:
                self.stderr.write(f"training   {spec.name}: {run.status}: {run.error.splitlines()[0] if run.error else ''}")
                continue
            version = run.model_version
            metric = f"{spec.primary_metric}={version.primary_value:.4f}"
            self.stdout.write(f"training   {spec.name}: v{version.version} {metric} ({version.status}) on {run.device}")
