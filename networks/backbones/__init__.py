"""Feature backbones with torchvision-compatible state-dict keys (pure ``nn.Module``s, no I/O).

VGG16/VGG19 (perceptual/style losses, LPIPS-VGG), AlexNet (LPIPS-Alex) and the FID Inception-v3
(TF ``inception-2015-12-05`` port). Weights are loaded by ``evaluation.pretrained``.
"""

from .alexnet import AlexNet, alexnet
from .inception import FIDInceptionV3
from .vgg import VGG, imagenet_normalize, vgg16, vgg19, vgg_layer_index, vgg_layer_names

__all__ = [
    "AlexNet",
    "FIDInceptionV3",
    "VGG",
    "alexnet",
    "imagenet_normalize",
    "vgg16",
    "vgg19",
    "vgg_layer_index",
    "vgg_layer_names",
]
