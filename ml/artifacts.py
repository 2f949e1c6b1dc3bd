"""Artifact store for model files, chosen by URI scheme (as MLflow does), with content checksums.

``file://`` (a local or shared directory) is built in; an S3-compatible store plugs in with
:func:`register_scheme` without touching callers, which only ever hold URIs and checksums.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname


class ArtifactError(Exception):
    """An artifact could not be stored or read."""


class ArtifactIntegrityError(ArtifactError):
    """The stored bytes do not match the recorded checksum."""


@dataclass(frozen=True)
class StoredArtifact:
    uri: str
    sha256: str
    size_bytes: int


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


class ArtifactStore(ABC):
    """Where model files live. Keys are relative POSIX paths such as ``demo.classifier/v3/model.pt``."""

    @abstractmethod
    def put(self, source: Path, key: str) -> StoredArtifact:
        """Store the file at ``source`` under ``key``; artifacts are immutable once written."""

    @abstractmethod
    def fetch(self, uri: str, sha256: str | None = None) -> Path:
        """Return a local path holding the artifact's bytes, verified against ``sha256`` when given."""

    @abstractmethod
    def delete(self, uri: str) -> None:
        """Remove the artifact; a missing one is not an error."""


class LocalArtifactStore(ArtifactStore):
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, source: Path, key: str) -> StoredArtifact:
        target = self.root / _safe_key(key)
        digest = sha256_of(source)
        if target.exists():
            if sha256_of(target) == digest:
                return StoredArtifact(target.as_uri(), digest, target.stat().st_size)
            raise ArtifactError(f"artifact {key!r} already exists with other content; artifacts are immutable")
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary file in the same directory, then rename: readers never see half a file.
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        os.close(fd)
        try:
            shutil.copyfile(source, tmp_name)
            os.replace(tmp_name, target)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
        return StoredArtifact(target.as_uri(), digest, target.stat().st_size)

    def fetch(self, uri: str, sha256: str | None = None) -> Path:
        path = self._path(uri)
        if not path.is_file():
            raise ArtifactError(f"artifact {uri} does not exist")
        if sha256 is not None:
            actual = sha256_of(path)
            if actual != sha256:
                raise ArtifactIntegrityError(f"artifact {uri} has sha256 {actual}, expected {sha256}")
        return path

    def delete(self, uri: str) -> None:
        self._path(uri).unlink(missing_ok=True)

    def _path(self, uri: str) -> Path:
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            raise ArtifactError(f"{uri!r} is not a file:// URI")
        path = Path(url2pathname(unquote(parsed.path))).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ArtifactError(f"{uri} lies outside the store at {self.root}")
        return path


def _safe_key(key: str) -> PurePosixPath:
    path = PurePosixPath(key)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ArtifactError(f"invalid artifact key {key!r}")
    return path


def _local_store(uri: str) -> ArtifactStore:
    parsed = urlparse(uri)
    root = Path(url2pathname(unquote(parsed.path)))
    root.mkdir(parents=True, exist_ok=True)
    return LocalArtifactStore(root)


_SCHEMES: dict[str, Callable[[str], ArtifactStore]] = {"file": _local_store}


def register_scheme(scheme: str, factory: Callable[[str], ArtifactStore]) -> None:
    """Add a store for a URI scheme (e.g. ``s3``); ``factory`` receives the store's base URI."""
    _SCHEMES[scheme] = factory


def open_store(base_uri: str) -> ArtifactStore:
    scheme = urlparse(base_uri).scheme
    try:
        factory = _SCHEMES[scheme]
    except KeyError:
        known = ", ".join(sorted(f"{s}://" for s in _SCHEMES))
        raise ArtifactError(f"no artifact store for {base_uri!r}; known schemes: {known}") from None
    return factory(base_uri)
