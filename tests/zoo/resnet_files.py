"""ResNet50 written by the tests themselves: its Keras layer list and random Keras-layout weights,
and the same network in PyTorch (the Keras variant: stride on the first 1x1 conv, conv biases,
batch-norm eps 1.001e-5) with those weights copied in. The layer list follows the reference
(reference/modern-cnns.md §1.1), not zoo.resnet, so the two are independent.
"""

import numpy as np

STAGES = [(2, 64, 3, 1), (3, 128, 4, 2), (4, 256, 6, 2), (5, 512, 3, 2)]
EPS = 1.001e-5


def blocks():
    """(prefix, n_in, filters, stride, projection) of the 16 bottleneck blocks."""
    n_in = 64
    for stage, filters, count, stride in STAGES:
        for b in range(1, count + 1):
            yield f"conv{stage}_block{b}", n_in, filters, stride if b == 1 else 1, b == 1
            n_in = 4 * filters


def keras_layers(n_classes):
    """[(name, kind, weight shapes)] of every Keras layer in a plausible file order; kind is
    "conv", "bn", "dense" or None (no weights)."""
    layers = [("input_1", None, ()), ("conv1_pad", None, ()),
              ("conv1_conv", "conv", ((7, 7, 3, 64), (64,))), ("conv1_bn", "bn", ((64,),) * 4),
              ("conv1_relu", None, ()), ("pool1_pad", None, ()), ("pool1_pool", None, ())]
    for prefix, n_in, f, _, projection in blocks():
        convs = [("1", (1, 1, n_in, f)), ("2", (3, 3, f, f))]
        if projection:
            convs.append(("0", (1, 1, n_in, 4 * f)))
        convs.append(("3", (1, 1, f, 4 * f)))
        for part, shape in convs:
            layers += [(f"{prefix}_{part}_conv", "conv", (shape, shape[-1:])),
                       (f"{prefix}_{part}_bn", "bn", (shape[-1:],) * 4)]
            if part in ("1", "2"):
                layers.append((f"{prefix}_{part}_relu", None, ()))
        layers += [(f"{prefix}_add", None, ()), (f"{prefix}_out", None, ())]
    if n_classes:
        layers += [("avg_pool", None, ()), ("predictions", "dense", ((2048, n_classes), (n_classes,)))]
    return layers


def random_arrays(n_classes, seed=0):
    """{layer: [arrays]} in Keras' layouts. Randomised batch-norm statistics; the residual
    branches' last batch norms scale by ~0.2, so activations stay O(1) through 16 blocks and the
    softmax is not saturated (the comparison has teeth)."""
    rng = np.random.default_rng(seed)
    f32 = np.float32
    arrays = {}
    for name, kind, shapes in keras_layers(n_classes):
        if kind == "conv":
            kernel = shapes[0]
            fan_in = kernel[0] * kernel[1] * kernel[2]
            arrays[name] = [(rng.standard_normal(kernel) * np.sqrt(2 / fan_in)).astype(f32),
                            rng.uniform(-0.1, 0.1, shapes[1]).astype(f32)]
        elif kind == "bn":
            (c,) = shapes[0]
            scale = (0.1, 0.3) if name.endswith("_3_bn") else (0.5, 1.5)
            arrays[name] = [rng.uniform(*scale, c).astype(f32), rng.uniform(-0.2, 0.2, c).astype(f32),
                            rng.normal(0, 0.2, c).astype(f32), rng.uniform(0.5, 2.0, c).astype(f32)]
        elif kind == "dense":
            arrays[name] = [(rng.standard_normal(shapes[0]) * 0.01).astype(f32),
                            rng.uniform(-0.1, 0.1, shapes[1]).astype(f32)]
    return arrays


