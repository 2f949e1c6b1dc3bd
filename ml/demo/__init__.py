"""The built-in demo family: a small torch MLP that classifies points of three interleaved spirals.

Small and fast on purpose, so the whole model lifecycle (train → register → promote → serve) is exercised
before any product exists. Products follow the same shape in their own ``ml/<family>/`` packages.
"""

from ml.demo.data import DemoDataset, make_dataset
from ml.demo.model import CLASS_NAMES, DemoConfig, DemoPredictor, memory_estimate, train

__all__ = ("CLASS_NAMES", "DemoConfig", "DemoDataset", "DemoPredictor", "make_dataset", "memory_estimate", "train")
