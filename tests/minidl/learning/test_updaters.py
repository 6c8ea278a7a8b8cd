"""Updaters against hand-written DL4J formulas (scalar loops) and, where the algorithm is the
same, against PyTorch's optimizers."""

import math

import numpy as np
import pytest

from minidl.backend import array_module, to_cpu, to_device
from minidl.learning import AdaGrad, Adam, Nesterovs, NoOp, RmsProp, Sgd
from minidl.learning.updaters import IUpdater

# Three steps of gradients on a tiny 2x2 parameter, deliberately of mixed signs and sizes.
GRADS = [np.array([[0.5, -1.0], [2.0, 0.1]]),
         np.array([[0.4, -0.5], [-1.0, 0.3]]),
         np.array([[-0.2, 0.7], [0.5, -2.0]])]


def init_state(updater, shape=(2, 2), dtype=np.float64):
    """A fresh state on the current device."""
    return updater.init_state(shape, dtype, array_module())


def run(updater, grads=GRADS):
    """Updates for each step, in float64, from a fresh state: computed on the current device,
    returned on the host."""
    state = init_state(updater, grads[0].shape)
    return [to_cpu(updater.apply(to_device(g.copy()), state, iteration=i))
            for i, g in enumerate(grads)]


def scalar_steps(step, grads=GRADS, **init):
    """Apply a per-element scalar ``step(g, state, t) -> update`` to every element: a loop
    implementation of each formula, independent of the vectorised code."""
    out = [np.zeros_like(g) for g in grads]
    for idx in np.ndindex(grads[0].shape):
        state = dict(init)
        for t, g in enumerate(grads):
            out[t][idx] = step(g[idx], state, t)
    return out


def assert_steps_equal(actual, expected, rtol=1e-12):
    for t, (a, e) in enumerate(zip(actual, expected)):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=1e-15, err_msg=f"step {t}")


def test_dl4j_defaults():
    assert Sgd().learning_rate == 1e-3
    assert (Nesterovs().learning_rate, Nesterovs().momentum) == (0.1, 0.9)
    a = Adam()
    assert (a.learning_rate, a.beta1, a.beta2, a.epsilon) == (1e-3, 0.9, 0.999, 1e-8)
    r = RmsProp()
    assert (r.learning_rate, r.rms_decay, r.epsilon) == (0.1, 0.95, 1e-8)
    assert (AdaGrad().learning_rate, AdaGrad().epsilon) == (0.1, 1e-6)


def test_positional_learning_rate_and_dl4j_argument_order():
    assert Nesterovs(5e-5).learning_rate == 5e-5
    assert Nesterovs(0.01, 0.5).momentum == 0.5
    assert Adam(0.01, 0.8, 0.99, 1e-7) == Adam(learning_rate=0.01, beta1=0.8, beta2=0.99,
                                               epsilon=1e-7)
    assert RmsProp(0.01, 0.9, 1e-6).rms_decay == 0.9
    assert AdaGrad(0.2, 1e-4).epsilon == 1e-4


def test_camel_case_getters():
    assert Nesterovs(0.3).getLearningRate() == 0.3
    assert Nesterovs(0.3).hasLearningRate() and not NoOp().hasLearningRate()
    assert Nesterovs(0.3).learningRate == 0.3


def test_sgd(device):
    assert_steps_equal(run(Sgd(0.1)), [0.1 * g for g in GRADS])


def test_nesterovs_matches_dl4j_formula(device):
    lr, mu = 0.1, 0.9

    def step(g, s, t):
        v_prev = s["v"]
        s["v"] = mu * v_prev - lr * g
        return mu * v_prev - (1 + mu) * s["v"]

    assert_steps_equal(run(Nesterovs(lr, mu)), scalar_steps(step, v=0.0))


def test_adam_matches_dl4j_formula(device):
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8

    def step(g, s, t):
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g * g
        alpha = lr * math.sqrt(1 - b2 ** (t + 1)) / (1 - b1 ** (t + 1))
        return alpha * s["m"] / (math.sqrt(s["v"]) + eps)

    assert_steps_equal(run(Adam(lr, b1, b2, eps)), scalar_steps(step, m=0.0, v=0.0))


