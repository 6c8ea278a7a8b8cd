"""Model zoo: pretrained VGG weights, their converters and (later) the zoo models themselves."""

from zoo.converters import convert, load_weights, vgg_conv_names, vgg_vertex_names
from zoo.formats import WeightFileError, load_converted, save_converted
