"""Inference in half precision: featurizing in float16 on the GPU, with float32 weights kept.

``network.activations_at(names, inputs, precision="fp16")`` (and so
``TransferLearningHelper.featurize`` and ``featurize_to_disk``) runs the forward pass with
float16 activations and float16 copies of the weights, and hands back float32 arrays:

* the master weights stay float32; each layer's half copy is made once and kept
  (``HalfCopies``) while the parameters are unchanged (the key of ``tables_key``), as the folded
  weights of ``minidl.nn.fusion`` are (folded in float32, then cast);
* the matrix products are float16 GEMMs with float32 accumulation (CuPy's float16 ``matmul`` is
  cuBLAS's GemmEx with CUBLAS_COMPUTE_32F, on tensor cores), and the CUDA kernels read half,
  compute in float and round once when they write (``minidl/ops/cuda/common.cuh``'s half16);
* a batch norm's statistics stay float32 (``Layer.full_precision_params``): its scale and shift
  are worked out in float32 and cast;
* float16 ends at 65504: an activation that overflowed is an error naming it, never a file of
  infinities (``FiniteWatch``). At the other end, numbers below 6e-5 keep fewer digits and
  below 6e-8 become 0: a trained network's activations are far above that (an untrained one's
  may shrink there block by block).

The result differs from float32 by about 1e-3 of each activation's scale (float16 has 11
significant bits). It is a GPU mode: NumPy has no fast float16 GEMM, so on the CPU it is
refused, not slowly emulated. Training always runs in float32 (``set_precision`` chooses only
how its float32 GEMMs are done: exactly or in TF32).
"""

import numpy as np

from minidl.autograd import Tensor
from minidl.backend import get_array_module, to_cpu
from minidl.nn.layers import unwrap
from minidl.nn.parameters import DerivedCache

PRECISIONS = {"fp32": None, "fp16": np.dtype(np.float16)}  # name -> activation dtype (None: as is)
FLOAT16_MAX = float(np.finfo(np.float16).max)


def activation_dtype(precision, device, what="featurize"):
    """The activations' dtype for ``precision`` ("fp32" or "fp16") on ``device``: None for
    fp32 (the parameters' own), float16 for fp16 (GPU only)."""
    name = str(precision).lower()
    if name not in PRECISIONS:
        raise ValueError(f"{what}: unknown precision {precision!r}, expected one of "
                         f"{', '.join(PRECISIONS)}")
    if PRECISIONS[name] is not None and device != "gpu":
        raise ValueError(f"{what}: precision {name!r} runs on the GPU only (NumPy has no fast "
                         f"float16 matrix product); this network is on the {device}: use "
                         f"precision 'fp32', or minidl.set_device('gpu') before building it")
    return PRECISIONS[name]


def half_params(network, name, dtype):
    """Layer ``name``'s parameter table with its weights in ``dtype``: the cached copy."""
    return HalfCopies.of(network).table(network, name, dtype)


class FiniteWatch:
    """Where float16 overflowed: one flag per activation, kept on the device and read once at
    the end of the pass (no wait for the GPU per layer).

    Every activation is watched, not only the result: an infinity that a later ReLU turns into
    0 (or an infinity minus another, NaN, that the ReLU kernel turns into 0 too) would leave
    finite, wrong features. One that an activation squashes correctly (ReLU of -inf is 0, as
    ReLU of -70000 is) is no error, and is not reported: the activation's output is finite.
    """

    def __init__(self):
        self.names, self.flags = [], []

    def see(self, name, a):
        self.names.append(name)
        self.flags.append(get_array_module(a).isfinite(a).all())

    def check(self, network):
        """Raise FloatingPointError naming the first activation that was not finite."""
        if not self.flags:
            return
        finite = to_cpu(get_array_module(self.flags[0]).stack(self.flags))
        if not finite.all():
            name = network.display_name(self.names[int(np.argmin(finite))])
            raise FloatingPointError(
                f"{name}: activations not finite in float16 (values past +-{FLOAT16_MAX:g} "
                f"overflow, or the input was not finite); featurize with precision 'fp32'")


class HalfCopies(DerivedCache):
    """The half-precision parameter tables of one network, each kept while its parameters are
    unchanged (see the module docstring): ``entries`` maps (layer, dtype) to (key, table)."""

    attribute = "_half_copies"

    def table(self, network, name, dtype):
        key = network.tables_key(name)
        entry = self.entries.get((name, dtype))
        if entry is not None and entry[0] == key:
            return entry[1]
        keep = unwrap(network.wiring.vertices[name]).full_precision_params
        table = {param: t if param in keep or t.data.dtype.kind != "f" else
                 Tensor(t.data.astype(dtype)) for param, t in network.param_tables[name].items()}
        self.entries[(name, dtype)] = (key, table)
        return table
