"""The Models page shows how each recommender version fitted the catalog (dense / head / factors) and its predicted peak memory."""

import re

import pytest

from apps.mlops.models import FamilySettings
from apps.recommendations.families import MAIN_FAMILY
from tests.apps.recommendations.conftest import train_family
from tests.apps.recommendations.factories import make_shop

pytestmark = pytest.mark.django_db


def _badge(page: str, version: int) -> re.Match:
    row = re.search(rf'<tr data-version="{version}">(.*?)</tr>', page, re.S)
    assert row, f"no row for v{version}"
    return re.search(r'<span class="badge scale" data-scale="(\w+)" title="([^"]*)">([^<]*)</span>', row.group(1))


def test_each_version_shows_its_scale_strategy_with_the_reason(operator_client):
    make_shop()
    FamilySettings.objects.create(family=MAIN_FAMILY, default_config={"content": False, "als_members": 1})
    auto = train_family(MAIN_FAMILY)
    head = train_family(MAIN_FAMILY, scale_strategy="head")
    factors = train_family(MAIN_FAMILY, scale_strategy="factors")
    # Recorded on the version (the API's data_snapshot), chosen automatically unless the config forces it.
    scale = auto.data_snapshot["scale"]
    assert scale["strategy"] == "dense" and "dense_item_limit" in scale["reason"] and scale["predicted_peak_bytes"] > 0
    items = head.data_snapshot["scale"]["head_items"]
    assert head.data_snapshot["scale"]["strategy"] == "head" and items > 0
    api = operator_client.get(f"/api/v1/models/{factors.pk}/").json()
    assert api["data_snapshot"]["scale"]["strategy"] == "factors" and api["data_snapshot"]["memory"]["predicted_peak_bytes"] > 0

    page = operator_client.get("/models/").content.decode()
    dense_badge, head_badge, factors_badge = (_badge(page, v.version) for v in (auto, head, factors))
    assert dense_badge.group(1, 3) == ("dense", "dense") and "EASE over the whole catalog" in dense_badge.group(2)
    assert "predicted peak" in dense_badge.group(2)
    assert head_badge.group(1, 3) == ("head", f"head {items}") and "forced by scale_strategy=head" in head_badge.group(2)
    assert factors_badge.group(1, 3) == ("factors", "factors") and "forced by scale_strategy=factors" in factors_badge.group(2)
    assert page.count("data-memory") >= 3  # each trained version: its predicted peak

    run_page = operator_client.get(f"/runs/{head.training_run_id}/").content.decode()
    assert f"head ({items} items): forced by scale_strategy=head" in run_page and "predicted peak" in run_page


def test_versions_of_other_families_have_no_scale_badge(operator_client):
    from tests.apps.mlops.helpers import train_inline

    run = train_inline()
    page = operator_client.get("/models/").content.decode()
    assert _badge(page, run.model_version.version) is None and 'class="badge scale"' not in page
