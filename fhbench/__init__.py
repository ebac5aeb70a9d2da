"""fhbench: a benchmark and leaderboard suite for early performance estimators."""

__version__ = "0.1.0"
