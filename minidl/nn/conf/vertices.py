"""Graph vertices without parameters: merge, element-wise, subset, preprocessor, frozen.

In a ComputationGraph a vertex takes one or more input activations and produces one output.
Layers are vertices too (the graph holds Layer objects directly); the classes here are the ones
that only combine or reshape what flows through.
"""

import dataclasses
import enum
from functools import reduce

from minidl import ops
from minidl.naming import Dl4jNames
from minidl.nn.conf.builder import with_builder
from minidl.nn.conf.input_type import InputType


class GraphVertex(Dl4jNames):
    """Base of parameter-free vertices: ``forward(inputs, ctx)`` and ``output_type(types)``."""

    has_params = False
    is_output = False
    frozen = False
    is_feed_forward = False
    input_kind = "any"

    def describe(self):
        """The vertex type as ``summary()`` shows it."""
        return type(self).__name__

    @property
    def type_name(self):
        return type(self).__name__

    def apply_defaults(self, defaults):
        """Fill unset settings from the network's defaults (none here)."""
        pass

    def param_shapes(self):
        """{parameter name: shape} (none for a parameter-free vertex)."""
        return {}

    def output_type(self, input_types):
        """The InputType of the output, for the inputs' types."""
        return input_types[0]

    def forward(self, inputs, ctx):
        """The output tensor from the input tensors."""
        raise NotImplementedError

    def _check_count(self, name, inputs, at_least=1, exactly=None):
        n = len(inputs)
        if (exactly is not None and n != exactly) or n < at_least:
            want = exactly if exactly is not None else f"at least {at_least}"
            raise ValueError(f"vertex {name!r} ({type(self).__name__}): expects {want} inputs, "
                             f"got {n}")


@with_builder
@dataclasses.dataclass
class MergeVertex(GraphVertex):
    """Concatenates its inputs along the feature/channel axis (axis 1)."""

    def output_type(self, input_types):
        first = input_types[0]
        if first.is_convolutional:
            for t in input_types[1:]:
                if (t.height, t.width) != (first.height, first.width):
                    raise ValueError(f"MergeVertex: inputs of different spatial sizes "
                                     f"{[str(t) for t in input_types]}")
            return InputType.convolutional(first.height, first.width,
                                           sum(t.channels for t in input_types))
        return InputType.feed_forward(sum(t.flat_size() for t in input_types))

    def forward(self, inputs, ctx):
        return inputs[0] if len(inputs) == 1 else ops.concat(inputs, axis=1)


class Op(enum.Enum):
    """ElementWiseVertex operations (DL4J's ``ElementWiseVertex.Op``)."""

    Add = "add"
    Subtract = "subtract"
    Product = "product"
    Average = "average"
    Max = "max"


def _maximum(a, b):
    # max(a, b) = a + relu(b - a): differentiable with the ops we have, ties go to a.
    return a + ops.relu(b - a)


@with_builder
@dataclasses.dataclass
class ElementWiseVertex(GraphVertex):
    """Combines same-shaped inputs element by element: Add, Subtract (2 inputs), Product,
    Average or Max."""

    op: Op = Op.Add

    builder_args = ("op",)
    Op = Op

    def __post_init__(self):
        if not isinstance(self.op, Op):
            self.op = Op[str(self.op).capitalize()] if str(self.op).capitalize() in Op.__members__ \
                else Op(str(self.op).lower())

    def output_type(self, input_types):
        shapes = {t.shape() for t in input_types}
        if len(shapes) > 1:
            raise ValueError(f"ElementWiseVertex({self.op.name}): inputs must have the same shape, "
                             f"got {[str(t) for t in input_types]}")
        return input_types[0]

    def forward(self, inputs, ctx):
        if self.op == Op.Subtract:
            if len(inputs) != 2:
                raise ValueError(f"ElementWiseVertex(Subtract) needs exactly 2 inputs, got {len(inputs)}")
            return inputs[0] - inputs[1]
        if self.op == Op.Add:
            return reduce(ops.add, inputs)
        if self.op == Op.Product:
            return reduce(ops.mul, inputs)
        if self.op == Op.Average:
            return reduce(ops.add, inputs) * (1.0 / len(inputs))
        return reduce(_maximum, inputs)


@with_builder
@dataclasses.dataclass
class SubsetVertex(GraphVertex):
    """Features ``from_index`` .. ``to_index`` (inclusive, as in DL4J) of axis 1 of one input."""

    from_index: int = 0
    to_index: int = 0

    builder_args = ("from_index", "to_index")

    def output_type(self, input_types):
        t = input_types[0]
        n = self.to_index - self.from_index + 1
        if t.is_convolutional:
            return InputType.convolutional(t.height, t.width, n)
        return InputType.feed_forward(n)

    def forward(self, inputs, ctx):
        x = inputs[0]
        return ops.get_item(x, (slice(None), slice(self.from_index, self.to_index + 1)))


@with_builder
@dataclasses.dataclass
class PreprocessorVertex(GraphVertex):
    """Applies an InputPreProcessor (e.g. CnnToFeedForwardPreProcessor) as a graph vertex."""

    preprocessor: object = None

    builder_args = ("preprocessor",)

    def output_type(self, input_types):
        return self.preprocessor.output_type(input_types[0])

    def forward(self, inputs, ctx):
        return self.preprocessor.pre_process(inputs[0])


@with_builder
@dataclasses.dataclass
class FrozenVertex(GraphVertex):
    """A frozen parameter-free vertex: forwards like its inner vertex, sends no gradient back."""

    vertex: GraphVertex = None

    builder_args = ("vertex",)
    frozen = True

    def output_type(self, input_types):
        return self.vertex.output_type(input_types)

    def forward(self, inputs, ctx):
        from minidl.autograd import no_grad
        with no_grad():
            return self.vertex.forward(inputs, ctx)

    def describe(self):
        return f"FrozenVertex<{self.vertex.describe()}>"
