"""The demo's story, step by step (the package docstring tells it): ``run_demo``."""

import time

import numpy as np

from minidl.learning import Adam, Nesterovs
from transfer.builders import TransferLearning
from transfer.demo.model import pretrained_source_model, small_vgg, source_model_path
from transfer.demo.plot import save_plot
from transfer.demo.shapes import IMAGE_SIZE, SOURCE_SHAPES, TARGET_SHAPES, make_images, to_dataset
from transfer.demo.training import FAST, FULL, accuracy, train_epochs
from transfer.fine_tune import FineTuneConfiguration
from transfer.heads import transfer_head
from transfer.helper import TransferLearningHelper


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
    """Run the whole story (the package docstring); returns the measured numbers as a dict."""
    settings = FAST if fast else FULL
    started = time.perf_counter()
    log(f"minidl demo (seed {seed}{', fast mode' if fast else ''}): transfer learning on "
        f"generated {IMAGE_SIZE}x{IMAGE_SIZE} pictures, no download")
    source, cached = pretrained_source_model(seed, settings, progress, log)
    source_accuracy = _source_task(source, cached, seed, settings, log)
    train, test = _target_task(seed, settings, log)
    curves = {"transfer: head on features": [], "transfer: fine-tune block 5": [],
              "from scratch": []}
    net, head = _head_on_features(source, train, test, seed, settings, progress, curves, log)
    tuned, after_tune = _fine_tune_block_5(net, train, test, seed, settings, progress, curves,
                                           log)
    from_scratch = _from_scratch(train, test, seed, settings, progress, curves, log)
    best_transfer = max(head["accuracy_head"], after_tune)
    log(f"   transfer {best_transfer:.1%} vs from scratch {from_scratch:.1%}: transfer "
        f"{'wins' if best_transfer > from_scratch else 'does NOT win'} by "
        f"{(best_transfer - from_scratch) * 100:+.1f} points")

    log("\n5. The transferred network (frozen layers counted apart):")
    log(tuned.summary())
    total = time.perf_counter() - started
    if plot:
        save_plot(curves, plot)
        log(f"training curves saved to {plot}")
    log(f"\ndone in {total:.1f} s "
        f"({'source model from cache' if cached else 'cold: source model trained'})")
    return {"source_cached": cached, "accuracy_source": source_accuracy,
            "accuracy_before": head["accuracy_before"], "accuracy_head": head["accuracy_head"],
            "accuracy_fine_tuned": after_tune, "accuracy_scratch": from_scratch,
            "accuracy_transfer": best_transfer, "featurized_epoch_s": head["featurized_epoch_s"],
            "frozen_epoch_s": head["frozen_epoch_s"], "seconds": total, "curves": curves,
            "frozen_params_unchanged": _same_frozen(source, net)}


def _source_task(source, cached, seed, settings, log):
    """1. The pretrained source network and its test accuracy on the source shapes."""
    source_test = to_dataset(*make_images(SOURCE_SHAPES, 20, seed + 1), len(SOURCE_SHAPES))
    source_accuracy = accuracy(source, source_test)
    where = source_model_path(seed, settings)
    log(f"\n1. Source task: {len(SOURCE_SHAPES)} shapes ({', '.join(SOURCE_SHAPES)})")
    log(f"   small VGG {'loaded from' if cached else 'pretrained and cached in'} {where}; "
        f"source test accuracy {source_accuracy:.1%}")
    return source_accuracy


def _target_task(seed, settings, log):
    """2. (train, test) DataSets of the target shapes: a few training pictures per class."""
    n_target = len(TARGET_SHAPES)
    train = to_dataset(*make_images(TARGET_SHAPES, settings["target_train_per_class"], seed + 2),
                       n_target)
    test = to_dataset(*make_images(TARGET_SHAPES, settings["target_test_per_class"], seed + 3),
                      n_target)
    log(f"\n2. Target task: {n_target} other shapes ({', '.join(TARGET_SHAPES)}), only "
        f"{train.num_examples()} training pictures, {test.num_examples()} test pictures "
        f"(chance = {1 / n_target:.0%})")
    return train, test


def _head_on_features(source, train, test, seed, settings, progress, curves, log):
    """3a. Edit the last layer, rest frozen; featurize once; fit the head on the features.
    Returns the network and its numbers (accuracies, seconds per epoch)."""
    batch = settings["batch_size"]
    net = transfer_head(source, len(TARGET_SHAPES), seed)
    before = accuracy(net, test)
    helper = TransferLearningHelper(net)
    featurized_train = helper.featurize(train)
    featurized_test = helper.featurize(test)

    def head_epoch(epoch):
        curves["transfer: head on features"].append(accuracy(None, featurized_test, helper))

    seconds_featurized = _timed(lambda: train_epochs(
        helper.fit_featurized, featurized_train, settings["head_epochs"], batch, seed, progress,
        "head on features", head_epoch))
    featurized_epoch = seconds_featurized / settings["head_epochs"]
    after_head = accuracy(net, test)
    frozen_epoch = _timed(lambda: train_epochs(net.clone().fit, train, 1, batch, seed, False, ""))
    log("\n3. Transfer (EditLastLayerOthersFrozen + FitFromFeaturized): fc2 and below frozen, "
        "new 'predictions'")
    log(f"   accuracy before training {before:.1%} -> after {settings['head_epochs']} epochs of "
        f"the head on featurized data {after_head:.1%}")
    log(f"   one epoch on featurized data {featurized_epoch * 1000:.1f} ms vs one epoch through "
        f"the frozen network {frozen_epoch * 1000:.1f} ms "
        f"({frozen_epoch / max(featurized_epoch, 1e-9):.0f}x)")
    return net, {"accuracy_before": before, "accuracy_head": after_head,
                 "featurized_epoch_s": featurized_epoch, "frozen_epoch_s": frozen_epoch}


def _fine_tune_block_5(net, train, test, seed, settings, progress, curves, log):
    """3b. Fine-tune block 5 and the dense layers with a small learning rate; returns the
    tuned network and its accuracy."""
    tuned = fine_tune_from(net, "block4_pool", seed, Nesterovs(2e-3))
    train_epochs(tuned.fit, train, settings["fine_tune_epochs"], settings["batch_size"], seed,
                 progress, "fine-tuning",
                 lambda e: curves["transfer: fine-tune block 5"].append(accuracy(tuned, test)))
    after_tune = accuracy(tuned, test)
    log(f"   fine-tuning block 5 (FineTuneFromBlockFour: block4_pool and below frozen), "
        f"{settings['fine_tune_epochs']} epochs: {after_tune:.1%}")
    return tuned, after_tune


def _from_scratch(train, test, seed, settings, progress, curves, log):
    """4. The same network from scratch, on the same few pictures; returns its accuracy."""
    scratch = small_vgg(len(TARGET_SHAPES), seed, updater=Adam(2e-3))
    train_epochs(scratch.fit, train, settings["scratch_epochs"], settings["batch_size"], seed,
                 progress, "from scratch",
                 lambda e: curves["from scratch"].append(accuracy(scratch, test)))
    from_scratch = accuracy(scratch, test)
    log(f"\n4. The same network trained from scratch on the same {train.num_examples()} "
        f"pictures ({settings['scratch_epochs']} epochs): {from_scratch:.1%}")
    return from_scratch


def _same_frozen(source, net):
    """True when every frozen layer of ``net`` still holds the source network's parameters."""
    for key, layer in net.layer_items():
        if layer.frozen:
            for name, tensor in net.param_tables[key].items():
                if not np.array_equal(tensor.data, source.param_tables[key][name].data):
                    return False
    return True
