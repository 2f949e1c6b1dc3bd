"""The artifact store: immutable keys, checksums on every fetch, and stores chosen by URI scheme."""

import hashlib
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import pytest

from ml import artifacts
from ml.artifacts import (
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactStore,
    LocalArtifactStore,
    StoredArtifact,
    open_store,
    register_scheme,
)

MODEL_BYTES = b"pretend these are model weights\x00\x01\x02"


@pytest.fixture
def store(tmp_path):
    return open_store((tmp_path / "store").as_uri())


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(MODEL_BYTES)
    return path


def test_open_store_with_file_uri_creates_the_root(tmp_path):
    root = tmp_path / "nested" / "store"
    store = open_store(root.as_uri())
    assert isinstance(store, LocalArtifactStore)
    assert root.is_dir()


def test_put_then_fetch_round_trips_with_a_matching_sha256(store, model_file):
    stored = store.put(model_file, "demo.classifier/v1/model.pt")
    assert stored.sha256 == hashlib.sha256(MODEL_BYTES).hexdigest()
    assert stored.size_bytes == len(MODEL_BYTES)
    assert stored.uri.startswith("file://") and stored.uri.endswith("demo.classifier/v1/model.pt")
    fetched = store.fetch(stored.uri, stored.sha256)
    assert fetched.read_bytes() == MODEL_BYTES
    # Without a checksum the bytes come back unchecked.
    assert store.fetch(stored.uri).read_bytes() == MODEL_BYTES


def test_put_leaves_no_temporary_files_behind(store, model_file):
    stored = store.put(model_file, "a/model.pt")
    folder = store.fetch(stored.uri).parent
    assert [p.name for p in folder.iterdir()] == ["model.pt"]


def test_fetch_with_the_wrong_checksum_is_an_integrity_error(store, model_file):
    stored = store.put(model_file, "a/model.pt")
    with pytest.raises(ArtifactIntegrityError, match="expected 0000"):
        store.fetch(stored.uri, "0" * 64)


def test_a_tampered_artifact_is_detected(store, model_file):
    stored = store.put(model_file, "a/model.pt")
    store.fetch(stored.uri).write_bytes(MODEL_BYTES + b"tampered")
    with pytest.raises(ArtifactIntegrityError, match=stored.sha256):
        store.fetch(stored.uri, stored.sha256)


def test_fetching_a_missing_artifact_is_an_artifact_error(store, tmp_path):
    uri = (tmp_path / "store" / "nope" / "model.pt").as_uri()
    with pytest.raises(ArtifactError, match="does not exist"):
        store.fetch(uri)


def test_put_same_key_same_content_is_idempotent(store, model_file, tmp_path):
    first = store.put(model_file, "a/model.pt")
    copy = tmp_path / "copy.pt"
    shutil.copyfile(model_file, copy)
    assert store.put(copy, "a/model.pt") == first


def test_put_same_key_other_content_is_refused_and_keeps_the_original(store, model_file, tmp_path):
    first = store.put(model_file, "a/model.pt")
    other = tmp_path / "other.pt"
    other.write_bytes(b"different weights")
    with pytest.raises(ArtifactError, match="immutable"):
        store.put(other, "a/model.pt")
    assert store.fetch(first.uri, first.sha256).read_bytes() == MODEL_BYTES


@pytest.mark.parametrize("key", ["../escape.pt", "a/../../escape.pt", "/etc/model.pt", "", "."])
def test_keys_that_could_leave_the_store_are_rejected(store, model_file, tmp_path, key):
    with pytest.raises(ArtifactError, match="invalid artifact key"):
        store.put(model_file, key)
    assert not (tmp_path / "escape.pt").exists()


def test_delete_removes_and_tolerates_missing(store, model_file):
    stored = store.put(model_file, "a/model.pt")
    store.delete(stored.uri)
    with pytest.raises(ArtifactError, match="does not exist"):
        store.fetch(stored.uri)
    store.delete(stored.uri)  # a second delete is not an error


def test_uris_outside_the_store_root_are_refused(store, tmp_path):
    outside = tmp_path / "secret.pt"
    outside.write_bytes(b"not an artifact")
    sneaky = (tmp_path / "store").as_uri() + "/../secret.pt"
    sibling = tmp_path / "store-other" / "model.pt"  # shares the root's name as a prefix
    sibling.parent.mkdir()
    sibling.write_bytes(b"x")
    for uri in (outside.as_uri(), sneaky, sibling.as_uri()):
        with pytest.raises(ArtifactError, match="outside the store"):
            store.fetch(uri)
        with pytest.raises(ArtifactError, match="outside the store"):
            store.delete(uri)
    assert outside.exists() and sibling.exists()


def test_a_non_file_uri_is_refused_by_the_local_store(store):
    with pytest.raises(ArtifactError, match="not a file:// URI"):
        store.fetch("s3://bucket/a/model.pt")


def test_unknown_scheme_names_the_known_ones():
    with pytest.raises(ArtifactError, match=r"'s3://bucket'.*known schemes: file://"):
        open_store("s3://bucket")


class MemoryArtifactStore(ArtifactStore):
    """A second, real store: bytes in a dict, handed out as temporary files."""

    def __init__(self, base_uri: str) -> None:
        self.base_uri = base_uri.rstrip("/")
        self.blobs: dict[str, bytes] = {}
        self.scratch = Path(tempfile.mkdtemp(prefix="mem-store-"))

    def put(self, source: Path, key: str) -> StoredArtifact:
        data = source.read_bytes()
        uri = f"{self.base_uri}/{key}"
        self.blobs[uri] = data
        return StoredArtifact(uri, hashlib.sha256(data).hexdigest(), len(data))

    def fetch(self, uri: str, sha256: str | None = None) -> Path:
        data = self.blobs[uri]
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise ArtifactIntegrityError(uri)
        path = self.scratch / urlparse(uri).path.lstrip("/").replace("/", "_")
        path.write_bytes(data)
        return path

    def delete(self, uri: str) -> None:
        self.blobs.pop(uri, None)


def test_register_scheme_makes_a_new_store_usable(monkeypatch, model_file):
    # Work on a copy of the registry so the extra scheme does not leak into other tests.
    monkeypatch.setattr(artifacts, "_SCHEMES", dict(artifacts._SCHEMES))
    with pytest.raises(ArtifactError):
        open_store("mem://bucket")
    register_scheme("mem", MemoryArtifactStore)

    store = open_store("mem://bucket")
    assert isinstance(store, MemoryArtifactStore)
    assert store.base_uri == "mem://bucket"
    stored = store.put(model_file, "demo/v1/model.pt")
    assert stored.uri == "mem://bucket/demo/v1/model.pt"
    assert store.fetch(stored.uri, stored.sha256).read_bytes() == MODEL_BYTES
    with pytest.raises(ArtifactError, match=r"known schemes: file://, mem://"):
        open_store("s3://bucket")
