"""The same FCN written in eager PyTorch (`torch.nn.functional`), reference geometry.

Written from the paper and the reference prototxts rather than from the
TensorFlow graph, and sharing none of its tables, so that a wrong crop,
scale or layer count on either side shows as a disagreement of the logits:
pad 100 before conv1_1, 3x3 convolutions with pad 1, 2x2 max pooling with
ceil rounding, fc6 7x7 without padding, 1x1 score layers, transposed
convolutions without padding, and crops at the reference offsets below.
Weights come from the TensorFlow variables, converted HWIO -> OIHW.
"""
import numpy as np

from fcn_graph.errors import MissingDependencyError

LEARNING_RATE = 1e-10
MOMENTUM = 0.99

# The reference nets (voc-fcn*/net.py of the Caffe implementation).
INPUT_PAD = 100
CONVS_PER_BLOCK = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
BGR_MEAN = (104.00698793, 116.66876762, 122.67891434)
# variant: (skips as (2x deconv before the fusion, pooling layer, crop, feature scale),
#           final deconv, its stride, final crop)
HEADS = {
    "fcn32s": ((), "upscore", 32, 19),
    "fcn16s": ((("upscore2", "pool4", 5, 1.0),), "upscore16", 16, 27),
    "fcn8s": ((("upscore2", "pool4", 5, 1.0), ("upscore_pool4", "pool3", 9, 1.0)),
              "upscore8", 8, 31),
    "fcn8s-atonce": ((("upscore2", "pool4", 5, 0.01), ("upscore_pool4", "pool3", 9, 0.0001)),
                     "upscore8", 8, 31),
}


def import_torch():
    try:
        import torch
    except ImportError as err:
        raise MissingDependencyError("the PyTorch comparison needs torch: pip install torch "
                                     "(the CPU build is enough)") from err
    return torch


class TorchFCN:
    """An FCN variant over a dict of torch tensors named like the TensorFlow variables."""

    def __init__(self, variant, arch, tf_values, channel_order="BGR", mean=BGR_MEAN):
        self.torch = import_torch()
        # On the GPU when there is one, as TensorFlow places its graph there too;
        # a GPU graph timed against a CPU rendering would compare devices, not frameworks.
        self.device = "cuda" if self.torch.cuda.is_available() else "cpu"
        self.head = HEADS[variant]
        self.arch = arch
        self.flip = channel_order == "BGR"
        self.mean = self.torch.tensor(mean, dtype=self.torch.float32,
                                      device=self.device).view(1, 3, 1, 1)
        self.params = {}
        for name, value in tf_values.items():
            if value.ndim == 4:  # TF (kh, kw, in, out) / transpose (kh, kw, out, in)
                value = value.transpose(3, 2, 0, 1)
            self.params[name] = self.torch.from_numpy(np.ascontiguousarray(value)).to(self.device)
        self.trainable = [tensor for name, tensor in self.params.items() if "upscore" not in name]
        for tensor in self.trainable:
            tensor.requires_grad_(True)

    def conv(self, x, name, padding=0, relu=True):
        y = self.torch.nn.functional.conv2d(x, self.params[f"{name}/weights"],
                                            self.params[f"{name}/biases"], padding=padding)
        return self.torch.relu(y) if relu else y

    def up(self, x, name, factor):
        return self.torch.nn.functional.conv_transpose2d(x, self.params[f"{name}/weights"],
                                                         stride=factor)

    @staticmethod
    def crop(x, offset, like):
        return x[:, :, offset:offset + like.shape[2], offset:offset + like.shape[3]]

    def __call__(self, images_nhwc, training=False, dropout_rate=0.5):
        """Logits NCHW for RGB 0..255 NHWC images (a torch tensor)."""
        functional = self.torch.nn.functional
        x = images_nhwc.permute(0, 3, 1, 2)
        if self.flip:
            x = x.flip(1)
        x = functional.pad(x - self.mean, [INPUT_PAD] * 4)
        features = {}
        for block, repeats in enumerate(CONVS_PER_BLOCK[self.arch], start=1):
            for i in range(1, repeats + 1):
                x = self.conv(x, f"conv{block}_{i}", padding=0 if block == i == 1 else 1)
            x = features[f"pool{block}"] = functional.max_pool2d(x, 2, 2, ceil_mode=True)
        x = functional.dropout(self.conv(x, "fc6"), dropout_rate, training)
        x = functional.dropout(self.conv(x, "fc7"), dropout_rate, training)
        score = self.conv(x, "score_fr", relu=False)
        skips, final, stride, final_crop = self.head
        for up_name, pool, offset, scale in skips:
            up = self.up(score, up_name, 2)
            skip_score = self.conv(features[pool] * scale, f"score_{pool}", relu=False)
            score = up + self.crop(skip_score, offset, up)
        return self.crop(self.up(score, final, stride), final_crop,
                         images_nhwc.permute(0, 3, 1, 2))

    def synchronize(self):
        """Wait for queued GPU work, so a timed call ends when its result exists."""
        if self.device == "cuda":
            self.torch.cuda.synchronize()

    def forward_call(self, images):
        images = self.torch.from_numpy(images).to(self.device)

        def forward():
            with self.torch.no_grad():
                logits = self(images)
            self.synchronize()
            return logits
        return forward

    def step_call(self, images, labels):
        """A momentum-SGD step on the summed cross-entropy with void = 255, as the TF step."""
        images = self.torch.from_numpy(images).to(self.device)
        labels = self.torch.from_numpy(labels).long().to(self.device)
        optimizer = self.torch.optim.SGD(self.trainable, lr=LEARNING_RATE, momentum=MOMENTUM)

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss = self.torch.nn.functional.cross_entropy(self(images, training=True), labels,
                                                          ignore_index=255, reduction="sum")
            loss.backward()
            optimizer.step()
            self.synchronize()
        return step

    def logits_nhwc(self, images):
        return self.forward_call(images)().permute(0, 2, 3, 1).cpu().numpy()
