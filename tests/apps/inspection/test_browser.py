"""The review queue in a real browser: keyboard shortcuts label results without touching the mouse.

ORM calls stay outside the ``sync_playwright()`` block (its asyncio loop makes Django refuse sync ORM calls).
"""

from __future__ import annotations

import pytest

from apps.inspection.models import InspectionImage, Review
from tests.apps.dashboard.test_browser import CHROMIUM_ARGS, chromium, screenshots  # noqa: F401 - fixtures
from tests.apps.inspection import factories as f
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser]


def test_review_queue_keyboard_shortcuts(live_server, transactional_db, chromium, screenshots):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    operator = UserFactory(role="operator")
    station = f.station()
    first = f.result(station, "q-1", verdict="defective", defect_type="scratch", seed=1)
    second = f.result(station, "q-2", verdict="ok", defect_type="", score=0.95, seed=2)
    f.result(station, "q-3", verdict="defective", defect_type="spot", seed=3)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.set_default_timeout(15_000)
            page.goto(live_server.url + "/login/")
            page.fill("input[name=username]", operator.username)
            page.fill("input[name=password]", PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(live_server.url + "/")
            page.goto(live_server.url + "/inspection/review/")

            items = page.locator(".review-item")
            expect(items).to_have_count(3)
            expect(items.nth(0)).to_have_class("card review-item current")
            page.keyboard.press("o")  # first: mark OK (the model said scratch: a disputed result)
            expect(items.nth(0).locator(".status")).to_contain_text("Reviewed: ok (disputed)")
            expect(items.nth(1)).to_have_class("card review-item current")
            page.keyboard.press("1")  # second: the first defect type in the shortcut list ("scratch")
            expect(items.nth(1).locator(".status")).to_contain_text("Reviewed: scratch")
            page.screenshot(path=str(screenshots / "inspection-review.png"), full_page=True)
        finally:
            browser.close()

    assert InspectionImage.objects.get(pk=first.image_id).label == "ok"
    assert InspectionImage.objects.get(pk=second.image_id).label == "scratch"
    assert Review.objects.count() == 2 and Review.objects.filter(disputed=True).count() == 2
