"""Gates: every operation of gategraph, registered in LAYERS under its config name."""

from layers import affine, relu  # noqa: F401  (registration runs on import)
from layers.base import LAYERS, Layer, Param

__all__ = ["LAYERS", "Layer", "Param"]
