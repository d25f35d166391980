"""Grading one checkpoint's generations on rank 0: the step the callback shares with `cli.py evaluate`."""

from graders.evaluation_grading import GradingIncompleteError, grade_and_aggregate, grade_generations
from graders.skillmix_grader import GradingSettings

__all__ = ["GradingIncompleteError", "GradingSettings", "grade_and_aggregate", "grade_generations"]
