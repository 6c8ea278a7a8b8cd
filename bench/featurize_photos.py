"""Featurizing real-sized JPEG photos end to end, minidl vs a PyTorch + Pillow loop (issue 20).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.featurize_photos \
        [--images 16] [--batch 8] [--repeat 3] [--sets large,flower] [--threads N]

End to end means: decode each JPEG, resize it to 224x224, preprocess (BGR, minus the VGG
means), run the VGG16 convolutional base (up to block5_pool) and write each batch as a shard.

- minidl: ``ImageRecordReader`` + ``RecordReaderDataSetIterator`` with ``VGG16ImagePreProcessor``,
  through ``featurize_to_disk`` (TransferLearningHelper at block5_pool; shards are .npz plus the
  manifest, written atomically). Four variants, to show each lever alone:
  ``full`` (every pixel decoded), ``draft`` (a JPEG over 4x the target decoded at a reduced
  scale by the JPEG decoder, see NativeImageLoader), and each with ``+prefetch``
  (``AsyncDataSetIterator(queue_size=2)``: the next batch is decoded on a thread while the
  network runs on this one; NumPy's BLAS releases the GIL). Memory stays bounded by the batch:
  at most queue_size + 2 batches of images are alive.
- PyTorch + Pillow, the loop people write: ``Image.open(path).convert("RGB").resize((224, 224),
  BILINEAR)``, NumPy to BGR minus the means, ``torch.from_numpy``, the same convolutions with
  the same weights under ``no_grad`` (``bench.featurize.torch_vgg16_from``), ``np.save`` of each
  batch's features. One thread of Python, as such a loop is (PyTorch's own threads inside).

The photos are generated once into a temporary folder (``--folder`` to keep them): "large"
alternates 4000x3000 and 3000x2000 (phone and camera photos), "flower" is 500x375 (the size of
the TensorFlow flowers images the DL4J example uses). The content is photo-like (smooth shading,
texture, grain), so the JPEG decoder does realistic work: about 4 MB for a 4000x3000 file.

Each variant runs ``--repeat`` passes, variants interleaved so that a busy spell of the (shared)
machine hits all of them alike; the best pass is reported, the median beside it. ``uptime``'s
load is printed before and after: on a shared machine the ratios are the figures to read.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

import numpy as np
from PIL import Image

from bench.featurize import torch_vgg16_from, vgg16_random_graph
from bench.harness import blas_report, set_threads, try_torch
from minidl.data import AsyncDataSetIterator, VGG16ImagePreProcessor
from minidl.data.normalizers import VGG_MEAN_OFFSET_BGR
from minidl.data.records import (FileSplit, ImageRecordReader, ParentPathLabelGenerator,
                                 RecordReaderDataSetIterator)
from transfer import TransferLearningHelper, featurize_to_disk

SIZE = 224
SETS = {"large": ((4000, 3000), (3000, 2000)), "flower": ((500, 375),)}
BOUNDARY = "block5_pool"


# -- the photos ------------------------------------------------------------------------------
def photo(width, height, seed):
    """Photo-like RGB content: smooth shading, blotchy texture at two scales, sensor grain."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32) / max(width, height)
    phase = rng.uniform(0, 6, 3)
    shading = np.stack([128 + 90 * np.sin(6 * x + 2 * y + phase[0]),
                        128 + 80 * np.cos(5 * y - 3 * x + phase[1]),
                        128 + 70 * np.sin(4 * (x + y) + phase[2])], axis=-1)
    texture = sum(np.kron(rng.uniform(-30, 30, (height // s + 1, width // s + 1, 3)),
                          np.ones((s, s, 1), np.float32))[:height, :width] for s in (8, 64))
    grain = rng.normal(0, 8, (height, width, 3)).astype(np.float32)
    return Image.fromarray(np.clip(shading + texture + grain, 0, 255).astype(np.uint8))


def make_photos(folder, kind, n):
    """``n`` JPEGs of the ``kind`` set under folder/kind/<class>/ (two classes); their paths."""
    sizes = SETS[kind]
    for i in range(n):
        path = os.path.join(folder, kind, f"class{i % 2}", f"{i:03d}.jpg")
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            photo(*sizes[i % len(sizes)], seed=i).save(path, "JPEG", quality=90)
    return os.path.join(folder, kind)


# -- the two pipelines -----------------------------------------------------------------------
def minidl_pass(helper, root, out, batch, draft, prefetch):
    """One featurize_to_disk pass over the photos under ``root`` into a fresh ``out`` (a folder
    left complete by the previous pass would be reused, not recomputed)."""
    shutil.rmtree(out, ignore_errors=True)
    reader = ImageRecordReader(SIZE, SIZE, 3, ParentPathLabelGenerator(), draft=draft)
    iterator = RecordReaderDataSetIterator(reader.initialize(FileSplit(root, ["jpg"])), batch)
    iterator.set_pre_processor(VGG16ImagePreProcessor())
    if prefetch:
        iterator = AsyncDataSetIterator(iterator, queue_size=2)
    manifest = featurize_to_disk(helper, iterator, out, progress=False, overwrite=True)
    return manifest["num_examples"]


def torch_pass(torch, forward, paths, out, batch):
    """The PyTorch + Pillow loop over ``paths``: decode, resize, preprocess, forward, np.save."""
    mean = np.asarray(VGG_MEAN_OFFSET_BGR, np.float32).reshape(1, 3, 1, 1)
    os.makedirs(out, exist_ok=True)
    for index, start in enumerate(range(0, len(paths), batch)):
        images = [np.asarray(Image.open(p).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR),
                             np.float32) for p in paths[start:start + batch]]
        x = np.stack(images).transpose(0, 3, 1, 2)[:, ::-1] - mean  # NCHW, BGR, minus means
        with torch.no_grad():
            features = forward(torch.from_numpy(np.ascontiguousarray(x)))
        np.save(os.path.join(out, f"shard-{index:05d}.npy"), features.numpy())
    return len(paths)


# -- timing ----------------------------------------------------------------------------------
def uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "uptime: unavailable"


def variants(helper, torch, forward, root, scratch, batch):
    """{name: function running one pass}: minidl's four variants, then PyTorch's loop."""
    paths = sorted(FileSplit(root, ["jpg"]).locations())
    runs = {}
    for draft in (False, True):
        for prefetch in (False, True):
            name = ("draft" if draft else "full") + (" +prefetch" if prefetch else "")
            runs[f"minidl {name}"] = (lambda d=draft, p=prefetch: minidl_pass(
                helper, root, os.path.join(scratch, "minidl"), batch, d, p))
    if torch is not None:
        runs["torch + Pillow"] = lambda: torch_pass(torch, forward, paths,
                                                    os.path.join(scratch, "torch"), batch)
    return runs


def measure(runs, repeat, n_images):
    """{name: (images per second of the best pass, of the median pass)}, variants interleaved.

    The best pass is the figure to compare on a shared machine: other work only ever adds time,
    and a 2-thread BLAS loses far more than its share when another process takes a core."""
    for run in runs.values():  # warm-up: caches, thread pools, the first featurize_to_disk
        run()
    times = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            time.sleep(0.2)  # let the other library's spinning threads settle (bench.harness)
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: (n_images / min(t), n_images / statistics.median(t))
            for name, t in times.items()}


