"""Files served in byte ranges: a browser seeks in a video (``currentTime``) only when the server answers ranges.

:func:`ranged_file_response` answers a single ``Range: bytes=first-last`` (or ``bytes=first-``, ``bytes=-suffix``)
with 206 and that slice, a range past the end with 416, and anything else (no header, several ranges, a malformed
one) with the whole file: RFC 9110 lets a server ignore a Range header it does not take.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse

# At most 19 digits a side: every offset fits a 64-bit file size, and nothing longer reaches int().
_RANGE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})", re.ASCII)
CHUNK_BYTES = 256 * 1024


def _slice(handle: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    try:
        handle.seek(start)
        while length > 0:
            chunk = handle.read(min(CHUNK_BYTES, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
    finally:
        handle.close()


def ranged_file_response(request: HttpRequest, path: Path, *, content_type: str) -> HttpResponse:
    """``path`` as a response to ``request``: whole (200) or the byte range it asks for (206); 416 past the end.
    Raises FileNotFoundError when the file is missing."""
    size = path.stat().st_size
    match = _RANGE.fullmatch(request.META.get("HTTP_RANGE", "").strip())
    if match is None or not (match[1] or match[2]):
        response: HttpResponse = FileResponse(path.open("rb"), content_type=content_type)
    else:
        if match[1]:
            start, end = int(match[1]), min(int(match[2]) if match[2] else size - 1, size - 1)
        else:  # the last N bytes
            start, end = max(0, size - int(match[2])), size - 1
        if start >= size or end < start:
            response = HttpResponse(status=416, content_type=content_type)
            response["Content-Range"] = f"bytes */{size}"
            return response
        response = StreamingHttpResponse(_slice(path.open("rb"), start, end - start + 1), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    return response
