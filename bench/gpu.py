"""The GPU check: CPU-GPU agreement on a VGG16-shaped network, then GPU timings vs PyTorch.

    python -m bench.gpu [--batch 32] [--quick]       (bench/gpu_check.sh runs it after the tests)

Sections, each reported on its own (one failing section does not stop the others):

1. agreement, forward: the same random-weight VGG16 (DL4J's pretrained layout: block1_conv1 ...
   fc2, predictions) on the CPU (NumPy) and on the GPU (CuPy + minidl's kernels), batch 2 at
   224x224. Pass: fc2 activations within 1e-3 of the CPU's relative to their largest magnitude,
   and softmax outputs within 1e-5 absolute. float32 both sides; the tolerance allows for
   cuBLAS and the CPU BLAS summing the 25088-long dot products in different orders.
2. agreement, one training step: the same network with a new 5-class OutputLayer on top of fc2
   (all layers trainable, SGD), one fit() on the same batch on each device, and in float64 on
   the CPU as the truth. Pass: scores within 1e-4 relative, and the GPU's updates as accurate as
   the CPU's: each parameter's update error against float64 (L2, relative) within 3x the CPU's,
   worst and median parameter. (Float32 itself is off by ~1e-3 there on either device: the
   weight gradients are sums of ~10^5 terms that mostly cancel.)
3. speed, against PyTorch + cuDNN in fp32 with TF32 off (both convolutions and matmuls; minidl
   uses cuBLAS fp32, CuPy's default, no TF32) in this same process, on the same weights:
   - VGG16 inference, batch ``--batch`` (32), 224x224, no gradient; then the same in TF32:
     ``minidl.set_precision("tf32")`` against PyTorch with ``allow_tf32`` on for cuDNN and
     matmuls (first its agreement: minidl's and PyTorch's TF32 fc2 against a float64 CPU
     forward; pass: minidl's error within 3x PyTorch's, or within 1e-2 where PyTorch's shows
     no TF32: a GPU before Ampere, or bench.gpu_emulated);
   - VGG16 featurized at fc2 in fp16 (``precision="fp16"``) against PyTorch fp16, after
     their agreement against the float64 forward; ResNet50 and MobileNetV2 inference in fp32
     and fp16 (``bench.gpu_half``);
   - a training step of the whole VGG16 (forward, backward, SGD update), batch 16;
   - featurize + fit: featurize 128 images at fc2 (batch 32, frozen up to fc2) then 20 epochs
     of fit_featurized on a 4096 -> 5 head (batch 32), as DL4J's TransferLearningHelper does;
     the same fit with Adam (one fused kernel per parameter's step) against torch.optim.Adam.
   Median of ``--repeat`` runs after warm-up; ratio = minidl / PyTorch (goal: <= 2).
4. profiles, to trace a gap: each VGG16 layer alone against PyTorch's, and the steps of the
   largest convolution timed apart, forward (padding, im2col, GEMM, bias + ReLU) and backward;
   batch normalization's training step, and the batch sums under it.

Prints a table and writes ``gpu_results.json`` (and the table) to ``$OUT`` when it is set.
Installs and downloads nothing.
"""

import argparse
import json
import os
import statistics
import sys
import time
import traceback

import numpy as np

import minidl
from minidl import (Activation, ComputationGraph, DataSet, LossFunction, OutputLayer, Sgd,
                    WeightInit)
from minidl.backend import set_device, set_precision, to_cpu

SIZE = 224  # image side; VGG16's dense layers are sized for it
RESULTS = {"agreement": {}, "speed": [], "profile": {}, "errors": {}, "environment": {}}


# -- helpers ---------------------------------------------------------------------------------
def section(name):
    """Run a section, record its exception instead of stopping the whole check."""
    def wrap(fn):
        def run(*args, **kwargs):
            print(f"\n== {name}", flush=True)
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            except Exception:  # noqa: BLE001 - a report of every section is the point
                RESULTS["errors"][name] = traceback.format_exc()
                print(RESULTS["errors"][name], flush=True)
            finally:
                print(f"   ({time.perf_counter() - start:.1f} s)", flush=True)
        return run
    return wrap


