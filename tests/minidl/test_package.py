"""The names DESIGN.md promises at the package tops are importable from there."""

import importlib

import pytest

PROMISED = {
    "minidl": ["NeuralNetConfiguration", "InputType", "DenseLayer", "OutputLayer",
               "ConvolutionLayer", "SubsamplingLayer", "PoolingType", "MergeVertex",
               "ElementWiseVertex", "FrozenLayer", "FrozenLayerWithBackprop", "Activation",
               "WeightInit", "LossFunction", "LossFunctions", "OptimizationAlgorithm", "Sgd",
               "Nesterovs", "Adam", "MultiLayerNetwork", "ComputationGraph", "DataSet",
               "ModelSerializer", "Evaluation", "NativeImageLoader"],
    "transfer": ["TransferLearning", "FineTuneConfiguration", "TransferLearningHelper"],
    "zoo": ["VGG16", "VGG19", "PretrainedType"],
}


@pytest.mark.parametrize("package", sorted(PROMISED))
def test_promised_names_are_at_the_package_top(package):
    module = importlib.import_module(package)
    missing = [name for name in PROMISED[package] if not hasattr(module, name)]
    assert not missing, f"{package} lacks {missing}"


def test_dl4j_spelling_reaches_the_same_methods():
    from transfer import TransferLearning
    assert TransferLearning.GraphBuilder.setFeatureExtractor is \
        TransferLearning.GraphBuilder.set_feature_extractor
    from minidl import ModelSerializer
    assert ModelSerializer.writeModel is ModelSerializer.write_model
