import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.mlops import services
from apps.mlops.models import VersionStatus


class Command(BaseCommand):
    help = "Register a weights file trained elsewhere (e.g. a COCO-pretrained yolo11n.pt) as a candidate version of a family."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("family")
        parser.add_argument("path", type=Path)
        parser.add_argument("--metrics", default="{}", help='JSON object of metrics measured elsewhere, e.g. \'{"map50": 0.52}\'.')
        parser.add_argument("--promote", action="store_true", help="Put it in production at once.")
        parser.add_argument("--reason", default="", help="Why (recorded in the promotion audit log).")

    def handle(self, *args, family: str, path: Path, metrics: str, promote: bool, reason: str, **options) -> None:  # noqa: ANN002, ANN003
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        try:
            # Checked here, in this process (not the web server's): the command reports the worker's verdict itself.
            version = services.model_version_import(
                family=family, source=path, filename=path.name, metrics=json.loads(metrics), check_inline=True
            )
            if version.status == VersionStatus.REJECTED:
                raise CommandError(f"{family} v{version.version} rejected: {version.check_error}")
            if promote:
                version = services.model_version_promote(version=version, reason=reason or f"Imported from {path.name} on the command line.")
        except json.JSONDecodeError as exc:
            raise CommandError(f"--metrics is not valid JSON: {exc.msg}") from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"{version.family} v{version.version} registered ({version.status}), sha256 {version.artifact_sha256}")
