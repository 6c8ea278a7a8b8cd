"""Model zoo: VGG16, VGG19, ResNet50, MobileNetV2, LeNet, SimpleCNN; pretrained VGG, ResNet50
and MobileNetV2 weights and their converters; ImageNet class names for predictions."""

from zoo.converters import convert, load_weights
from zoo.vgg_names import vgg_conv_names, vgg_vertex_names
from zoo.formats import MissingTopError, WeightFileError, load_converted, save_converted
from zoo.labels import ClassPrediction, ImageNetLabels
from zoo.models import (ZooModel, ModelMetaData, PretrainedType, ZooType, VGG16, VGG19, LeNet,
                        SimpleCNN, image_preprocessor)
from zoo.mobilenet import MobileNetV2
from zoo.resnet import ResNet50
from zoo import mobilenet_weights, resnet_weights  # noqa: F401 - register their converters

# The zoo by name, as ``minidl zoo list`` shows it.
MODELS = {"vgg16": VGG16, "vgg19": VGG19, "resnet50": ResNet50, "mobilenetv2": MobileNetV2,
          "lenet": LeNet, "simplecnn": SimpleCNN}
