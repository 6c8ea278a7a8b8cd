"""One training step (forward in training mode, backward, SGD update) of ResNet50 and
MobileNetV2, minidl vs PyTorch CPU.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.train_step [--model resnet50
        mobilenetv2] [--batch 8] [--repeat 4] [--threads N]

minidl runs ``fit`` on the zoo's ``init()`` network (every layer trainable, an OutputLayer of
1000 classes, negative log-likelihood on softmax, plain SGD; the zoo's l1/l2 stay on) with the
weights of ``bench.resnet`` / ``bench.mobilenet``'s random networks. PyTorch runs the same
network through those benches' functional forwards with batch norm in training mode, the same
loss, autograd and an SGD step on the same arrays (copies). Fine-tuning every layer is the
costly end of transfer learning; the frozen part of a network never runs a backward. Both
networks' training-mode outputs are compared first.
"""

import argparse

import numpy as np

from bench import mobilenet, resnet
from bench.harness import Bench
from minidl.data.dataset import DataSet
from minidl.learning.updaters import Sgd
from zoo.mobilenet import MobileNetV2
from zoo.resnet import ResNet50

MODELS = {"resnet50": (ResNet50, resnet.random_resnet50, resnet.torch_forward),
          "mobilenetv2": (MobileNetV2, mobilenet.random_mobilenetv2, mobilenet.torch_forward)}
LEARNING_RATE = 0.01


def trainable_net(model, random_net):
    """``model``'s init() network (OutputLayer head, SGD) carrying ``random_net``'s weights."""
    net = model(num_classes=1000, updater=Sgd(LEARNING_RATE)).init()
    source = random_net(224).param_table()
    for key, array in net.param_table().items():
        array[...] = source[key]
    return net


def torch_step(torch, forward, params, x, y):
    """One SGD step of the PyTorch twin; ``params`` maps "<layer>_<param>" to tensors."""
    weights = [t for key, t in params.items() if not key.endswith(("_mean", "_var"))]
    loss = -(torch.log(forward(torch, x, params, train=True)) * y).sum(dim=1).mean()
    grads = torch.autograd.grad(loss, weights)
    with torch.no_grad():
        for t, g in zip(weights, grads):
            t.sub_(LEARNING_RATE * g)


def twin_step(torch, forward, net, x, y):
    """A callable running ``torch_step`` on copies of ``net``'s weights (depthwise kernels in
    torch's layout: ``mobilenet.torch_params``), after checking that both networks give the same
    training-mode softmax on ``x``."""
    params = {k: v.detach().clone().requires_grad_(not k.endswith(("_mean", "_var")))
              for k, v in mobilenet.torch_params(torch, net).items()}
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    theirs = forward(torch, tx, params, train=True).detach().numpy()
    diff = np.abs(net.output_single(x, train=True) - theirs).max()
    print(f"max |minidl - torch| on the training-mode softmax output: {diff:.2e}")
    return lambda: torch_step(torch, forward, params, tx, ty)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", choices=sorted(MODELS),
                        default=["resnet50", "mobilenetv2"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--threads", type=int, help="limit BLAS and PyTorch to this many threads")
    args = parser.parse_args(argv)
    bench = Bench(repeat=args.repeat, threads=args.threads)
    torch = bench.torch
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (args.batch, 3, 224, 224)).astype(np.float32)
    y = np.eye(1000, dtype=np.float32)[rng.integers(0, 1000, args.batch)]
    for name in args.model:
        model, random_net, forward = MODELS[name]
        net, data = trainable_net(model, random_net), DataSet(x, y)
        theirs = torch and twin_step(torch, forward, net, x, y)
        bench.compare(f"{name} training step [{args.batch},3,224,224]",
                      lambda: net.fit(data), theirs)
    bench.table()


if __name__ == "__main__":
    main()
