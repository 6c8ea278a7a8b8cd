"""GroupedConvolution2D: a convolution whose channels split into independent groups.

ResNeXt and ShuffleNet (and ONNX's Conv with 1 < group < channels) convolve group g of the
input channels with group g of the filters only. DL4J has no such layer; this one is a
ConvolutionLayer whose W is [n_out, n_in / groups, kh, kw] (ONNX's and PyTorch's layout) and
whose forward runs the ordinary convolution once per group and concatenates the results along
the channels. ``groups == 1`` is a ConvolutionLayer; ``groups == n_in`` with one filter per
channel is better imported as DepthwiseConvolution2D, which is what the ONNX importer does.
"""

import dataclasses

from minidl import ops
from minidl.nn.conf.builder import with_builder
from minidl.nn.layers.convolution import ConvolutionLayer


@with_builder
@dataclasses.dataclass
class GroupedConvolution2D(ConvolutionLayer):
    """Grouped 2-d convolution: [batch, n_in, h, w] -> [batch, n_out, oh, ow].

    Output channels g * (n_out / groups) ... (g + 1) * (n_out / groups) - 1 see input channels
    g * (n_in / groups) ... only. W [n_out, n_in / groups, kh, kw], b [n_out].
    """

    groups: int = 1

    def _check_groups(self):
        g = self.groups
        if g < 1 or self.n_in % g or self.n_out % g:
            raise ValueError(f"layer {self.describe()}: groups={g} must divide n_in={self.n_in} "
                             f"and n_out={self.n_out}")

    def param_shapes(self):
        self._require_sizes()
        self._check_groups()
        shapes = {"W": (self.n_out, self.n_in // self.groups) + self.kernel_size}
        if self.has_bias:
            shapes["b"] = (self.n_out,)
        return shapes

    def fans(self):
        fan_in, fan_out = super().fans()
        return fan_in / self.groups, fan_out / self.groups

    def forward(self, x, params, ctx):
        x = self._checked_input(x, ctx)
        c_in, c_out = self.n_in // self.groups, self.n_out // self.groups
        W, b, outputs = params["W"], params.get("b"), []
        for g in range(self.groups):
            xs = ops.get_item(x, (slice(None), slice(g * c_in, (g + 1) * c_in)))
            Ws = ops.get_item(W, slice(g * c_out, (g + 1) * c_out))
            bs = None if b is None else ops.get_item(b, slice(g * c_out, (g + 1) * c_out))
            outputs.append(ops.conv2d(xs, Ws, bs, self.stride, self.padding, self.dilation,
                                      self._mode()))
        return self._activate(ops.concat(outputs, axis=1))
