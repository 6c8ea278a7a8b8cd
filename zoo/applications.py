"""What ResNet50 and MobileNetV2 share: a Keras application's layout around its backbone.

Both are a backbone under Keras' layer names, then (with the top) global average pooling and a
softmax ``predictions``. Each comes in variants, one per framework its weights come from
(Keras, torchvision), built under the same vertex names; the converted weights' metadata says
which variant they need.
"""

from minidl.nn.conf import DenseLayer, GlobalPoolingLayer, InputType, PoolingType
from minidl.nn.conf.enums import Activation
from minidl.nn.graph import ComputationGraph
from zoo.models import ZooModel

INPUT = "input_1"  # Keras' name for a fresh model's input


class KerasApplication(ZooModel):
    """A zoo model with a Keras application's layout (see the module docstring).

    A subclass names its ``pooling_vertex``, its ``variants`` ({architecture: variant}) with
    the ``keras`` one first, and builds its backbone in ``add_backbone``.
    """

    top_vertices = ("predictions",)
    pooling_vertex = None
    variants = {}

    def add_backbone(self, builder, variant):
        """Add the backbone after ``INPUT``; return the name of its last vertex."""
        raise NotImplementedError

    def model_type(self):
        return ComputationGraph

    @property
    def keras_variant(self):
        return next(iter(self.variants.values()))

    def pretrained_conf(self, n_classes, include_top, variant=None):
        """The Keras layout sized for the given weights: ``predictions`` a softmax DenseLayer of
        ``n_classes``, or no top (the output is the backbone's last vertex)."""
        head = DenseLayer(n_out=n_classes, activation=Activation.SOFTMAX) if include_top else None
        return self._graph(self._defaults(Activation.IDENTITY), head, variant)

    def _graph(self, defaults, head, variant=None):
        c, h, w = self.input_shape
        builder = defaults.graph_builder().add_inputs(INPUT)
        x = self.add_backbone(builder, variant or self.keras_variant)
        if head is not None:
            builder.add_layer(self.pooling_vertex,
                              GlobalPoolingLayer(pooling_type=PoolingType.AVG), x)
            builder.add_layer("predictions", head, self.pooling_vertex)
            x = "predictions"
        return builder.set_outputs(x).set_input_types(InputType.convolutional(h, w, c)).build()

    def pretrained_network(self, weights, metadata, include_top):
        """The graph of the pretrained layout, loaded with ``weights``."""
        n_classes = weights["predictions_b"].shape[0] if include_top else 0
        variant = self.variants.get(metadata.get("architecture"), self.keras_variant)
        graph = ComputationGraph(self.pretrained_conf(n_classes, include_top, variant))
        return self.load_into(graph, weights, metadata)
