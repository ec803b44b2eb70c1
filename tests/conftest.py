"""Hypothesis profiles for every property test in the suite (tests/properties, and any other
`@given`); HYPOTHESIS_PROFILE picks one (default "ci"). Registered here, at the top of tests/, so
one profile holds for the whole run, whichever folders are collected.

A test that needs an optional extra says so with `@pytest.mark.extra("mnist1d")`: it is skipped,
with the install command as the reason, unless every package that pyproject.toml lists for that
extra is installed.

ci    derandomized (the same examples on every run, so CI is reproducible), bounded
      example counts, no example database
dev   random, more examples; failures are saved in .hypothesis/ and replayed first
hunt  random, many examples, and without the pinned @example reproducers of known bugs
      (a failing one stops its test at once): a search for new bugs
"""

import functools
import importlib.metadata
import os
import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "extra(name): needs pip install -e '.[name]'; skipped, saying so, without it"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("extra"):
        if missing := missing_packages(mark.args[0]):
            pytest.skip(
                f'needs the {mark.args[0]} extra (pip install -e ".[{mark.args[0]}]"): '
                f"{', '.join(missing)} not installed"
            )


@functools.cache
def missing_packages(extra: str) -> list[str]:
    """The packages pyproject.toml lists for `extra` that are not installed."""
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    if extra not in extras:
        raise ValueError(f"no extra {extra!r} in {PYPROJECT}; extras: {', '.join(extras)}")
    names = [re.match(r"[A-Za-z0-9._-]+", requirement).group() for requirement in extras[extra]]
    return [name for name in names if not _installed(name)]


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
