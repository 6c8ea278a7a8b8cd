"""New heads on a trained network: DL4J's EditLastLayerOthersFrozen as one function.

``transfer_head`` is what ``minidl fit-featurized`` and ``minidl transfer`` do to a model
without frozen layers and what the demo does to its source network: freeze up to a boundary,
put a fresh softmax output layer on top (with an optional hidden DenseLayer below it).

Two cases, as a user meets them:

* the model has an output vertex above the boundary (VGG16 with its top, frozen up to fc2):
  that vertex is replaced by the new output layer, reading the boundary;
* the boundary is the model's last vertex, or the model has no vertex of the output's name
  (VGG16 without its top, frozen whole up to block5_pool): the head is added above it, and
  the vertices above the boundary, which would lead nowhere, are removed. A
  convolutional boundary is flattened by the CnnToFeedForward preprocessor that the graph puts
  in front of a dense layer reading a feature map (DL4J's setInputTypes does the same).
"""

from minidl.learning import Nesterovs
from minidl.nn.conf import Activation, DenseLayer, LossFunction, OutputLayer
from minidl.nn.conf.weight_init import WeightInit
from transfer.builders import TransferLearning
from transfer.fine_tune import FineTuneConfiguration

HIDDEN = "head_hidden"  # the name of the optional hidden layer of a new head


def transfer_head(source, n_classes, seed, learning_rate=0.01, boundary="fc2",
                  output="predictions", hidden=None, dropout=None):
    """DL4J's EditLastLayerOthersFrozen, for any network: ``boundary`` and below frozen, and a
    fresh softmax OutputLayer of ``n_classes`` (Xavier init) on top, trained with Nesterovs at
    ``learning_rate``.

    Graph: ``boundary`` is a vertex; the new ``output`` vertex replaces the old one (see the
    module docstring for a model without one). ``hidden=N`` puts a ReLU DenseLayer of N units
    between them, and ``dropout`` (a drop probability) drops its outputs while training.
    MultiLayerNetwork: ``boundary`` is a layer index (``output`` is not used) and the layers
    between it and the output layer stay, trainable; it takes no hidden layer."""
    ftc = FineTuneConfiguration.Builder().updater(Nesterovs(learning_rate)).seed(seed).build()
    builder = TransferLearning.builder_for(source).fine_tune_configuration(ftc)
    if not hasattr(builder, "set_outputs"):  # DL4J's Builder: a chain ending in its output layer
        if hidden is not None:
            raise ValueError("a new head with a hidden layer needs a ComputationGraph: a "
                             "MultiLayerNetwork keeps the layers above its boundary")
        return builder.new_output_layer(_output_layer(n_classes), boundary, output).build()
    return _graph_head(builder, source, boundary, output, n_classes, hidden, dropout).build()


def adds_head(source, boundary, output):
    """Whether the head goes above ``boundary`` (it is the last vertex, or there is no vertex
    ``output`` to replace) rather than in place of ``output``."""
    wiring = source.wiring
    return str(boundary) in wiring.outputs or output not in wiring.vertices


def head_output_name(source, boundary, output):
    """The new output vertex's name: ``output``, unless that is the boundary itself."""
    return output if output != boundary else f"{output}_head"


def _output_layer(n_classes, dropout=None):
    """``n_in -> OutputLayer``: the new softmax layer for features of size n_in."""
    def make(n_in):
        # DL4J's dropout is on a layer's input, as a retain probability
        retain = None if not dropout else 1.0 - dropout
        return OutputLayer(loss=LossFunction.NEGATIVELOGLIKELIHOOD, n_in=n_in, n_out=n_classes,
                           weight_init=WeightInit.XAVIER, activation=Activation.SOFTMAX,
                           dropout=retain)
    return make


def _graph_head(builder, source, boundary, output, n_classes, hidden, dropout):
    """The graph builder with ``boundary`` frozen and the new head (hidden layer, output) on
    it, replacing ``output`` where the model has one above the boundary."""
    builder.set_feature_extractor(boundary)
    name = head_output_name(source, boundary, output)
    if not adds_head(source, boundary, output):
        builder.remove_vertex_keep_connections(output)
    else:  # what the model computes above the boundary would lead nowhere: it goes
        for above in _above(source, boundary):
            builder.remove_vertex_and_connections(above)
    n_in, previous = source.vertex_types()[boundary].flat_size(), boundary
    if hidden is not None:
        builder.add_layer(HIDDEN, DenseLayer(n_in=n_in, n_out=int(hidden),
                                             activation=Activation.RELU,
                                             weight_init=WeightInit.XAVIER), boundary)
        n_in, previous = int(hidden), HIDDEN
    builder.add_layer(name, _output_layer(n_classes, dropout if hidden else None)(n_in),
                      previous)
    return builder.set_outputs(name)


def _above(source, boundary):
    """The vertices that neither are the boundary nor lead to it, last ones first."""
    wiring = source.wiring
    below = wiring.ancestors([boundary])
    return [name for name in reversed(wiring.order)
            if name in wiring.vertices and name not in below]
