"""Loading converted VGG16 weights from the cache: time and peak memory (issue 5).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.zoo_load [--repeat 3]

Writes VGG16-shaped weights (138,357,544 random float32 values, ~553 MB) once as the converted
``.npz`` into a temporary ``MINIDL_HOME``, exactly where ``init_pretrained`` looks, then loads
them with ``VGG16().init_pretrained(PretrainedType.IMAGENET)`` in fresh processes (so each load
starts cold in Python and its peak memory is its own). In those processes downloading and
converting are replaced by functions that fail: a cached load must do neither.
Goals: under 2 s, and peak memory above the process's baseline under 1.5x the weights' size.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from bench.harness import blas_report, try_torch

MB = 1024 * 1024


def write_cache(home):
    """Random VGG16 weights as the converted file in ``home``'s cache; returns (path, bytes)."""
    os.environ["MINIDL_HOME"] = home
    from minidl.nn.conf.layers import Layer
    from zoo import PretrainedType, VGG16, save_converted
    from zoo.converters import KERAS_PREPROCESSING
    from zoo.pretrained import cached_path

    conf = VGG16().pretrained_conf(1000, include_top=True)
    rng = np.random.default_rng(0)
    weights = {f"{name}_{param}": rng.standard_normal(shape, dtype=np.float32)
               for name, layer in conf.vertices.items() if isinstance(layer, Layer)
               for param, shape in layer.param_shapes().items()}
    path = cached_path("vgg16", PretrainedType.IMAGENET, include_top=True)
    save_converted(path, weights, {"architecture": "vgg16", "include_top": True,
                                   "source": {"file": "random", "format": "bench"},
                                   **KERAS_PREPROCESSING})
    return path, sum(a.nbytes for a in weights.values())


def _status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status (Linux only)")


def peak_rss_bytes():
    """This process's peak resident memory (VmHWM). Not ru_maxrss: Linux carries that over
    from the parent through fork and exec, so a child of a big process would report its size."""
    return _status_bytes("VmHWM")


def reset_peak_rss():
    """Restart the peak from the current resident size (Linux >= 4.0); returns that size."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_bytes("VmRSS")


def child():
    """One cold load in this process; prints a JSON line with its time and memory."""
    import zoo.pretrained
    from zoo import PretrainedType, VGG16

    def refuse(*args, **kwargs):
        raise AssertionError("init_pretrained converted or downloaded although the cache is full")

    zoo.pretrained.convert = zoo.pretrained.download = refuse
    baseline = peak_rss_bytes()  # after the imports
    start = time.perf_counter()
    net = VGG16().init_pretrained(PretrainedType.IMAGENET)
    seconds = time.perf_counter() - start
    peak = peak_rss_bytes()
    print(json.dumps({"seconds": seconds, "peak": peak, "baseline": baseline,
                      "params": net.num_params()}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child()
    print("\n".join(blas_report(try_torch())))
    with tempfile.TemporaryDirectory(prefix="minidl-zoo-load-") as home:
        path, n_bytes = write_cache(home)
        print(f"converted weights: {path} ({os.path.getsize(path) / MB:.0f} MiB on disk, "
              f"{n_bytes / MB:.0f} MiB of arrays)")
        env = dict(os.environ, MINIDL_HOME=home)
        runs = []
        for _ in range(args.repeat):
            out = subprocess.run([sys.executable, "-m", "bench.zoo_load", "--child"], env=env,
                                 capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    seconds = statistics.median(r["seconds"] for r in runs)
    extra = statistics.median(r["peak"] - r["baseline"] for r in runs)
    peak = statistics.median(r["peak"] for r in runs)
    assert all(r["params"] == 138_357_544 for r in runs)
    print(f"\ninit_pretrained from the cache ({args.repeat} cold processes, median; no conversion):")
    each = ", ".join(f"{r['seconds']:.2f}" for r in runs)
    print(f"  time           {seconds:6.2f} s      (goal < 2 s)  [runs: {each}]")
    print(f"  peak memory    {peak / MB:6.0f} MiB    ({extra / MB:.0f} MiB above the "
          f"{statistics.median(r['baseline'] for r in runs) / MB:.0f} MiB after imports)")
    print(f"  peak / weights {extra / n_bytes:6.2f} x      (goal < 1.5x; whole process: "
          f"{peak / n_bytes:.2f} x)")


if __name__ == "__main__":
    main()
