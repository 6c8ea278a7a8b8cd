"""Output-layer validation: DL4J's OutputLayerUtil checks, run when a configuration is built.

An output layer's loss scores its activations, and some pairs cannot learn or are a known
mistake: a softmax over one unit is exactly 1.0 whatever the input, so the score is 0 and no
parameter ever moves. DL4J refuses these pairs when it builds a network configuration (both
``.list()`` and ``.graph_builder()``, and the transfer builders), unless the builder was given
``validate_output_layer_config(False)``. minidl applies the same four rules:

1. **softmax with n_out = 1** (an output layer with parameters; a LossLayer's size is its
   input's, so it is not judged on it);
2. **a loss that expects probabilities** (MCXENT, NEGATIVELOGLIKELIHOOD, XENT) **after an
   activation not bounded to 0..1**: DL4J's list is CUBE, ELU, HARDTANH, IDENTITY, LEAKYRELU,
   PRELU, RATIONALTANH, RELU, RELU6, RRELU, SELU, SOFTPLUS, SOFTSIGN, SWISH, TANH and
   THRESHOLDEDRELU. IDENTITY on a LossLayer is allowed: dense(softmax) -> loss(identity) is a
   valid design;
3. **softmax with XENT** (binary cross-entropy), whatever n_out;
4. **sigmoid with MCXENT or NEGATIVELOGLIKELIHOOD** (DL4J's NLL is a kind of MCXENT).

For one class per example the pair is softmax + MCXENT (or NEGATIVELOGLIKELIHOOD); for
independent yes/no labels it is sigmoid + XENT. Activations that DL4J does not list (SIGMOID,
SOFTMAX, HARDSIGMOID, ...) pass rule 2. Unlike DL4J, an output layer inside a
FrozenLayerWithBackprop is checked too (DL4J skips wrapped layers).
"""

from minidl.nn.conf.layers import unwrap

PROBABILITY_LOSSES = frozenset({"MCXENT", "NEGATIVELOGLIKELIHOOD", "XENT"})
MULTI_CLASS_LOSSES = frozenset({"MCXENT", "NEGATIVELOGLIKELIHOOD"})
# DL4J's OUTSIDE_ZERO_ONE_RANGE, by name: those minidl lacks cost nothing and stay right if added.
UNBOUNDED_ACTIVATIONS = frozenset({
    "CUBE", "ELU", "HARDTANH", "IDENTITY", "LEAKYRELU", "PRELU", "RATIONALTANH", "RELU", "RELU6",
    "RRELU", "SELU", "SOFTPLUS", "SOFTSIGN", "SWISH", "TANH", "THRESHOLDEDRELU"})

_VALID_PAIRS = ("softmax + MCXENT or NEGATIVELOGLIKELIHOOD (one class per example, n_out >= 2), "
                "sigmoid + XENT (independent yes/no labels), or a regression loss such as MSE")


class OutputLayerValidation:
    """Mixin for the builders that validate output layers: DL4J's switch, on by default."""

    _validate_output = True

    def validate_output_layer_config(self, validate):
        """Whether ``build()`` refuses output layers that break the rules of
        ``minidl.nn.conf.output_validation`` (DL4J's ``validateOutputLayerConfig``)."""
        self._validate_output = bool(validate)
        return self


def validate_output_layers(layers, validate=True):
    """Raise ValueError for the first output layer among ``layers`` that breaks a rule.

    ``layers`` are built layers (loss and activation filled in); other layers and graph vertices
    are skipped. ``validate=False`` (a builder's ``validate_output_layer_config(False)``) checks
    nothing.
    """
    if not validate:
        return
    for layer in layers:
        if getattr(layer, "is_output", False):
            problem = output_layer_problem(unwrap(layer))
            if problem is not None:
                raise ValueError(_message(layer, problem))


def output_layer_problem(layer):
    """Why the output layer ``layer`` cannot work as configured (rules 1-4), or None."""
    loss, activation = layer.loss.name, layer.activation.name
    loss_layer = not layer.has_params  # DL4J's LossLayer: no parameters, n_out = n_in
    if activation == "SOFTMAX" and layer.n_out == 1 and not loss_layer:
        return "softmax over a single output is exactly 1.0 whatever the input: nothing can learn"
    if loss in PROBABILITY_LOSSES and activation in UNBOUNDED_ACTIVATIONS and \
            not (loss_layer and activation == "IDENTITY"):
        return (f"{loss} expects probabilities (activations in 0..1), but {activation} does not "
                f"bound its output to 0..1")
    if activation == "SOFTMAX" and loss == "XENT":
        return "softmax with XENT (binary cross-entropy) is a common mistake"
    if activation == "SIGMOID" and loss in MULTI_CLASS_LOSSES:
        return f"sigmoid with {loss} (multi-class cross-entropy) is a common mistake"
    return None


def _message(layer, problem):
    inner = unwrap(layer)
    return (f"invalid output layer {layer.describe()}: loss {inner.loss.name}, activation "
            f"{inner.activation.name}, n_out {inner.n_out}: {problem}. Valid: {_VALID_PAIRS}. "
            f"validate_output_layer_config(False) on the builder turns this check off (not "
            f"recommended)")
