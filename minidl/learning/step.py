"""One parameter's update in DL4J's order: regularize, update, decay.

DL4J's updater block does, for every trainable parameter ``w`` with gradient ``g``::

    g = g + (each BEFORE_UPDATER regularization: L1, L2)
    u = updater(g)
    u = u + (each AFTER_UPDATER regularization: weight decay)
    w = w - u

with the updater's learning rate handed to the regularizations (1.0 when the updater has none,
as NoOp). ``compute_update`` is that sequence and ``apply_update`` subtracts it, so networks
call one function per parameter.
"""

from minidl.learning.regularization import AFTER_UPDATER, BEFORE_UPDATER


def compute_update(updater, state, param, gradient, regularization=(), iteration=0, epoch=0):
    """The array to subtract from ``param``; ``state`` (from ``updater.init_state``) advances."""
    lr = updater.get_learning_rate(iteration, epoch) if updater.has_learning_rate() else 1.0
    for reg in regularization:
        if reg.apply_step == BEFORE_UPDATER:
            gradient = reg.apply(param, gradient, lr, iteration, epoch)
    update = updater.apply(gradient, state, iteration, epoch)
    for reg in regularization:
        if reg.apply_step == AFTER_UPDATER:
            update = reg.apply(param, update, lr, iteration, epoch)
    return update


def regularization_score(param, regularization=(), iteration=0, epoch=0):
    """The sum of the regularization terms for one parameter (added to the network's score)."""
    return sum(reg.score(param, iteration, epoch) for reg in regularization)


def apply_update(updater, state, param, gradient, regularization=(), iteration=0, epoch=0):
    """``param -= compute_update(...)`` in place. Without regularization that is the updater's
    own ``step``, one fused kernel on the GPU."""
    if regularization:
        update = compute_update(updater, state, param, gradient, regularization, iteration,
                                epoch)
        param -= update.astype(param.dtype, copy=False)
    else:
        updater.step(param, gradient, state, iteration, epoch)
