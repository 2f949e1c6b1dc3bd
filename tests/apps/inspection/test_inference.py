"""The inference pass: images waiting together are taken in one batch, written together, and pictured correctly."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from apps.inspection import services
from apps.inspection.families import ANOMALY_FAMILY, DEFECT_TYPE_FAMILY
from apps.inspection.models import InspectionImage, InspectionResult, Review
from apps.mlops.models import RunStatus
from apps.mlops.serving import model_cache
from tests.apps.inspection import factories as f
from tests.apps.mlops.helpers import train_inline

pytestmark = pytest.mark.django_db

SMALL = {
    ANOMALY_FAMILY: {"image_height": 64, "image_width": 64, "coreset_size": 128, "score_border": 0, "head_epochs": 2},
    DEFECT_TYPE_FAMILY: {"image_height": 64, "image_width": 64, "flip_augment": False},
}


@pytest.fixture
def station():
    model_cache.clear()
    station = f.station()
    f.labelled_parts(station, n_good=12, n_per_defect=2)
    runs = [train_inline(family=family, config=config) for family, config in SMALL.items()]
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 2, [r.error for r in runs]
    yield station
    model_cache.clear()


def _pending(station, client_id: str, seed: int, defect: str = "") -> InspectionImage:  # noqa: ANN001
    image = services.image_receive(station=station, client_image_id=client_id, data=f.part_png(seed, defect), inspect=False).image
    InspectionImage.objects.filter(pk=image.pk).update(status="pending")
    return image


def test_one_pass_takes_every_waiting_image_and_writes_them_together(station, django_assert_max_num_queries):
    waiting = [_pending(station, f"w{k}", 700 + k, defect) for k, defect in enumerate(["", "spot", "", "scratch"])]
    services.images_inspect(image_ids=[waiting[0].pk])  # loads the models, so that the count below is the pass itself
    more = [_pending(station, f"m{k}", 800 + k, defect) for k, defect in enumerate(["", "spot", "crack", "", "scratch", ""])]

    # Asked for one, it takes all six waiting: one claim (select + update), the production versions (asked every pass
    # under test settings), one write of the results (select + insert + update); no second claim, since the batch
    # was not full; the savepoints of the test's transaction. None of it per image.
    with django_assert_max_num_queries(13):
        assert services.images_inspect(image_ids=[more[-1].pk]) == 6
    results = list(InspectionResult.objects.filter(image__in=more).select_related("image"))
    assert len(results) == 6 and {r.batch_size for r in results} == {6}
    assert all(r.image.status == "done" and r.image.inspected_at is not None for r in results)
    for r in results:
        assert set(r.timings_ms) == {"queue", "decode", "model", "render", "before_write"}, r.timings_ms
        assert r.timings_ms["queue"] >= 0 and r.timings_ms["model"] > 0 and r.latency_ms >= r.timings_ms["queue"]
        # The overlay: a colour JPEG the size of the part.
        with r.heatmap.open("rb") as fh, Image.open(io.BytesIO(fh.read())) as picture:
            assert (picture.format, picture.mode, picture.size) == ("JPEG", "RGB", (64, 64))
        assert (r.verdict == "defective") == bool(r.boxes)
    assert services.images_inspect(image_ids=[]) == 0  # nothing left waiting


def test_an_image_inspected_again_keeps_its_result_row_and_reviews(station, operator):
    image = _pending(station, "again", 901, "spot")
    services.images_inspect(image_ids=[image.pk])
    result = InspectionResult.objects.get(image=image)
    services.review_create(result=result, decision="confirm", user=operator)
    InspectionImage.objects.filter(pk=image.pk).update(status="pending")

    assert services.images_inspect(image_ids=[image.pk]) == 1
    again = InspectionResult.objects.get(image=image)
    assert again.pk == result.pk and Review.objects.filter(result=again).count() == 1
    assert again.heatmap and again.heatmap.name != "" and np.isfinite(again.score)


def test_full_passes_go_on_and_a_partial_pass_ends_the_task(station):
    services.images_inspect(image_ids=[_pending(station, "warm", 950).pk])  # loads the models
    waiting = [_pending(station, f"f{k}", 960 + k) for k in range(5)]
    # Batches of 2: 2 + 2 + 1. The third pass is not full, so the task ends without claiming again.
    assert services.images_inspect(image_ids=[waiting[0].pk], batch_size=2) == 5
    assert sorted(InspectionResult.objects.filter(image__in=waiting).values_list("batch_size", flat=True)) == [1, 2, 2, 2, 2]
    late = _pending(station, "late", 970)
    assert services.images_inspect(image_ids=[late.pk], batch_size=2) == 1
