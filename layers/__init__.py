"""Gates: every operation of gategraph, registered in LAYERS under its config name."""

from gategraph.core.params import Param
from gategraph.layers import (
    affine,
    avg_pool2d,
    batch_norm,
    conv1d,
    conv2d,
    dropout,
    elementwise,
    flatten,
    global_avg_pool,
    layer_norm,
    leaky_relu,
    max_pool1d,
    max_pool2d,
    read_param,
    relu,
    shape,
    sigmoid,
    softmax,
    tanh,
)
from gategraph.layers.base import LAYERS, Layer

__all__ = ["LAYERS", "Layer", "Param"]
