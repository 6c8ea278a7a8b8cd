"""DL4J's enumerations: activations, losses, pooling types, convolution modes, algorithms.

Each member's value is the lower-case name the ops understand (``Activation.RELU.value == "relu"``),
so configuration code speaks DL4J and the engine speaks plain strings. ``parse`` accepts a member,
its name in any case, or its value, which is what JSON and users hand us.
"""

import enum


class Dl4jEnum(enum.Enum):
    """An Enum that parses DL4J names case-insensitively and serialises by name."""

    @classmethod
    def parse(cls, value):
        if isinstance(value, cls):
            return value
        key = str(value).replace("-", "_").lower()
        for member in cls:
            if key in (member.name.lower(), str(member.value).lower()):
                return member
        raise ValueError(f"unknown {cls.__name__} {value!r}; expected one of: "
                         f"{', '.join(m.name for m in cls)}")

    def __str__(self):
        return self.name


class Activation(Dl4jEnum):
    """Activation functions (DL4J's ``Activation``)."""

    IDENTITY = "identity"
    RELU = "relu"
    LEAKYRELU = "leakyrelu"
    ELU = "elu"
    SIGMOID = "sigmoid"
    TANH = "tanh"
    SOFTMAX = "softmax"
    SOFTPLUS = "softplus"
    HARDTANH = "hardtanh"
    SOFTSIGN = "softsign"
    RELU6 = "relu6"  # min(max(x, 0), 6)
    SWISH = "swish"  # x * sigmoid(x)
    HARDSIGMOID = "hardsigmoid"  # DL4J's: min(1, max(0, 0.2 x + 0.5))
    HARDSWISH = "hardswish"  # x * relu6(x + 3) / 6 (not in DL4J; MobileNetV3's)


class LossFunction(Dl4jEnum):
    """Loss functions (DL4J's ``LossFunctions.LossFunction``)."""

    MCXENT = "mcxent"
    NEGATIVELOGLIKELIHOOD = "negativeloglikelihood"
    MSE = "mse"
    SQUARED_LOSS = "squared_loss"
    L2 = "l2"
    MEAN_ABSOLUTE_ERROR = "mean_absolute_error"
    L1 = "l1"
    XENT = "xent"

    @property
    def is_cross_entropy(self):
        return self in (LossFunction.MCXENT, LossFunction.NEGATIVELOGLIKELIHOOD)


class LossFunctions:
    """DL4J spells losses ``LossFunctions.LossFunction.MCXENT``; this makes that work."""

    LossFunction = LossFunction


class PoolingType(Dl4jEnum):
    """Pooling types of SubsamplingLayer and GlobalPoolingLayer."""

    MAX = "max"
    AVG = "avg"
    SUM = "sum"
    PNORM = "pnorm"


class ConvolutionMode(Dl4jEnum):
    """How convolution and pooling treat borders (see ``minidl.ops.window``)."""

    Truncate = "truncate"
    Same = "same"
    Strict = "strict"


class OptimizationAlgorithm(Dl4jEnum):
    """DL4J's optimisation algorithms; minidl trains with STOCHASTIC_GRADIENT_DESCENT."""

    STOCHASTIC_GRADIENT_DESCENT = "stochastic_gradient_descent"
    LINE_GRADIENT_DESCENT = "line_gradient_descent"
    CONJUGATE_GRADIENT = "conjugate_gradient"
    LBFGS = "lbfgs"


class GradientNormalization(Dl4jEnum):
    """Per-layer gradient normalisation applied before the updater (DL4J's names)."""

    NONE = "none"
    RenormalizeL2PerLayer = "renormalizel2perlayer"
    RenormalizeL2PerParamType = "renormalizel2perparamtype"
    ClipElementWiseAbsoluteValue = "clipelementwiseabsolutevalue"
    ClipL2PerLayer = "clipl2perlayer"
    ClipL2PerParamType = "clipl2perparamtype"


GradientNormalization.None_ = GradientNormalization.NONE  # DL4J's GradientNormalization.None


# DL4J's memory and cuDNN tuning knobs. minidl has no workspaces (NumPy and CuPy manage memory),
# no activation cache and no cuDNN, so the builders accept these settings and drop them: ported
# code runs unchanged.

class WorkspaceMode(Dl4jEnum):
    """DL4J's ``trainingWorkspaceMode`` / ``inferenceWorkspaceMode``; accepted, ignored."""

    NONE = "none"
    ENABLED = "enabled"
    SINGLE = "single"
    SEPARATE = "separate"


class CacheMode(Dl4jEnum):
    """DL4J's ``cacheMode``; accepted, ignored."""

    NONE = "none"
    HOST = "host"
    DEVICE = "device"


class AlgoMode(Dl4jEnum):
    """DL4J's ``ConvolutionLayer.AlgoMode`` (cuDNN algorithm choice); accepted, ignored."""

    NO_WORKSPACE = "no_workspace"
    PREFER_FASTEST = "prefer_fastest"
    USER_SPECIFIED = "user_specified"
