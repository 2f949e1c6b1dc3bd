"""Byte ranges of served files (what lets a browser seek in a video)."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from apps.core.ranges import ranged_file_response

DATA = bytes(range(256)) * 4  # 1024 bytes, each offset recognisable


@pytest.fixture
def served(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(DATA)

    def get(range_header: str | None = None):  # noqa: ANN202
        headers = {"HTTP_RANGE": range_header} if range_header is not None else {}
        response = ranged_file_response(RequestFactory().get("/clip.mp4", **headers), path, content_type="video/mp4")
        body = b"".join(response.streaming_content) if response.streaming else response.content
        return response, body

    return get


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-99", 0, 99), ("bytes=1000-", 1000, 1023), ("bytes=-24", 1000, 1023), ("bytes=500-5000", 500, 1023), ("bytes=-5000", 0, 1023)],
)
def test_a_range_is_answered_with_206_and_exactly_those_bytes(served, header, start, end):
    response, body = served(header)
    assert response.status_code == 206 and body == DATA[start : end + 1]
    assert response["Content-Range"] == f"bytes {start}-{end}/1024" and response["Content-Length"] == str(end - start + 1)


@pytest.mark.parametrize("header", [None, "", "bytes=-", "bytes=0-1,5-9", "items=0-9", "bytes=a-b", "bytes=" + "9" * 30 + "-"])
def test_no_range_or_one_not_taken_gets_the_whole_file(served, header):
    response, body = served(header)
    assert response.status_code == 200 and body == DATA and response["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize("header", ["bytes=1024-", "bytes=2000-3000", "bytes=9-3"])
def test_a_range_past_the_end_is_416(served, header):
    response, _ = served(header)
    assert response.status_code == 416 and response["Content-Range"] == "bytes */1024"
