"""Option checks shared by the data modules: integers and real numbers in a range."""

import math
from typing import Any

import numpy as np


def check_int(who: str, key: str, value: Any, *, low: int) -> int:
    """`value` as an int >= low; TypeError for a non-integer (bools included), else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{who} needs an integer {key}, got {value!r} ({type(value).__name__})")
    if value < low:
        raise ValueError(f"{who} needs {key} >= {low}, got {value}")
    return int(value)


def check_real(
    who: str,
    key: str,
    value: Any,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """`value` as a finite float in the interval from `low` to `high` (ends open or closed)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{who} needs a number for {key}, got {value!r} ({type(value).__name__})")
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (math.isfinite(value) and above and below):
        raise ValueError(
            f"{who} needs {_interval(key, low, high, low_open, high_open)}, got {value}"
        )
    return float(value)


def _interval(key: str, low: float, high: float, low_open: bool, high_open: bool) -> str:
    """'0 <= key < 1', 'key >= 0' or 'a finite key'."""
    left = f"{low:g} {'<' if low_open else '<='} " if math.isfinite(low) else ""
    right = f" {'<' if high_open else '<='} {high:g}" if math.isfinite(high) else ""
    if left and not right:
        return f"{key} {'>' if low_open else '>='} {low:g}"
    return f"{left}{key}{right}" if left or right else f"a finite {key}"