def check_agreement(helper, torch, forward, root, batch):
    """Features of the first batch, minidl (full decode) vs the PyTorch loop: the same work."""
    reader = ImageRecordReader(SIZE, SIZE, 3, ParentPathLabelGenerator(), draft=False)
    iterator = RecordReaderDataSetIterator(reader.initialize(FileSplit(root, ["jpg"])), batch)
    iterator.set_pre_processor(VGG16ImagePreProcessor())
    ours = helper.featurize(iterator.next()).features
    with tempfile.TemporaryDirectory() as out:
        torch_pass(torch, forward, sorted(FileSplit(root, ["jpg"]).locations())[:batch], out,
                   batch)
        theirs = np.load(os.path.join(out, "shard-00000.npy"))
    print(f"   block5_pool features, minidl (full decode) vs PyTorch loop: max |diff| "
          f"{np.abs(ours - theirs).max():.2e} (max |value| {np.abs(theirs).max():.2e})")


def report(kind, rates):
    theirs = rates.get("torch + Pillow")
    print(f"\n{kind}: images per second, end to end (best pass; median pass in brackets)")
    for name, (best, median) in rates.items():
        line = f"   {name:<22} {best:7.2f} img/s ({median:6.2f})"
        if theirs and name != "torch + Pillow":
            line += (f"   {best / theirs[0]:5.2f}x the PyTorch + Pillow loop "
                     f"({median / theirs[1]:4.2f}x)")
        print(line, flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16, help="photos per set (default 16)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sets", default="large,flower", help="comma-separated: large, flower")
    parser.add_argument("--folder", help="where the photos are generated (default: temporary)")
    parser.add_argument("--threads", type=int, help="BLAS and PyTorch threads (default: all)")
    args = parser.parse_args(argv)
    torch = try_torch()
    if args.threads:
        set_threads(args.threads, torch)
    print("\n".join(blas_report(torch)))
    print("load before:", uptime(), flush=True)
    graph = vgg16_random_graph()
    helper = TransferLearningHelper(graph, BOUNDARY)
    forward = torch_vgg16_from(graph, torch)[BOUNDARY] if torch else None
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.folder or os.path.join(scratch, "photos")
        for kind in args.sets.split(","):
            root = make_photos(folder, kind, args.images)
            sizes = " and ".join(f"{w}x{h}" for w, h in SETS[kind])
            print(f"\n== {kind}: {args.images} JPEGs of {sizes}, batch {args.batch}", flush=True)
            if torch:
                check_agreement(helper, torch, forward, root, args.batch)
            runs = variants(helper, torch, forward, root, os.path.join(scratch, kind), args.batch)
            report(kind, measure(runs, args.repeat, args.images))
    print("\nload after:", uptime())


if __name__ == "__main__":
    main()
