"""Drawings and plots: graphs as Graphviz DOT or Mermaid text, training curves (matplotlib)."""

from gategraph.drawing.draw import to_dot, to_mermaid

__all__ = ["to_dot", "to_mermaid"]
