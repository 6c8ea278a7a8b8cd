"""InputType: the shape of what flows into a layer, minus the batch dimension.

Networks infer every layer's input type from the one before it, which lets a configuration omit
``n_in`` and lets the network add the reshapes (preprocessors) between image-shaped and flat
layers by itself.
"""

import dataclasses

from minidl.naming import Dl4jNames


@dataclasses.dataclass(frozen=True)
class InputType(Dl4jNames):
    """``kind`` is "feed_forward" (``size`` features) or "convolutional" (channels, height, width).

    "convolutional_flat" is image data delivered flattened to [batch, height*width*channels]; the
    network reshapes it for the first convolution.
    """

    kind: str
    size: int = 0
    height: int = 0
    width: int = 0
    channels: int = 0

    @staticmethod
    def feed_forward(size):
        """Vectors of ``size`` features."""
        return InputType("feed_forward", size=int(size))

    @staticmethod
    def convolutional(height, width, channels):
        """Images [channels, height, width]."""
        return InputType("convolutional", height=int(height), width=int(width),
                         channels=int(channels))

    @staticmethod
    def convolutional_flat(height, width, channels):
        """Images given flattened, as vectors of height * width * channels."""
        return InputType("convolutional_flat", size=int(height * width * channels),
                         height=int(height), width=int(width), channels=int(channels))

    @property
    def is_convolutional(self):
        return self.kind == "convolutional"

    def flat_size(self):
        """Number of values per example once flattened."""
        if self.kind == "convolutional":
            return self.channels * self.height * self.width
        return self.size

    def shape(self):
        """The per-example array shape ([channels, height, width] or [size])."""
        if self.kind == "convolutional":
            return (self.channels, self.height, self.width)
        return (self.size,)

    def __str__(self):
        if self.kind == "feed_forward":
            return f"InputTypeFeedForward({self.size})"
        if self.kind == "convolutional":
            return f"InputTypeConvolutional(h={self.height},w={self.width},c={self.channels})"
        return f"InputTypeConvolutionalFlat(h={self.height},w={self.width},c={self.channels})"
