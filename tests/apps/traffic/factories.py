"""Factories and synthetic videos for the traffic tests."""

from __future__ import annotations

import factory

from apps.traffic.models import Camera, CountingLine, InSide, Site


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