def median_time(fn, sync, repeat, warmup=2):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def relative(a, b):
    """max |a - b| / max |b| (b the CPU reference)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def l2_relative(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def check(name, value, limit):
    ok = bool(value <= limit)
    RESULTS["agreement"][name] = {"value": value, "limit": limit, "pass": ok}
    print(f"   {name}: {value:.3e} (limit {limit:.0e}) {'PASS' if ok else 'FAIL'}", flush=True)
    return ok


def vgg16(device, seed=42):
    """A random-weight VGG16 in DL4J's pretrained layout, built on ``device``."""
    from zoo import VGG16

    set_device(device)
    net = ComputationGraph(VGG16(seed=seed, input_shape=(3, SIZE, SIZE)).pretrained_conf(
        1000, include_top=True))
    return net.init()


def with_head(net, device, n_classes=5, lr=1e-3, updater=None):
    """``net`` with its predictions replaced by a trainable n_classes OutputLayer (SGD, or
    ``updater``)."""
    from transfer import FineTuneConfiguration, TransferLearning

    set_device(device)
    ftc = FineTuneConfiguration.Builder().updater(updater or Sgd(lr)).seed(7).build()
    return (TransferLearning.GraphBuilder(net).fine_tune_configuration(ftc)
            .remove_vertex_keep_connections("predictions")
            .add_layer("predictions", OutputLayer(
                loss=LossFunction.NEGATIVELOGLIKELIHOOD, n_in=4096, n_out=n_classes,
                weight_init=WeightInit.XAVIER, activation=Activation.SOFTMAX), "fc2")
            .build())


