"""The demo seeder: generated parts, first training in-process, inspected results; idempotent."""

import pytest

from apps.inspection.demo import seed_demo
from apps.inspection.families import ANOMALY_FAMILY, DEFECT_TYPE_FAMILY
from apps.inspection.models import InspectionImage, InspectionResult
from apps.mlops.selectors import production_version

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_seeder_trains_and_inspects_once():
    summary = seed_demo()
    assert production_version(family=ANOMALY_FAMILY) is not None and production_version(family=DEFECT_TYPE_FAMILY) is not None, summary
    live = InspectionImage.objects.filter(client_image_id__startswith="live-")
    assert live.count() == 18 and not live.exclude(status="done").exists(), summary
    results = InspectionResult.objects.all()
    defective = results.filter(image__client_image_id__gte="live-0012", verdict="defective").count()
    assert defective >= 4, f"only {defective} of 6 generated defects flagged: {summary}"
    assert results.filter(image__client_image_id__lt="live-0012", verdict="ok").count() >= 9
    again = seed_demo()
    assert "0 labelled parts, 0 live parts, 0 inspected" in again and "trained" not in again
