"""Loss functions with DL4J's scoring convention.

DL4J scores a minibatch as the per-example loss, summed over the output units, averaged over the
examples. So the loss of a batch of N is ``sum(per_unit_loss) / N``, and MSE/MAE additionally
divide by the number of outputs (DL4J's LossMSE is LossL2 / nOut). Each loss takes the
*activated* network output and the labels, both [batch, n_out].

``softmax_cross_entropy`` fuses softmax with the multi-class cross-entropy (DL4J's MCXENT and
NEGATIVELOGLIKELIHOOD, which are the same loss): the gradient w.r.t. the logits is simply
(softmax(z) - labels) / N, which is exact and never divides by a tiny probability.
"""

from minidl.autograd import Function, Tensor
from minidl.backend import get_array_module, is_gpu_array
from minidl.ops import cuda
from minidl.ops._checks import require_float

# Probabilities are clipped away from 0 and 1 before a log, as DL4J does, so that a confident
# wrong answer gives a large finite loss rather than inf.
CLIP_EPS = 1e-10


def _check_pair(op, output, labels):
    require_float(op, "the output", output)
    require_float(op, "the labels", labels)
    if output.shape != labels.shape:
        raise ValueError(f"{op}: labels of shape {tuple(labels.shape)} do not match the output of "
                         f"shape {tuple(output.shape)}")


class _Loss(Function):
    """A loss from its value per output unit: subclasses define ``per_unit(output, labels)``,
    the [batch, n_out] losses, and ``d_per_unit(output, labels)``, their derivative w.r.t. the
    output; the loss is the sum divided by the batch size."""

    op = "loss"

    def forward(self, output, labels):
        _check_pair(self.op, output, labels)
        self.output, self.labels = output, labels
        self.n = output.shape[0]
        value = self.per_unit(output, labels).sum() / self.n
        return get_array_module(output).asarray(value, dtype=output.dtype)

    def backward(self, gy):
        return gy * self.d_per_unit(self.output, self.labels) / self.n, None


class MeanSquaredError(_Loss):
    """DL4J's MSE: squared errors summed over [batch, n_out], divided by n_out and by
    the batch size."""

    op = "mse"

    def per_unit(self, output, labels):
        return (output - labels) ** 2 / output[0].size

    def d_per_unit(self, output, labels):
        return 2 * (output - labels) / output[0].size


class MeanAbsoluteError(_Loss):
    """DL4J's MAE: absolute errors summed over [batch, n_out], divided by n_out and by
    the batch size; the gradient at a zero error is 0."""

    op = "mae"

    def per_unit(self, output, labels):
        return abs(output - labels) / output[0].size

    def d_per_unit(self, output, labels):
        return get_array_module(output).sign(output - labels) / output[0].size


class SquaredError(_Loss):
    """DL4J's L2 loss: the sum of squared errors (no division by n_out)."""

    op = "l2"

    def per_unit(self, output, labels):
        return (output - labels) ** 2

    def d_per_unit(self, output, labels):
        return 2 * (output - labels)


class BinaryCrossEntropy(_Loss):
    """DL4J's XENT: -[t log p + (1 - t) log(1 - p)] for sigmoid outputs p and labels t."""

    op = "binary_cross_entropy"

    def per_unit(self, p, labels):
        xp = get_array_module(p)
        p = xp.clip(p, CLIP_EPS, 1 - CLIP_EPS)
        return -(labels * xp.log(p) + (1 - labels) * xp.log(1 - p))

    def d_per_unit(self, p, labels):
        p = get_array_module(p).clip(p, CLIP_EPS, 1 - CLIP_EPS)
        return (p - labels) / (p * (1 - p))


class CrossEntropy(_Loss):
    """DL4J's MCXENT / NEGATIVELOGLIKELIHOOD on probabilities p and labels t: -sum(t log p)."""

    op = "cross_entropy"

    def per_unit(self, p, labels):
        xp = get_array_module(p)
        return -labels * xp.log(xp.clip(p, CLIP_EPS, 1.0))

    def d_per_unit(self, p, labels):
        return -labels / get_array_module(p).clip(p, CLIP_EPS, 1.0)


class SoftmaxCrossEntropy(Function):
    """Cross-entropy of softmax(logits) against one-hot (or soft) labels, fused and stable."""

    def forward(self, logits, labels):
        _check_pair("softmax_cross_entropy", logits, labels)
        if is_gpu_array(logits):  # one fused kernel (minidl/ops/cuda/softmax_xent.cu)
            loss, self.p = cuda.softmax_cross_entropy_forward(logits, labels)
            self.labels = labels
            return loss
        xp = get_array_module(logits)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_z = xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        log_p = shifted - log_z
        self.p, self.labels = xp.exp(log_p), labels
        return xp.asarray(-(labels * log_p).sum() / logits.shape[0], dtype=logits.dtype)

    def backward(self, gy):
        # d/dz of -sum(t log softmax(z)) for labels t is softmax(z) * sum(t) - t; with rows of t
        # summing to 1 (one-hot or a distribution) that is p - t.
        labels = self.labels
        if is_gpu_array(self.p):
            return cuda.softmax_cross_entropy_backward(self.p, labels, gy), None
        gx = (self.p * labels.sum(axis=1, keepdims=True) - labels) / self.p.shape[0]
        return gy * gx, None


# Functional forms, as ``minidl.ops.math``: each applies its Function to (output, labels).

def mse(output, labels):
    return MeanSquaredError()(output, labels)


def mae(output, labels):
    return MeanAbsoluteError()(output, labels)


def l2(output, labels):
    return SquaredError()(output, labels)


def binary_cross_entropy(output, labels):
    return BinaryCrossEntropy()(output, labels)


def cross_entropy(probabilities, labels):
    return CrossEntropy()(probabilities, labels)


def softmax_cross_entropy(logits, labels):
    return SoftmaxCrossEntropy()(logits, labels)


def softmax_cross_entropy_and_probabilities(logits, labels):
    """(the loss, softmax(logits) as a Tensor outside the graph): the probabilities the loss
    works out anyway, so an output layer need not run a second softmax (one kernel less per
    training step on the GPU)."""
    fn = SoftmaxCrossEntropy()
    loss = fn(logits, labels)
    return loss, Tensor(fn.p)
