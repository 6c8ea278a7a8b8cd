"""MobileNetV2 written by the tests themselves: its Keras layer list and random Keras-layout
weights, the same network in PyTorch (the Keras variant: TF "same" padding at stride 2,
batch-norm eps 1e-3) with those weights copied in, and torchvision's MobileNetV2 (its module
names, symmetric padding, eps 1e-5) with random weights. Everything follows the reference
(reference/modern-cnns.md §2.1, §2.2, §2.6), not zoo.mobilenet, so the two are independent.
"""

import numpy as np

# (t, c, n, s) of the inverted residual blocks
CONFIG = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
          (6, 160, 3, 2), (6, 320, 1, 1)]
KERAS_EPS = 1e-3


def blocks():
    """(prefix, n_in, t, n_out, stride, residual) of Keras' block_id 0 ... 16."""
    n_in, block_id = 32, 0
    for t, c, n, s in CONFIG:
        for r in range(n):
            stride = s if r == 0 else 1
            prefix = "expanded_conv_" if block_id == 0 else f"block_{block_id}_"
            yield prefix, n_in, t, c, stride, stride == 1 and n_in == c
            n_in, block_id = c, block_id + 1


def keras_layers(n_classes):
    """[(name, kind, weight shapes)] of every Keras layer in file order; kind is "conv",
    "depthwise", "bn", "dense" or None (no weights)."""
    def bn(name, c):
        return name, "bn", ((c,),) * 4

    relu = lambda name: (name, None, ())  # noqa: E731
    layers = [relu("input_1"), ("Conv1", "conv", ((3, 3, 3, 32),)), bn("bn_Conv1", 32),
              relu("Conv1_relu")]
    for prefix, n_in, t, c, stride, residual in blocks():
        e = t * n_in
        if t != 1:
            layers += [(f"{prefix}expand", "conv", ((1, 1, n_in, e),)), bn(f"{prefix}expand_BN", e),
                       relu(f"{prefix}expand_relu")]
        if stride == 2:
            layers.append(relu(f"{prefix}pad"))
        layers += [(f"{prefix}depthwise", "depthwise", ((3, 3, e, 1),)),
                   bn(f"{prefix}depthwise_BN", e), relu(f"{prefix}depthwise_relu"),
                   (f"{prefix}project", "conv", ((1, 1, e, c),)), bn(f"{prefix}project_BN", c)]
        if residual:
            layers.append(relu(f"{prefix}add"))
    layers += [("Conv_1", "conv", ((1, 1, 320, 1280),)), bn("Conv_1_bn", 1280),
               relu("out_relu")]
    if n_classes:
        layers += [relu("global_average_pooling2d"),
                   ("predictions", "dense", ((1280, n_classes), (n_classes,)))]
    return layers


def random_arrays(n_classes, seed=0):
    """{layer: [arrays]} in Keras' layouts: He-scaled kernels, randomised batch-norm statistics;
    the residual branches' project_BN scales by ~0.3, so activations stay O(1) and the softmax
    is not saturated, the others' by ~1, so the input still shows at the end (the comparison
    has teeth)."""
    rng = np.random.default_rng(seed)
    f32 = np.float32
    arrays = {}
    residual = {f"{prefix}project_BN" for prefix, *_, res in blocks() if res}
    for name, kind, shapes in keras_layers(n_classes):
        if kind in ("conv", "depthwise"):
            kh, kw, n_in, _ = shapes[0]
            fan_in = kh * kw * (1 if kind == "depthwise" else n_in)
            arrays[name] = [(rng.standard_normal(shapes[0]) * np.sqrt(2 / fan_in)).astype(f32)]
        elif kind == "bn":
            (c,) = shapes[0]
            scale = (0.2, 0.4) if name in residual else (0.5, 1.5)
            arrays[name] = [rng.uniform(*scale, c), rng.uniform(-0.2, 0.2, c),
                            rng.normal(0, 0.2, c), rng.uniform(0.5, 2.0, c)]
            arrays[name] = [a.astype(f32) for a in arrays[name]]
        elif kind == "dense":
            arrays[name] = [(rng.standard_normal(shapes[0]) * 0.05).astype(f32),
                            rng.uniform(-0.1, 0.1, shapes[1]).astype(f32)]
    return arrays


def tf_same_pad(x):
    """Keras' correct_pad before a 3x3 stride-2 window (TF "same"): one row/column after,
    one before too only where the size is odd."""
    import torch.nn.functional as F
    h, w = x.shape[2:]
    return F.pad(x, (w % 2, 1, h % 2, 1))