def test_adam_first_step_is_lr_times_sign_of_gradient(device):
    # By hand: m = 0.1 g, v = 0.001 g^2, alpha = lr sqrt(0.001) / 0.1, so u = lr * g / |g|.
    (u,) = run(Adam(0.01, epsilon=0.0), [GRADS[0]])
    np.testing.assert_allclose(u, 0.01 * np.sign(GRADS[0]), rtol=1e-12)


def test_rmsprop_matches_dl4j_formula_with_state_starting_at_epsilon(device):
    lr, decay, eps = 0.1, 0.95, 1e-8

    def step(g, s, t):
        s["G"] = decay * s["G"] + (1 - decay) * g * g
        return lr * g / (math.sqrt(s["G"]) + eps)

    updater = RmsProp(lr, decay, eps)
    assert np.all(to_cpu(init_state(updater)["G"]) == eps)
    assert_steps_equal(run(updater), scalar_steps(step, G=eps))


def test_adagrad_matches_dl4j_formula_with_history_starting_at_default_epsilon(device):
    lr, eps = 0.1, 1e-4  # a non-default epsilon: the history still starts at 1e-6

    def step(g, s, t):
        s["h"] += g * g
        return lr * g / (math.sqrt(s["h"]) + eps)

    updater = AdaGrad(lr, eps)
    assert np.all(to_cpu(init_state(updater)["grad"]) == 1e-6)
    assert_steps_equal(run(updater), scalar_steps(step, h=1e-6))


def test_noop_passes_the_gradient_through(device):
    updater = NoOp()
    assert init_state(updater) == {}
    assert not updater.has_learning_rate()
    g = to_device(GRADS[0].copy())
    u = updater.apply(g, {})
    np.testing.assert_array_equal(to_cpu(u), GRADS[0])
    assert u is not g


def test_state_is_advanced_in_place_and_checked(device):
    updater = Adam()
    state = init_state(updater)
    m = state["M"]
    g = to_device(GRADS[0])
    updater.apply(g, state)
    assert state["M"] is m and np.any(to_cpu(m) != 0)
    with pytest.raises(ValueError, match=r"Adam updater state 'M' has shape \(2, 2\)"):
        updater.apply(to_device(np.zeros((3,))), state)
    with pytest.raises(KeyError, match="no 'V' array"):
        updater.apply(g, {"M": m})


def test_float32_stays_float32(device):
    for updater in (Sgd(), Nesterovs(), Adam(), RmsProp(), AdaGrad(), NoOp()):
        g = to_device(GRADS[0].astype(np.float32))
        state = init_state(updater, g.shape, np.float32)
        assert updater.apply(g, state).dtype == np.float32, type(updater).__name__


def test_bad_hyper_parameter_is_a_clear_error():
    with pytest.raises(ValueError, match="Adam: learning_rate must be a finite number, got 'x'"):
        Adam("x")
    with pytest.raises(ValueError, match="Nesterovs: momentum"):
        Nesterovs(0.1, float("nan"))


@pytest.mark.parametrize("updater", [Sgd(0.2), Nesterovs(0.05, 0.8), Adam(0.01, 0.8, 0.99, 1e-7),
                                     RmsProp(0.01, 0.9, 1e-6), AdaGrad(0.3, 1e-5), NoOp()])
def test_json_round_trip(updater):
    data = updater.to_dict()
    assert data["@class"] == type(updater).__name__
    back = IUpdater.from_dict(data)
    assert back == updater and type(back) is type(updater)
    assert type(updater).from_dict(data) == updater


def test_from_dict_of_the_wrong_class_is_rejected():
    with pytest.raises(ValueError, match="holds a Sgd, not a Adam"):
        Adam.from_dict(Sgd().to_dict())


def test_clone_is_independent():
    a = Adam(0.1)
    b = a.clone()
    b.set_learning_rate(0.5)
    assert a.learning_rate == 0.1 and b.learning_rate == 0.5


# --- PyTorch as a second, independent oracle ---------------------------------------------------

def torch_steps(make_optimizer, grads=GRADS, prepare=None):
    """Parameter deltas (w_before - w_after) per step from a torch optimizer, float64."""
    torch = pytest.importorskip("torch")
    w = torch.zeros(grads[0].shape, dtype=torch.float64, requires_grad=True)
    opt = make_optimizer(torch, [w])
    if prepare is not None:
        prepare(torch, opt, w)
    deltas = []
    for g in grads:
        before = w.detach().clone()
        w.grad = torch.tensor(g)
        opt.step()
        deltas.append((before - w.detach()).numpy())
    return deltas


