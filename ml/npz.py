"""``.npz`` artifacts whose arrays are memory-mapped from the file instead of copied into each process.

:func:`save` writes every member uncompressed (``ZIP_STORED``) with its array data aligned to 64 bytes (padding
in the zip entry's extra field, as Android's zipalign does), so it can be used in place: NumPy and BLAS only take
their fast paths on aligned data. :func:`load` maps those byte ranges read-only: every process that serves the same
artifact shares one copy in the page cache — adding a web process does not add a model — and loading costs no
time or private memory however large the arrays are. Members that cannot be mapped (compressed, misaligned ones
from other writers, scalars, empty arrays) are read normally; object arrays are refused. Nothing is unpickled.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np

_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"
ALIGN = 64  # NumPy pads a .npy header to a multiple of 64 bytes, so aligning the member aligns its data
_ALIGN_EXTRA_ID = 0xD935  # the extra-field id zipalign uses for padding
_ZIP64_EXTRA = 20  # zipfile adds this to the local header when writing with force_zip64


def save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` (readable by ``np.load``) with every array's data 64-byte aligned."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, value in arrays.items():
            value = np.asanyarray(value)
            if value.dtype.hasobject:
                raise ValueError(f"{key!r} holds Python objects; artifacts hold plain arrays only")
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            fixed = archive.fp.tell() + _LOCAL_HEADER.size + len(info.filename.encode()) + _ZIP64_EXTRA + 4
            padding = -fixed % ALIGN
            info.extra = struct.pack("<HH", _ALIGN_EXTRA_ID, padding) + b"\0" * padding
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, value, allow_pickle=False)


def load(path: Path, *, mmap: bool = True) -> dict[str, np.ndarray]:
    """Every ``.npy`` member of the archive by name (without ``.npy``); ``mmap=False`` reads them all into memory."""
    out: dict[str, np.ndarray] = {}
    size = Path(path).stat().st_size
    with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                raise ValueError(f"{info.filename!r} is not a .npy member")
            key = info.filename[: -len(".npy")]
            mapped = _mapped(path, raw, info, size) if mmap and info.compress_type == zipfile.ZIP_STORED else None
            if mapped is None:
                with archive.open(info) as member:
                    mapped = np.lib.format.read_array(member, allow_pickle=False)
            out[key] = mapped
    return out


def _mapped(path: Path, raw, info: zipfile.ZipInfo, file_size: int) -> np.ndarray | None:  # noqa: ANN001
    raw.seek(info.header_offset)
    header = raw.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size:
        raise ValueError(f"truncated archive at member {info.filename!r}")
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != _LOCAL_SIGNATURE:
        raise ValueError(f"bad local header for member {info.filename!r}")
    start = info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10]
    raw.seek(start)
    version = np.lib.format.read_magic(raw)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(raw)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(raw)
    else:
        return None
    if dtype.hasobject:
        raise ValueError(f"member {info.filename!r} holds Python objects; artifacts hold plain arrays only")
    count = int(np.prod(shape, dtype=np.int64))
    if not shape or count == 0:
        return None  # a scalar or an empty array: nothing worth mapping
    offset = raw.tell()
    if offset % dtype.alignment:
        return None  # written by another tool without alignment: a copy, or every operation on it would be slow
    if offset + count * dtype.itemsize > min(file_size, start + info.compress_size):
        raise ValueError(f"member {info.filename!r} is shorter than its header says")
    mapped = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")
    return np.asarray(mapped)  # a plain read-only ndarray view; the mapping lives as long as the array does
