"""The offline demo behind ``minidl demo``: a whole transfer-learning story in seconds.

No download: the demo draws its own pictures with Pillow, deterministically from a seed.

1. **Source task.** Ten kinds of shapes (circle, ring, square, ...) on noisy backgrounds, 32x32.
   A small VGG-style ComputationGraph with DL4J's pretrained vertex names (``input_1``,
   ``block1_conv1``, ``block1_pool`` ... ``block5_pool``, ``flatten``, ``fc1``, ``fc2``,
   ``predictions``) is trained on it once and cached with ModelSerializer under
   ``$MINIDL_HOME/models/demo/``: the stand-in for VGG16's ImageNet weights.
2. **Target task.** Five *other* shapes (L, T, arrow, hourglass, half-disc) with only a few
   training pictures per class: the situation transfer learning is for.
3. **Transfer**, as DL4J's EditLastLayerOthersFrozen and FitFromFeaturized do: freeze up to
   ``fc2``, replace ``predictions``, featurize the training pictures once, fit the new head on
   the features; then, as FineTuneFromBlockFour, unfreeze block 5 and fine-tune it.
4. **Baseline.** The same network trained from scratch on the same few pictures.

It prints accuracy before and after each step, transfer vs from-scratch, the time of an epoch
on featurized data vs an epoch through the frozen network, and the transferred network's
``summary()``. ``run_demo(plot="curves.png")`` also draws the test-accuracy curves (Pillow).

``small_vgg`` and the image generator are public: the examples' ``--small`` mode and the tests
use them too. It lives in ``transfer`` (not ``minidl``) because it uses the transfer API. docs/how-it-works.md walks through what each step does inside.
"""

import hashlib
import json
import os
import time

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from minidl.backend import get_device, to_cpu
from minidl.data.dataset import DataSet
from minidl.data.normalizers import ImagePreProcessingScaler
from minidl.io import atomic_write, models_dir
from minidl.nn.serializer import ModelSerializer
from minidl.learning import Adam, Nesterovs
from minidl.nn.conf import (Activation, CnnToFeedForwardPreProcessor, ConvolutionLayer,
                            DenseLayer, InputType, LossFunction, NeuralNetConfiguration,
                            OutputLayer, PoolingType, PreprocessorVertex, SubsamplingLayer)
from minidl.nn.conf.weight_init import WeightInit
from minidl.nn.graph import ComputationGraph
from minidl.nn.multilayer import MultiLayerNetwork
from transfer.builders import TransferLearning
from transfer.fine_tune import FineTuneConfiguration
from transfer.helper import TransferLearningHelper

SOURCE_SHAPES = ("circle", "ring", "square", "diamond", "triangle", "plus", "cross", "hbars",
                 "vbars", "star")
TARGET_SHAPES = ("ell", "tee", "arrow", "hourglass", "halfdisc")
IMAGE_SIZE = 32
CACHE_VERSION = 1  # bump when the source model or its data change: old caches are then ignored


# -- pictures -----------------------------------------------------------------------------------

def _star(points=5, inner=0.45):
    angles = np.arange(2 * points) * np.pi / points - np.pi / 2
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return [("poly", np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1))]


def _half_disc():
    angles = np.linspace(np.pi, 2 * np.pi, 16)
    return [("poly", np.stack([np.cos(angles), np.sin(angles) + 0.4], 1))]


# Each shape as drawing primitives in a [-1, 1] box: ("poly", points), ("line", points),
# ("disc", None) or ("ring", None). Lines are drawn with a random stroke width.
_SHAPES = {
    "circle": [("disc", None)],
    "ring": [("ring", None)],
    "square": [("poly", np.array([[-0.8, -0.8], [0.8, -0.8], [0.8, 0.8], [-0.8, 0.8]]))],
    "diamond": [("poly", np.array([[0, -1], [1, 0], [0, 1], [-1, 0]]))],
    "triangle": [("poly", np.array([[0, -0.9], [0.9, 0.8], [-0.9, 0.8]]))],
    "plus": [("line", np.array([[-1, 0], [1, 0]])), ("line", np.array([[0, -1], [0, 1]]))],
    "cross": [("line", np.array([[-0.8, -0.8], [0.8, 0.8]])),
              ("line", np.array([[-0.8, 0.8], [0.8, -0.8]]))],
    "hbars": [("line", np.array([[-0.9, y], [0.9, y]])) for y in (-0.7, 0, 0.7)],
    "vbars": [("line", np.array([[x, -0.9], [x, 0.9]])) for x in (-0.7, 0, 0.7)],
    "star": _star(),
    "ell": [("line", np.array([[-0.5, -0.9], [-0.5, 0.8], [0.7, 0.8]]))],
    "tee": [("line", np.array([[-0.9, -0.8], [0.9, -0.8]])), ("line", np.array([[0, -0.8], [0, 0.9]]))],
    "arrow": [("line", np.array([[-0.9, 0], [0.3, 0]])),
              ("poly", np.array([[0.1, -0.6], [0.95, 0], [0.1, 0.6]]))],
    "hourglass": [("poly", np.array([[-0.7, -0.9], [0.7, -0.9], [-0.7, 0.9], [0.7, 0.9]]))],
    "halfdisc": _half_disc(),
}


