"""The VGG16 and VGG19 layer table (Simonyan & Zisserman, configurations D and E).

Plain data with no TensorFlow: the graph builder (`fcn_graph.vgg`) and the
weight loaders, which must run without TensorFlow, read the same table.
The two depths differ only in how many 3x3 convolutions each block repeats.
"""
from fcn_graph.errors import SettingsError

# Convolutions per block, blocks 1..5.
REPEATS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
BLOCK_CHANNELS = (64, 128, 256, 512, 512)
FC_CHANNELS = 4096
# fc6 is a 7x7 convolution over pool5: the 224x224 classifier's fully connected layer.
FC6_SIZE = 7


def check_arch(arch):
    if arch not in REPEATS:
        raise SettingsError(f"unknown backbone {arch!r}; choose one of {sorted(REPEATS)}")


def conv_layer_names(arch):
    check_arch(arch)
    return [f"conv{b}_{i}" for b, n in enumerate(REPEATS[arch], start=1) for i in range(1, n + 1)]


def layer_names(arch):
    """Every parametrised backbone layer, in order: conv1_1 .. conv5_3 (conv5_4), fc6, fc7."""
    return conv_layer_names(arch) + ["fc6", "fc7"]


def scaled(channels, width):
    """A channel count narrowed by `width` (1.0 is VGG), never below one channel."""
    return max(1, int(round(channels * width)))
