"""Builders for inspection rows with real image files (generated parts)."""

from __future__ import annotations

import io

import numpy as np
from django.core.files.base import ContentFile

from apps.inspection import services
from apps.inspection.models import InspectionResult, ProductionLine, Station
from ml.vision.render import overlay_jpeg
from ml.vision.synthetic import make_part


def png(array: np.ndarray, fmt: str = "PNG") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


def part_png(seed: int, defect: str = "", size: int = 64) -> bytes:
    return png(make_part(seed, defect, size, size).image)


def station(name: str = "Camera 1", line: str = "Line A", **fields) -> Station:  # noqa: ANN003
    line_obj, _ = ProductionLine.objects.get_or_create(name=line)
    return services.station_create(line=line_obj, name=name, **fields)


def labelled_parts(target: Station, *, n_good: int, n_per_defect: int, size: int = 64, seed: int = 0) -> None:
    from ml.vision.synthetic import make_parts

    for k, part in enumerate(make_parts(n_good, n_per_defect, seed=seed, height=size, width=size)):
        services.image_receive(
            station=target,
            client_image_id=f"lab-{seed}-{k}",
            data=png(part.image),
            label=part.defect_type or "ok",
            mask=png(part.mask),
            inspect=False,
            source="import",
        )
    # The split is a hash of the station's id and the image's: with few parts, whichever ids a test run hands out could
    # leave a split without a good part (no calibration set). Both always get one, whatever the ids.
    from apps.inspection.models import InspectionImage

    good = InspectionImage.objects.filter(station=target, label="ok", client_image_id__startswith=f"lab-{seed}-").order_by("pk")
    for split in ("validation", "train"):
        if n_good >= 2 and not good.filter(split=split).exists():
            InspectionImage.objects.filter(pk=good.exclude(pk__in=good.filter(split=split)).values_list("pk", flat=True)[:1][0]).update(split=split)


def result(
    target: Station,
    client_id: str,
    *,
    verdict: str = "defective",
    score: float = 1.0,
    threshold: float = 1.0,
    defect_type: str = "scratch",
    needs_review: bool = True,
    seed: int = 1,
) -> InspectionResult:
    part = make_part(seed, defect_type if verdict == "defective" else "", 64, 64)
    image = services.image_receive(station=target, client_image_id=client_id, data=png(part.image), inspect=False).image
    heat = part.mask.astype(np.float32) / 255 * 2 * threshold
    obj = InspectionResult(
        image=image,
        verdict=verdict,
        score=score,
        threshold=threshold,
        defect_type=defect_type if verdict == "defective" else "",
        needs_review=needs_review,
        review_reason="score near the threshold" if needs_review else "",
        latency_ms=5.0,
        inference_ms=2.0,
    )
    obj.heatmap.save(f"{image.pk}.jpg", ContentFile(overlay_jpeg(part.image, heat, threshold)), save=False)
    obj.save()
    return obj
