"""New heads on a trained network: DL4J's EditLastLayerOthersFrozen as one function.

``transfer_head`` is what ``minidl fit-featurized`` does to a model without frozen layers and
what the demo does to its source network: freeze up to a boundary, put a fresh softmax output
layer on top.
"""

from minidl.learning import Nesterovs
from minidl.nn.conf import Activation, LossFunction, OutputLayer
from minidl.nn.conf.weight_init import WeightInit
from minidl.nn.multilayer import MultiLayerNetwork
from transfer.builders import TransferLearning
from transfer.fine_tune import FineTuneConfiguration


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
