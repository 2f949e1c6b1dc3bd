from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import Role, User
from apps.accounts.scopes import KNOWN_SCOPES
from apps.accounts.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print its secret (shown only once)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("username")
        parser.add_argument("--name", default="cli")
        parser.add_argument("--scope", action="append", dest="scopes", default=[], help=f"Repeatable; known: {', '.join(sorted(KNOWN_SCOPES))}")

    def handle(self, *args, username: str, name: str, scopes: list[str], **options) -> None:  # noqa: ANN002, ANN003
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        if not (user.is_operator or (user.is_active and user.role == Role.INTEGRATOR)):
            # New accounts start as customers, whose tokens could call nothing: say so instead of printing a dud.
            raise CommandError(
                f"{username!r} has the role {user.get_role_display()!r}, which may not use the API; an admin sets the role to integrator or operator first."
            )
        try:
            token, secret = api_token_create(user=user, name=name, scopes=scopes)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(secret)
