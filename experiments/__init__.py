"""Experiments from YAML: config validation, building, the session, sanity checks."""

from gategraph.experiments.build import Experiment, load_experiment
from gategraph.experiments.config import ConfigError, load_config
from gategraph.experiments.session import Session

__all__ = ["ConfigError", "Experiment", "Session", "load_config", "load_experiment"]
