"""Weight init: moments of large draws against DL4J's formulas (computed here from the fans),
bounds of the uniform schemes, determinism, errors, JSON."""

import math

import numpy as np
import pytest

from minidl.nn.conf.weight_init import (ConstantDistribution, Distribution, LogNormalDistribution,
                                        NormalDistribution, TruncatedNormalDistribution,
                                        UniformDistribution, WeightInit, init_weights)

FAN_IN, FAN_OUT = 200, 50
SHAPE = (FAN_IN, 500)  # 100k draws: the sample std is within ~0.5% of the true one


def phi(x):
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def truncated_std(sigma, at=2.0):
    """Standard deviation of N(0, sigma) truncated to [-at sigma, at sigma]."""
    mass = math.erf(at / math.sqrt(2))
    return sigma * math.sqrt(1 - 2 * at * phi(at) / mass)


# scheme -> (kind, parameter) from DL4J's WeightInitUtil / WeightInit* sources, with
# fan_in = 200, fan_out = 50. "normal": std; "uniform": half-width; "truncated": sigma.
EXPECTED = {
    WeightInit.NORMAL: ("normal", 1 / math.sqrt(FAN_IN)),
    WeightInit.LECUN_NORMAL: ("normal", 1 / math.sqrt(FAN_IN)),
    WeightInit.XAVIER_FAN_IN: ("normal", 1 / math.sqrt(FAN_IN)),
    WeightInit.XAVIER: ("normal", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    WeightInit.XAVIER_LEGACY: ("normal", 1 / math.sqrt(SHAPE[0] + SHAPE[1])),
    WeightInit.RELU: ("normal", math.sqrt(2 / FAN_IN)),
    WeightInit.XAVIER_UNIFORM: ("uniform", math.sqrt(6 / (FAN_IN + FAN_OUT))),
    WeightInit.RELU_UNIFORM: ("uniform", math.sqrt(6 / FAN_IN)),
    WeightInit.UNIFORM: ("uniform", 1 / math.sqrt(FAN_IN)),
    WeightInit.LECUN_UNIFORM: ("uniform", 3 / math.sqrt(FAN_IN)),
    WeightInit.SIGMOID_UNIFORM: ("uniform", 4 * math.sqrt(6 / (FAN_IN + FAN_OUT))),
    WeightInit.VAR_SCALING_NORMAL_FAN_IN: ("truncated", math.sqrt(1 / FAN_IN)),
    WeightInit.VAR_SCALING_NORMAL_FAN_OUT: ("truncated", math.sqrt(1 / FAN_OUT)),
    WeightInit.VAR_SCALING_NORMAL_FAN_AVG: ("truncated", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    WeightInit.VAR_SCALING_UNIFORM_FAN_IN: ("uniform", 3 / math.sqrt(FAN_IN)),
    WeightInit.VAR_SCALING_UNIFORM_FAN_OUT: ("uniform", 3 / math.sqrt(FAN_OUT)),
    WeightInit.VAR_SCALING_UNIFORM_FAN_AVG: ("uniform", 3 / math.sqrt((FAN_IN + FAN_OUT) / 2)),
}


@pytest.mark.parametrize("scheme", list(EXPECTED), ids=lambda s: s.name)
def test_statistics_match_dl4j_formula(scheme):
    kind, p = EXPECTED[scheme]
    w = init_weights(scheme, SHAPE, FAN_IN, FAN_OUT, np.random.default_rng(1))
    assert w.shape == SHAPE and w.dtype == np.float32
    std = {"normal": p, "uniform": p / math.sqrt(3), "truncated": truncated_std(p)}[kind]
    assert abs(float(w.mean())) < 4 * std / math.sqrt(w.size)
    assert float(w.std()) == pytest.approx(std, rel=0.02)
    if kind == "uniform":
        assert float(np.abs(w).max()) <= p and float(np.abs(w).max()) > 0.99 * p
    if kind == "truncated":
        assert float(np.abs(w).max()) <= 2 * p * (1 + 1e-6)


def test_zero_ones_identity():
    rng = np.random.default_rng(0)
    assert np.all(init_weights(WeightInit.ZERO, (3, 4), 3, 4, rng) == 0)
    assert np.all(init_weights(WeightInit.ONES, (3, 4), 3, 4, rng) == 1)
    np.testing.assert_array_equal(init_weights(WeightInit.IDENTITY, (3, 3), 3, 3, rng), np.eye(3))
    with pytest.raises(ValueError, match=r"IDENTITY needs square 2-d weights, got shape \(3, 4\)"):
        init_weights(WeightInit.IDENTITY, (3, 4), 3, 4, rng)


def test_conv_fans_follow_dl4j():
    # A 3x3 conv from 16 to 32 channels: fan_in = 16*9, fan_out = 32*9 (the caller's job, but the
    # resulting std is what DL4J gives such a layer).
    shape = (32, 16, 3, 3)
    w = init_weights(WeightInit.XAVIER, (64,) + shape[1:], 16 * 9, 32 * 9, np.random.default_rng(0))
    w2 = init_weights(WeightInit.XAVIER, shape, 16 * 9, 32 * 9, np.random.default_rng(0))
    assert w2.shape == shape
    draws = np.concatenate([w.ravel(), w2.ravel()])
    assert float(draws.std()) == pytest.approx(math.sqrt(2 / (16 * 9 + 32 * 9)), rel=0.05)


def test_same_seed_same_array_and_other_seed_other_array():
    a = init_weights(WeightInit.XAVIER, (20, 30), 20, 30, np.random.default_rng(42))
    b = init_weights(WeightInit.XAVIER, (20, 30), 20, 30, np.random.default_rng(42))
    c = init_weights(WeightInit.XAVIER, (20, 30), 20, 30, np.random.default_rng(43))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_float64():
    w = init_weights("relu", (10, 10), 10, 10, np.random.default_rng(0), dtype=np.float64)
    assert w.dtype == np.float64
    with pytest.raises(ValueError, match="float32 or float64, not int32"):
        init_weights("relu", (10, 10), 10, 10, np.random.default_rng(0), dtype=np.int32)


def test_names_parse_case_insensitively():
    assert WeightInit.parse("xavier_uniform") is WeightInit.XAVIER_UNIFORM
    assert WeightInit.parse("RELU") is WeightInit.RELU
    with pytest.raises(ValueError, match="unknown WeightInit 'xavir'"):
        init_weights("xavir", (2, 2), 2, 2, np.random.default_rng(0))


def test_distributions():
    rng = np.random.default_rng(3)
    w = init_weights(NormalDistribution(1.0, 0.5), (400, 250), 1, 1, rng)
    assert float(w.mean()) == pytest.approx(1.0, abs=0.01)
    assert float(w.std()) == pytest.approx(0.5, rel=0.02)
    w = init_weights(UniformDistribution(-0.2, 0.6), (400, 250), 1, 1, rng)
    assert -0.2 <= float(w.min()) < -0.19 and 0.59 < float(w.max()) < 0.6
    assert float(w.mean()) == pytest.approx(0.2, abs=0.005)
    assert np.all(init_weights(ConstantDistribution(0.25), (3, 3), 1, 1, rng) == 0.25)
    w = TruncatedNormalDistribution(0.0, 2.0).sample((100_000,), rng)
    assert float(np.abs(w).max()) <= 4.0 and float(w.std()) == pytest.approx(truncated_std(2.0),
                                                                              rel=0.02)
    w = LogNormalDistribution(0.0, 0.5).sample((100_000,), rng)
    assert float(np.log(w).std()) == pytest.approx(0.5, rel=0.02)


def test_distribution_scheme_needs_a_distribution():
    rng = np.random.default_rng(0)
    w = init_weights(WeightInit.DISTRIBUTION, (2, 2), 2, 2, rng,
                     distribution=ConstantDistribution(3.0))
    assert np.all(w == 3.0)
    with pytest.raises(ValueError, match="DISTRIBUTION needs a distribution"):
        init_weights(WeightInit.DISTRIBUTION, (2, 2), 2, 2, rng)


def test_bad_arguments():
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        init_weights(WeightInit.XAVIER, (2, 2), 2, 2, 42)
    with pytest.raises(ValueError, match="fan_in and fan_out must be > 0, got fan_in=0"):
        init_weights(WeightInit.XAVIER, (0, 2), 0, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="NormalDistribution: std must be > 0"):
        NormalDistribution(0.0, 0.0)
    with pytest.raises(ValueError, match="lower .* must be below upper"):
        UniformDistribution(1.0, 1.0)


@pytest.mark.parametrize("dist", [NormalDistribution(0.1, 0.2), UniformDistribution(-1.0, 2.0),
                                  ConstantDistribution(0.5), TruncatedNormalDistribution(0, 3.0),
                                  LogNormalDistribution(0.2, 0.4)])
def test_distribution_json_round_trip(dist):
    back = Distribution.from_dict(dist.to_dict())
    assert back == dist and type(back) is type(dist)


def test_weight_init_json_round_trip():
    from minidl import serde
    for scheme in WeightInit:
        assert serde.from_json(serde.to_json(scheme)) is scheme
