"""SlidingWindow: what convolution and pooling layers share, a kernel sliding over a feature map."""

from minidl.nn.conf.enums import ConvolutionMode
from minidl.ops._checks import pair
from minidl.ops.window import Window


class SlidingWindow:
    """Mixin for a layer whose kernel slides over a [batch, channels, height, width] input.

    The layer declares the dataclass fields ``kernel_size``, ``stride``, ``padding`` and
    ``convolution_mode`` (their defaults differ per layer) and lists its pair fields in
    ``pair_fields``; this mixin parses them and works out the output size.
    """

    dilation = (1, 1)  # pooling windows are not dilated; ConvolutionLayer has a field for it

    def _parse_window_fields(self):
        # A single int means a square (kernel_size=3); JSON gives pairs back as lists.
        for f in self.pair_fields:
            setattr(self, f, pair(getattr(self, f), f))
        if self.convolution_mode is not None:
            self.convolution_mode = ConvolutionMode.parse(self.convolution_mode)

    def _mode(self):
        return (self.convolution_mode or ConvolutionMode.Truncate).value

    def output_size(self, height, width):
        """(out height, out width) for a [height, width] input, by ``convolution_mode``."""
        w = Window(f"layer {self.describe()}", (1, 1, height, width), self.kernel_size,
                   self.stride, self.padding, self.dilation, self._mode())
        return w.oh, w.ow
