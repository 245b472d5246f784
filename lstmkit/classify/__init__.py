"""Sequence classification that is right by default: `SequenceClassifier`, its networks
(lstmkit.classify.network), baselines (majority class, 1-NN Euclidean, 1-NN DTW) and scores."""

from lstmkit.classify.classifier import SequenceClassifier
from lstmkit.classify.metrics import Evaluation

__all__ = ["SequenceClassifier", "Evaluation"]
