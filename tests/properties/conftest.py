"""Hypothesis profiles for the property tests; HYPOTHESIS_PROFILE picks one (default "ci").

ci        derandomized (the same examples on every run), bounded, no example database
dev       random, more examples, failures replayed from .hypothesis/ first
thorough  random, many examples: a long hunt before a release
"""

import os

from hypothesis import HealthCheck, settings

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large]  # gradchecks are slow by nature

settings.register_profile(
    "ci",
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=_QUIET,
)
settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=_QUIET)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=_QUIET
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
