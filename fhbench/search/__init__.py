"""Search algorithms (random search, HyperBand, BOHB) driven by an estimator's estimates."""

from fhbench.search.algorithms import BOHB, ConfigPool, HyperBand, Job, RandomSearch, SearchAlgorithm

__all__ = ["BOHB", "ConfigPool", "HyperBand", "Job", "RandomSearch", "SearchAlgorithm"]
