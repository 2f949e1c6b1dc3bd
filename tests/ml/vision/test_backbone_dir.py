"""``backbone_weights`` names a file in the backbone folder (ML_BACKBONE_DIR) and nothing else on the host."""

import os
from pathlib import Path

import pytest

from ml.core import ConfigError
from ml.vision import AnomalyConfig, ClassifierConfig
from ml.vision.backbone import backbone_weights_path, weights_digest


@pytest.fixture
def folders(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    inside, outside = tmp_path / "backbones", tmp_path / "elsewhere"
    inside.mkdir()
    outside.mkdir()
    (inside / "resnet18.pth").write_bytes(b"weights")
    (outside / "secret.pth").write_bytes(b"not yours")
    monkeypatch.setenv("ML_BACKBONE_DIR", str(inside))
    return inside, outside


def test_a_file_in_the_folder_is_named_by_its_name_or_its_full_path(folders):
    inside, _ = folders
    assert backbone_weights_path("resnet18.pth") == inside.resolve() / "resnet18.pth"
    assert backbone_weights_path(str(inside / "resnet18.pth")) == inside.resolve() / "resnet18.pth"
    config = AnomalyConfig.from_dict({"backbone": "resnet18", "backbone_weights": "resnet18.pth", "blocks": [2, 3], "global_blocks": [2, 3]})
    assert config.backbone_weights == "resnet18.pth"


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink", "the-folder-itself", "etc-passwd"])
def test_a_path_outside_the_folder_is_a_config_error(folders, how):
    inside, outside = folders
    if how == "symlink":
        os.symlink(outside / "secret.pth", inside / "link.pth")
    weights = {
        "absolute": str(outside / "secret.pth"),
        "dotdot": "../elsewhere/secret.pth",
        "symlink": "link.pth",
        "the-folder-itself": str(inside),
        "etc-passwd": "/etc/passwd",
    }[how]
    with pytest.raises(ConfigError, match=r"outside the backbone folder .*\(ML_BACKBONE_DIR\)"):
        ClassifierConfig.from_dict({"backbone": "resnet18", "backbone_weights": weights, "blocks": [2, 3, 4]})
    # Loading a model whose config names it (an uploaded artifact) reads nothing outside the folder either.
    with pytest.raises(ConfigError, match="outside the backbone folder"):
        weights_digest(weights)


def test_without_a_folder_no_backbone_file_is_read(monkeypatch, tmp_path):
    monkeypatch.delenv("ML_BACKBONE_DIR")
    with pytest.raises(ConfigError, match="ML_BACKBONE_DIR is not set"):
        backbone_weights_path(str(tmp_path / "resnet18.pth"))


def test_the_settings_default_the_folder_under_var(settings):
    assert os.environ["ML_BACKBONE_DIR"] == str(settings.ML_BACKBONE_DIR)
    assert Path(settings.ML_BACKBONE_DIR).parent == Path(settings.VAR_DIR)