def images(n, seed=0):
    """Image-like input: 0..255 BGR minus the VGG mean, [n, 3, SIZE, SIZE] float32."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (n, 3, SIZE, SIZE)).astype(np.float32)
    return x - np.array([103.939, 116.779, 123.68], np.float32).reshape(1, 3, 1, 1)


def labels(n, k=5, seed=1):
    return np.eye(k, dtype=np.float32)[np.random.default_rng(seed).integers(0, k, n)]


# -- 1, 2: agreement -------------------------------------------------------------------------
@section("agreement: VGG16 forward, CPU vs GPU")
def agreement_forward(nets):
    x = images(2)
    acts = {}
    for device, net in nets.items():
        set_device(device)
        ff = net.feed_forward(x)
        acts[device] = {k: to_cpu(ff[k]) for k in ("block5_pool", "fc2", "predictions")}
    ok = check("forward block5_pool (max rel)",
               relative(acts["gpu"]["block5_pool"], acts["cpu"]["block5_pool"]), 1e-3)
    ok &= check("forward fc2 (max rel)", relative(acts["gpu"]["fc2"], acts["cpu"]["fc2"]), 1e-3)
    ok &= check("forward softmax (max abs)", float(np.abs(
        acts["gpu"]["predictions"] - acts["cpu"]["predictions"]).max()), 1e-5)
    return ok


def in_float64(net):
    """A float64 CPU copy of ``net`` (same configuration and weights): the reference step."""
    conf = net.conf.clone()
    conf.defaults.data_type = "float64"
    return type(net)(conf).init_from_tables(
        {key: {name: to_cpu(t.data).astype(np.float64) for name, t in table.items()}
         for key, table in net.param_tables.items()})


def one_step(net, x, y):
    """(score, {param: update}) of one fit() on (x, y), for the parameters it changed."""
    before = {k: to_cpu(v).copy() for k, v in net.param_table().items()}
    score = net.fit(DataSet(x, y))
    after = {k: to_cpu(v) for k, v in net.param_table().items()}
    return score, {k: after[k] - before[k] for k in before if np.any(after[k] != before[k])}


@section("agreement: one VGG16 training step, CPU vs GPU")
def agreement_step(nets):
    x, y = images(2, seed=3), labels(2)
    scores, updates = {}, {}
    for device, net in nets.items():
        trainable = with_head(net, device)
        if device == "cpu":
            reference = in_float64(trainable)
        scores[device], updates[device] = one_step(trainable, x, y)
    _, truth = one_step(reference, x.astype(np.float64), y.astype(np.float64))
    ok = check("train step score (rel)", abs(scores["gpu"] - scores["cpu"]) / abs(scores["cpu"]),
               1e-4)
    # Each update's error against the float64 step, per parameter, on each device. In float32
    # the weight gradients (sums of ~10^5 terms that mostly cancel) are off by ~1e-3 on the CPU
    # too, so the GPU is held to the CPU's own accuracy: within 3x its error, worst and median.
    errors = {device: {k: l2_relative(updates[device][k], truth[k]) for k in truth}
              for device in ("cpu", "gpu")}
    worst = {device: max(e.values()) for device, e in errors.items()}
    median = {device: float(np.median(list(e.values()))) for device, e in errors.items()}
    for device, e in errors.items():
        print(f"   {device}: float32 vs float64 update, worst {worst[device]:.2e} "
              f"({max(e, key=e.get)}), median {median[device]:.2e}", flush=True)
    ok &= check("train step update vs float64 (L2 rel, worst param)", worst["gpu"],
                3 * worst["cpu"])
    ok &= check("train step update vs float64 (L2 rel, median param)", median["gpu"],
                3 * median["cpu"])
    return ok


# -- 3: speed ----------------------------------------------------------------------------------
def torch_setup():
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("PyTorch sees no CUDA device")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True  # let cuDNN pick its fastest algorithm (fair to it)
    RESULTS["environment"].update(torch=torch.__version__, cudnn=torch.backends.cudnn.version())
    return torch


def torch_weights(torch, net):
    """{param key: CUDA tensor} from a minidl network (layouts agree: conv [out, in, kh, kw],
    dense [n_in, n_out] used as x @ W)."""
    return {k: torch.from_numpy(np.ascontiguousarray(to_cpu(v))).cuda()
            for k, v in net.param_table().items()}


BLOCKS = (2, 2, 3, 3, 3)  # convolutions per VGG16 block


def torch_features(torch, w, x):
    """VGG16 up to fc2 (relu), with functional ops on weights ``w``."""
    F = torch.nn.functional
    for block, n in enumerate(BLOCKS, 1):
        for k in range(1, n + 1):
            name = f"block{block}_conv{k}"
            x = F.relu(F.conv2d(x, w[f"{name}_W"], w[f"{name}_b"], padding=1))
        x = F.max_pool2d(x, 2)
    x = x.flatten(1)  # C, H, W order, as DL4J's CnnToFeedForward
    x = F.relu(x @ w["fc1_W"] + w["fc1_b"])
    return F.relu(x @ w["fc2_W"] + w["fc2_b"])


def record(name, ours, theirs):
    ratio = ours / theirs if theirs else float("nan")
    RESULTS["speed"].append({"name": name, "minidl_s": ours, "torch_s": theirs, "ratio": ratio})
    print(f"   {name}: minidl {ours * 1e3:.1f} ms, PyTorch {theirs * 1e3:.1f} ms, "
          f"ratio {ratio:.2f}", flush=True)


def profile(steps, sync, repeat):
    """Time each of ``steps`` ({label: function}) on its own; record and print it."""
    for label, fn in steps.items():
        t = median_time(fn, sync, repeat, warmup=1)
        RESULTS["profile"][label] = t
        print(f"   {label}: {t * 1e3:.2f} ms", flush=True)


def float64_fc2(cpu_net, x):
    """fc2 of ``x`` through a float64 copy of ``cpu_net``: the truth for the TF32 checks."""
    return to_cpu(in_float64(cpu_net).feed_forward(x.astype(np.float64))["fc2"])


class tf32_on:
    """Within the block, TF32 on both sides: minidl's precision and PyTorch's allow_tf32
    (cuDNN convolutions and cuBLAS matmuls), as PyTorch users switch it on."""

    def __init__(self, torch):
        self.torch = torch

    def __enter__(self):
        set_precision("tf32")
        self.torch.backends.cudnn.allow_tf32 = self.torch.backends.cuda.matmul.allow_tf32 = True

    def __exit__(self, *exc_info):
        set_precision("fp32")
        self.torch.backends.cudnn.allow_tf32 = self.torch.backends.cuda.matmul.allow_tf32 = False


@section("agreement: VGG16 forward in TF32, minidl and PyTorch vs float64")
def agreement_tf32(net, torch, cupy, x, truth):
    w = torch_weights(torch, net)
    with tf32_on(torch):
        set_device("gpu")
        ours = to_cpu(net.feed_forward(cupy.asarray(x))["fc2"])
        with torch.no_grad():
            theirs = torch_features(torch, w, torch.from_numpy(x).cuda()).cpu().numpy()
    errors = {"minidl": relative(ours, truth), "PyTorch": relative(theirs, truth)}
    print(f"   fc2 vs float64 (max rel): minidl TF32 {errors['minidl']:.2e}, "
          f"PyTorch TF32 {errors['PyTorch']:.2e}", flush=True)
    RESULTS["agreement"]["TF32 fc2 PyTorch vs float64 (max rel, info)"] = {
        "value": errors["PyTorch"]}
    if errors["PyTorch"] < 1e-5:  # PyTorch did not use TF32 (a pre-Ampere GPU, the emulation)
        return check("TF32 fc2 vs float64 (max rel)", errors["minidl"], 1e-2)
    return check("TF32 fc2 vs float64 (max rel), limit 3x PyTorch's", errors["minidl"],
                 3 * errors["PyTorch"])


@section("speed: VGG16 inference")
def speed_inference(net, torch, cupy, batch, repeat):
    _inference(net, torch, cupy, batch, repeat, f"VGG16 inference batch {batch}")


@section("speed: VGG16 inference, TF32 (minidl tf32 vs PyTorch allow_tf32)")
def speed_inference_tf32(net, torch, cupy, batch, repeat):
    with tf32_on(torch):
        _inference(net, torch, cupy, batch, repeat, f"VGG16 inference batch {batch} TF32")


def _inference(net, torch, cupy, batch, repeat, name):
    set_device("gpu")
    x = images(batch)
    xg, xt = cupy.asarray(x), torch.from_numpy(x).cuda()
    w = torch_weights(torch, net)

    def theirs():
        with torch.no_grad():
            f = torch_features(torch, w, xt)
            return torch.softmax(f @ w["predictions_W"] + w["predictions_b"], dim=1)

    diff = float(np.abs(to_cpu(net.output_single(xg)) - theirs().cpu().numpy()).max())
    print(f"   max |minidl - PyTorch| on the softmax output: {diff:.2e}")
    RESULTS["agreement"][f"{name} vs PyTorch (max abs, info)"] = {"value": diff}
    ours_s = median_time(lambda: net.output_single(xg), cupy.cuda.Device().synchronize, repeat)
    theirs_s = median_time(theirs, torch.cuda.synchronize, repeat)
    record(name, ours_s, theirs_s)


@section("speed: VGG16 training step")
def speed_train_step(net, torch, cupy, batch, repeat, lr=1e-4):
    trainable = with_head(net, "gpu")
    x, y = images(batch, seed=5), labels(batch)
    ds = DataSet(cupy.asarray(x), cupy.asarray(y))
    w = {k: v.requires_grad_() for k, v in torch_weights(torch, trainable).items()}
    xt, yt = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()
    opt = torch.optim.SGD(list(w.values()), lr=lr)

    def theirs():
        opt.zero_grad(set_to_none=True)
        logits = torch_features(torch, w, xt) @ w["predictions_W"] + w["predictions_b"]
        loss = -(yt * torch.log_softmax(logits, dim=1)).sum() / batch
        loss.backward()
        opt.step()

    ours_s = median_time(lambda: trainable.fit(ds), cupy.cuda.Device().synchronize, repeat)
    theirs_s = median_time(theirs, torch.cuda.synchronize, repeat)
    record(f"VGG16 train step batch {batch}", ours_s, theirs_s)


@section("speed: featurize + fit_featurized")
def speed_featurize_fit(net, torch, cupy, repeat, n_images=128, batch=32, epochs=20, lr=1e-3):
    from transfer import TransferLearningHelper

    set_device("gpu")
    x, y = images(n_images, seed=9), labels(n_images)
    xg, yg = cupy.asarray(x), cupy.asarray(y)
    w = torch_weights(torch, net)
    xt, yt = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()
    sync_ours, sync_theirs = cupy.cuda.Device().synchronize, torch.cuda.synchronize

    helper = TransferLearningHelper(with_head(net, "gpu", lr=lr), "fc2")

    def ours():
        feats = [helper.featurize(DataSet(xg[i:i + batch], yg[i:i + batch]))
                 for i in range(0, n_images, batch)]
        sync_ours()
        mid = time.perf_counter()
        helper.fit_featurized(feats, epochs=epochs)
        sync_ours()
        return mid

    def theirs():
        with torch.no_grad():
            feats = [torch_features(torch, w, xt[i:i + batch]) for i in range(0, n_images, batch)]
        sync_theirs()
        mid = time.perf_counter()
        torch_fit(torch, feats, yt, batch, epochs, lambda p: torch.optim.SGD(p, lr=lr))
        sync_theirs()
        return mid

    def split(fn, sync):
        sync()
        start = time.perf_counter()
        mid = fn()
        return mid - start, time.perf_counter() - mid

    for fn, sync in ((ours, sync_ours), (theirs, sync_theirs)):  # warm-up
        split(fn, sync)
    o_feat, o_fit = np.median([split(ours, sync_ours) for _ in range(repeat)], axis=0)
    t_feat, t_fit = np.median([split(theirs, sync_theirs) for _ in range(repeat)], axis=0)
    record(f"featurize {n_images} images at fc2 (batch {batch})", o_feat, t_feat)
    record(f"fit_featurized {epochs} epochs x {n_images // batch} batches", o_fit, t_fit)
    record("featurize + fit total", o_feat + o_fit, t_feat + t_fit)
    with torch.no_grad():
        torch_feats = [torch_features(torch, w, xt[i:i + batch]) for i in range(0, n_images, batch)]
    speed_fit_adam(net, torch, cupy, repeat, (xg, yg), (torch_feats, yt), batch, epochs, lr)


def torch_fit(torch, feats, yt, batch, epochs, optimizer):
    """PyTorch's twin of fit_featurized: a 4096 -> 5 softmax head, ``optimizer(params)``."""
    head = torch.nn.Linear(4096, 5).cuda()
    opt = optimizer(head.parameters())
    for _ in range(epochs):
        for i, f in enumerate(feats):
            opt.zero_grad(set_to_none=True)
            target = yt[i * batch:(i + 1) * batch]
            loss = -(target * torch.log_softmax(head(f), dim=1)).sum() / len(f)
            loss.backward()
            opt.step()


