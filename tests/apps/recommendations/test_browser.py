"""The operator overview in a real browser: charts draw, Retrain opens the live run page, reasons show.

ORM calls stay outside the ``sync_playwright()`` block (its asyncio loop makes Django refuse sync ORM calls).
"""

from __future__ import annotations

import pytest

from apps.mlops.models import TrainingRun
from apps.recommendations.families import MAIN_FAMILY
from tests.apps.dashboard.test_browser import CHROMIUM_ARGS, chromium  # noqa: F401 - the fixture is used by name
from tests.factories import PASSWORD, UserFactory
from tests.workers import purge_broker

pytestmark = [pytest.mark.browser, pytest.mark.services]


def test_overview_charts_retrain_and_customer_page(live_server, transactional_db, trained, chromium) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    operator = UserFactory(role="operator")
    purge_broker()
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(15_000)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # Failed loads are checked by status below (the browser's own /favicon.ico request is not ours).
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "Failed to load resource" not in msg.text else None)
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
            page.goto(live_server.url + "/login/")
            page.fill("input[name=username]", operator.username)
            page.fill("input[name=password]", PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(live_server.url + "/")

            page.locator("header nav").get_by_role("link", name="Recommendations").click()
            page.wait_for_url(live_server.url + "/recommendations/")
            page.wait_for_function("() => typeof Chart !== 'undefined' && Chart.getChart('chart-quality') && Chart.getChart('chart-coverage')")
            points = page.evaluate("() => Chart.getChart('chart-quality').data.datasets.map((d) => [d.label, d.data.length])")
            assert ["blend nDCG@10", 1] in points and ["popularity nDCG@10", 1] in points

            page.locator(f'tr[data-family="{MAIN_FAMILY}"] button[data-action="retrain"]').click()
            page.wait_for_url(f"{live_server.url}/runs/**")
            expect(page.locator(".msg.success")).to_contain_text(f"of {MAIN_FAMILY} queued")
            run_url = page.url

            page.goto(live_server.url + "/recommendations/customers/garden-fan-2/")
            expect(page.locator("td.reason").first).to_contain_text("Because you ")
        finally:
            browser.close()
            purge_broker()
    run = TrainingRun.objects.filter(family=MAIN_FAMILY).first()
    assert run_url.endswith(f"/runs/{run.pk}/") and run.trigger == "dashboard"
    assert not errors, errors
