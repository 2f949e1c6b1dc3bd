"""An operator retrains a model from the dashboard in a real browser, trained by a real Celery worker.

The Django ORM is only used outside the ``sync_playwright()`` block: Playwright's sync API runs an asyncio loop
in this thread, and Django refuses synchronous ORM calls while one is running.
"""

from __future__ import annotations

import time

import pytest

from apps.mlops import services
from apps.mlops.demo_family import DEMO_FAMILY
from apps.mlops.models import ModelVersion, RunStatus, TrainingRun, Trigger, VersionStatus
from tests.browser import CHROMIUM_ARGS, csp_violations
from tests.factories import PASSWORD, UserFactory
from tests.testapp.families import FAILING_FAMILY
from tests.workers import celery_worker, purge_broker

pytestmark = [pytest.mark.browser, pytest.mark.services]

# Long enough that the page shows progress between 0 and 100 %: ~40 s on 2 idle CPU cores, over 2 min when loaded.
SLOW_DEMO_CONFIG = {"epochs": 100, "n_samples": 3000}
TRAINING_TIMEOUT_S = 240  # under pytest-timeout's 300 s


def _run_state(page, run_id: int) -> dict | None:  # noqa: ANN001
    """The run's progress value, badge text and the reload marker, or None while the page is navigating."""
    from playwright.sync_api import Error

    try:
        return page.evaluate(
            """(id) => ({
                value: document.querySelector(`[data-run-progress="${id}"]`)?.getAttribute("aria-valuenow") ?? null,
                status: document.querySelector(`[data-run-status="${id}"]`)?.textContent.trim() ?? null,
                marker: window.__marker ?? null,
            })""",
            run_id,
        )
    except Error:
        return None  # the execution context was replaced (runs.js reloads the list once a run finishes)


def test_operator_retrains_from_dashboard_and_watches_progress(live_server, transactional_db, chromium, screenshots) -> None:
    from playwright.sync_api import expect, sync_playwright

    operator = UserFactory(role="operator")
    family_settings = services.family_settings_get(family=DEMO_FAMILY)
    family_settings.default_config = SLOW_DEMO_CONFIG
    family_settings.save()
    purge_broker()

    with celery_worker() as worker, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(15_000)
            blocked = csp_violations(page)  # inline scripts and handlers are refused by the Content-Security-Policy

            page.goto(live_server.url + "/login/")
            page.fill("input[name=username]", operator.username)
            page.fill("input[name=password]", PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(live_server.url + "/")

            page.locator("header nav").get_by_role("link", name="Models", exact=True).click()
            page.wait_for_url(live_server.url + "/models/")
            family_card = page.locator(f'section[data-family="{DEMO_FAMILY}"]')
            family_card.locator('button[data-action="retrain"]').click()

            page.wait_for_url(live_server.url + "/runs/")
            run_row = page.locator("[data-run-row]").first
            run_id = int(run_row.get_attribute("data-run-row"))
            expect(page.locator(".msg.success")).to_contain_text(f"Training run #{run_id} of {DEMO_FAMILY} queued.")
            rendered_value = page.locator(f'[data-run-progress="{run_id}"]').get_attribute("aria-valuenow")
            page.evaluate("window.__marker = 1")

            intermediate, last = None, None
            deadline = time.monotonic() + TRAINING_TIMEOUT_S
            while time.monotonic() < deadline:
                state = _run_state(page, run_id)
                if state is not None:
                    last = state
                    value = int(state["value"]) if state["value"] is not None else None
                    if intermediate is None and value is not None and 0 < value < 100:
                        # Seen without a reload: runs.js changed the bar in place.
                        assert state["marker"] == 1, "the page reloaded while the run was progressing"
                        assert state["value"] != rendered_value
                        intermediate = state
                    if state["status"] in {"succeeded", "failed", "cancelled"}:
                        break
                page.wait_for_timeout(100)
            else:
                pytest.fail(f"run #{run_id} did not finish in {TRAINING_TIMEOUT_S} s; last state {last}\n{worker.log()[-3000:]}")

            assert intermediate is not None, f"never saw progress between 0 and 100 %; last state {last}\n{worker.log()[-3000:]}"
            expect(page.locator(f'[data-run-status="{run_id}"]')).to_have_text("succeeded")
            expect(page.locator(f'[data-run-progress="{run_id}"]')).to_have_attribute("aria-valuenow", "100")

            page.locator("header nav").get_by_role("link", name="Models", exact=True).click()
            page.wait_for_url(live_server.url + "/models/")
            v1 = page.locator(f'section[data-family="{DEMO_FAMILY}"] table.versions tr[data-version="1"]')
            expect(v1).to_contain_text("v1")
            expect(v1.locator(".badge")).to_have_text("production")
            page.wait_for_function("Chart.getChart(document.querySelector('canvas[data-chart-family]')) !== undefined")
            page.screenshot(path=str(screenshots / "models.png"), full_page=True)

            page.goto(f"{live_server.url}/runs/{run_id}/")
            page.wait_for_function("Chart.getChart(document.getElementById('history-chart'))?.data.datasets.length > 0")
            page.screenshot(path=str(screenshots / "run-detail.png"), full_page=True)
            assert blocked == [], blocked
        finally:
            browser.close()

    run = TrainingRun.objects.get(pk=run_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.trigger == Trigger.DASHBOARD and run.triggered_by == operator
    assert run.config["epochs"] == SLOW_DEMO_CONFIG["epochs"]
    assert run.worker == worker.hostname
    assert ModelVersion.objects.get(family=DEMO_FAMILY, version=1).status == VersionStatus.PRODUCTION


def test_runs_page_filtered_by_family_does_not_keep_reloading(live_server, transactional_db, chromium) -> None:
    # A newer run of *another* family must not make the filtered list reload itself (it would, every second).
    from playwright.sync_api import sync_playwright

    operator = UserFactory(role="operator")
    services.training_run_start(family=FAILING_FAMILY, trigger=Trigger.DASHBOARD, dispatch=False)
    services.training_run_start(family=DEMO_FAMILY, trigger=Trigger.DASHBOARD, dispatch=False)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(live_server.url + "/login/")
            page.fill("input[name=username]", operator.username)
            page.fill("input[name=password]", PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(live_server.url + "/")

            page.goto(f"{live_server.url}/runs/?family={FAILING_FAMILY}")
            page.evaluate("window.__marker = 1")
            with page.expect_response(lambda r: "/runs/live/" in r.url):
                pass
            page.wait_for_timeout(2500)  # runs.js polls every second

            assert page.evaluate("window.__marker ?? null") == 1, "the filtered runs page reloaded itself"
        finally:
            browser.close()