def test_sgd_equals_torch_sgd(device):
    expected = torch_steps(lambda torch, p: torch.optim.SGD(p, lr=0.1))
    assert_steps_equal(run(Sgd(0.1)), expected)


def test_nesterovs_equals_torch_nesterov_sgd(device):
    # DL4J's form and torch's (buffer = -v / lr) are algebraically the same with a fixed lr.
    expected = torch_steps(lambda torch, p: torch.optim.SGD(p, lr=0.1, momentum=0.9,
                                                            nesterov=True))
    assert_steps_equal(run(Nesterovs(0.1, 0.9)), expected, rtol=1e-10)


def test_adam_equals_torch_adam_when_epsilon_is_zero(device):
    # Only epsilon's placement differs (DL4J: sqrt(v) + eps; torch: sqrt(v_hat) + eps).
    expected = torch_steps(lambda torch, p: torch.optim.Adam(p, lr=0.01, eps=0.0))
    assert_steps_equal(run(Adam(0.01, epsilon=0.0)), expected, rtol=1e-10)
    with_eps = run(Adam(0.01, epsilon=1e-8))
    np.testing.assert_allclose(with_eps[-1], expected[-1], rtol=1e-6)


def test_adagrad_equals_torch_adagrad_with_the_same_initial_history(device):
    expected = torch_steps(lambda torch, p: torch.optim.Adagrad(
        p, lr=0.1, eps=1e-6, initial_accumulator_value=1e-6))
    assert_steps_equal(run(AdaGrad(0.1)), expected, rtol=1e-10)


def test_rmsprop_equals_torch_rmsprop_started_at_epsilon(device):
    eps = 1e-8

    def start_at_epsilon(torch, opt, w):
        opt.state[w]["step"] = torch.tensor(0.0)
        opt.state[w]["square_avg"] = torch.full_like(w, eps)

    expected = torch_steps(lambda torch, p: torch.optim.RMSprop(p, lr=0.1, alpha=0.95, eps=eps),
                           prepare=start_at_epsilon)
    assert_steps_equal(run(RmsProp(0.1, 0.95, eps)), expected, rtol=1e-10)


@pytest.mark.parametrize("updater", [Sgd(0.1), Nesterovs(0.1, 0.9), Adam(0.1), RmsProp(0.1),
                                     AdaGrad(0.1), NoOp()], ids=lambda u: type(u).__name__)
def test_step_leaves_the_parameter_where_subtracting_apply_does(device, updater):
    """``step`` (on a GPU one fused kernel, updaters.cu) against ``w -= apply(...)`` on the host
    in float32, step by step, the state included: the same numbers to the bit."""
    w0 = np.array([[0.3, -0.2], [0.05, 1.5]], np.float32)
    w, w_ref = to_device(w0.copy()), w0.copy()
    state = init_state(updater, dtype=np.float32)
    state_ref = updater.init_state((2, 2), np.float32)
    for i, g in enumerate(GRADS):
        g = g.astype(np.float32)
        updater.step(w, to_device(g.copy()), state, iteration=i)
        w_ref -= updater.apply(g.copy(), state_ref, iteration=i)
        np.testing.assert_array_equal(to_cpu(w), w_ref)
        for name in updater.state_names:
            np.testing.assert_array_equal(to_cpu(state[name]), state_ref[name])



@pytest.mark.parametrize("device", ["gpu-emulated"], indirect=True)
def test_a_gpu_step_is_one_kernel_launch(device):
    """Adam's formula is ten array operations, each a launch on a GPU; its step is one."""
    from emulated_gpu.fake_cupy import Launches

    adam = Adam(0.1)
    w, g = to_device(np.ones((3, 4), np.float32)), to_device(np.full((3, 4), 0.5, np.float32))
    state = init_state(adam, (3, 4), np.float32)
    Launches.counts, Launches.counting = {}, True
    try:
        adam.step(w, g, state)
    finally:
        Launches.counting = False
    assert Launches.counts == {"adam_step": 1}
