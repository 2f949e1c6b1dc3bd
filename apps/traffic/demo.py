"""Demo data for `make run`: a synthetic road video of our own (the real clips may not be redistributed), a camera,
a counting line, a zone and a processed job, so the traffic pages show counts at once."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from apps.traffic import services
from apps.traffic.models import Camera, CountingLine, InSide, JobStatus, Site, Zone

DEMO_CAMERA = "Demo road (synthetic)"


def seed() -> str:
    from ml.traffic.synthetic import make_road_video

    camera = Camera.objects.filter(name=DEMO_CAMERA).first()
    if camera is not None and camera.jobs.filter(status=JobStatus.SUCCEEDED).exists():
        return f"camera {camera.name!r} already has a processed job"
    site, _ = Site.objects.get_or_create(name="Demo junction", defaults={"location": "generated"})
    camera = camera or Camera.objects.create(site=site, name=DEMO_CAMERA, location="two-way road, top-down")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo-road.mp4"
        truth = make_road_video(path, frames=150, fps=15, width=320, height=240, seed=7)
        CountingLine.objects.get_or_create(
            camera=camera, name="mid", defaults={"x1": 0, "y1": truth.line_y, "x2": truth.width, "y2": truth.line_y, "in_side": InSide.POSITIVE}
        )
        Zone.objects.get_or_create(
            camera=camera, name="southbound", defaults={"kind": "congestion", "polygon": [[160, 0], [320, 0], [320, 240], [160, 240]], "occupancy_threshold": 4}
        )
        # Calibration: lanes are 80 px wide and 3.5 m in reality; the frame is 240 px = 10.5 m long.
        services.camera_calibrate(camera=camera, image_points=[[0, 0], [320, 0], [320, 240], [0, 240]], ground_points=[[0, 10.5], [14, 10.5], [14, 0], [0, 0]])
        upload = SimpleUploadedFile("demo-road.mp4", path.read_bytes(), content_type="video/mp4")
        try:
            job = services.job_create_from_upload(camera=camera, upload=upload, dispatch=False)
        except services.DuplicateJob as exc:  # an earlier seed stopped before its job finished: finish that one
            job = exc.job
    job = services.job_execute(job_id=job.pk, worker="bootstrap") or job
    crossings = job.crossings.count()
    return f"camera {camera.name!r}: job #{job.pk} {job.status}, {crossings} crossings counted (expected {truth.down} in, {truth.up} out)"
