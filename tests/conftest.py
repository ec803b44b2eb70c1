"""Hypothesis profiles for every property test in the suite (tests/properties, and any other
`@given`); HYPOTHESIS_PROFILE picks one (default "ci"). Registered here, at the top of tests/, so
one profile holds for the whole run, whichever folders are collected.

ci    derandomized (the same examples on every run, so CI is reproducible), bounded
      example counts, no example database
dev   random, more examples; failures are saved in .hypothesis/ and replayed first
hunt  random, many examples, and without the pinned @example reproducers of known bugs
      (a failing one stops its test at once): a search for new bugs
"""

import os

from hypothesis import HealthCheck, Phase, settings

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large]  # a gradcheck is slow by nature

settings.register_profile(
    "ci",
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=_QUIET,
)
settings.register_profile("dev", max_examples=100, deadline=None, suppress_health_check=_QUIET)
settings.register_profile(
    "hunt",
    max_examples=1000,
    deadline=None,
    phases=[Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=_QUIET,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
