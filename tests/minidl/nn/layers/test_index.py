"""The index minidl/nn/layers/__init__.py: it exports every layer defined in the package, each
one survives JSON, the old home minidl.nn.conf.layers still has every name, and every module
imports first in a fresh interpreter (no import cycle depends on the order)."""

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import minidl
import minidl.nn.conf
import minidl.nn.conf.layers
from minidl import serde
from minidl.nn.layers import DenseLayer, Layer

LAYERS = sys.modules["minidl.nn.layers"]  # (minidl.nn's star import shadows the attribute)
MODULES = sorted(f"minidl.nn.layers.{m.name}" for m in pkgutil.iter_modules(LAYERS.__path__))
ROOT = Path(__file__).resolve().parents[4]


def _defined_layers():
    """{name: class} of the public Layer subclasses defined in the modules of minidl/nn/layers."""
    found = {}
    for module_name in MODULES:
        for name, value in vars(importlib.import_module(module_name)).items():
            if isinstance(value, type) and issubclass(value, Layer) and \
                    value.__module__ == module_name and not name.startswith("_"):
                found[name] = value
    return found


def test_the_index_exports_every_layer_defined_in_the_package():
    defined = _defined_layers()
    assert len(defined) >= 15 and "DenseLayer" in defined  # the search found the layers
    missing = sorted(name for name, cls in defined.items()
                     if getattr(LAYERS, name, None) is not cls)
    assert not missing, f"add {missing} to minidl/nn/layers/__init__.py"
    assert set(defined) <= set(LAYERS.__all__)


def _example(cls):
    """An instance of ``cls``: its defaults, or a DenseLayer inside for the frozen wrappers."""
    if cls.frozen:
        return cls(DenseLayer(name="fc", n_in=2, n_out=3))
    return cls(name="x")


@pytest.mark.parametrize("name", LAYERS.__all__)
def test_every_exported_layer_survives_json(name):
    layer = _example(getattr(LAYERS, name))
    assert serde.from_json(serde.to_json(layer)) == layer


# What minidl.nn.conf.layers exported before the layers moved to minidl.nn.layers ...
OLD_NAMES = ["ActivationLayer", "BaseLayer", "BaseOutputLayer", "BatchNormalization", "Context",
             "Convolution2D", "ConvolutionLayer", "DL4J_DEFAULTS", "DenseLayer", "DropoutLayer",
             "FeedForwardLayer", "FrozenLayer", "FrozenLayerWithBackprop", "GlobalPoolingLayer",
             "LOSSES", "Layer", "LossLayer", "OutputLayer", "SubsamplingLayer", "loss_and_output",
             "unwrap"]
# ... and what minidl.nn.conf and minidl re-export of it.
AT_THE_TOPS = sorted(set(OLD_NAMES) - {"Context", "DL4J_DEFAULTS", "LOSSES", "loss_and_output"})


@pytest.mark.parametrize("name", OLD_NAMES)
def test_the_old_module_still_has_every_name(name):
    assert getattr(minidl.nn.conf.layers, name) is getattr(LAYERS, name)


@pytest.mark.parametrize("name", AT_THE_TOPS)
def test_the_package_tops_still_export_every_layer(name):
    assert getattr(minidl.nn.conf, name) is getattr(LAYERS, name)
    assert getattr(minidl, name) is getattr(LAYERS, name)


@pytest.mark.parametrize("module", MODULES + ["minidl.nn.layers", "minidl.nn.conf.layers"])
def test_each_module_imports_first_in_a_fresh_interpreter(module):
    done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
