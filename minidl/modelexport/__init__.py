"""Model export: a network trained here written out for serving elsewhere.

``OnnxModelExport.export_model(net, path, opset=17)`` (also ``exportModel``) writes a
ComputationGraph or MultiLayerNetwork as an ONNX file that onnxruntime (or any ONNX runtime)
runs with the same outputs; ``minidl.modelexport.onnx`` holds the mapping. Needs the ``onnx``
package (the ``onnx`` extra), imported on first use.
"""

from minidl.naming import Dl4jNames


class OnnxModelExport(Dl4jNames):
    """DL4J-style static entry point for ONNX export."""

    @staticmethod
    def export_model(net, path, opset=17, input_shape=None):
        """Write ``net`` to ``path`` as ONNX (opset 11 to 18), atomically; returns ``path``.

        The ONNX input is [batch, *input_shape], the batch dynamic; ``input_shape`` (per
        example, e.g. (3, 224, 224)) defaults to the network's input type. A layer with no
        ONNX form raises ValueError naming it.
        """
        from minidl.modelexport.onnx import export_model
        return export_model(net, path, opset, input_shape)


__all__ = ["OnnxModelExport"]
