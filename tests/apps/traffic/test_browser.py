"""An operator draws a counting line on the camera page in a real browser (Debian chromium) and sees it saved.

The ORM is used only outside the ``sync_playwright()`` block (Playwright's sync API runs an asyncio loop in this
thread, and Django refuses synchronous ORM calls while one runs).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.traffic import services
from apps.traffic.models import CountingLine
from tests.apps.traffic.factories import CameraFactory
from tests.apps.traffic.videos import road_video
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if os.environ.get("DOWNSTREAM_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


def test_operator_draws_a_counting_line_on_the_latest_frame(live_server, transactional_db, chromium, tmp_path) -> None:
    from playwright.sync_api import expect, sync_playwright

    operator = UserFactory(role="operator")
    camera = CameraFactory(name="Bridge east")
    path = tmp_path / "road.mp4"
    road_video(path, frames=30, seed=1)
    # Processing a short video gives the camera its latest frame (the canvas the editor draws on).
    job = services.job_create_from_upload(camera=camera, upload=SimpleUploadedFile("road.mp4", path.read_bytes()), dispatch=False)
    services.job_execute(job_id=job.pk, worker="test")
    shots = Path(settings.VAR_DIR) / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(live_server.url + "/login/")
            page.fill("input[name=username]", operator.username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(live_server.url + "/")
            page.goto(f"{live_server.url}/traffic/")
            page.click("text=Bridge east")
            page.wait_for_url(f"{live_server.url}/traffic/cameras/{camera.pk}/")
            canvas = page.locator("#overlay")
            expect(canvas).to_be_visible()
            page.wait_for_function("document.getElementById('frame').naturalWidth > 0")
            box = canvas.bounding_box()
            # Two clicks across the middle of the 320x240 frame: from (32, 120) to (288, 120) in image pixels.
            page.mouse.click(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.5)
            page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] * 0.5)
            expect(page.locator("#points")).to_have_text("points: 2")
            page.fill("#shape-name", "mid-road")
            page.select_option("#in-side", "-1")
            page.click("#save")
            row = page.locator("#line-rows tr", has_text="mid-road")
            expect(row).to_be_visible(timeout=15000)  # the page reloads with the saved line
            page.screenshot(path=str(shots / "traffic-line-editor.png"), full_page=True)
        finally:
            browser.close()

    line = CountingLine.objects.get(camera=camera, name="mid-road")
    assert line.in_side == -1
    assert abs(line.x1 - 32) <= 3 and abs(line.x2 - 288) <= 3 and abs(line.y1 - 120) <= 3 and abs(line.y2 - 120) <= 3
