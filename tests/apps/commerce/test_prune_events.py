"""Retention: prune_events deletes old events by kind and age, a batch at a time, and a dry run deletes nothing."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.commerce import services
from apps.commerce.models import Event, EventType
from tests.apps.commerce.factories import CustomerFactory, EventFactory

pytestmark = pytest.mark.django_db


def _call(*args) -> str:
    out = StringIO()
    call_command("prune_events", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def events():
    now, customer = timezone.now(), CustomerFactory()
    made = {}
    for age in (1, 40, 400):
        at = now - timedelta(days=age)
        made[age] = {
            "view": EventFactory(customer=customer, type=EventType.VIEW, occurred_at=at),
            "impression": EventFactory(customer=customer, type=EventType.IMPRESSION, recommendation_id="r", occurred_at=at),
            "click": EventFactory(customer=customer, type=EventType.CLICK, recommendation_id="r", occurred_at=at),
            "anonymous": EventFactory(customer=None, session_id="s", type=EventType.VIEW, occurred_at=at),
        }
    return made


def _left(events) -> set[tuple[int, str]]:
    ids = set(Event.objects.values_list("id", flat=True))
    return {(age, kind) for age, kinds in events.items() for kind, e in kinds.items() if e.pk in ids}


def test_dry_run_counts_and_deletes_nothing(events):
    out = _call("--feedback-older-than-days", "30", "--older-than-days", "365", "--dry-run")
    assert "feedback (impression, click) events older than 30 days" in out and "would delete 4" in out
    assert "all events older than 365 days" in out and "would delete 4\n" in out
    assert Event.objects.count() == 12


def test_feedback_anonymous_and_all_rules(events):
    assert "deleted 4" in _call("--feedback-older-than-days", "30", "--batch-size", "3")
    everything = {(age, kind) for age in (1, 40, 400) for kind in ("view", "impression", "click", "anonymous")}
    assert _left(events) == everything - {(a, k) for a in (40, 400) for k in ("impression", "click")}
    assert "deleted 2" in _call("--anonymous-older-than-days", "30")
    assert _left(events) == {(1, "view"), (1, "impression"), (1, "click"), (1, "anonymous"), (40, "view"), (400, "view")}
    assert "deleted 1" in _call("--older-than-days", "365")
    assert (400, "view") not in _left(events) and (40, "view") in _left(events)


def test_event_prune_deletes_in_batches(events, django_assert_max_num_queries):
    before = timezone.now() - timedelta(days=10)
    # 8 old events, 3 a batch: three SELECTs of ids with three DELETEs, then one empty SELECT.
    with django_assert_max_num_queries(7):
        assert services.event_prune(before=before, batch_size=3) == 8
    assert Event.objects.count() == 4
    with pytest.raises(ValueError):
        services.event_prune(before=before, batch_size=0)


@pytest.mark.parametrize("args", [[], ["--older-than-days", "0"], ["--feedback-older-than-days", "5", "--batch-size", "0"]])
def test_bad_arguments(args):
    with pytest.raises(CommandError):
        _call(*args)
