"""bench.gpu's sections for half precision and for the modern zoo (run by ``bench.gpu``).

- agreement, VGG16 featurized at fc2 in fp16 (``precision="fp16"``) and PyTorch's fp16 (weights
  and input ``.half()``, cuDNN fp16 convolutions) against a float64 CPU forward. Pass: minidl's
  error within 3x PyTorch's (both are float16 arithmetic with float32 accumulation: the same
  error, give or take the order of the sums).
- speed, VGG16 featurizing at fc2 in fp16 against PyTorch fp16, batch ``--batch``; both cast
  their weights once, outside the timing, and return float32 features.
- speed, ResNet50 and MobileNetV2 inference (bench.resnet's and bench.mobilenet's random
  networks with plausible batch-norm statistics, 224x224) in fp32 against PyTorch + cuDNN fp32
  (TF32 off), and in fp16 (``activations_at(outputs, precision="fp16")``) against PyTorch
  fp16; both to the softmax output. Goal: <= 1.5x.
"""

import numpy as np

from bench.gpu import SIZE, RESULTS, check, images, median_time, record, relative, section
from bench.gpu import torch_features, torch_weights
from minidl.backend import set_device, to_cpu


def _torch_half(torch, weights):
    return {k: v.half() for k, v in weights.items()}


@section("agreement: VGG16 featurized in fp16, minidl and PyTorch vs float64")
def agreement_fp16(net, torch, cupy, x, truth):
    set_device("gpu")
    ours = to_cpu(net.activations_at(["fc2"], [cupy.asarray(x)], precision="fp16")[0])
    w16 = _torch_half(torch, torch_weights(torch, net))
    with torch.no_grad():
        theirs = torch_features(torch, w16, torch.from_numpy(x).cuda().half()).float()
    errors = {"minidl": relative(ours, truth), "PyTorch": relative(theirs.cpu().numpy(), truth)}
    print(f"   fc2 vs float64 (max rel): minidl fp16 {errors['minidl']:.2e}, "
          f"PyTorch fp16 {errors['PyTorch']:.2e}", flush=True)
    RESULTS["agreement"]["fp16 fc2 PyTorch vs float64 (max rel, info)"] = {
        "value": errors["PyTorch"]}
    return check("fp16 fc2 vs float64 (max rel), limit 3x PyTorch's", errors["minidl"],
                 3 * max(errors["PyTorch"], 1e-4))


@section("speed: VGG16 featurized at fc2 in fp16 (minidl fp16 vs PyTorch .half())")
def speed_featurize_fp16(net, torch, cupy, batch, repeat):
    set_device("gpu")
    x = images(batch)
    xg, xt = cupy.asarray(x), torch.from_numpy(x).cuda().half()
    w16 = _torch_half(torch, torch_weights(torch, net))

    def theirs():
        with torch.no_grad():
            return torch_features(torch, w16, xt).float()

    record(f"VGG16 featurize fc2 batch {batch} fp16",
           median_time(lambda: net.activations_at(["fc2"], [xg], precision="fp16"),
                       cupy.cuda.Device().synchronize, repeat),
           median_time(theirs, torch.cuda.synchronize, repeat))


@section("speed: ResNet50 and MobileNetV2 inference, fp32 and fp16")
def speed_zoo(torch, cupy, batch, repeat):
    from bench import mobilenet, resnet

    models = (("ResNet50", resnet.random_resnet50, resnet.torch_forward,
               lambda net: {k: torch.from_numpy(np.ascontiguousarray(v))
                            for k, v in net.param_table().items()}),
              ("MobileNetV2", mobilenet.random_mobilenetv2, mobilenet.torch_forward,
               lambda net: mobilenet.torch_params(torch, net)))
    x = np.random.default_rng(1).uniform(-1, 1, (batch, 3, SIZE, SIZE)).astype(np.float32)
    for name, build, forward, params in models:
        set_device("cpu")
        net = build(SIZE)
        p32 = {k: v.cuda() for k, v in params(net).items()}
        net = net.to("gpu")
        set_device("gpu")
        xg, xt = cupy.asarray(x), torch.from_numpy(x).cuda()
        diff = float(np.abs(to_cpu(net.output_single(xg)) - forward(torch, xt, p32).cpu()
                            .numpy()).max())
        RESULTS["agreement"][f"{name} inference vs PyTorch (max abs, info)"] = {"value": diff}
        print(f"   {name}: max |minidl - PyTorch| on the softmax output: {diff:.2e}")
        sync_ours, sync_theirs = cupy.cuda.Device().synchronize, torch.cuda.synchronize
        record(f"{name} inference batch {batch}",
               median_time(lambda: net.output_single(xg), sync_ours, repeat),
               median_time(lambda: forward(torch, xt, p32), sync_theirs, repeat))
        p16, xt16 = _torch_half(torch, p32), xt.half()
        record(f"{name} inference batch {batch} fp16",
               median_time(lambda: net.activations_at(net.wiring.outputs, [xg],
                                                      precision="fp16"), sync_ours, repeat),
               median_time(lambda: forward(torch, xt16, p16), sync_theirs, repeat))