def speed_fit_adam(net, torch, cupy, repeat, data, torch_data, batch, epochs, lr):
    """fit_featurized with Adam, whose step is one fused kernel per parameter (updaters.cu;
    NumPy's formula would be ten launches), against torch.optim.Adam (its default foreach
    path; DL4J's epsilon placement differs, which changes no timing)."""
    from minidl import Adam
    from transfer import TransferLearningHelper

    (x, y), (torch_feats, yt) = data, torch_data
    helper = TransferLearningHelper(with_head(net, "gpu", updater=Adam(lr)), "fc2")
    feats = [helper.featurize(DataSet(x[i:i + batch], y[i:i + batch]))
             for i in range(0, len(x), batch)]
    sync_ours, sync_theirs = cupy.cuda.Device().synchronize, torch.cuda.synchronize

    def ours():
        helper.fit_featurized(feats, epochs=epochs)

    def theirs():
        torch_fit(torch, torch_feats, yt, batch, epochs, lambda p: torch.optim.Adam(p, lr=lr))

    record(f"fit_featurized, Adam, {epochs} epochs x {len(feats)} batches",
           median_time(ours, sync_ours, repeat), median_time(theirs, sync_theirs, repeat))


@section("profile: VGG16 inference layer by layer")
def profile_layers(net, torch, cupy, batch, repeat):
    """Each layer of VGG16's features alone (minidl's op on the previous minidl output, PyTorch's
    on its own), so that a gap in the whole-network figure can be traced to a layer."""
    from minidl.autograd import no_grad
    from minidl.ops.conv import conv2d
    from minidl.ops.pooling import max_pool2d

    F = torch.nn.functional
    params, w = net.param_table(), torch_weights(torch, net)
    x = cupy.asarray(images(batch))
    xt = torch.from_numpy(images(batch)).cuda()
    sync_ours, sync_theirs = cupy.cuda.Device().synchronize, torch.cuda.synchronize
    layers = []
    for b, n in enumerate(BLOCKS, 1):
        layers += [(f"block{b}_conv{k}", "conv") for k in range(1, n + 1)]
        layers.append((f"block{b}_pool", "pool"))
    with no_grad(), torch.no_grad():
        for name, kind in layers:
            if kind == "conv":
                ours = lambda x=x, n=name: conv2d(x, params[f"{n}_W"], params[f"{n}_b"],
                                                  padding=1, activation="relu")
                theirs = lambda xt=xt, n=name: F.relu(F.conv2d(xt, w[f"{n}_W"], w[f"{n}_b"],
                                                              padding=1))
            else:
                ours = lambda x=x: max_pool2d(x, 2)
                theirs = lambda xt=xt: F.max_pool2d(xt, 2)
            shape = tuple(xt.shape)
            record(f"{name} {shape[1]}x{shape[2]}x{shape[3]}",
                   median_time(ours, sync_ours, repeat, warmup=1),
                   median_time(theirs, sync_theirs, repeat, warmup=1))
            x, xt = ours(), theirs()


