"""The operator dashboard through Django's test client: access rules, retraining, promotion and settings."""

import pytest
from django.contrib.messages import constants as message_levels
from django.test import Client

from apps.mlops import services
from apps.mlops.demo_family import DEMO_FAMILY
from apps.mlops.models import FamilySettings, ModelVersion, RunStatus, TrainingRun, Trigger, VersionStatus
from tests.factories import UserFactory
from tests.testapp.families import FAILING_FAMILY, FAILURE_MESSAGE

pytestmark = pytest.mark.django_db

SMALL_CONFIG = '{"epochs": 3, "n_samples": 300}'
DASHBOARD_PAGES = ["/", "/models/", "/runs/", "/products/recommendations/"]


def _messages(response) -> list[tuple[int, str]]:  # noqa: ANN001
    return [(m.level, str(m)) for m in response.context["messages"]]


def _version(*, version: int, accuracy: float, status: str = VersionStatus.CANDIDATE) -> ModelVersion:
    # Registered directly rather than trained, so which version is worse is certain.
    return ModelVersion.objects.create(
        family=DEMO_FAMILY,
        version=version,
        status=status,
        artifact_uri=f"file:///nowhere/v{version}.pt",
        artifact_sha256="0" * 64,
        metrics={"accuracy": accuracy},
        primary_metric="accuracy",
        primary_value=accuracy,
        created_via=Trigger.CLI,
    )


# --- access -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", DASHBOARD_PAGES)
def test_anonymous_visitor_is_sent_to_login(client: Client, url: str) -> None:
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


@pytest.mark.parametrize("role", ["customer", "integrator"])
@pytest.mark.parametrize("url", DASHBOARD_PAGES)
def test_non_operators_are_refused(client: Client, role: str, url: str) -> None:
    client.force_login(UserFactory(role=role))

    response = client.get(url)

    assert response.status_code == 403
    assert b"for operators and admins" in response.content


def test_customer_cannot_start_training(client: Client) -> None:
    client.force_login(UserFactory(role="customer"))

    response = client.post("/models/retrain/", {"family": DEMO_FAMILY, "config": SMALL_CONFIG})

    assert response.status_code == 403
    assert not TrainingRun.objects.exists()


@pytest.mark.parametrize(
    "url",
    [*DASHBOARD_PAGES, "/products/chatbot/", "/products/inspection/", "/products/traffic/"],
)
def test_operator_sees_dashboard_pages(operator_client: Client, url: str) -> None:
    response = operator_client.get(url)

    assert response.status_code == 200
    assert b"Log out" in response.content


def test_models_page_lists_registered_families(operator_client: Client) -> None:
    response = operator_client.get("/models/")

    assert f'data-family="{DEMO_FAMILY}"'.encode() in response.content
    assert b"No versions yet: click Retrain." in response.content


def test_unknown_product_is_404(operator_client: Client) -> None:
    assert operator_client.get("/products/teleportation/").status_code == 404


# --- retraining ---------------------------------------------------------------------------------------------


def test_retrain_of_unknown_family_shows_error_and_starts_nothing(operator_client: Client) -> None:
    response = operator_client.post("/models/retrain/", {"family": "no.such.family", "config": SMALL_CONFIG}, follow=True)

    assert response.redirect_chain == [("/models/", 302)]
    [(level, text)] = _messages(response)
    assert level == message_levels.ERROR
    assert "Could not start training" in text and "no.such.family" in text
    assert not TrainingRun.objects.exists()


def test_retrain_with_invalid_json_config_shows_error_and_starts_nothing(operator_client: Client) -> None:
    response = operator_client.post("/models/retrain/", {"family": DEMO_FAMILY, "config": '{"epochs": 3,'}, follow=True)

    [(level, text)] = _messages(response)
    assert level == message_levels.ERROR
    assert "not valid JSON" in text
    assert not TrainingRun.objects.exists()


def test_retrain_with_out_of_range_config_shows_error_and_starts_nothing(operator_client: Client) -> None:
    response = operator_client.post("/models/retrain/", {"family": DEMO_FAMILY, "config": '{"epochs": 0}'}, follow=True)

    [(level, text)] = _messages(response)
    assert level == message_levels.ERROR
    assert "epochs must be between 1 and 100000" in text
    assert not TrainingRun.objects.exists()


