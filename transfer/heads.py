"""New heads on a trained network: DL4J's EditLastLayerOthersFrozen as one function.

``transfer_head`` is what ``minidl fit-featurized`` does to a model without frozen layers and
what the demo does to its source network: freeze up to a boundary, put a fresh softmax output
layer on top.
"""

from minidl.learning import Nesterovs
from minidl.nn.conf import Activation, LossFunction, OutputLayer
from minidl.nn.conf.weight_init import WeightInit
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
    return (TransferLearning.builder_for(source).fine_tune_configuration(ftc)
            .new_output_layer(new_output_layer, boundary, output).build())
