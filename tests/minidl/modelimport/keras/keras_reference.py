"""What a Keras model computes, in NumPy and Keras' own layout (NHWC activations, Keras
kernels): written from Keras' documented semantics (reference/modern-cnns.md §3.5), sharing
nothing with minidl, so it is an independent truth for the imported networks."""

import numpy as np


def _same_pads(size, k, s, d):
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2  # TF: the extra pixel after (bottom / right)


def _pad(x, c, kernel, value=0.0):
    (kh, kw), (sh, sw), (dh, dw) = kernel, _two(c.get("strides", 1)), _two(
        c.get("dilation_rate", 1))
    if c.get("padding", "valid") != "same":
        return x, np.ones(x.shape[1:3], bool)
    pads = ((0, 0), _same_pads(x.shape[1], kh, sh, dh), _same_pads(x.shape[2], kw, sw, dw), (0, 0))
    mask = np.pad(np.ones(x.shape[1:3], bool), pads[1:3])
    return np.pad(x, pads, constant_values=value), mask


def _two(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


def _taps(x, kernel, c):
    """[(a, b, window)] : x[:, i*s + a*d, j*s + b*d, :] for every output (i, j)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, _two(c.get("strides", 1)), _two(
        c.get("dilation_rate", 1))
    oh = (x.shape[1] - (kh - 1) * dh - 1) // sh + 1
    ow = (x.shape[2] - (kw - 1) * dw - 1) // sw + 1
    for a in range(kh):
        for b in range(kw):
            yield a, b, x[:, a * dh:a * dh + (oh - 1) * sh + 1:sh,
                          b * dw:b * dw + (ow - 1) * sw + 1:sw]


def conv(x, K, c):
    x, _ = _pad(x, c, K.shape[:2])
    return sum(np.einsum("nhwc,co->nhwo", win, K[a, b]) for a, b, win in _taps(x, K.shape[:2], c))


def depthwise(x, K, c):
    x, _ = _pad(x, c, K.shape[:2])
    cin, m = K.shape[2], K.shape[3]
    y = sum(win[..., :, None] * K[a, b] for a, b, win in _taps(x, K.shape[:2], c))
    return y.reshape(y.shape[:3] + (cin * m,))  # channel c*m + k


def pool(x, c, kind):
    k = _two(c.get("pool_size", 2))
    c = {**c, "strides": c.get("strides") or k}
    xp, mask = _pad(x, c, k, -np.inf if kind == "max" else 0.0)
    wins = [w for _, _, w in _taps(xp, k, c)]
    if kind == "max":
        return np.max(wins, axis=0)
    counts = sum(w for _, _, w in _taps(mask[None, :, :, None].astype(float), k, c))
    return sum(wins) / counts  # padded cells are not counted


ACT = {"linear": lambda z: z, "relu": lambda z: np.maximum(z, 0),
       "relu6": lambda z: np.clip(z, 0, 6), "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
       "tanh": np.tanh, "swish": lambda z: z / (1 + np.exp(-z)),
       "softmax": lambda z: np.exp(z - z.max(-1, keepdims=True)) /
       np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True),
       "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0)))}


def keras_relu(z, max_value=None, negative_slope=0.0, threshold=0.0):
    y = np.where(z >= threshold, z, negative_slope * (z - threshold))
    return y if max_value is None else np.where(z >= max_value, max_value, y)


def _bn(x, c, w):
    names = ([n for n, on in (("gamma", c.get("scale", True)), ("beta", c.get("center", True)))
              if on] + ["mean", "var"])
    p = dict(zip(names, w))
    y = (x - p["mean"]) / np.sqrt(p["var"] + c.get("epsilon", 1e-3))
    return y * p.get("gamma", 1.0) + p.get("beta", 0.0)


def _four(v):
    return (v[0][0], v[0][1], v[1][0], v[1][1])


def layer_output(layer, xs):
    """The output of one Keras layer (an ``L``) for its inputs ``xs`` (NHWC arrays)."""
    c, w, x = layer.config, layer.weights, xs[0]
    cls = layer.cls
    bias = (lambda y, i: y + w[i]) if c.get("use_bias", True) else (lambda y, i: y)
    act = ACT[c.get("activation", "linear")] if "activation" in c else (lambda z: z)
    if cls == "Conv2D":
        return act(bias(conv(x, w[0], c), 1))
    if cls == "DepthwiseConv2D":
        return act(bias(depthwise(x, w[0], c), 1))
    if cls == "SeparableConv2D":
        return act(bias(np.einsum("nhwc,co->nhwo", depthwise(x, w[0], c), w[1][0, 0]), 2))
    if cls == "Dense":
        return act(bias(x @ w[0], 1))
    if cls == "BatchNormalization":
        return _bn(x, c, w)
    if cls in ("MaxPooling2D", "AveragePooling2D"):
        return pool(x, c, "max" if cls.startswith("Max") else "avg")
    if cls in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        y = (x.mean if "Average" in cls else x.max)(axis=(1, 2), keepdims=c.get("keepdims", False))
        return y
    if cls == "ZeroPadding2D":
        t, b, left, r = _four(c["padding"])
        return np.pad(x, ((0, 0), (t, b), (left, r), (0, 0)))
    if cls == "Cropping2D":
        t, b, left, r = _four(c["cropping"])
        return x[:, t:x.shape[1] - b, left:x.shape[2] - r]
    if cls == "Flatten":
        return x.reshape(len(x), -1)  # NHWC: (h, w, c) order
    if cls == "Reshape":
        return x.reshape((len(x),) + tuple(c["target_shape"]))
    if cls in ("Dropout", "SpatialDropout2D"):
        return x
    if cls in ("Activation", "Softmax"):
        return ACT[c.get("activation", "softmax")](x)
    if cls == "ReLU":
        return keras_relu(x, c.get("max_value"), c.get("negative_slope", 0.0),
                          c.get("threshold", 0.0))
    if cls == "LeakyReLU":
        return np.where(x > 0, x, c.get("negative_slope", 0.3) * x)
    if cls == "ELU":
        return np.where(x > 0, x, c.get("alpha", 1.0) * np.expm1(np.minimum(x, 0)))
    if cls == "Rescaling":
        return x * np.asarray(c["scale"]) + np.asarray(c.get("offset", 0.0))
    if cls == "Normalization":
        mean, var = (c["mean"], c["variance"]) if c.get("mean") is not None else w[:2]
        return (x - np.asarray(mean)) / np.maximum(np.sqrt(np.asarray(var)), 1e-7)
    merges = {"Add": lambda a: sum(a), "Subtract": lambda a: a[0] - a[1],
              "Multiply": lambda a: np.prod(a, axis=0), "Average": lambda a: sum(a) / len(a),
              "Maximum": lambda a: np.max(a, axis=0),
              "Concatenate": lambda a: np.concatenate(a, axis=-1)}
    return merges[cls](xs)


def evaluate(model, inputs):
    """The outputs of ``model`` for ``inputs`` ({input name: NHWC array}), as a list."""
    values = dict(inputs)
    previous = inputs[model.inputs[0][0]]
    for layer in model.layers:
        xs = [values[n] for n in layer.inputs] if model.kind == "Functional" else [previous]
        if layer.is_model:
            sub = layer.config
            out = evaluate(sub, {name: x for (name, _), x in zip(sub.inputs, xs)})[0]
        else:
            out = layer_output(layer, [np.asarray(x, np.float64) for x in xs])
        values[layer.name] = previous = out
    names = model.outputs if model.kind == "Functional" else [model.layers[-1].name]
    return [values[n] for n in names]
