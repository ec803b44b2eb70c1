"""Gates: every operation of gategraph, registered in LAYERS under its config name.

Every gate class is importable from here: `from gategraph.layers import Affine, ReLU, Add`.
"""

from gategraph.core.params import Param
from gategraph.layers.affine import Affine
from gategraph.layers.avg_pool2d import AvgPool2D, AvgUnpool2D
from gategraph.layers.base import LAYERS, Builder, ConstantGate, Layer
from gategraph.layers.batch_norm import BatchNorm, BatchNormMode, FeatureSum, RunningStat
from gategraph.layers.conv1d import Conv1D
from gategraph.layers.conv2d import Conv2D, ConvFn, ConvInputGrad, ConvWeightGrad
from gategraph.layers.dropout import Dropout, DropoutMask
from gategraph.layers.elementwise import (
    Add,
    Cos,
    Divide,
    Exp,
    Log,
    MatMul,
    Max,
    Multiply,
    Negate,
    Power,
    Scale,
    Shift,
    Sin,
    Step,
    Subtract,
)
from gategraph.layers.flatten import Flatten
from gategraph.layers.global_avg_pool import GlobalAvgPool, SpreadLike
from gategraph.layers.layer_norm import LayerNorm
from gategraph.layers.leaky_relu import LeakyReLU
from gategraph.layers.max_pool1d import MaxPool1D
from gategraph.layers.max_pool2d import MaxGather, MaxPool2D, MaxUnpool
from gategraph.layers.read_param import ReadParam
from gategraph.layers.relu import ReLU
from gategraph.layers.shape import (
    BroadcastLike,
    Count,
    OneHot,
    ReshapeLike,
    Seed,
    Sum,
    SumLike,
    Transpose,
    ZerosLike,
)
from gategraph.layers.sigmoid import Sigmoid
from gategraph.layers.softmax import Softmax
from gategraph.layers.tanh import Tanh

__all__ = [
    "LAYERS",
    "Add",
    "Affine",
    "AvgPool2D",
    "AvgUnpool2D",
    "BatchNorm",
    "BatchNormMode",
    "BroadcastLike",
    "Builder",
    "ConstantGate",
    "Conv1D",
    "Conv2D",
    "ConvFn",
    "ConvInputGrad",
    "ConvWeightGrad",
    "Cos",
    "Count",
    "Divide",
    "Dropout",
    "DropoutMask",
    "Exp",
    "FeatureSum",
    "Flatten",
    "GlobalAvgPool",
    "Layer",
    "LayerNorm",
    "LeakyReLU",
    "Log",
    "MatMul",
    "Max",
    "MaxGather",
    "MaxPool1D",
    "MaxPool2D",
    "MaxUnpool",
    "Multiply",
    "Negate",
    "OneHot",
    "Param",
    "Power",
    "ReLU",
    "ReadParam",
    "ReshapeLike",
    "RunningStat",
    "Scale",
    "Seed",
    "Shift",
    "Sigmoid",
    "Sin",
    "Softmax",
    "SpreadLike",
    "Step",
    "Subtract",
    "Sum",
    "SumLike",
    "Tanh",
    "Transpose",
    "ZerosLike",
]
