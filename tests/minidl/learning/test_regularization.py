"""L1 / L2 / weight decay: DL4J's formulas, their order around the updater, scores, JSON."""

import numpy as np
import pytest

from minidl.backend import array_module, to_cpu, to_device
from minidl.learning import (AFTER_UPDATER, BEFORE_UPDATER, L1, L2, Adam, L1Regularization,
                             L2Regularization, NoOp, Sgd, WeightDecay, compute_update,
                             regularization_score)
from minidl.learning.regularization import Regularization

W = np.array([[0.5, -2.0], [0.0, 3.0]])
G = np.array([[0.1, 0.2], [-0.3, 0.4]])


def on_device():
    """(W, G) on the current device: the regularizations act where the parameters live."""
    return to_device(W), to_device(G)


def test_apply_steps():
    assert L1(0.1).apply_step == BEFORE_UPDATER
    assert L2(0.1).apply_step == BEFORE_UPDATER
    assert WeightDecay(0.1).apply_step == AFTER_UPDATER
    assert L1 is L1Regularization and L2 is L2Regularization


def test_l1_adds_coeff_times_sign(device):
    w, g = on_device()
    out = L1(0.01).apply(w, g, lr=0.5)
    np.testing.assert_allclose(to_cpu(out), [[0.11, 0.19], [-0.3, 0.41]])
    assert out is not g and np.array_equal(to_cpu(g), [[0.1, 0.2], [-0.3, 0.4]])


def test_l2_adds_coeff_times_weight_and_ignores_lr(device):
    w, g = on_device()
    np.testing.assert_allclose(to_cpu(L2(0.1).apply(w, g, lr=0.5)), [[0.15, 0.0], [-0.3, 0.7]])


def test_weight_decay_scales_by_lr_unless_told_not_to(device):
    w, g = on_device()
    np.testing.assert_allclose(to_cpu(WeightDecay(0.1).apply(w, g, lr=0.5)),
                               [[0.125, 0.1], [-0.3, 0.55]])
    np.testing.assert_allclose(to_cpu(WeightDecay(0.1, apply_lr=False).apply(w, g, lr=0.5)),
                               [[0.15, 0.0], [-0.3, 0.7]])


def test_scores(device):
    # sum|w| = 5.5, sum w^2 = 0.25 + 4 + 0 + 9 = 13.25
    w, _ = on_device()
    assert L1(0.1).score(w) == pytest.approx(0.55)
    assert L2(0.1).score(w) == pytest.approx(0.5 * 0.1 * 13.25)
    assert WeightDecay(0.1).score(w) == pytest.approx(0.5 * 0.1 * 13.25)
    assert regularization_score(w, [L1(0.1), L2(0.1)]) == pytest.approx(0.55 + 0.6625)


def test_compute_update_l2_goes_through_the_updater_weight_decay_does_not(device):
    adam = Adam(0.01)
    w, g = on_device()

    def fresh_state():
        return adam.init_state(W.shape, np.float64, array_module())
    # L2: Adam's first step is lr * sign(g + c w) whatever the size of the L2 term.
    u = compute_update(adam, fresh_state(), w, g, [L2(0.1)])
    np.testing.assert_allclose(to_cpu(u), 0.01 * np.sign(G + 0.1 * W), rtol=1e-5)
    # Weight decay: Adam's step on g alone, plus lr * c * w added afterwards.
    u = compute_update(adam, fresh_state(), w, g, [WeightDecay(0.1)])
    np.testing.assert_allclose(to_cpu(u), 0.01 * np.sign(G) + 0.01 * 0.1 * W, rtol=1e-5)


def test_compute_update_with_sgd_and_all_three(device):
    regs = [L1(0.01), L2(0.1), WeightDecay(0.2)]
    lr = 0.5
    expected = lr * (G + 0.01 * np.sign(W) + 0.1 * W) + 0.2 * lr * W
    sgd = Sgd(lr)
    np.testing.assert_allclose(to_cpu(compute_update(sgd, {}, *on_device(), regs)), expected)


def test_noop_updater_gives_regularization_a_learning_rate_of_one(device):
    u = compute_update(NoOp(), {}, *on_device(), [WeightDecay(0.1)])
    np.testing.assert_allclose(to_cpu(u), G + 0.1 * W)


def test_bad_coefficient():
    with pytest.raises(ValueError, match="L2Regularization: coeff must be a number >= 0"):
        L2(-1.0)
    with pytest.raises(ValueError, match="WeightDecay: apply_lr must be True or False"):
        WeightDecay(0.1, apply_lr="yes")


@pytest.mark.parametrize("reg", [L1(0.01), L2(0.02), WeightDecay(0.03), WeightDecay(0.04, False)])
def test_json_round_trip(reg):
    back = Regularization.from_dict(reg.to_dict())
    assert back == reg and type(back) is type(reg)
