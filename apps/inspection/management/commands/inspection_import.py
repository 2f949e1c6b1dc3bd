"""Import a folder of part images into a station, with or without labels and masks.

With ``--labels labels.csv`` (columns ``image`` and either ``class`` or ``is_defective``, optional ``mask``;
paths relative to the folder; class ``Free``/``ok``/``good`` = good part) the images join the station's
labelled dataset (train/validation split by a stable hash). Without labels every image in the folder
(recursively) is queued for inspection. A file that is not an acceptable image is reported and skipped.
"""

from __future__ import annotations

import csv
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.inspection import services
from apps.inspection.models import OK_LABEL, ImageSource, Station

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
GOOD_CLASSES = {"free", "ok", "good", "none", ""}


class Command(BaseCommand):
    help = "Import a folder of images into a station (labelled dataset with --labels, else queued for inspection)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("folder", type=Path)
        parser.add_argument("--station", type=int, required=True, help="Station id.")
        parser.add_argument("--labels", type=Path, help="CSV with image[,mask],class or is_defective columns.")
        parser.add_argument("--inspect", action="store_true", help="Also inspect labelled images (e.g. to fill the threshold curve).")
        parser.add_argument("--limit", type=int, default=0, help="Import at most this many images.")

    def handle(self, *args, folder: Path, station: int, labels: Path | None, inspect: bool, limit: int, **options) -> None:  # noqa: ANN002, ANN003
        target = Station.objects.filter(pk=station).first()
        if target is None:
            raise CommandError(f"no station with id {station}")
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder")
        rows = self._rows(folder, labels)
        if limit:
            rows = rows[:limit]
        created = duplicates = failed = 0
        for path, label, mask_path in rows:
            try:
                received = services.image_receive(
                    station=target,
                    client_image_id=str(path.relative_to(folder)),
                    data=path.read_bytes(),
                    filename=path.name,
                    source=ImageSource.IMPORT,
                    label=label,
                    mask=mask_path.read_bytes() if mask_path else None,
                    inspect=inspect or not label,
                )
            except (ValidationError, OSError) as exc:
                failed += 1
                message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                self.stderr.write(f"skipped {path}: {message}")
                continue
            created += received.created
            duplicates += not received.created
        self.stdout.write(f"imported {created} images into {target} ({duplicates} already there, {failed} skipped)")

    def _rows(self, folder: Path, labels: Path | None) -> list[tuple[Path, str, Path | None]]:
        if labels is None:
            return [(p, "", None) for p in sorted(folder.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
        try:
            with open(labels, newline="") as fh:
                records = list(csv.DictReader(fh))
        except OSError as exc:
            raise CommandError(f"cannot read {labels}: {exc}") from None
        if not records or "image" not in records[0]:
            raise CommandError(f"{labels} needs an 'image' column")
        rows = []
        for record in records:
            cls = (record.get("class") or "").strip()
            if cls:
                label = OK_LABEL if cls.lower() in GOOD_CLASSES else cls.lower()
            elif "is_defective" in record:
                label = "defect" if record["is_defective"].strip() in ("1", "true", "True") else OK_LABEL
            else:
                raise CommandError(f"{labels} needs a 'class' or 'is_defective' column")
            mask = record.get("mask", "").strip()
            rows.append((folder / record["image"], label, folder / mask if mask else None))
        return rows
