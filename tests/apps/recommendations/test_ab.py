"""A/B split: deterministic assignment, served lists per arm, attribution of events, CTR/conversion with intervals."""

import pytest
from django.core.exceptions import ValidationError

from apps.commerce import services as commerce_services
from apps.recommendations import selectors, services
from apps.recommendations.families import MAIN_FAMILY
from apps.recommendations.models import ServedList, Variant
from tests.apps.recommendations.conftest import train_family

pytestmark = pytest.mark.django_db


def test_bucket_is_stable_and_uniform():
    assert services.ab_bucket(1, "alice") == services.ab_bucket(1, "alice")
    assert services.ab_bucket(1, "alice") != services.ab_bucket(2, "alice")
    share = sum(services.ab_bucket(7, f"user-{i}") < 0.3 for i in range(4000)) / 4000
    assert share == pytest.approx(0.3, abs=0.03)


@pytest.fixture
def candidate(trained):
    # A second version with other blend weights that stays a candidate (production keeps v1).
    from apps.mlops.models import FamilySettings

    FamilySettings.objects.filter(family=MAIN_FAMILY).update(auto_promote=False)
    version = train_family(MAIN_FAMILY, blend_ease_weight=0.9)
    assert version.status == "candidate"
    return version


def test_start_validates(trained, candidate):
    with pytest.raises(ValidationError, match="already in production"):
        services.ab_test_start(candidate=trained["blend"], share=0.5)
    with pytest.raises(ValidationError, match="belongs to"):
        services.ab_test_start(candidate=trained["popularity"], share=0.5)
    for share in (0, 1.5, "half"):
        with pytest.raises(ValidationError):
            services.ab_test_start(candidate=candidate, share=share)
    # An uploaded file a worker has not accepted (yet) is never served.
    from apps.mlops.models import ModelVersion

    for status in ("checking", "rejected"):
        ModelVersion.objects.filter(pk=candidate.pk).update(status=status)
        candidate.refresh_from_db()
        with pytest.raises(ValidationError, match="cannot be served"):
            services.ab_test_start(candidate=candidate, share=0.5)


def test_split_serves_the_candidate_to_its_share_and_attributes_outcomes(trained, candidate):
    test = services.ab_test_start(candidate=candidate, share=0.5)
    customers = [f"{c}-fan-{k}" for c in ("coffee", "garden", "running") for k in range(20)]
    served = {c: services.recommendations_for(customer_external_id=c, n=3, in_stock=False) for c in customers}
    for customer, result in served.items():
        expected = Variant.CANDIDATE if services.ab_bucket(test.pk, customer) < 0.5 else Variant.PRODUCTION
        assert result.variant == expected
        assert result.model_version == (f"{MAIN_FAMILY} v2" if expected == Variant.CANDIDATE else f"{MAIN_FAMILY} v1")
        # Asking again lands in the same arm.
        assert services.recommendations_for(customer_external_id=customer, n=3, in_stock=False).variant == expected
    arms = {v: [c for c, r in served.items() if r.variant == v] for v in Variant.values}
    assert arms[Variant.CANDIDATE] and arms[Variant.PRODUCTION]

    # The shop reports impressions for every list, clicks and purchases for some, citing the list id.
    for customer, result in served.items():
        sku = result.items[0].sku
        commerce_services.event_record(type="impression", sku=sku, customer_external_id=customer, recommendation_id=result.id)
        if customer in arms[Variant.CANDIDATE][:6]:
            commerce_services.event_record(type="click", sku=sku, customer_external_id=customer, recommendation_id=result.id)
            commerce_services.event_record(type="purchase", sku=sku, customer_external_id=customer, recommendation_id=result.id)
    outcomes = {o.variant: o for o in selectors.ab_test_outcomes(test=test)}
    cand, prod = outcomes[Variant.CANDIDATE], outcomes[Variant.PRODUCTION]
    assert cand.version == candidate and cand.impressions >= len(arms[Variant.CANDIDATE]) and cand.clicks == 6 and cand.purchases == 6
    assert prod.clicks == 0 and prod.impressions >= len(arms[Variant.PRODUCTION])
    assert cand.lists == ServedList.objects.filter(ab_test=test, variant=Variant.CANDIDATE).count()
    assert 0 < cand.ctr.low < cand.ctr.value < cand.ctr.high < 1 and prod.ctr.value == 0 and prod.ctr.high > 0

    # Stopping the test sends everyone back to production.
    assert services.ab_test_stop() == 1
    customer = arms[Variant.CANDIDATE][0]
    assert services.recommendations_for(customer_external_id=customer, n=3, in_stock=False).variant == Variant.PRODUCTION
