"""Value checks shared by every room: numbers in an interval, integers, flags."""

import math
import numbers
from typing import Any

import numpy as np


def check_number(
    who: str,
    key: str,
    value: Any,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> Any:
    """`value` as a float (an int if `integer`) after checking it is a finite number in the
    interval from `low` to `high` (ends open or closed); a bool is not a number.

    Messages read `Adam needs 0 <= betas[0] < 1, got 1.5` (ValueError) or
    `SGD needs lr to be a number, got '1e-3' (str)` (TypeError).
    """
    what = "an integer" if integer else "a number"
    if not is_real(value, integer=integer):
        raise TypeError(f"{who} needs {key} to be {what}, got {value!r} ({type(value).__name__})")
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (math.isfinite(value) and above and below):
        raise ValueError(
            f"{who} needs {_interval(key, low, high, low_open, high_open)}, got {value}"
        )
    return int(value) if integer else float(value)


def is_real(value: Any, *, integer: bool = False) -> bool:
    """True for a real number (an integer if `integer`), NumPy's too; a bool is none."""
    kind = numbers.Integral if integer else numbers.Real
    return isinstance(value, kind) and not isinstance(value, bool | np.bool_)


def is_number(value: Any, *, integer: bool = False) -> bool:
    """True for a finite real number (an integer if `integer`): `is_real` and not inf/nan."""
    return is_real(value, integer=integer) and math.isfinite(value)


def check_int(who: str, key: str, value: Any, *, low: int) -> int:
    """`value` as an int >= low (`check_number` with `integer=True`)."""
    return check_number(who, key, value, low=low, integer=True)


def check_flag(who: str, key: str, value: Any) -> bool:
    """`value` as a bool; TypeError otherwise (a YAML `"no"` string would read as True)."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{who} needs {key} to be true or false, got {value!r}")
    return bool(value)


def _interval(key: str, low: float, high: float, low_open: bool, high_open: bool) -> str:
    """'0 <= key < 1', 'key >= 0', 'key <= 1' or 'a finite key'."""
    left, right = ("<" if low_open else "<="), ("<" if high_open else "<=")
    if math.isinf(low) and math.isinf(high):
        return f"a finite {key}"
    if math.isinf(high):
        return f"{key} {'>' if low_open else '>='} {low:g}"
    if math.isinf(low):
        return f"{key} {right} {high:g}"
    return f"{low:g} {left} {key} {right} {high:g}"
