"""What a smaller model buys: images per second featurized through VGG16, ResNet50 and
MobileNetV2 (minidl, CPU, random weights in each pretrained layout), on the same 224x224 images.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench.zoo_featurize [--images 32]

Each model is featurized at its usual transfer boundary (VGG16's fc2, ResNet50's avg_pool,
MobileNetV2's global_average_pooling2d) with ``TransferLearningHelper(...).featurize``; the
figure is the best of ``--repeat`` passes over the images (speed does not depend on the weights).
"""

import argparse
import time

from minidl.nn.graph import ComputationGraph
from transfer import TransferLearningHelper
from zoo import VGG16, MobileNetV2, ResNet50
from bench.featurize import RandomImages

MODELS = (("VGG16", VGG16, "fc2"), ("ResNet50", ResNet50, "avg_pool"),
          ("MobileNetV2", MobileNetV2, "global_average_pooling2d"))


def images_per_second(helper, images, repeat):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for batch in images:
            helper.featurize(batch)
        best = min(best, time.perf_counter() - start)
    return images.n / best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    images = RandomImages(args.images, args.batch)
    rates = {}
    for name, model, boundary in MODELS:
        graph = ComputationGraph(model().pretrained_conf(1000, include_top=True)).init()
        helper = TransferLearningHelper(graph, boundary)
        rates[name] = images_per_second(helper, images, args.repeat)
        print(f"{name:<12} to {boundary:<25} {rates[name]:7.2f} img/s "
              f"({rates[name] / rates['VGG16']:.1f}x VGG16's)", flush=True)


if __name__ == "__main__":
    main()
