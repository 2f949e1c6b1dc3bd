import pytest

from apps.mlops import services as mlops
from apps.mlops.models import FamilySettings, RunStatus
from apps.recommendations import services
from apps.recommendations.families import MAIN_FAMILY, POPULARITY_FAMILY
from tests.apps.recommendations.factories import make_shop


@pytest.fixture(autouse=True)
def _fresh_service_caches():
    services.clear_caches()
    yield
    services.clear_caches()


def train_family(family: str, **config):
    run = mlops.training_run_start(family=family, trigger="cli", dispatch=False, config=config or None)
    run = mlops.training_run_execute(run_id=run.pk, worker="test")
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run.model_version


@pytest.fixture
def shop(db):
    return make_shop()


@pytest.fixture
def trained(shop):
    """The main family trained on the small shop (text embeddings off: fast), plus the popularity baseline."""
    FamilySettings.objects.create(family=MAIN_FAMILY, default_config={"content": False, "als_members": 1})
    return {"blend": train_family(MAIN_FAMILY), "popularity": train_family(POPULARITY_FAMILY), **shop}
