"""FineTuneConfiguration: DL4J's tri-state fields (unset / value / remove) on original layers,
fill-only-unset on added layers, DL4J's regularization quirks, JSON, both spellings.
"""

import copy

import pytest

from minidl import (Activation, Adam, ConvolutionLayer, ConvolutionMode, DenseLayer, FrozenLayer,
                    NormalDistribution, OutputLayer, RmsProp, Sgd, SubsamplingLayer, WeightInit)
from transfer import REMOVE, FineTuneConfiguration


def _built_dense(**settings):
    """A DenseLayer as a built network holds it: every field filled (DL4J defaults)."""
    layer = DenseLayer(n_in=3, n_out=2, **settings)
    layer.apply_defaults({})
    return layer


def _applied(ftc, layer):
    return ftc.apply_to_layer(copy.deepcopy(layer))


def test_both_spellings_build_the_same_configuration():
    snake = (FineTuneConfiguration.Builder().updater(Adam(1e-3)).weight_init(WeightInit.RELU)
             .drop_out(0.5).l2(1e-4).bias_init(0.1).seed(7).build())
    camel = (FineTuneConfiguration.Builder().updater(Adam(1e-3)).weightInit(WeightInit.RELU)
             .dropOut(0.5).l2(1e-4).biasInit(0.1).seed(7).build())
    keywords = FineTuneConfiguration(updater=Adam(1e-3), weight_init=WeightInit.RELU,
                                     dropout=0.5, l2=1e-4, bias_init=0.1, seed=7)
    assert snake == camel == keywords


def test_unset_fields_leave_the_layer_alone():
    layer = _built_dense(activation=Activation.TANH, updater=Sgd(0.3), l1=0.1, dropout=0.9)
    assert _applied(FineTuneConfiguration(), layer) == layer


def test_set_fields_override_every_original_layer():
    layer = _built_dense(activation=Activation.TANH, updater=Sgd(0.3))
    ftc = FineTuneConfiguration(activation=Activation.ELU, weight_init=NormalDistribution(0, 1),
                                updater=RmsProp(0.5), bias_init=0.2, dropout=0.7)
    out = _applied(ftc, layer)
    assert out.activation is Activation.ELU and out.updater == RmsProp(0.5)
    assert out.weight_init == NormalDistribution(0, 1) and out.bias_init == 0.2
    assert out.dropout == 0.7
    # Biases had no updater of their own (a copy of the layer's), so they follow the new one ...
    assert out.updater_for("b") == RmsProp(0.5)
    # ... unless the layer set a different one.
    own = _applied(ftc, _built_dense(updater=Sgd(0.3), bias_updater=Adam(0.1)))
    assert own.updater_for("b") == Adam(0.1)
    assert _applied(FineTuneConfiguration(updater=Sgd(1), bias_updater=Sgd(2)),
                    layer).updater_for("b") == Sgd(2)


def test_zero_dropout_removes_dropout():
    ftc = FineTuneConfiguration.Builder().dropOut(0.0).build()
    assert ftc.dropout is REMOVE
    assert _applied(ftc, _built_dense(dropout=0.5)).dropout in (None, 0.0)


def test_regularization_quirks():
    layer = _built_dense(l1=0.1, l2=0.2)
    # A fine-tune configuration with any of L1/L2/weight decay replaces the whole set: l2 drops l1.
    out = _applied(FineTuneConfiguration(l2=0.5), layer)
    assert (out.l1, out.l2) == (0.0, 0.5)
    # l2(0) removes L2 ...
    out = _applied(FineTuneConfiguration.Builder().l2(0.0).build(), layer)
    assert (out.l1, out.l2) == (0.1, 0.0)
    # ... but l1(0) leaves L1 alone (DL4J's asymmetry).
    out = _applied(FineTuneConfiguration.Builder().l1(0.0).build(), layer)
    assert (out.l1, out.l2) == (0.1, 0.2)
    # Weight decay and L2 exclude each other, as in DL4J (which warns and drops one).
    with pytest.raises(ValueError, match="l2 or weight_decay"):
        FineTuneConfiguration(l2=0.1, weight_decay=0.1)
    out = _applied(FineTuneConfiguration(weight_decay=0.3), layer)
    assert (out.l1, out.l2, out.weight_decay) == (0.0, 0.0, 0.3)


