"""Inference-time fusion: a convolution, the batch norm it feeds and that norm's activation as
one op.

In inference mode a batch norm is an affine map per channel, y = x * s + t with
s = gamma / sqrt(var + eps) and t = beta - mean * s. When it reads a convolution
z = conv(x, W) + b, the two compose into one convolution with the weights folded:

    BN(conv(x, W) + b) = conv(x, W * s) + (b * s + t),   W * s: output channel o times s[o]

(``(b - mean) * s + beta`` is the same bias written the other way). The activation that follows
(the norm's own, or an ActivationLayer such as ReLU or ReLU6 that reads only the norm) is then
the convolution's fused bias + activation pass: conv + BN + ReLU become one GEMM and one pass
over its output instead of the GEMM, a bias pass, a normalisation pass and a ReLU pass. The
results differ from the unfused network by float rounding only.

It applies, in ``Network._activations``, only when no gradient can be asked for: inference
mode (``ctx.train`` false) under ``no_grad()`` (``output()``, ``output_single()``,
featurizing), or a chain of FrozenLayers (which run so in every pass, also in ``fit``); and
only to a chain that nobody can observe in the middle:

* a ConvolutionLayer or DepthwiseConvolution2D (possibly frozen) with the identity activation,
* read only by a BatchNormalization (possibly frozen, no input preprocessor),
* optionally read only by an ActivationLayer with an elementwise activation, when the norm's
  own activation is the identity,
* and no member but the last among the activations asked for (``until``).

In inference a chain whose norm has no activation also takes the Add that sums it with a
shortcut computed before the conv (a residual block's end), and the ActivationLayer after that
Add: the conv's own output pass then adds bias and shortcut and applies the activation
(``ops.conv2d(..., residual=)``), one pass over the block's output instead of three (ResNet50
batch 8: 483 -> 468 ms). Any other Add read only by an ActivationLayer becomes one pass that
sums and activates slice by slice while in cache, into reused memory (``SumActivation``,
``ActivationFunction.apply`` with a ``residual``). The same numbers as unfused, always.

The folded weights are computed once and cached on the network (``FoldCache``); an entry is
used again only while the parameters are the same objects, the network's ``param_version``
(bumped by ``fit``, ``set_param``, ``set_params``, ``copy_params_from``, and by ``get_param``
and ``param_table``, whose live arrays a caller may write into) has not moved and the batch
norm's arrays hold the same values. Training never goes through here.
"""

import dataclasses

from minidl.autograd import Tensor, is_grad_enabled, no_grad
from minidl.backend import get_array_module, to_cpu
from minidl.ops import _memory
from minidl.ops.activations import resolve
from minidl.ops.window import channels_first, channels_last
from minidl.nn.conf.vertices import ElementWiseVertex
from minidl.nn.parameters import DerivedCache
from minidl.nn.layers import (ActivationLayer, BatchNormalization, Context, ConvolutionLayer,
                              DepthwiseConvolution2D, FrozenLayer, unwrap)

FOLDABLE = (ConvolutionLayer, DepthwiseConvolution2D)  # exactly these: not a separable conv


@dataclasses.dataclass
class Chain:
    """conv -> norm (-> add of a shortcut) (-> activation layer): the vertex names and the fused
    activation. With ``add``, the convolution's output pass also sums ``shortcut``, the Add's
    other input (a residual block's end: ``ops.conv2d(..., residual=)``)."""

    conv: str
    norm: str
    activation_layer: str = None
    activation: str = None  # the elementwise activation's name, None for the identity
    alpha: float = None
    add: str = None
    shortcut: str = None

    @property
    def last(self):
        """The vertex whose activation the chain produces."""
        return self.activation_layer or self.add or self.norm

    @property
    def members(self):
        return [n for n in (self.conv, self.norm, self.add, self.activation_layer)
                if n is not None]

    def run(self, network, acts, ctx):
        """The chain's output: one convolution with the folded weights."""
        conv = unwrap(network.wiring.vertices[self.conv])
        W, b = FoldCache.of(network).folded(network, self, conv, ctx.dtype)
        x = network._layer_input(self.conv, acts)
        extra = {} if self.add is None else {"residual": acts[self.shortcut].data}
        with no_grad():
            return conv.forward_with(x, Tensor(W), Tensor(b), self.activation, self.alpha,
                                     Context(train=False, rng=ctx.rng), **extra)


