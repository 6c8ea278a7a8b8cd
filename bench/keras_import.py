"""Importing Keras' ResNet50 from a ``.keras`` file: time and peak memory (issue 16).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.keras_import [--repeat 3]

Keras (3, torch backend; an optional dependency, needed here only to write the file) saves
``keras.applications.ResNet50(weights=None)`` (224x224, 25.6 M parameters, ~103 MB of float32)
once into a temporary folder; then fresh processes import it with
``KerasModelImport.import_keras_model_and_weights`` (each starts cold, so its peak memory is its
own), and, as the baseline in the same run, load it with ``keras.saving.load_model``.
Goals: under 2 s, and peak memory above the process's baseline under 2x the weights' size.
"""

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench.zoo_load import MB, peak_rss_bytes, reset_peak_rss


def write_model(folder):
    """ResNet50 saved by Keras as ``folder/resnet50.keras``; returns (path, weight bytes)."""
    os.environ["KERAS_BACKEND"] = "torch"
    import keras
    model = keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3))
    path = os.path.join(folder, "resnet50.keras")
    model.save(path)
    return path, sum(int(w.numpy().nbytes) for w in model.weights)


def child(path, who):
    """One cold import (``who`` = "minidl" or "keras") in this process; prints a JSON line."""
    if who == "keras":
        os.environ["KERAS_BACKEND"] = "torch"
        import keras
        load = lambda: keras.saving.load_model(path, compile=False)  # noqa: E731
    else:
        from minidl.modelimport import KerasModelImport
        load = lambda: KerasModelImport.import_keras_model_and_weights(path)  # noqa: E731
    baseline = reset_peak_rss()  # after the imports
    start = time.perf_counter()
    net = load()
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_bytes": peak_rss_bytes() - baseline,
                      "vertices": len(getattr(net, "layers", [])) or
                      len(net.get_configuration().vertices)}))


def run(path, who):
    out = subprocess.run([sys.executable, "-m", "bench.keras_import", "--child", who, path],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("WHO", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[1], args.child[0])
    if importlib.util.find_spec("keras") is None or importlib.util.find_spec("torch") is None:
        sys.exit("bench.keras_import needs Keras 3 (and torch) to write the ResNet50 file")
    with tempfile.TemporaryDirectory() as folder:
        path, weight_bytes = write_model(folder)
        print(f"ResNet50 .keras: {os.path.getsize(path) / MB:.1f} MB file, "
              f"{weight_bytes / MB:.1f} MB of weights")
        for who in ("minidl", "keras"):
            runs = [run(path, who) for _ in range(args.repeat)]
            seconds = statistics.median(r["seconds"] for r in runs)
            peak = max(r["peak_bytes"] for r in runs)
            print(f"{who:>6}: {seconds:6.3f} s (median of {args.repeat}), peak memory above "
                  f"baseline {peak / MB:7.1f} MB = {peak / weight_bytes:.2f}x the weights")
        print("goal (minidl): < 2 s and < 2x the weights")


if __name__ == "__main__":
    main()