def test_weight_init_distribution_needs_the_distribution():
    with pytest.raises(ValueError, match="NormalDistribution"):
        FineTuneConfiguration(weight_init=WeightInit.DISTRIBUTION)


def test_which_layer_types_each_field_reaches():
    ftc = FineTuneConfiguration(convolution_mode=ConvolutionMode.Same, dropout=0.5,
                                updater=Sgd(1.0))
    pool = SubsamplingLayer(kernel_size=(2, 2))
    out = _applied(ftc, pool)
    assert out.convolution_mode is ConvolutionMode.Same
    assert out.dropout is None  # dropout reaches BaseLayers only
    conv = _applied(ftc, ConvolutionLayer(kernel_size=(3, 3), n_in=1, n_out=2))
    assert conv.convolution_mode is ConvolutionMode.Same and conv.dropout == 0.5
    dense = _applied(ftc, _built_dense())
    assert dense.dropout == 0.5 and not hasattr(dense, "convolution_mode")


def test_a_frozen_wrappers_inner_layer_is_changed():
    frozen = FrozenLayer(_built_dense(updater=Sgd(0.1)))
    out = _applied(FineTuneConfiguration(updater=Adam(0.01)), frozen)
    assert isinstance(out, FrozenLayer) and out.layer.updater == Adam(0.01)


def test_added_layers_get_only_unset_fields():
    ftc = FineTuneConfiguration(updater=Sgd(0.5), l2=0.01, activation=Activation.RELU,
                                convolution_mode=ConvolutionMode.Same)
    defaults = ftc.applied_defaults(seed=99)
    assert defaults.seed == 99 and defaults.convolution_mode is None  # not a default, as DL4J
    added = OutputLayer(n_in=3, n_out=2, updater=Adam(0.1), activation=Activation.SOFTMAX)
    added.apply_defaults(defaults.layer_defaults())
    assert added.updater == Adam(0.1) and added.activation is Activation.SOFTMAX  # its own
    assert added.l2 == 0.01  # filled from the fine-tune configuration


def test_network_settings_override_only_what_is_set():
    from minidl import NeuralNetConfiguration
    original = NeuralNetConfiguration(seed=1, data_type="float64")
    settings = FineTuneConfiguration(seed=5).network_settings(original)
    assert settings.seed == 5 and settings.data_type == "float64"
    assert FineTuneConfiguration().network_settings(original).seed == 1


def test_json_round_trip_keeps_the_three_states():
    ftc = FineTuneConfiguration.Builder().updater(Adam(0.02)).l2(0.0).dropOut(0.0) \
        .activation(Activation.LEAKYRELU).build()
    text = ftc.to_json()
    back = FineTuneConfiguration.from_json(text)
    assert back == ftc and back.to_json() == text
    assert back.l2 is REMOVE and back.dropout is REMOVE and back.weight_init is None
    with pytest.raises(ValueError, match="not a FineTuneConfiguration"):
        FineTuneConfiguration.from_json(Sgd(0.1).to_json())


def test_workspace_and_cudnn_modes_are_accepted_and_ignored():
    """As by NeuralNetConfiguration.Builder (minidl has no workspaces and no cuDNN)."""
    from minidl import WorkspaceMode
    from minidl.nn.conf.enums import AlgoMode
    ported = (FineTuneConfiguration.Builder().updater(Adam(0.01))
              .trainingWorkspaceMode(WorkspaceMode.ENABLED)
              .inferenceWorkspaceMode(WorkspaceMode.SEPARATE)
              .cudnnAlgoMode(AlgoMode.PREFER_FASTEST).seed(3).build())
    assert ported == FineTuneConfiguration(updater=Adam(0.01), seed=3)
    with pytest.raises(AttributeError, match="no setting 'trainingWorkspaceNode'"):
        FineTuneConfiguration.Builder().trainingWorkspaceNode(WorkspaceMode.NONE)  # misspelt


def test_static_builder_is_the_builder():
    """DL4J's FineTuneConfiguration.builder() (Lombok) and new FineTuneConfiguration.Builder()."""
    assert FineTuneConfiguration.builder().updater(Sgd(0.2)).l2(0.1).build() == \
        FineTuneConfiguration.Builder().updater(Sgd(0.2)).l2(0.1).build() == \
        FineTuneConfiguration(updater=Sgd(0.2), l2=0.1)
