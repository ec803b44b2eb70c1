"""gategraph: a pure-NumPy deep-learning toolkit in which every operation is a gate.

The rooms are subpackages (`gategraph.layers`, `gategraph.models`, ...) that live in the
repository's top-level folders; `pyproject.toml` maps each one to its folder.
"""

__version__ = "0.1.0"