def torch_resnet50(arrays):
    """The Keras ResNet50 in torch.nn (float64, eval mode) holding ``arrays``.

    ``model(x)`` -> (conv5_block3_out [N, 2048, h, w], avg_pool [N, 2048], predictions or None).
    """
    import torch
    from torch import nn
    F = torch.nn.functional

    def conv(name, stride=1, padding=0):
        kernel, bias = arrays[name]
        kh, kw, n_in, n_out = kernel.shape
        module = nn.Conv2d(n_in, n_out, (kh, kw), stride, padding)
        module.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
        module.bias.copy_(torch.from_numpy(bias))
        return module

    def bn(name):
        gamma, beta, mean, var = (torch.from_numpy(a) for a in arrays[name])
        module = nn.BatchNorm2d(len(gamma), eps=EPS)
        module.weight.copy_(gamma), module.bias.copy_(beta)
        module.running_mean.copy_(mean), module.running_var.copy_(var)
        return module

    class Block(nn.Module):
        def __init__(self, prefix, stride, projection):
            super().__init__()
            self.main = nn.Sequential(
                conv(f"{prefix}_1_conv", stride), bn(f"{prefix}_1_bn"), nn.ReLU(),
                conv(f"{prefix}_2_conv", 1, 1), bn(f"{prefix}_2_bn"), nn.ReLU(),
                conv(f"{prefix}_3_conv"), bn(f"{prefix}_3_bn"))
            self.shortcut = nn.Sequential(conv(f"{prefix}_0_conv", stride), bn(f"{prefix}_0_bn")) \
                if projection else nn.Identity()

        def forward(self, x):
            return F.relu(self.shortcut(x) + self.main(x))

    class KerasResNet50(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = conv("conv1_conv", 2), bn("conv1_bn")
            self.stages = nn.Sequential(*[Block(prefix, stride, projection)
                                          for prefix, _, _, stride, projection in blocks()])
            self.fc = None
            if "predictions" in arrays:
                kernel, bias = arrays["predictions"]
                self.fc = nn.Linear(*kernel.shape)
                self.fc.weight.copy_(torch.from_numpy(kernel.T.copy()))
                self.fc.bias.copy_(torch.from_numpy(bias))

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(F.pad(x, (3, 3, 3, 3)))))
            x = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, 2)  # zeros: x >= 0 after the ReLU
            features = self.stages(x)
            pooled = features.mean(dim=(2, 3))
            predictions = None if self.fc is None else torch.softmax(self.fc(pooled), dim=1)
            return features, pooled, predictions

    with torch.no_grad():
        model = KerasResNet50()
    return model.double().eval()


def torchvision_resnet50(n_classes, seed=0):
    """torchvision's ResNet-50 (v1.5: the stride on the 3x3 conv, no conv biases, eps 1e-5) in
    torch.nn with torchvision's module names (conv1, bn1, layer1.0.conv1, ..., downsample, fc),
    written from the reference's description; random weights and batch-norm statistics, float32,
    eval mode. ``model(x)`` -> (layer4's output, pooled, softmax)."""
    import torch
    from torch import nn
    F = torch.nn.functional

    class Bottleneck(nn.Module):
        def __init__(self, n_in, width, stride):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(n_in, width, 1, bias=False), nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, 4 * width, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(4 * width)
            self.downsample = None
            if stride != 1 or n_in != 4 * width:
                self.downsample = nn.Sequential(nn.Conv2d(n_in, 4 * width, 1, stride, bias=False),
                                                nn.BatchNorm2d(4 * width))

        def forward(self, x):
            y = F.relu(self.bn1(self.conv1(x)))
            y = self.bn3(self.conv3(F.relu(self.bn2(self.conv2(y)))))
            return F.relu(y + (x if self.downsample is None else self.downsample(x)))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
            n_in = 64
            for stage, width, count, stride in STAGES:
                blocks = []
                for b in range(count):
                    blocks.append(Bottleneck(n_in, width, stride if b == 0 else 1))
                    n_in = 4 * width
                setattr(self, f"layer{stage - 1}", nn.Sequential(*blocks))
            self.fc = nn.Linear(2048, n_classes) if n_classes else None

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
            features = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            pooled = features.mean(dim=(2, 3))
            return features, pooled, None if self.fc is None else torch.softmax(self.fc(pooled), 1)

    torch.manual_seed(seed)
    model = ResNet()
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                low, high = (0.1, 0.3) if name.endswith("bn3") or name.endswith("downsample.1") \
                    else (0.5, 1.5)
                module.weight.uniform_(low, high), module.bias.uniform_(-0.2, 0.2)
                module.running_mean.normal_(0, 0.2), module.running_var.uniform_(0.5, 2.0)
            elif isinstance(module, nn.Linear):
                module.weight.normal_(0, 0.01)
    return model.eval()
