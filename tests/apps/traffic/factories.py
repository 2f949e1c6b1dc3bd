"""Factories and synthetic videos for the traffic tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import factory

from apps.traffic.models import Camera, CountingLine, Crossing, Direction, InSide, JobKind, JobStatus, ProcessingJob, Site


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    name = factory.Sequence(lambda n: f"Site {n}")


class CameraFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Camera

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Camera {n}")


class LineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CountingLine

    camera = factory.SubFactory(CameraFactory)
    name = factory.Sequence(lambda n: f"line {n}")
    x1, y1, x2, y2 = 0.0, 120.0, 320.0, 120.0
    in_side = InSide.POSITIVE


class JobFactory(factory.django.DjangoModelFactory):
    """A finished job of a 60-second recording at 10 fps (rows only: nothing was processed)."""

    class Meta:
        model = ProcessingJob

    camera = factory.SubFactory(CameraFactory)
    kind = JobKind.VIDEO
    status = JobStatus.SUCCEEDED
    progress = 100.0
    recorded_at = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    fps = 10.0
    frame_count = 600
    checkpoint_frame = 600


class CrossingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Crossing

    job = factory.SubFactory(JobFactory)
    line = factory.LazyAttribute(lambda c: LineFactory(camera=c.job.camera))
    track_key = factory.Sequence(lambda n: f"t{n}")
    label = "car"
    direction = Direction.IN
    frame = factory.Sequence(lambda n: (10 * n) % 600)
    occurred_at = factory.LazyAttribute(lambda c: c.job.recorded_at + timedelta(seconds=c.frame / c.job.fps))