@section("profile: block1_conv2 step by step")
def profile_conv_steps(net, cupy, batch, repeat, name="block1_conv2"):
    """The steps of minidl's largest convolution, timed apart: padding, im2col, the cuBLAS
    GEMMs and the fused bias + ReLU, each over the whole batch, block by block as in the op."""
    from minidl.ops import activations
    from minidl.ops.conv import _block_columns, _block_rows, _column_buffer, blocks, kernel_matrix
    from minidl.ops.window import Window, channels_last

    W, b = net.param_table()[f"{name}_W"], net.param_table()[f"{name}_b"]
    x = cupy.asarray(np.random.default_rng(0).standard_normal(
        (batch, W.shape[1], SIZE, SIZE), dtype=np.float32))
    window = Window("conv2d", x.shape, W.shape[2:], 1, 1)
    xpad, w_mat = window.pad(channels_last(x)), kernel_matrix(W)
    out = cupy.empty((batch, window.oh, window.ow, W.shape[0]), np.float32)
    buffer, parts = _column_buffer(xpad), blocks(window, xpad)
    first = _block_columns(window, xpad, parts[0], buffer).copy()

    def im2col():
        for block in parts:
            _block_columns(window, xpad, block, buffer)

    def gemm():  # the same GEMM for every block, on the first block's columns
        for block in parts:
            rows = _block_rows(out, block)
            cupy.matmul(first[:len(rows)], w_mat, out=rows)

    profile({f"{name} pad (channels-last copy + zero border)":
             lambda: window.pad(channels_last(x)),
             f"{name} im2col, {len(parts)} blocks": im2col,
             f"{name} GEMM, {len(parts)} blocks": gemm,
             f"{name} bias + ReLU": lambda: activations.apply(out, "relu", None, b, out=out)},
            cupy.cuda.Device().synchronize, repeat)


