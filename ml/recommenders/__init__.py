"""Recommenders for the shop: implicit-feedback models (EASE, ALS, BPR) and baselines behind one interface.

``train(dataset, config, progress, device)`` returns a :class:`ml.core.TrainedModel` whose artifact
:class:`RecommenderPredictor` serves. No Django here: the app hands over plain arrays (:class:`Interactions`).
"""

from ml.recommenders.data import Confidence, EventWeights, InteractionMatrix, Interactions, build_matrix, split_per_user
from ml.recommenders.model import Recommendation, RecommenderModel, SimilarItem
from ml.recommenders.predictor import RecommenderPredictor
from ml.recommenders.training import ALGORITHMS, NotEnoughData, RecommenderConfig, RecommenderDataset, evaluate, train

__all__ = (
    "ALGORITHMS",
    "Confidence",
    "EventWeights",
    "InteractionMatrix",
    "Interactions",
    "NotEnoughData",
    "Recommendation",
    "RecommenderConfig",
    "RecommenderDataset",
    "RecommenderModel",
    "RecommenderPredictor",
    "SimilarItem",
    "build_matrix",
    "evaluate",
    "split_per_user",
    "train",
)
