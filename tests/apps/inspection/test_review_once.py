"""A result is reviewed once: a double key press or a second operator is refused, and counts once toward retraining."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client

from apps.core.errors import is_conflict
from apps.inspection import services
from apps.inspection.models import InspectionImage, Review, Station
from tests.apps.inspection import factories as f
from tests.factories import UserFactory


@pytest.mark.django_db
def test_second_review_of_a_result_is_refused_and_counted_once(operator):
    station = f.station(retrain_after_reviews=5)
    result = f.result(station, "r1", verdict="defective", defect_type="scratch")
    services.review_create(result=result, decision="confirm", user=operator)
    other = UserFactory(role="operator")
    with pytest.raises(ValidationError, match="already reviewed") as raised:
        services.review_create(result=result, decision="ok", user=other)
    assert is_conflict(raised.value)
    assert Review.objects.filter(result=result).count() == 1
    assert InspectionImage.objects.get(pk=result.image_id).label == "scratch"  # the second decision did not relabel
    assert Station.objects.get(pk=station.pk).reviews_since_retrain == 1


@pytest.mark.django_db
def test_dashboard_answers_a_second_review_with_409_or_a_message(operator_client: Client):
    station = f.station()
    result = f.result(station, "r1")
    url = f"/inspection/review/{result.pk}/"
    assert operator_client.post(url, {"decision": "confirm"}, HTTP_ACCEPT="application/json").status_code == 200
    again = operator_client.post(url, {"decision": "confirm"}, HTTP_ACCEPT="application/json")
    assert again.status_code == 409
    assert "already reviewed" in again.json()["detail"] and again.json()["errors"]["result"]
    page = operator_client.post(url, {"decision": "ok"}, follow=True)
    assert page.status_code == 200 and b"already reviewed" in page.content
    assert Review.objects.count() == 1 and Station.objects.get(pk=station.pk).reviews_since_retrain == 1


@pytest.mark.django_db(transaction=True)
def test_two_operators_reviewing_at_once_store_one_review():
    station = f.station(retrain_after_reviews=10)
    result = f.result(station, "r1")
    operators = [UserFactory(role="operator"), UserFactory(role="operator")]
    outcomes: list[str] = []
    start = threading.Barrier(len(operators))

    def review(user) -> None:  # noqa: ANN001
        try:
            start.wait(timeout=30)
            services.review_create(result=result, decision="ok", user=user)
            outcomes.append("stored")
        except ValidationError as exc:
            outcomes.append("conflict" if is_conflict(exc) else repr(exc))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=review, args=(user,)) for user in operators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["conflict", "stored"]
    assert Review.objects.count() == 1
    assert Station.objects.get(pk=station.pk).reviews_since_retrain == 1


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_station_settings_refuse_non_finite_numbers(operator_client: Client, value: str):
    station = f.station()
    services.station_update(station=station, threshold=1.5)
    page = operator_client.post(
        f"/inspection/stations/{station.pk}/", {"threshold": value, "target_false_reject_rate": "0.02", "retrain_after_reviews": "5"}, follow=True
    )
    assert b"finite number" in page.content
    page = operator_client.post(
        f"/inspection/stations/{station.pk}/", {"threshold": "", "target_false_reject_rate": value, "retrain_after_reviews": "5"}, follow=True
    )
    assert b"finite number" in page.content
    station.refresh_from_db()
    assert station.threshold == 1.5 and station.target_false_reject_rate == 0.02


@pytest.mark.django_db
def test_service_refuses_a_nan_threshold():
    station = f.station()
    with pytest.raises(Exception, match="finite number"):
        services.station_update(station=station, threshold=float("nan"))
    with pytest.raises(Exception, match="finite number"):
        services.station_create(line=station.line, name="Camera 9", review_margin=float("inf"))


@pytest.mark.django_db
@pytest.mark.parametrize("days", ["abc", "0", "-3", "99999999999999999999", "1e3"])
def test_reports_refuse_a_bad_days_parameter(operator_client: Client, days: str):
    response = operator_client.get("/inspection/reports/", {"days": days})
    assert response.status_code == 400
    assert b"days must be a whole number" in response.content


@pytest.mark.django_db
def test_reports_take_a_valid_days_parameter(operator_client: Client):
    response = operator_client.get("/inspection/reports/", {"days": "30"})
    assert response.status_code == 200 and response.context["report"]["days"] == 30