@section("profile: block1_conv2 backward step by step")
def profile_conv_backward(net, torch, cupy, batch, repeat, name="block1_conv2", splits=16):
    """The backward of minidl's largest convolution (with its ReLU) step by step, PyTorch's
    whole backward of the same layer, and one alternative for the weight gradient's GEMMs: each
    block's col^T @ gy ([KH*KW*C, rows] @ [rows, n_out], a tiny output over a long sum) split
    into ``splits`` GEMMs of one batched call, whose partial sums are then added."""
    from minidl.autograd import Tensor
    from minidl.ops import activations
    from minidl.ops._reduce import sum_rows
    from minidl.ops.conv import Conv2d, _block_columns, _block_rows, _column_buffer, blocks
    from minidl.ops.window import channels_last

    params = net.param_table()
    W, b = params[f"{name}_W"], params[f"{name}_b"]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, W.shape[1], SIZE, SIZE), dtype=np.float32)
    gy = rng.standard_normal((batch, W.shape[0], SIZE, SIZE), dtype=np.float32)
    fn = Conv2d(1, 1, 1, "truncate", activations.resolve("relu"))
    fn(Tensor(cupy.asarray(x), requires_grad=True), Tensor(W, requires_grad=True),
       Tensor(b, requires_grad=True))
    gy_l = cupy.ascontiguousarray(channels_last(cupy.asarray(gy)))
    buffer, parts = _column_buffer(fn.xpad), blocks(fn.window, fn.xpad)
    col = _block_columns(fn.window, fn.xpad, parts[0], buffer).copy()
    rows = len(col) // splits * splits

    def gemms():
        for block in parts:
            col.T @ _block_rows(gy_l, block)[:len(col)]

    def batched_gemms():
        for block in parts:
            g = _block_rows(gy_l, block)[:rows].reshape(splits, rows // splits, -1)
            cupy.matmul(col[:rows].reshape(splits, rows // splits, -1).transpose(0, 2, 1),
                        g).sum(axis=0)

    def im2cols():
        for block in parts:
            _block_columns(fn.window, fn.xpad, block, buffer)

    steps = {"ReLU gradient": lambda: activations.gradient(fn.y_l, gy_l, "relu"),
             "gx (stride 1: convolution of the padded gy)": lambda: fn._grad_input(gy_l),
             f"gW, {len(parts)} blocks": lambda: fn._grad_weights(gy_l),
             "gW: im2col alone": im2cols,
             "gW: GEMMs alone": gemms,
             f"gW: GEMMs as {splits}-way batched GEMMs": batched_gemms,
             "gb (sum over N, OH, OW: ones @ gy)": lambda: sum_rows(gy_l),
             "gb as CuPy's sum(axis=(0, 1, 2))": lambda: gy_l.sum(axis=(0, 1, 2))}
    profile({f"{name} backward: {step}": f for step, f in steps.items()},
            cupy.cuda.Device().synchronize, repeat)

    F = torch.nn.functional
    xt = torch.from_numpy(x).cuda().requires_grad_()
    wt, bt = (torch.from_numpy(to_cpu(a)).cuda().requires_grad_() for a in (W, b))
    yt = F.relu(F.conv2d(xt, wt, bt, padding=1))
    gyt = torch.from_numpy(gy).cuda()
    profile({f"{name} backward: PyTorch, whole":
             lambda: torch.autograd.grad(yt, (xt, wt, bt), gyt, retain_graph=True)},
            torch.cuda.synchronize, repeat)


@section("profile: batch normalization, training")
def profile_batch_norm(torch, cupy, repeat, shape=(16, 64, 112, 112)):
    """BatchNormalization's training forward + backward on a conv output (NHWC memory seen as
    NCHW) against PyTorch's (NCHW), and the batch sums alone: minidl's sum_over against CuPy's."""
    from minidl.ops._reduce import sum_over
    from minidl.ops.batch_norm import BatchNormTrain

    rng = np.random.default_rng(0)
    x, gy = (rng.standard_normal(shape, dtype=np.float32) for _ in range(2))
    on_gpu = [cupy.asarray(np.ascontiguousarray(a.transpose(0, 2, 3, 1))).transpose(0, 3, 1, 2)
              for a in (x, gy)]
    gamma, beta = cupy.ones(shape[1], np.float32), cupy.zeros(shape[1], np.float32)

    def ours():
        fn = BatchNormTrain(1e-5)
        fn.forward(on_gpu[0], gamma, beta)
        fn.backward(on_gpu[1])

    F = torch.nn.functional
    xt = torch.from_numpy(x).cuda().requires_grad_()
    wt = torch.ones(shape[1]).cuda().requires_grad_()
    bt = torch.zeros(shape[1]).cuda().requires_grad_()
    gyt = torch.from_numpy(gy).cuda()

    def theirs():
        y = F.batch_norm(xt, None, None, wt, bt, training=True, eps=1e-5)
        torch.autograd.grad(y, (xt, wt, bt), gyt)

    sync = cupy.cuda.Device().synchronize
    record(f"batch norm train fwd+bwd {shape}", median_time(ours, sync, repeat),
           median_time(theirs, torch.cuda.synchronize, repeat))
    profile({"batch sums over (0, 2, 3), sum_over": lambda: sum_over(on_gpu[0], (0, 2, 3)),
             "batch sums over (0, 2, 3), CuPy's sum": lambda: on_gpu[0].sum(axis=(0, 2, 3))},
            sync, repeat)


# -- report ----------------------------------------------------------------------------------
def table():
    lines = [f"{'benchmark':<46} {'minidl ms':>10} {'PyTorch ms':>11} {'ratio':>6}"]
    for row in RESULTS["speed"]:
        lines.append(f"{row['name']:<46} {row['minidl_s'] * 1e3:>10.1f} "
                     f"{row['torch_s'] * 1e3:>11.1f} {row['ratio']:>6.2f}")
    for name, t in RESULTS["profile"].items():
        lines.append(f"{name:<57} {t * 1e3:>10.2f}")
    lines.append("")
    for name, a in RESULTS["agreement"].items():
        verdict = "" if "pass" not in a else ("PASS" if a["pass"] else "FAIL")
        lines.append(f"{name:<46} {a['value']:.3e} {verdict}")
    if RESULTS["errors"]:
        lines.append(f"sections that raised: {', '.join(RESULTS['errors'])}")
    return "\n".join(lines)


def write_out(text):
    out = os.environ.get("OUT")
    if not out:
        return
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "gpu_results.json"), "w") as f:
        json.dump(RESULTS, f, indent=2, default=str)
    with open(os.path.join(out, "gpu_results.txt"), "w") as f:
        f.write(text + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="inference batch (default 32)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="agreement checks only")
    args = parser.parse_args(argv)

    if not minidl.backend.gpu_available():
        print("no usable GPU: CuPy is missing or finds no CUDA device", file=sys.stderr)
        return 2
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    RESULTS["environment"].update(cupy=cupy.__version__, device=props["name"].decode(),
                                  cuda_runtime=cupy.cuda.runtime.runtimeGetVersion())
    print("environment:", RESULTS["environment"], flush=True)

    cpu_net = vgg16("cpu")
    gpu_net = vgg16("cpu").to("gpu")  # same seed: the same weights, moved
    nets = {"cpu": cpu_net, "gpu": gpu_net}
    agreement_forward(nets)
    agreement_step(nets)
    x_tf32 = images(2, seed=11)
    truth_fc2 = float64_fc2(cpu_net, x_tf32)
    del cpu_net, nets
    if not args.quick:
        try:
            torch = torch_setup()
        except Exception as e:  # noqa: BLE001
            RESULTS["errors"]["torch"] = repr(e)
            print(f"PyTorch with CUDA unavailable ({e!r}): timing minidl only is not useful; "
                  f"skipping the speed sections", flush=True)
        else:
            speed_inference(gpu_net, torch, cupy, args.batch, args.repeat)
            agreement_tf32(gpu_net, torch, cupy, x_tf32, truth_fc2)
            speed_inference_tf32(gpu_net, torch, cupy, args.batch, args.repeat)
            from bench import gpu_half
            gpu_half.agreement_fp16(gpu_net, torch, cupy, x_tf32, truth_fc2)
            gpu_half.speed_featurize_fp16(gpu_net, torch, cupy, args.batch, args.repeat)
            gpu_half.speed_zoo(torch, cupy, args.batch, args.repeat)
            speed_train_step(gpu_net, torch, cupy, 16, args.repeat)
            speed_featurize_fit(gpu_net, torch, cupy, args.repeat)
            profile_layers(gpu_net, torch, cupy, args.batch, args.repeat)
            profile_conv_steps(gpu_net, cupy, args.batch, args.repeat)
            profile_conv_backward(gpu_net, torch, cupy, 16, args.repeat)
            profile_batch_norm(torch, cupy, args.repeat)
        pool = cupy.get_default_memory_pool()
        RESULTS["environment"]["cupy_pool_peak_bytes"] = pool.total_bytes()
    text = table()
    print("\n" + text)
    write_out(text)
    failed = [k for k, a in RESULTS["agreement"].items() if a.get("pass") is False]
    return 1 if failed or RESULTS["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