def test_retrain_trains_a_version_and_shows_the_run(operator_client: Client, operator, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post("/models/retrain/", {"family": DEMO_FAMILY, "config": SMALL_CONFIG})

    assert response.status_code == 302
    assert response["Location"] == "/runs/"
    run = TrainingRun.objects.get()
    assert run.trigger == Trigger.DASHBOARD
    assert run.triggered_by == operator
    assert run.config["epochs"] == 3 and run.config["n_samples"] == 300
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.progress == 100
    assert run.model_version.version == 1
    assert run.model_version.status == VersionStatus.PRODUCTION

    page = operator_client.get(response["Location"])
    [(level, text)] = _messages(page)
    assert level == message_levels.SUCCESS and f"#{run.pk}" in text
    assert f'data-run-status="{run.pk}">succeeded<'.encode() in page.content


def test_failed_run_shows_its_error_on_the_detail_page(operator_client: Client, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        run = services.training_run_start(family=FAILING_FAMILY, trigger="dashboard")

    response = operator_client.get(f"/runs/{run.pk}/")

    assert response.status_code == 200
    assert f'data-run-status="{run.pk}">failed<'.encode() in response.content
    assert FAILURE_MESSAGE.encode() in response.content
    # The error is also visible on the runs list, not only on the detail page.
    assert FAILURE_MESSAGE.encode() in operator_client.get("/runs/").content


def test_unknown_run_detail_is_404(operator_client: Client) -> None:
    assert operator_client.get("/runs/999999/").status_code == 404


def test_runs_live_reports_progress_and_status(operator_client: Client) -> None:
    run = services.training_run_start(family=DEMO_FAMILY, trigger="dashboard", dispatch=False)
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, progress=42.5, stage="training")
    other = services.training_run_start(family=DEMO_FAMILY, trigger="dashboard", dispatch=False)

    response = operator_client.get(f"/runs/live/?ids={run.pk}")

    assert response.status_code == 200
    body = response.json()
    [live] = body["runs"]
    assert live["id"] == run.pk
    assert live["status"] == "running"
    assert live["progress"] == 42.5
    assert live["stage"] == "training"
    assert body["newest_id"] == other.pk


# --- promotion and settings ---------------------------------------------------------------------------------


def test_promoting_a_worse_version_without_reason_is_refused(operator_client: Client) -> None:
    production = _version(version=1, accuracy=0.9, status=VersionStatus.PRODUCTION)
    worse = _version(version=2, accuracy=0.5)

    response = operator_client.post(f"/models/versions/{worse.pk}/promote/", {"reason": "  "}, follow=True)

    [(level, text)] = _messages(response)
    assert level == message_levels.ERROR
    assert "give a reason" in text
    production.refresh_from_db()
    worse.refresh_from_db()
    assert (production.status, worse.status) == (VersionStatus.PRODUCTION, VersionStatus.CANDIDATE)


def test_promoting_a_worse_version_with_reason_overrides(operator_client: Client) -> None:
    production = _version(version=1, accuracy=0.9, status=VersionStatus.PRODUCTION)
    worse = _version(version=2, accuracy=0.5)

    response = operator_client.post(f"/models/versions/{worse.pk}/promote/", {"reason": "v1 misbehaves on new data"}, follow=True)

    [(level, text)] = _messages(response)
    assert level == message_levels.SUCCESS
    assert "v2 is now in production" in text
    production.refresh_from_db()
    worse.refresh_from_db()
    assert (production.status, worse.status) == (VersionStatus.ARCHIVED, VersionStatus.PRODUCTION)


@pytest.mark.parametrize("interval", ["0", "-5", "soon", "1.5"])
def test_family_settings_with_invalid_interval_shows_error(operator_client: Client, interval: str) -> None:
    response = operator_client.post(f"/models/families/{DEMO_FAMILY}/settings/", {"retrain_every_minutes": interval, "auto_promote": "on"}, follow=True)

    [(level, text)] = _messages(response)
    assert level == message_levels.ERROR
    assert "whole number of minutes" in text
    assert not FamilySettings.objects.filter(family=DEMO_FAMILY, retrain_every_minutes__isnull=False).exists()


def test_family_settings_are_saved(operator_client: Client) -> None:
    # No "auto_promote" field: the unchecked checkbox turns auto-promotion off.
    response = operator_client.post(f"/models/families/{DEMO_FAMILY}/settings/", {"retrain_every_minutes": "30"}, follow=True)

    [(level, _)] = _messages(response)
    assert level == message_levels.SUCCESS
    fs = FamilySettings.objects.get(family=DEMO_FAMILY)
    assert fs.retrain_every_minutes == 30
    assert fs.auto_promote is False
    assert b'name="retrain_every_minutes" value="30"' in response.content


def test_family_settings_of_unknown_family_is_404(operator_client: Client) -> None:
    response = operator_client.post("/models/families/no.such.family/settings/", {"retrain_every_minutes": "30"})

    assert response.status_code == 404
    assert not FamilySettings.objects.exists()


def test_runs_live_answers_json_errors_to_scripts(client: Client) -> None:
    response = client.get("/runs/live/")
    assert response.status_code == 401 and "Log in" in response.json()["detail"]
    client.force_login(UserFactory(role="customer"))
    assert client.get("/runs/live/").status_code == 403
