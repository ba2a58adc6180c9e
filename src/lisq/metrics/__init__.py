"""Accuracy and synthetic-data quality metrics."""

from lisq.metrics.accuracy import evaluate

__all__ = ["evaluate"]
