"""Demo data for `make run`: generated part images (never the shared datasets), a line, a station, results.

The first seeding trains both models in-process on the generated parts (under a minute on a laptop CPU with
the small images used here), then inspects a batch of fresh parts, so the pages show results right away.
"""

from __future__ import annotations

import io

import numpy as np

from apps.inspection import services
from apps.inspection.families import ANOMALY_FAMILY, DEFECT_TYPE_FAMILY
from apps.inspection.models import ImageSource, InspectionImage, ProductionLine, Station
from apps.mlops import selectors as mlops_selectors
from apps.mlops import services as mlops_services
from apps.mlops.models import Trigger
from ml.vision.synthetic import make_parts

DEMO_LINE = "Demo line"
DEMO_STATION = "Surface camera 1"
# Small generated parts and the backbone only up to block 10 keep the first training fast; the configs are the
# product defaults otherwise, and both models still share one backbone pass when inspecting.
DEMO_SIZE = 128
DEMO_CONFIG = {"image_height": 128, "image_width": 128, "blocks": [4, 10], "coreset_size": 256, "score_border": 1}
DEMO_CLASSIFIER_CONFIG = {"image_height": 128, "image_width": 128, "blocks": [4, 10], "flip_augment": False}


def png_bytes(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def seed_parts(station: Station, *, n_good: int, n_per_defect: int, seed: int, prefix: str, labelled: bool) -> int:
    created = 0
    for k, part in enumerate(make_parts(n_good, n_per_defect, seed=seed, height=DEMO_SIZE, width=DEMO_SIZE)):
        received = services.image_receive(
            station=station,
            client_image_id=f"{prefix}-{k:04d}",
            data=png_bytes(part.image),
            source=ImageSource.DEMO,
            label=(part.defect_type or "ok") if labelled else "",
            mask=png_bytes(part.mask) if labelled else None,
            inspect=not labelled,
        )
        created += received.created
    return created


def seed_demo() -> str:
    line, _ = ProductionLine.objects.get_or_create(name=DEMO_LINE)
    station = Station.objects.filter(line=line, name=DEMO_STATION).first()
    if station is None:
        station = services.station_create(line=line, name=DEMO_STATION, camera="GigE 5 MP mono", part_type="ferrite tile", retrain_after_reviews=20)
    labelled = seed_parts(station, n_good=40, n_per_defect=8, seed=1, prefix="train", labelled=True)
    trained = []
    for family, config in ((ANOMALY_FAMILY, DEMO_CONFIG), (DEFECT_TYPE_FAMILY, DEMO_CLASSIFIER_CONFIG)):
        if mlops_selectors.production_version(family=family) is None:
            run = mlops_services.training_run_start(family=family, trigger=Trigger.CLI, config=config, dispatch=False)
            run = mlops_services.training_run_execute(run_id=run.pk, worker="demo-seeder")
            trained.append(f"{family} {run.status}")
    live = seed_parts(station, n_good=12, n_per_defect=2, seed=2, prefix="live", labelled=False)
    pending = list(InspectionImage.objects.filter(station=station, status="pending").values_list("pk", flat=True))
    inspected = services.images_inspect(image_ids=pending) if pending else 0
    return f"{line.name} / {station.name}: {labelled} labelled parts, {live} live parts, {inspected} inspected" + (
        f"; trained {', '.join(trained)}" if trained else ""
    )
