"""ONNX import: an exported CNN becomes a ComputationGraph of DL4J layers.

DL4J imports ONNX as a SameDiff graph, which its transfer-learning API cannot edit. Here an
ONNX file maps onto the same layers a zoo model is made of (ConvolutionLayer,
BatchNormalization, DenseLayer, SubsamplingLayer, MergeVertex...), so ``TransferLearning`` and
``TransferLearningHelper`` freeze, replace and featurize it like VGG16::

    net = OnnxModelImport.import_model("resnet18.onnx")
    print(net.summary())                      # vertex names from the ONNX node names
    helper = TransferLearningHelper(net, "layer4_layer4.1_relu_1_Relu")

The network takes the input the ONNX model declares (NCHW for PyTorch exports, NHWC for
tf2onnx ones, whose first node transposes), and ``net.output_single(x)`` equals onnxruntime's
output for the same ``x``. How each op maps is in ``layer_ops``, ``activation_ops`` and
``tensor_ops``; docs/onnx.md has the table. Parsing needs the ``onnx`` package (the ``onnx``
extra), imported on first use.
"""

from minidl.naming import Dl4jNames


class OnnxModelImport(Dl4jNames):
    """DL4J-style static entry point: ``OnnxModelImport.import_model(path)`` (also
    ``importModel``) -> ComputationGraph."""

    @staticmethod
    def import_model(path):
        """The initialised ComputationGraph of the ONNX file ``path``.

        Raises ValueError naming the file for what is not ONNX, the op, node and opset for an
        op outside ``supported_ops()``, and what is wrong for a model with several data inputs,
        dynamic spatial sizes or external data outside its folder.
        """
        from minidl.modelimport.onnx.importer import import_file
        return import_file(path)

    @staticmethod
    def supported_ops():
        """The ONNX op types the importer reads (opsets 11 to 18)."""
        from minidl.modelimport.onnx.importer import supported_ops
        return supported_ops()


__all__ = ["OnnxModelImport"]