def torch_keras_mobilenetv2(arrays):
    """The Keras MobileNetV2 in torch.nn (float64, eval mode) holding ``arrays``.

    ``model(x)`` -> (out_relu [N, 1280, h, w], pooled [N, 1280], predictions or None).
    """
    import torch
    from torch import nn
    F = torch.nn.functional

    def conv(name, stride=1):
        (kernel,) = arrays[name]
        kh, kw, n_in, n_out = kernel.shape
        module = nn.Conv2d(n_in, n_out, (kh, kw), stride, bias=False)
        module.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
        return module

    def depthwise(name, stride):
        (kernel,) = arrays[name]
        kh, kw, c, m = kernel.shape
        module = nn.Conv2d(c, c * m, (kh, kw), stride, padding=1 if stride == 1 else 0,
                           groups=c, bias=False)
        # the reference's layout map: (kh, kw, C, m) -> [C*m, 1, kh, kw]
        w = kernel.reshape(kh, kw, 1, c * m).transpose(3, 2, 0, 1)
        module.weight.copy_(torch.from_numpy(w.copy()))
        return module

    def bn(name):
        gamma, beta, mean, var = (torch.from_numpy(a) for a in arrays[name])
        module = nn.BatchNorm2d(len(gamma), eps=KERAS_EPS)
        module.weight.copy_(gamma), module.bias.copy_(beta)
        module.running_mean.copy_(mean), module.running_var.copy_(var)
        return module

    class Block(nn.Module):
        def __init__(self, prefix, t, stride, residual):
            super().__init__()
            self.stride, self.residual = stride, residual
            self.expand = nn.Sequential(conv(f"{prefix}expand"), bn(f"{prefix}expand_BN"),
                                        nn.ReLU6()) if t != 1 else nn.Identity()
            self.depthwise = nn.Sequential(depthwise(f"{prefix}depthwise", stride),
                                           bn(f"{prefix}depthwise_BN"), nn.ReLU6())
            self.project = nn.Sequential(conv(f"{prefix}project"), bn(f"{prefix}project_BN"))

        def forward(self, x):
            y = self.expand(x)
            y = self.project(self.depthwise(tf_same_pad(y) if self.stride == 2 else y))
            return x + y if self.residual else y

    class KerasMobileNetV2(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(conv("Conv1", 2), bn("bn_Conv1"), nn.ReLU6())
            self.blocks = nn.Sequential(*[Block(prefix, t, stride, residual)
                                          for prefix, _, t, _, stride, residual in blocks()])
            self.head = nn.Sequential(conv("Conv_1"), bn("Conv_1_bn"), nn.ReLU6())
            self.fc = None
            if "predictions" in arrays:
                kernel, bias = arrays["predictions"]
                self.fc = nn.Linear(*kernel.shape)
                self.fc.weight.copy_(torch.from_numpy(kernel.T.copy()))
                self.fc.bias.copy_(torch.from_numpy(bias))

        def forward(self, x):
            features = self.head(self.blocks(self.stem(tf_same_pad(x))))
            pooled = features.mean(dim=(2, 3))
            predictions = None if self.fc is None else torch.softmax(self.fc(pooled), dim=1)
            return features, pooled, predictions

    with torch.no_grad():
        model = KerasMobileNetV2()
    return model.double().eval()


def torchvision_mobilenetv2(n_classes, seed=0):
    """torchvision's MobileNetV2 in torch.nn with its module names (features.0.0, features.1.
    conv.0.0, ..., features.18.1, classifier.1), padding 1 on every side, eps 1e-5, written from
    the reference's description; random weights and batch-norm statistics, float32, eval mode.
    ``model(x)`` -> (features, pooled, softmax or None)."""
    import torch
    from torch import nn

    def conv_bn_relu(n_in, n_out, kernel, stride=1, groups=1):
        return nn.Sequential(nn.Conv2d(n_in, n_out, kernel, stride, (kernel - 1) // 2,
                                       groups=groups, bias=False),
                             nn.BatchNorm2d(n_out), nn.ReLU6())

    class InvertedResidual(nn.Module):
        def __init__(self, n_in, n_out, stride, t):
            super().__init__()
            hidden = n_in * t
            self.use_res_connect = stride == 1 and n_in == n_out
            layers = [conv_bn_relu(n_in, hidden, 1)] if t != 1 else []
            layers += [conv_bn_relu(hidden, hidden, 3, stride, groups=hidden),
                       nn.Conv2d(hidden, n_out, 1, bias=False), nn.BatchNorm2d(n_out)]
            self.conv = nn.Sequential(*layers)

        def forward(self, x):
            return x + self.conv(x) if self.use_res_connect else self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self):
            super().__init__()
            features, n_in = [conv_bn_relu(3, 32, 3, 2)], 32
            for t, c, n, s in CONFIG:
                for r in range(n):
                    features.append(InvertedResidual(n_in, c, s if r == 0 else 1, t))
                    n_in = c
            features.append(conv_bn_relu(320, 1280, 1))
            self.features = nn.Sequential(*features)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, n_classes)) \
                if n_classes else None

        def forward(self, x):
            features = self.features(x)
            pooled = features.mean(dim=(2, 3))
            return features, pooled, None if self.classifier is None else torch.softmax(
                self.classifier(pooled), 1)

    torch.manual_seed(seed)
    model = MobileNetV2()
    residual = {f"{name}.conv.{len(module.conv) - 1}" for name, module in model.named_modules()
                if isinstance(module, InvertedResidual) and module.use_res_connect}
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, nn.BatchNorm2d):
                low, high = (0.2, 0.4) if name in residual else (0.5, 1.5)
                module.weight.uniform_(low, high), module.bias.uniform_(-0.2, 0.2)
                module.running_mean.normal_(0, 0.2), module.running_var.uniform_(0.5, 2.0)
            elif isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0, (2 / fan_in) ** 0.5)
            elif isinstance(module, nn.Linear):
                module.weight.normal_(0, 0.05)
    return model.eval()
