"""Accuracy and synthetic-data quality metrics."""

from lisq.metrics.accuracy import evaluate
from lisq.metrics.quality import Judge, bn_distance, diversity, fidelity, frechet_distance, judge_report

__all__ = ["Judge", "bn_distance", "diversity", "evaluate", "fidelity", "frechet_distance", "judge_report"]
