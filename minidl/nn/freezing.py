"""Freezing: one place that turns a vertex into its frozen form and back.

A frozen layer keeps its parameters, runs in inference mode and passes no gradient down
(``FrozenLayer``); a frozen parameter-free vertex (a merge, a subset) passes no gradient either
(``FrozenVertex``). The transfer builders freeze configurations with these two functions, and a
network freezes itself in place with them (``Network.freeze``), so both mean the same thing.
"""

from minidl.nn.layers import FrozenLayer, Layer
from minidl.nn.conf.vertices import FrozenVertex


def frozen(vertex):
    """``vertex`` wrapped as frozen; a vertex frozen already (either wrapper) as it is."""
    if vertex.frozen:
        return vertex
    if isinstance(vertex, Layer):
        return FrozenLayer(layer=vertex, name=vertex.name)
    return FrozenVertex(vertex=vertex)


def thawed(vertex):
    """``vertex`` without a FrozenLayer / FrozenVertex wrapper. FrozenLayerWithBackprop, a
    deliberate part of a design rather than a feature-extractor mark, stays."""
    if isinstance(vertex, FrozenLayer):
        return vertex.layer
    return vertex.vertex if isinstance(vertex, FrozenVertex) else vertex
