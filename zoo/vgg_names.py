"""VGG16's and VGG19's layer names and sizes: what the architecture and its converters share."""

# blocks of 3x3 convs between 2x2 max pools; channels per block
VGG_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
VGG_CHANNELS = (64, 128, 256, 512, 512)
DENSE_NAMES = ("fc1", "fc2", "predictions")


def vgg_conv_names(architecture):
    """``["block1_conv1", "block1_conv2", "block2_conv1", ...]`` for "vgg16" or "vgg19"."""
    return [f"block{b}_conv{k}" for b, n in enumerate(VGG_BLOCKS[architecture], 1)
            for k in range(1, n + 1)]


def vgg_vertex_names(architecture, include_top=True):
    """The parameterised vertices in order: the convs, then fc1, fc2, predictions if ``include_top``."""
    return vgg_conv_names(architecture) + (list(DENSE_NAMES) if include_top else [])
