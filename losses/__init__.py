"""Losses: the gates that end a graph, registered in LOSSES.

Every loss class is importable from here: `from gategraph.losses import SoftmaxCrossEntropy`.
"""

from gategraph.losses.base import LOSSES, Loss
from gategraph.losses.mse import MSE
from gategraph.losses.sigmoid_bce import SigmoidBCE
from gategraph.losses.softmax_cross_entropy import SoftmaxCrossEntropy
from gategraph.losses.svm_hinge import HingeSlope, SVMHinge

__all__ = ["LOSSES", "MSE", "HingeSlope", "Loss", "SVMHinge", "SigmoidBCE", "SoftmaxCrossEntropy"]