@dataclasses.dataclass
class SumActivation:
    """add -> activation layer (a residual block's end): the activation applied in place to the
    sum, a new array that nothing else reads, instead of to a copy. The same numbers."""

    add: str
    activation_layer: str
    activation: str
    alpha: float = None

    @property
    def last(self):
        return self.activation_layer

    @property
    def members(self):
        return [self.add, self.activation_layer]

    def run(self, network, acts, ctx):
        f = resolve(self.activation, self.alpha)
        terms = [acts[name].data for name in network.wiring.vertex_inputs[self.add]]
        if len({(t.shape, t.dtype) for t in terms}) > 1:  # broadcasting: the vertex's own way
            y = network._vertex_forward(self.add, acts, ctx)
            f.apply(y.data, out=y.data)
            return y
        rest = terms[1] if len(terms) == 2 else sum(terms[2:], terms[1])
        return Tensor(f.apply(terms[0], out=_like(terms[0]), residual=rest))


def _like(a):
    """An empty array of ``a``'s shape on cached memory (``minidl.ops._memory``), channels-last
    like a convolution's output when ``a`` is an image batch, so the next one reads it free."""
    xp = get_array_module(a)
    if a.ndim != 4:
        return _memory.empty(a.shape, a.dtype, xp)
    return channels_first(_memory.empty(channels_last(a).shape, a.dtype, xp))


def find_chains(wiring, order, keep, ctx):
    """{first member: Chain or SumActivation} for the chains among ``order`` that may fuse in
    this pass (see the module docstring); ``keep`` are the activations asked for, which only a
    chain's last member may be. A vertex belongs to one chain at most: the first that takes it."""
    readers = {}
    for name in wiring.order:
        for source in wiring.vertex_inputs.get(name, ()):
            readers.setdefault(source, []).append(name)
    in_order, chains, taken = set(order), {}, set()
    position = {name: i for i, name in enumerate(order)}
    inference = not ctx.train and not is_grad_enabled()
    for name in order:
        if name in taken:
            continue
        chain = _chain_from(wiring, name, readers, keep)
        if chain is not None and inference:
            _extend_by_shortcut(wiring, chain, readers, keep, position)
        if chain is None and inference:
            chain = _sum_from(wiring, name, readers, keep)
        if chain is not None and all(m in in_order for m in chain.members) and (
                inference or _all_frozen(wiring, chain)):
            chains[name] = chain
            taken.update(chain.members)
    return chains


def _extend_by_shortcut(wiring, chain, readers, keep, position):
    """Extend a conv -> norm chain without activation by the Add that sums it with a shortcut
    (and the activation layer after that Add), when the conv is a plain ConvolutionLayer and
    the shortcut is computed before it (given, or earlier in ``position``)."""
    if chain.activation is not None or type(unwrap(wiring.vertices[chain.conv])) is not \
            ConvolutionLayer:
        return
    add_name = _sole_reader_of_many(wiring, chain.norm, readers, keep)
    add = wiring.vertices.get(add_name) if add_name else None
    if not (isinstance(add, ElementWiseVertex) and add.op == ElementWiseVertex.Op.Add):
        return
    sources = list(wiring.vertex_inputs[add_name])
    others = [n for n in sources if n != chain.norm]
    if len(sources) != 2 or len(others) != 1 or position.get(others[0], -1) >= \
            position[chain.conv]:
        return
    chain.add, chain.shortcut = add_name, others[0]
    act_name = _sole_reader(wiring, add_name, readers, keep)
    act = wiring.vertices.get(act_name) if act_name else None
    fused = act.elementwise() if isinstance(act, ActivationLayer) else None
    if fused is not None:
        chain.activation_layer = act_name
        chain.activation, chain.alpha = _elementwise(*fused)


def _sum_from(wiring, name, readers, keep):
    """The SumActivation that starts at ``name``, or None: an Add of two inputs or more (one
    input would be passed on as it is, not summed into a new array), read only by an
    ActivationLayer with an elementwise activation."""
    vertex = wiring.vertices.get(name)
    if not (isinstance(vertex, ElementWiseVertex) and vertex.op == ElementWiseVertex.Op.Add
            and len(wiring.vertex_inputs[name]) >= 2):
        return None
    act_name = _sole_reader(wiring, name, readers, keep)
    act = wiring.vertices.get(act_name) if act_name else None
    fused = act.elementwise() if isinstance(act, ActivationLayer) else None
    if fused is None or fused[0] == "identity":
        return None
    return SumActivation(name, act_name, *fused)


