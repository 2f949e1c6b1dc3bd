"""Uploaded YOLO checkpoints are loaded with weights only: a pickle or a model yaml that would run code is refused and
runs nothing (real payloads that would create a file)."""

import os
import pickle
from pathlib import Path

import pytest
import torch

from ml.pickle_scan import UnsafeFileError
from ml.traffic.checkpoints import build_model, check_detector_file, detector_file_allowed, load_detector, yolo_class
from ml.traffic.yolo import YoloPredictor


class TouchesAFile:
    """Unpickling this runs ``touch <path>``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def official_checkpoint(path: Path, **yaml_changes) -> Path:
    """A checkpoint as ultralytics saves it (``YOLO.save``), built offline from yolo11n.yaml."""
    model = yolo_class()("yolo11n.yaml")
    model.model.yaml.update(yaml_changes)
    model.save(str(path))
    return path


def test_an_ultralytics_checkpoint_passes_the_static_check_and_loads_as_a_detector(tmp_path):
    weights = official_checkpoint(tmp_path / "yolo11n.pt")
    check_detector_file(weights)
    predictor = YoloPredictor.load(weights)
    assert predictor.detector.classifies and predictor.detector.model.task == "detect"


@pytest.mark.parametrize("torch_zip", [True, False], ids=["torch-zip", "plain-pickle"])
def test_a_checkpoint_whose_pickle_runs_a_command_is_refused_and_runs_nothing(tmp_path, torch_zip):
    marker = tmp_path / "pwned"
    weights = tmp_path / "yolo11n.pt"
    payload = {"model": TouchesAFile(marker), "train_args": {}}
    if torch_zip:
        torch.save(payload, weights)
    else:
        weights.write_bytes(pickle.dumps(payload))
    with pytest.raises(UnsafeFileError, match=r"posix\.system"):
        check_detector_file(weights)
    with pytest.raises(ValueError, match=r"posix\.system"):
        YoloPredictor.load(weights)
    assert not marker.exists()


def test_only_layer_classes_pass_not_what_their_modules_imported():
    assert detector_file_allowed("ultralytics.nn.modules.head", "Detect")
    assert detector_file_allowed("torch.nn.modules.conv", "Conv2d")
    assert detector_file_allowed("torch._utils", "_rebuild_tensor_v2")
    # A dotted name reaches through a module to anything it imported; functions are not layers.
    assert not detector_file_allowed("torch.nn.modules.module", "torch.save")
    assert not detector_file_allowed("torch.nn.modules.module", "register_module_forward_hook")
    assert not detector_file_allowed("ultralytics.utils", "yaml_save")
    assert not detector_file_allowed("builtins", "eval")


def test_a_checkpoint_whose_yaml_activation_runs_a_command_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    weights = official_checkpoint(tmp_path / "yolo11n.pt", activation=f"__import__('os').system('touch {marker}')")
    check_detector_file(weights)  # strings in the pickle are data: only the load's check can read them
    with pytest.raises(ValueError, match="activation .* is not allowed"):
        YoloPredictor.load(weights)
    assert not marker.exists()


def test_a_model_yaml_with_an_activation_that_runs_a_command_is_refused_before_it_is_built(tmp_path):
    marker = tmp_path / "pwned"
    source = Path(yolo_class()("yolo11n.yaml").model.yaml["yaml_file"]).name
    from ultralytics.nn.tasks import yaml_model_load

    spec = yaml_model_load(source)
    spec["activation"] = f"__import__('os').system('touch {marker}')"
    import yaml

    evil = tmp_path / "evil.yaml"
    evil.write_text(yaml.safe_dump({k: v for k, v in spec.items() if k not in ("yaml_file",)}))
    with pytest.raises(UnsafeFileError, match="activation .* is not allowed"):
        build_model(str(evil))
    assert not marker.exists()
    spec["activation"] = "nn.ReLU()"
    evil.write_text(yaml.safe_dump({k: v for k, v in spec.items() if k not in ("yaml_file",)}))
    assert build_model(str(evil)).model.yaml["activation"] == "nn.ReLU()"


def test_no_weights_load_when_ultralytics_restricted_loading_is_off(tmp_path, monkeypatch):
    import ultralytics.nn.tasks as tasks

    weights = official_checkpoint(tmp_path / "yolo11n.pt")
    monkeypatch.setattr(tasks, "SAFE_LOAD", False)
    with pytest.raises(RuntimeError, match="ULTRALYTICS_SAFE_LOAD"):
        load_detector(weights)


def test_a_model_yaml_uploaded_as_weights_is_refused(tmp_path):
    spec = tmp_path / "yolo11n.yaml"
    spec.write_text("nc: 1\nactivation: nn.SiLU()\nbackbone: []\nhead: []\n")
    with pytest.raises(UnsafeFileError, match=r"\.yaml"):
        check_detector_file(spec)
