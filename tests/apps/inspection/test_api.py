"""Intake API: validation of every file on its own, idempotent resends, permissions, result polling."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.accounts.models import Role
from apps.inspection.models import InspectionImage
from tests.apps.inspection import factories as f
from tests.factories import UserFactory, token_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/inspection/images/"


def upload(name: str, data: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.fixture
def station():
    return f.station()


@pytest.fixture
def camera_client() -> Client:
    integrator = UserFactory(role=Role.INTEGRATOR)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token_for(integrator, 'inspection:read', 'inspection:write')}")


def test_single_upload_then_poll_pending(camera_client: Client, station):
    response = camera_client.post(URL, {"station": station.pk, "client_image_id": "cam1-0001", "image": upload("a.png", f.part_png(1))})
    assert response.status_code == 201, response.json()
    accepted = response.json()["accepted"][0]
    assert accepted["status"] == "pending" and accepted["duplicate"] is False and accepted["result"] is None
    image = InspectionImage.objects.get(pk=accepted["id"])
    assert (image.width, image.height, image.image_format) == (64, 64, "PNG")
    polled = camera_client.get(f"{URL}{image.pk}/")
    assert polled.status_code == 200 and polled.json()["status"] == "pending"


def test_resend_is_not_stored_or_inspected_twice(camera_client: Client, station):
    body = {"station": station.pk, "client_image_id": "cam1-0002"}
    first = camera_client.post(URL, {**body, "image": upload("a.png", f.part_png(2))})
    second = camera_client.post(URL, {**body, "image": upload("a.png", f.part_png(2))})
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["accepted"][0]["duplicate"] is True
    assert second.json()["accepted"][0]["id"] == first.json()["accepted"][0]["id"]
    assert InspectionImage.objects.filter(client_image_id="cam1-0002").count() == 1


def test_batch_keeps_good_files_when_one_is_bad(camera_client: Client, station):
    truncated = f.part_png(3)[:200]
    response = camera_client.post(
        URL,
        {
            "station": station.pk,
            "client_image_ids": ["b-1", "b-2", "b-3", "b-4"],
            "images": [
                upload("1.png", f.part_png(4)),
                upload("2.png", truncated),
                upload("3.txt", b"hello, not an image", "text/plain"),
                upload("4.jpg", f.png(np.full((40, 40), 120, np.uint8), "JPEG"), "image/jpeg"),
            ],
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [a["client_image_id"] for a in body["accepted"]] == ["b-1", "b-4"]
    errors = {r["client_image_id"]: r["error"] for r in body["rejected"]}
    assert "not a readable image" in errors["b-2"] and "not a readable image" in errors["b-3"]
    assert set(InspectionImage.objects.values_list("client_image_id", flat=True)) == {"b-1", "b-4"}


def test_single_corrupt_or_unsupported_file_is_a_400(camera_client: Client, station):
    corrupt = camera_client.post(URL, {"station": station.pk, "client_image_id": "c1", "image": upload("x.png", b"\x89PNG\r\n\x1a\n broken")})
    assert corrupt.status_code == 400
    assert "not a readable image" in corrupt.json()["detail"] and corrupt.json()["errors"]["images"]
    from PIL import Image

    gif = io.BytesIO()
    Image.new("L", (32, 32)).save(gif, format="GIF")
    unsupported = camera_client.post(URL, {"station": station.pk, "client_image_id": "c2", "image": upload("x.gif", gif.getvalue(), "image/gif")})
    assert unsupported.status_code == 400 and "allowed formats" in unsupported.json()["detail"]
    assert not InspectionImage.objects.exists()


def test_oversized_and_bomb_images_are_refused(camera_client: Client, station, settings):
    settings.INSPECTION_MAX_UPLOAD_BYTES = 2000
    big = f.png(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))
    response = camera_client.post(URL, {"station": station.pk, "client_image_id": "o1", "image": upload("big.png", big)})
    assert response.status_code == 400 and "the limit is 2000 bytes" in response.json()["detail"]
    settings.INSPECTION_MAX_UPLOAD_BYTES = 10_000_000
    settings.INSPECTION_MAX_PIXELS = 100 * 100
    # 3000×3000 of one colour compresses to a few KB: the pixel count in the header gives it away before decoding.
    bomb = f.png(np.zeros((3000, 3000), np.uint8))
    assert len(bomb) < 50_000
    response = camera_client.post(URL, {"station": station.pk, "client_image_id": "o2", "image": upload("bomb.png", bomb)})
    assert response.status_code == 400 and "pixels" in response.json()["detail"]


def test_request_shape_errors(camera_client: Client, station):
    no_station = camera_client.post(URL, {"station": 9999, "client_image_id": "x", "image": upload("a.png", f.part_png(1))})
    assert no_station.status_code == 404 and "station" in no_station.json()["errors"]
    missing_ids = camera_client.post(URL, {"station": station.pk, "images": [upload("a.png", f.part_png(1))]})
    assert missing_ids.status_code == 400 and "client_image_ids" in missing_ids.json()["errors"]
    no_file = camera_client.post(URL, {"station": station.pk, "client_image_id": "x"})
    assert no_file.status_code == 400
    bad_callback = camera_client.post(
        URL, {"station": station.pk, "client_image_id": "x", "callback_url": "not a url", "image": upload("a.png", f.part_png(1))}
    )
    assert bad_callback.status_code == 400 and "callback_url" in bad_callback.json()["errors"]
    assert camera_client.get(f"{URL}123456/").status_code == 404


def test_scopes_and_roles(station):
    integrator = UserFactory(role=Role.INTEGRATOR)
    read_only = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(integrator, 'inspection:read')}")
    denied = read_only.post(URL, {"station": station.pk, "client_image_id": "s1", "image": upload("a.png", f.part_png(1))})
    assert denied.status_code == 403
    assert Client().post(URL, {"station": station.pk}).status_code in (401, 403)
    shopper = Client()
    shopper.force_login(UserFactory(role=Role.CUSTOMER))
    assert shopper.post(URL, {"station": station.pk}).status_code == 403


def test_a_callback_into_the_internal_network_is_refused(camera_client: Client, station, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    response = camera_client.post(
        URL, {"station": station.pk, "client_image_id": "ssrf", "callback_url": "http://169.254.169.254/latest/", "image": upload("a.png", f.part_png(1))}
    )
    assert response.status_code == 400 and "public addresses" in response.json()["errors"]["callback_url"][0]
    assert not station.images.exists()
