"""An operator in a real browser (Debian chromium): draws a counting line on the camera page and sees it saved;
reviews a job's crossings and sees counted against reviewed.

The ORM is used only outside the ``sync_playwright()`` block (Playwright's sync API runs an asyncio loop in this
thread, and Django refuses synchronous ORM calls while one runs).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.traffic import selectors, services
from apps.traffic.models import CountingLine, CrossingReview
from tests.apps.traffic.factories import CameraFactory, LineFactory
from tests.apps.traffic.videos import road_video
from tests.browser import CHROMIUM_ARGS, csp_violations
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser]


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


def test_operator_reviews_a_jobs_crossings_and_sees_counted_against_reviewed(live_server, transactional_db, chromium, tmp_path, screenshots) -> None:
    from playwright.sync_api import expect, sync_playwright

    operator = UserFactory(role="operator")
    camera = CameraFactory(name="Ring road")
    line = LineFactory(camera=camera, name="mid")
    path = tmp_path / "road.mp4"
    truth = road_video(path, frames=75, seed=7)  # one vehicle goes in (down), two go out
    job = services.job_create_from_upload(camera=camera, upload=SimpleUploadedFile("road.mp4", path.read_bytes()), dispatch=False)
    job = services.job_execute(job_id=job.pk, worker="test")
    false_count = job.crossings.filter(direction="in").order_by("frame").first()
    assert false_count is not None and truth.down >= 1, job.error
    counted_in, counted_out = job.crossings.filter(direction="in").count(), job.crossings.filter(direction="out").count()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            blocked = csp_violations(page)
            page.goto(live_server.url + "/login/")
            page.fill("input[name=username]", operator.username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(live_server.url + "/")

            # The job page: a click on a crossing's mark seeks the annotated video to that moment.
            page.goto(f"{live_server.url}/traffic/")
            page.click(f"a[href='/traffic/jobs/{job.pk}/']")
            page.wait_for_url(f"{live_server.url}/traffic/jobs/{job.pk}/")
            page.wait_for_function("() => document.getElementById('job-video').readyState >= 1")
            mark = page.locator(".mark.seekable").first
            seconds = float(mark.get_attribute("data-seek"))
            mark.click()
            page.wait_for_function(f"() => Math.abs(document.getElementById('job-video').currentTime - {seconds}) < 0.05")

            page.screenshot(path=str(screenshots / "traffic-job.png"), full_page=True)
            page.click("text=Review the crossings of this job")
            page.wait_for_url(f"{live_server.url}/traffic/jobs/{job.pk}/review/")
            counted = page.locator(f"[data-eval-row='{line.pk}-in'] [data-counted]")
            reviewed_in = page.locator(f"[data-eval-row='{line.pk}-in'] [data-reviewed]")
            expect(counted).to_have_text(str(counted_in))
            expect(reviewed_in).to_have_text(str(counted_in))
            picture = page.locator(f"#crossing-{false_count.pk} img")
            picture.scroll_into_view_if_needed()
            page.wait_for_function(f"() => document.querySelector('#crossing-{false_count.pk} img').naturalWidth > 0")

            page.click(f"#crossing-{false_count.pk} [data-action=reject]")
            expect(page.locator(f"#crossing-{false_count.pk} [data-verdict]")).to_contain_text("rejected")
            expect(reviewed_in).to_have_text(str(counted_in - 1))
            expect(counted).to_have_text(str(counted_in))  # the machine's count stays as counted

            # A missed crossing going out, at the moment the video shows.
            page.wait_for_function("() => document.getElementById('job-video').readyState >= 1")
            page.evaluate("() => { document.getElementById('job-video').currentTime = 2.5; }")
            page.wait_for_function("() => Math.abs(document.getElementById('job-video').currentTime - 2.5) < 0.05")
            page.click("#use-video-time")
            expect(page.locator("#add-seconds")).to_have_value("2.50")
            page.select_option("#add-line", str(line.pk))
            page.select_option("#add-direction", "out")
            page.select_option("#add-label", "truck")
            page.click("#add-submit")
            expect(page.locator("[data-added-row]")).to_have_count(1)
            expect(page.locator(f"[data-eval-row='{line.pk}-out'] [data-reviewed]")).to_have_text(str(counted_out + 1))

            page.click("#review-complete")
            expect(page.locator("[data-review-state]")).to_contain_text("Review complete")
            expect(page.locator("#review-reopen")).to_be_visible()
            expect(page.locator("[data-action=reject]")).to_have_count(0)
            expect(page.locator("[data-eval-total] [data-abs-error]")).to_have_text("2 off")
            page.screenshot(path=str(screenshots / "traffic-review.png"), full_page=True)
            assert blocked == []
        finally:
            browser.close()

    assert selectors.job_reviewed_counts(job) == {(line.pk, "in"): counted_in - 1, (line.pk, "out"): counted_out + 1}
    added = CrossingReview.objects.get(job=job, verdict="added")
    assert (added.direction, added.label, added.frame) == ("out", "truck", round(2.5 * job.fps))


def test_operator_puts_the_cameras_own_detector_in_service_and_back(live_server, transactional_db, chromium) -> None:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.utils import timezone
    from playwright.sync_api import expect, sync_playwright

    from apps.mlops.models import ModelVersion, TrainingRun
    from apps.traffic.models import Camera, JobStatus, ProcessingJob

    operator = UserFactory(role="operator")
    camera = CameraFactory(name="Ring road")
    video = default_storage.save(f"traffic/videos/camera-{camera.pk}-ring.mp4", ContentFile(b"stored recording"))
    ProcessingJob.objects.create(camera=camera, status=JobStatus.SUCCEEDED, video=video, recorded_at=timezone.now(), fps=25, frame_count=500)
    run = TrainingRun.objects.create(
        family="traffic.detector", trigger="dashboard", config={"camera": camera.pk}, status="running", progress=40, stage="epoch 30/75"
    )
    ModelVersion.objects.create(
        family="traffic.detector",
        version=1,
        artifact_uri="traffic.detector/x/detector.pt",
        artifact_sha256="0" * 64,
        primary_metric="mAP50",
        primary_value=0.93,
        metrics={"mAP50": 0.93, "heldout_frames": 100, "heldout_count_yolo": 6, "heldout_count_motion": 6},
        config={"camera": camera.pk},
        created_via="dashboard",
        promotion_note="No reviewed job to judge it on: an operator decides on the camera page.",
    )
    shots = Path(settings.VAR_DIR) / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            blocked = csp_violations(page)
            page.goto(live_server.url + "/login/")
            page.fill("input[name=username]", operator.username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(live_server.url + "/")
            page.goto(f"{live_server.url}/traffic/cameras/{camera.pk}/")
            card = page.locator("#detector")
            expect(card.get_by_test_id("detector-serving")).to_have_text("motion detection (background subtraction + EfficientNet-Lite0)")
            expect(card.locator(f'[data-run-progress="{run.pk}"] .label')).to_have_text("40%")
            expect(card.get_by_role("button", name="Learn from this camera's footage")).to_be_disabled()  # already learning
            card.get_by_role("button", name="Use for this camera").click()
            expect(card.get_by_test_id("detector-serving")).to_have_text("this camera's YOLO v1")
            page.screenshot(path=str(shots / "traffic-camera-detector.png"), full_page=True)
            page.once("dialog", lambda dialog: dialog.accept())
            card.get_by_role("button", name="Back to motion detection").click()
            expect(card.get_by_test_id("detector-serving")).to_have_text("motion detection (background subtraction + EfficientNet-Lite0)")
            assert not blocked, blocked
        finally:
            browser.close()

    assert Camera.objects.get(pk=camera.pk).detector_version is None
