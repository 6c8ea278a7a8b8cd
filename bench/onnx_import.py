"""ONNX import of a ResNet50-sized file: import time, peak memory against the weights' size, and
inference of the imported graph against the same architecture built by the zoo.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.onnx_import [--batch 8]

The file is zoo.ResNet50 (224x224, 1000 classes, random weights) written by
OnnxModelExport: 25.6 M parameters, every batch norm a BatchNormalization node, so the
importer maps 53 convolutions, 53 batch norms, 16 residual adds and the head. Each import runs
in a fresh process (``--child``) so that its peak resident memory (VmHWM above the
resident size just before the import) is its own. Goals (DESIGN.md §10 / issue 17): import
under 2 s and under 2x the weights; inference within 10% of the zoo network (a clone of the zoo
network, timed alongside, shows how far apart noise alone puts two identical networks).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

SHAPE = (3, 224, 224)


def _status_bytes(key):
    """VmRSS (resident now) or VmHWM (peak resident) of this process, in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def child(path):
    """Import ``path`` once here; print its time and memory as JSON."""
    import importlib
    from minidl.modelimport import OnnxModelImport
    importlib.import_module("onnx")  # loaded before the baseline, as an application has it
    OnnxModelImport.supported_ops()  # the importer's modules loaded before the baseline too
    before = _status_bytes("VmRSS")
    start = time.perf_counter()
    net = OnnxModelImport.import_model(path)
    seconds = time.perf_counter() - start
    # VmHWM, not ru_maxrss: the latter counts the parent's memory the fork copied
    peak = _status_bytes("VmHWM")
    print(json.dumps({"seconds": seconds, "peak_above_baseline": peak - before,
                      "params": net.num_params()}))


def import_in_fresh_process(path):
    """The child's figures for one import of ``path``."""
    out = subprocess.run([sys.executable, "-m", "bench.onnx_import", "--child", path],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def best_seconds(runs, repeat):
    """The best time of each of ``runs`` over ``repeat`` rounds, the runs interleaved so that a
    busy machine slows them alike."""
    best = [float("inf")] * len(runs)
    for _ in range(repeat):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            run()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def main(argv=None):
    """Export, import in fresh processes, compare inference; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child)
    from minidl.modelexport import OnnxModelExport
    from minidl.modelimport import OnnxModelImport
    from zoo import ResNet50
    zoo_net = ResNet50(num_classes=1000, input_shape=SHAPE).init()
    weights = sum(a.nbytes for a in zoo_net.param_table().values())
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "resnet50.onnx")
        start = time.perf_counter()
        OnnxModelExport.export_model(zoo_net, path)
        print(f"export: {time.perf_counter() - start:.2f} s, file "
              f"{os.path.getsize(path) / 2**20:.1f} MiB, weights {weights / 2**20:.1f} MiB")
        runs = [import_in_fresh_process(path) for _ in range(args.repeat)]
        imported = OnnxModelImport.import_model(path)
    seconds = min(r["seconds"] for r in runs)
    peak = min(r["peak_above_baseline"] for r in runs)
    print(f"import: {seconds:.2f} s (best of {args.repeat}, goal < 2 s); peak memory "
          f"{peak / 2**20:.0f} MiB above the baseline = {peak / weights:.2f}x the weights "
          f"(goal < 2x)")
    x = np.random.default_rng(0).normal(size=(args.batch,) + SHAPE).astype(np.float32)
    np.testing.assert_allclose(imported.output_single(x), zoo_net.output_single(x), rtol=1e-4,
                               atol=1e-6)
    control = zoo_net.clone()  # the same network again: how far apart noise alone puts two runs
    t_zoo, t_imported, t_control = best_seconds(
        [lambda: zoo_net.output_single(x), lambda: imported.output_single(x),
         lambda: control.output_single(x)], args.repeat)
    print(f"inference, batch {args.batch}: zoo ResNet50 {args.batch / t_zoo:.2f} img/s, imported "
          f"{args.batch / t_imported:.2f} img/s = {t_imported / t_zoo:.2f}x the zoo's time "
          f"(goal within 10%); a clone of the zoo network: {t_control / t_zoo:.2f}x (the noise)")


if __name__ == "__main__":
    main()
