"""VGG-style plain deep nets: stacked 3x3 conv-BN-ReLU with max pooling, no shortcuts."""

from __future__ import annotations

import torch.nn as nn

from lisq.models.layers import Classifier, conv_bn_act, init_weights
from lisq.models.registry import register_model


class VGG(nn.Module):
    def __init__(self, cfg: list, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        layers, cin = [], in_channels
        for item in cfg:
            if item == "M":
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            else:
                layers.append(conv_bn_act(cin, item))
                cin = item
        self.features = nn.Sequential(*layers)
        self.head = Classifier(cin, num_classes, dropout=0.1)
        init_weights(self)

    def forward(self, x):
        return self.head(self.features(x))


@register_model("vgg")
def vgg7(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """VGG-7 (BN): 6 conv layers 32-M-64-64-M-128-128-M-256, global pool, linear."""
    return VGG([32, "M", 64, 64, "M", 128, 128, "M", 256], num_classes, in_channels)
