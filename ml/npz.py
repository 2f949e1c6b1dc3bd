"""Read ``.npz`` artifacts with their arrays memory-mapped from the file instead of copied into each process.

``np.savez`` stores every member uncompressed (``ZIP_STORED``): its bytes lie in the file as a ``.npy`` header
plus the raw array. Mapping that range read-only lets every process that serves the same artifact share one copy
in the page cache — adding a web process does not add a model — and loading costs no time or private memory
however large the arrays are. Members that cannot be mapped (compressed, object dtypes are refused outright,
scalars, empty arrays) are read normally. Nothing is ever unpickled.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np

_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"


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
    if offset + count * dtype.itemsize > min(file_size, start + info.compress_size):
        raise ValueError(f"member {info.filename!r} is shorter than its header says")
    mapped = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")
    return np.asarray(mapped)  # a plain read-only ndarray view; the mapping lives as long as the array does