def render_shape(name, rng, size=IMAGE_SIZE):
    """One picture of shape ``name``: uint8 [size, size, 3] RGB, position, scale, rotation,
    colours, stroke and noise drawn from ``rng`` (a numpy Generator)."""
    scale = 2  # draw at twice the size, then shrink: smooth edges
    canvas = size * scale
    background = rng.integers(0, 90, 3)
    noise = rng.normal(0, 18, (canvas, canvas, 3))
    pixels = np.clip(background + noise, 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(image)
    colour = tuple(int(c) for c in rng.integers(140, 256, 3))
    radius = canvas * rng.uniform(0.25, 0.42)
    centre = canvas / 2 + rng.uniform(-0.12, 0.12, 2) * canvas
    angle = rng.uniform(-0.5, 0.5)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    stroke = max(2, int(canvas * rng.uniform(0.06, 0.1)))

    def place(points):
        return [tuple(p) for p in centre + radius * points @ rotation.T]

    for kind, points in _SHAPES[name]:
        box = [tuple(centre - radius), tuple(centre + radius)]
        if kind == "disc":
            draw.ellipse(box, fill=colour)
        elif kind == "ring":
            draw.ellipse(box, outline=colour, width=stroke)
        elif kind == "poly":
            draw.polygon(place(points), fill=colour)
        else:
            draw.line(place(points), fill=colour, width=stroke, joint="curve")
    return np.asarray(image.resize((size, size), Image.Resampling.LANCZOS))


def make_images(shapes, per_class, seed, size=IMAGE_SIZE):
    """``per_class`` pictures of each shape: (uint8 [n, size, size, 3] RGB, int labels [n]),
    classes interleaved. The same arguments always give the same pictures."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for _ in range(per_class):
        for label, name in enumerate(shapes):
            images.append(render_shape(name, rng, size))
            labels.append(label)
    return np.stack(images), np.array(labels)


def to_dataset(images, labels, n_classes):
    """A DataSet as the image pipeline makes it: NCHW, BGR, scaled to 0..1, one-hot labels
    (what ImageRecordReader + ImagePreProcessingScaler give for the same pictures on disk)."""
    features = images[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    return DataSet(np.ascontiguousarray(features), np.eye(n_classes, dtype=np.float32)[labels])


def write_image_folder(directory, shapes, per_class, seed, size=IMAGE_SIZE):
    """Save ``make_images`` as PNGs in one folder per class (``<directory>/<shape>/0007.png``):
    a stand-in for the flower photos that the real image pipeline can read."""
    images, labels = make_images(shapes, per_class, seed, size)
    counts = {}
    for image, label in zip(images, labels):
        folder = os.path.join(directory, shapes[label])
        os.makedirs(folder, exist_ok=True)
        index = counts[label] = counts.get(label, -1) + 1
        Image.fromarray(image).save(os.path.join(folder, f"{index:04d}.png"))
    return directory


# -- the network ----------------------------------------------------------------------------------

def small_vgg(num_classes, seed=12345, size=IMAGE_SIZE, channels=(8, 16, 32, 32, 32), fc=64,
              updater=None):
    """A VGG16-shaped ComputationGraph, shrunk: five blocks of one 3x3 conv + 2x2 max pool,
    ``flatten``, two dense layers and a softmax output, with the vertex names of DL4J's
    pretrained VGG16 (so every example's vertex names work on it). Input [batch, 3, size, size]
    with ``size`` a multiple of 32; ``predictions`` is an OutputLayer so it can be trained."""
    if size % 32:
        raise ValueError(f"small_vgg: size must be a multiple of 32 (five 2x2 pools), got {size}")
    builder = (NeuralNetConfiguration.Builder().seed(seed).updater(updater or Adam(2e-3))
               .activation(Activation.RELU).weight_init(WeightInit.RELU)
               .graph_builder().add_inputs("input_1"))
    previous = "input_1"
    for block, n_out in enumerate(channels, 1):
        builder.add_layer(f"block{block}_conv1", ConvolutionLayer(
            kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), n_out=n_out), previous)
        builder.add_layer(f"block{block}_pool", SubsamplingLayer(
            pooling_type=PoolingType.MAX, kernel_size=(2, 2), stride=(2, 2)), f"block{block}_conv1")
        previous = f"block{block}_pool"
    side = size // 32
    builder.add_vertex("flatten", PreprocessorVertex(
        CnnToFeedForwardPreProcessor(side, side, channels[-1])), previous)
    builder.add_layer("fc1", DenseLayer(n_out=fc), "flatten")
    builder.add_layer("fc2", DenseLayer(n_out=fc), "fc1")
    builder.add_layer("predictions", OutputLayer(
        loss=LossFunction.NEGATIVELOGLIKELIHOOD, n_out=num_classes,
        activation=Activation.SOFTMAX, weight_init=WeightInit.XAVIER), "fc2")
    conf = builder.set_outputs("predictions").set_input_types(
        InputType.convolutional(size, size, 3)).build()
    return ComputationGraph(conf).init()


# -- settings --------------------------------------------------------------------------------------

FULL = {"source_per_class": 100, "source_epochs": 6, "target_train_per_class": 4,
        "target_test_per_class": 40, "head_epochs": 40, "fine_tune_epochs": 10,
        "scratch_epochs": 50, "batch_size": 32}
FAST = {"source_per_class": 60, "source_epochs": 6, "target_train_per_class": 4,
        "target_test_per_class": 20, "head_epochs": 30, "fine_tune_epochs": 3,
        "scratch_epochs": 30, "batch_size": 32}


def source_model_path(seed=12345, settings=None):
    """Where the pretrained source model for this seed and these settings is cached."""
    key = json.dumps({"seed": seed, "size": IMAGE_SIZE, "shapes": SOURCE_SHAPES,
                      "per_class": (settings or FULL)["source_per_class"],
                      "epochs": (settings or FULL)["source_epochs"], "version": CACHE_VERSION},
                     sort_keys=True)
    tag = hashlib.sha256(key.encode()).hexdigest()[:12]
    return models_dir() / "demo" / f"source-vgg-{tag}.zip"


def pretrained_source_model(seed=12345, settings=None, progress=False, log=print):
    """The small VGG trained on the source shapes: from the cache, or trained once and cached.
    Returns (network, True if it came from the cache)."""
    settings = settings or FULL
    path = source_model_path(seed, settings)
    get_device()  # a bad device setting fails here, not as a "damaged" cache file below
    if path.exists():
        try:
            return ModelSerializer.restore_computation_graph(path), True
        except ValueError as error:  # a damaged cache file is rebuilt, not fatal
            log(f"ignoring the damaged cached model {path}: {error}")
    net = small_vgg(len(SOURCE_SHAPES), seed)
    data = to_dataset(*make_images(SOURCE_SHAPES, settings["source_per_class"], seed),
                      len(SOURCE_SHAPES))
    _train(net.fit, data, settings["source_epochs"], settings["batch_size"], seed, progress,
           "pretraining on source shapes")
    path.parent.mkdir(parents=True, exist_ok=True)
    # atomic; with the pixel scaling of to_dataset, so the saved model says how to feed it
    ModelSerializer.write_model(net, path, save_updater=False,
                                normalizer=ImagePreProcessingScaler())
    return net, False


def _train(fit, data, epochs, batch_size, seed, progress, label, after_epoch=None):
    """``epochs`` passes of ``fit(minibatch)`` over ``data``, reshuffled (by seed) every epoch;
    ``after_epoch(epoch)`` after each pass."""
    for epoch in tqdm(range(epochs), desc=label, unit="epoch", disable=not progress, leave=False):
        shuffled = data.copy()
        shuffled.shuffle(seed + epoch)
        for batch in shuffled.batch_by(batch_size):
            fit(batch)
        if after_epoch is not None:
            after_epoch(epoch)


def accuracy(net, data, featurized_helper=None):
    """Test accuracy of ``net`` on a DataSet (or of a helper's unfrozen part on features)."""
    if featurized_helper is not None:
        predictions = featurized_helper.output_from_featurized(data.features)
    else:
        predictions = net.output_single(data.features)
    # Outputs stay where the network computed them (the GPU, maybe): compare on the host.
    predictions, labels = to_cpu(predictions), to_cpu(data.labels)
    return float(np.mean(np.argmax(predictions, 1) == np.argmax(labels, 1)))


# -- the story ---------------------------------------------------------------------------------

def transfer_head(source, n_classes, seed, learning_rate=0.01, boundary="fc2",
                  output="predictions"):
    """DL4J's EditLastLayerOthersFrozen, for any network: ``boundary`` and below frozen, the
    output layer replaced by a fresh softmax OutputLayer of ``n_classes`` (Xavier init).

    Graph: ``boundary`` is a vertex and the new ``output`` vertex reads it. MultiLayerNetwork:
    ``boundary`` is a layer index (``output`` is not used) and the layers between it and the
    output layer stay, trainable."""
    ftc = FineTuneConfiguration.Builder().updater(Nesterovs(learning_rate)).seed(seed).build()

    def new_output_layer(n_in):
        return OutputLayer(loss=LossFunction.NEGATIVELOGLIKELIHOOD, n_in=n_in, n_out=n_classes,
                           weight_init=WeightInit.XAVIER, activation=Activation.SOFTMAX)
    if isinstance(source, MultiLayerNetwork):  # the new output layer reads what the old one did
        reads = source.conf.infer_types()[-1]
        if reads is None or reads.kind != "feed_forward":
            raise ValueError(f"transfer_head: the last layer {source.conf.layers[-1].describe()} "
                             f"reads {reads}, not features a new OutputLayer can take")
        return (TransferLearning.Builder(source).fine_tune_configuration(ftc)
                .set_feature_extractor(int(boundary)).remove_output_layer()
                .add_layer(new_output_layer(reads.size)).build())
    return (TransferLearning.GraphBuilder(source)
            .fine_tune_configuration(ftc)
            .set_feature_extractor(boundary)
            .remove_vertex_keep_connections(output)
            .add_layer(output, new_output_layer(source.layer_size(boundary)), boundary)
            .build())


def fine_tune_from(graph, boundary, seed, updater):
    """DL4J's FineTuneFromBlockFour: keep ``boundary`` and below frozen, train everything above
    (layers frozen by an earlier edit above the boundary become trainable again)."""
    ftc = FineTuneConfiguration.Builder().updater(updater).seed(seed).build()
    return (TransferLearning.GraphBuilder(graph).fine_tune_configuration(ftc)
            .set_feature_extractor(boundary).build())


def _timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def run_demo(seed=12345, fast=False, plot=None, progress=True, log=print):
    """Run the whole story (module docstring); returns the measured numbers as a dict."""
    settings = FAST if fast else FULL
    started = time.perf_counter()
    batch = settings["batch_size"]

    log(f"minidl demo (seed {seed}{', fast mode' if fast else ''}): transfer learning on "
        f"generated {IMAGE_SIZE}x{IMAGE_SIZE} pictures, no download")
    source, cached = pretrained_source_model(seed, settings, progress, log)
    source_test = to_dataset(*make_images(SOURCE_SHAPES, 20, seed + 1), len(SOURCE_SHAPES))
    source_accuracy = accuracy(source, source_test)
    where = source_model_path(seed, settings)
    log(f"\n1. Source task: {len(SOURCE_SHAPES)} shapes ({', '.join(SOURCE_SHAPES)})")
    log(f"   small VGG {'loaded from' if cached else 'pretrained and cached in'} {where}; "
        f"source test accuracy {source_accuracy:.1%}")

    n_target = len(TARGET_SHAPES)
    train = to_dataset(*make_images(TARGET_SHAPES, settings["target_train_per_class"], seed + 2),
                       n_target)
    test = to_dataset(*make_images(TARGET_SHAPES, settings["target_test_per_class"], seed + 3),
                      n_target)
    log(f"\n2. Target task: {n_target} other shapes ({', '.join(TARGET_SHAPES)}), only "
        f"{train.num_examples()} training pictures, {test.num_examples()} test pictures "
        f"(chance = {1 / n_target:.0%})")

    # 3a. Edit the last layer, rest frozen; featurize once; fit the head on the features.
    net = transfer_head(source, n_target, seed)
    before = accuracy(net, test)
    helper = TransferLearningHelper(net)
    featurized_train = helper.featurize(train)
    featurized_test = helper.featurize(test)
    curves = {"transfer: head on features": [], "transfer: fine-tune block 5": [],
              "from scratch": []}

    def head_epoch(epoch):
        curves["transfer: head on features"].append(accuracy(None, featurized_test, helper))

    seconds_featurized = _timed(lambda: _train(helper.fit_featurized, featurized_train, settings["head_epochs"],
                                               batch, seed, progress, "head on features",
                                               head_epoch))
    featurized_epoch = seconds_featurized / settings["head_epochs"]
    after_head = accuracy(net, test)
    frozen_epoch = _timed(lambda: _train(net.clone().fit, train, 1, batch, seed, False, ""))
    log("\n3. Transfer (EditLastLayerOthersFrozen + FitFromFeaturized): fc2 and below frozen, "
        "new 'predictions'")
    log(f"   accuracy before training {before:.1%} -> after {settings['head_epochs']} epochs of "
        f"the head on featurized data {after_head:.1%}")
    log(f"   one epoch on featurized data {featurized_epoch * 1000:.1f} ms vs one epoch through "
        f"the frozen network {frozen_epoch * 1000:.1f} ms "
        f"({frozen_epoch / max(featurized_epoch, 1e-9):.0f}x)")

    # 3b. Fine-tune block 5 and the dense layers with a small learning rate.
    tuned = fine_tune_from(net, "block4_pool", seed, Nesterovs(2e-3))
    _train(tuned.fit, train, settings["fine_tune_epochs"], batch, seed, progress, "fine-tuning",
           lambda e: curves["transfer: fine-tune block 5"].append(accuracy(tuned, test)))
    after_tune = accuracy(tuned, test)
    log(f"   fine-tuning block 5 (FineTuneFromBlockFour: block4_pool and below frozen), "
        f"{settings['fine_tune_epochs']} epochs: {after_tune:.1%}")

    # 4. The same network from scratch, on the same few pictures.
    scratch = small_vgg(n_target, seed, updater=Adam(2e-3))
    _train(scratch.fit, train, settings["scratch_epochs"], batch, seed, progress, "from scratch",
           lambda e: curves["from scratch"].append(accuracy(scratch, test)))
    from_scratch = accuracy(scratch, test)
    best_transfer = max(after_head, after_tune)
    log(f"\n4. The same network trained from scratch on the same {train.num_examples()} "
        f"pictures ({settings['scratch_epochs']} epochs): {from_scratch:.1%}")
    log(f"   transfer {best_transfer:.1%} vs from scratch {from_scratch:.1%}: transfer "
        f"{'wins' if best_transfer > from_scratch else 'does NOT win'} by "
        f"{(best_transfer - from_scratch) * 100:+.1f} points")

    log("\n5. The transferred network (frozen layers counted apart):")
    log(tuned.summary())
    total = time.perf_counter() - started
    if plot:
        save_plot(curves, plot)
        log(f"training curves saved to {plot}")
    log(f"\ndone in {total:.1f} s ({'source model from cache' if cached else 'cold: source model trained'})")
    return {"source_cached": cached, "accuracy_source": source_accuracy, "accuracy_before": before, "accuracy_head": after_head,
            "accuracy_fine_tuned": after_tune, "accuracy_scratch": from_scratch,
            "accuracy_transfer": best_transfer, "featurized_epoch_s": featurized_epoch,
            "frozen_epoch_s": frozen_epoch, "seconds": total, "curves": curves,
            "frozen_params_unchanged": _same_frozen(source, net)}


def _same_frozen(source, net):
    """True when every frozen layer of ``net`` still holds the source network's parameters."""
    for key, layer in net.layer_items():
        if layer.frozen:
            for name, tensor in net.param_tables[key].items():
                if not np.array_equal(tensor.data, source.param_tables[key][name].data):
                    return False
    return True


# -- the plot -------------------------------------------------------------------------------------

_COLOURS = [(31, 119, 180), (44, 160, 44), (214, 39, 40), (148, 103, 189)]


def save_plot(curves, path, width=640, height=400):
    """Draw test accuracy per epoch, one line per curve, as a PNG (Pillow only); atomic write."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 50, width - 20, 30, height - 40
    draw.rectangle([left, top, right, bottom], outline="black")
    longest = max([len(v) for v in curves.values()] + [2])
    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = bottom - fraction * (bottom - top)
        draw.line([(left, y), (right, y)], fill=(220, 220, 220))
        draw.text((8, y - 6), f"{fraction:.0%}", fill="black")
    draw.text((left, 8), "test accuracy per epoch", fill="black")
    draw.text((right - 40, bottom + 10), f"{longest} ep", fill="black")
    for i, (name, values) in enumerate(curves.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        points = [(left + (right - left) * e / (longest - 1), bottom - v * (bottom - top))
                  for e, v in enumerate(values)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        draw.text((left + 10, bottom - 20 - 14 * i), name, fill=colour)
    with atomic_write(path) as f:
        image.save(f, format="PNG")
    return path
