"""Shared basics below every room: Param and flat buffers, the one Registry, value checks."""

from gategraph.core.checks import check_flag, check_int, check_number
from gategraph.core.params import Param, empty_aligned, flatten_params, gemm
from gategraph.core.registry import Registry
from gategraph.core.toposort import toposort

__all__ = [
    "Param",
    "Registry",
    "check_flag",
    "check_int",
    "check_number",
    "empty_aligned",
    "flatten_params",
    "gemm",
    "toposort",
]
