"""Wiring: the one picture of a network that the engine runs, whatever kind of network it is.

A ComputationGraph is named vertices wired as a directed acyclic graph; a MultiLayerNetwork is
the special case of a chain ("input" -> "0" -> "1" -> ... -> "n-1"). Both hand the engine
(``minidl.nn.network.Network``) a Wiring, so forward passes, losses, freezing and featurizing are
written once:

    inputs         ["input_1"]                      the network's inputs (no vertex object)
    outputs        ["predictions"]                  the vertices ``output()`` returns
    vertices       {"fc2": DenseLayer(...), ...}    a Layer or a GraphVertex per name
    vertex_inputs  {"fc2": ["fc1"], ...}            what each vertex reads, in order
    preprocessors  {"flatten": CnnToFeedForward}    reshapes applied to a layer's input
    order          ["input_1", "block1_conv1", ...] inputs and vertices, each after its inputs

The dictionaries are the configuration's own (a graph) or made from it (a chain): a Wiring is a
view, never a copy to keep in sync.
"""

import dataclasses


@dataclasses.dataclass
class Wiring:
    """Inputs, outputs and vertices of a network in topological order (see the module docstring)."""

    inputs: list
    outputs: list
    vertices: dict
    vertex_inputs: dict
    preprocessors: dict
    order: list

    def known_names(self):
        return list(self.inputs) + list(self.vertices)

    def check_names(self, names, what):
        """Raise naming the known vertices unless every one of ``names`` is an input or vertex."""
        known = self.known_names()
        for name in names:
            if name not in known:
                raise ValueError(f"{what}: no vertex named {name!r}; vertices: {known}")

    def ancestors(self, names, given=()):
        """The named vertices and every vertex and input they depend on.

        The walk stops at ``given`` names (activations already at hand): what runs to compute
        ``names`` from them. ``ancestors(["fc2"])`` of VGG16 is ``fc2`` and everything below it,
        down to ``input_1``: what a forward pass up to ``fc2`` computes, and what freezing at
        ``fc2`` freezes.
        """
        found, stack = set(), list(names)
        while stack:
            name = stack.pop()
            if name not in found:
                found.add(name)
                if name not in given:
                    stack.extend(self.vertex_inputs.get(name, ()))
        return found

    def consumers(self, name):
        """The vertices that read ``name``, in topological order."""
        return [v for v in self.order if name in self.vertex_inputs.get(v, ())]

    def last_readers(self, order, keep):
        """{vertex: the activations that no vertex after it in ``order`` reads}, except ``keep``.

        Dropping those activations once their last reader has run is what keeps inference and
        featurization at the memory of a few activations rather than all of them.
        """
        last = {}
        for name in order:
            for source in self.vertex_inputs.get(name, ()):
                last[source] = name
        readers = {}
        for source, name in last.items():
            if source not in keep:
                readers.setdefault(name, []).append(source)
        return readers

    def boundary(self, frozen):
        """The frozen names that an unfrozen vertex reads, and the inputs that only unfrozen
        vertices read, sorted: what a network made of the unfrozen part takes as its inputs.

        Sorted, where DL4J's order follows a HashSet.
        """
        read = {source for name in self.vertices if name not in frozen
                for source in self.vertex_inputs[name]}
        return sorted((read & set(frozen)) | {i for i in self.inputs if i not in frozen})
