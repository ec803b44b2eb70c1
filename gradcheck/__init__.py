"""The gradient checker: centered finite differences against a gate's or a graph's backward."""

from gategraph.gradcheck.check import RTOL, check_graph, check_layer, gradcheck
from gategraph.gradcheck.report import GradcheckResult

__all__ = ["RTOL", "GradcheckResult", "check_graph", "check_layer", "gradcheck"]