def _all_frozen(wiring, chain):
    """Whether every member is a FrozenLayer: it runs in inference mode under ``no_grad()``
    whatever the pass (so also while the layers above it train)."""
    return all(isinstance(wiring.vertices[m], FrozenLayer) for m in chain.members)


def _sole_reader_of_many(wiring, name, readers, keep):
    """The one vertex that reads ``name`` (with other inputs maybe, through no preprocessor);
    None if there is not exactly one, or ``name`` is an output or is asked for."""
    found = readers.get(name, [])
    if len(found) != 1 or name in keep or name in wiring.outputs:
        return None
    return None if found[0] in wiring.preprocessors else found[0]


def _sole_reader(wiring, name, readers, keep):
    """``_sole_reader_of_many``'s vertex when it reads nothing but ``name``, else None."""
    reader = _sole_reader_of_many(wiring, name, readers, keep)
    if reader is None or list(wiring.vertex_inputs[reader]) != [name]:
        return None
    return reader


def _chain_from(wiring, name, readers, keep):
    conv = unwrap(wiring.vertices.get(name)) if name in wiring.vertices else None
    if type(conv) not in FOLDABLE or conv.activation.value != "identity":
        return None
    norm_name = _sole_reader(wiring, name, readers, keep)
    norm = unwrap(wiring.vertices[norm_name]) if norm_name else None
    if not isinstance(norm, BatchNormalization):
        return None
    own = _elementwise(norm.activation.value, None)
    if own is None:
        return None  # softmax and the like: not an op's fused activation
    chain = Chain(name, norm_name, activation=own[0])
    if own[0] is None:  # the norm has no activation of its own: take the next layer's
        act_name = _sole_reader(wiring, norm_name, readers, keep)
        act = unwrap(wiring.vertices.get(act_name)) if act_name else None
        fused = act.elementwise() if isinstance(act, ActivationLayer) else None
        if fused is not None:
            chain.activation_layer = act_name
            chain.activation, chain.alpha = _elementwise(*fused)
    return chain


def _elementwise(name, alpha):
    """(name or None for the identity, alpha) of an activation an op can fuse, else None."""
    from minidl.ops.activations import ACTIVATIONS

    if name == "identity":
        return None, None
    return (name, alpha) if name in ACTIVATIONS else None


class FoldCache(DerivedCache):
    """The folded (W, b) of each chain of one network, kept while its parameters are unchanged:
    ``entries`` maps (conv, norm, dtype) to (key, W, b)."""

    attribute = "_fold_cache"

    def folded(self, network, chain, conv, dtype=None):
        """(W, b) of the chain, in ``dtype`` (default the conv's): folded at full precision,
        then cast once (half-precision inference, ``minidl.nn.precision``)."""
        conv_params = network.param_tables[chain.conv]
        norm_params = network.param_tables[chain.norm]
        key = (network.tables_key(chain.conv, chain.norm), _values(norm_params))
        entry = self.entries.get((chain.conv, chain.norm, dtype))
        if entry is not None and entry[0] == key:
            return entry[1], entry[2]
        norm = unwrap(network.wiring.vertices[chain.norm])
        W, b = fold(conv, conv_params, norm, norm_params)
        if dtype is not None:
            W, b = W.astype(dtype), b.astype(dtype)
        self.entries[(chain.conv, chain.norm, dtype)] = (key, W, b)
        return W, b


def _values(params):
    """The bytes of a batch norm's arrays (a few kilobytes, against megabytes of weights):
    part of the key, they catch running statistics written in place, as a forward pass in
    training mode or a write into ``get_param``'s live array does."""
    return b"".join(to_cpu(t.data).tobytes() for t in params.values())


def fold(conv, conv_params, norm, norm_params):
    """(W * s, b * s + t) of the module docstring, in the conv's dtype: the batch norm folded
    into the convolution's weights and bias (a conv without bias counts b = 0)."""
    W = conv_params["W"].data
    scale, shift = norm.inference_affine(norm_params)
    bias = shift if "b" not in conv_params else \
        conv_params["b"].data.astype(scale.dtype) * scale + shift
    folded_W = conv.scale_output_channels(W.astype(scale.dtype), scale).astype(W.dtype)
    return folded_W, bias.astype(W.dtype)
