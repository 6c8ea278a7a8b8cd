"""Input preprocessors: the reshapes between image-shaped and flat activations.

DL4J flattens a feature map [batch, c, h, w] in C order (channel, then row, then column), which
is what NumPy's reshape does; the reverse turns [batch, c*h*w] back into an image.
"""

import dataclasses

from minidl.naming import Dl4jNames
from minidl.nn.conf.builder import with_builder
from minidl.nn.conf.input_type import InputType
from minidl.ops import reshape


class InputPreProcessor(Dl4jNames):
    """Base class: ``pre_process(x)`` reshapes a Tensor; ``output_type(t)`` says what comes out."""

    def pre_process(self, x):
        """Reshape the activations ``x`` for the layer that follows."""
        raise NotImplementedError

    def output_type(self, input_type):
        """The InputType after this preprocessor, for ``input_type``."""
        raise NotImplementedError


@with_builder
@dataclasses.dataclass
class CnnToFeedForwardPreProcessor(InputPreProcessor):
    """[batch, channels, height, width] -> [batch, channels*height*width]."""

    input_height: int = 0
    input_width: int = 0
    num_channels: int = 0

    def pre_process(self, x):
        expected = (self.num_channels, self.input_height, self.input_width)
        if x.ndim != 4 or (self.num_channels and tuple(x.shape[1:]) != expected):
            raise ValueError(f"CnnToFeedForwardPreProcessor: expected input [batch, "
                             f"{', '.join(map(str, expected))}], got {tuple(x.shape)}")
        return reshape(x, (x.shape[0], -1))

    def output_type(self, input_type):
        return InputType.feed_forward(input_type.flat_size())


@with_builder
@dataclasses.dataclass
class FeedForwardToCnnPreProcessor(InputPreProcessor):
    """[batch, channels*height*width] -> [batch, channels, height, width]."""

    input_height: int = 0
    input_width: int = 0
    num_channels: int = 0

    def pre_process(self, x):
        shape = (self.num_channels, self.input_height, self.input_width)
        size = self.num_channels * self.input_height * self.input_width
        if x.ndim == 4 and tuple(x.shape[1:]) == shape:
            return x
        if x.ndim != 2 or x.shape[1] != size:
            raise ValueError(f"FeedForwardToCnnPreProcessor: expected input [batch, {size}] "
                             f"(= {' x '.join(map(str, shape))}), got {tuple(x.shape)}")
        return reshape(x, (x.shape[0],) + shape)

    def output_type(self, input_type):
        return InputType.convolutional(self.input_height, self.input_width, self.num_channels)


def preprocessor_between(input_type, wants_convolutional):
    """The preprocessor a layer needs for ``input_type``, or None.

    A convolution-type layer fed flat data gets FeedForwardToCnn (only possible when the flat
    data remembers its image shape, i.e. ``convolutional_flat``); a dense layer fed a feature map
    gets CnnToFeedForward.
    """
    if wants_convolutional and input_type.kind == "convolutional_flat":
        return FeedForwardToCnnPreProcessor(input_type.height, input_type.width,
                                            input_type.channels)
    if not wants_convolutional and input_type.kind == "convolutional":
        return CnnToFeedForwardPreProcessor(input_type.height, input_type.width,
                                            input_type.channels)
    return None
