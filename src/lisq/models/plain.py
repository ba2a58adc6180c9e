"""A plain CNN: the simplest BN classifier, no shortcuts, no grouping."""

from __future__ import annotations

import torch.nn as nn

from lisq.models.layers import Classifier, conv_bn_act, init_weights
from lisq.models.registry import register_model


class PlainCNN(nn.Module):
    def __init__(self, widths=(32, 64, 128), num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        layers, cin = [], in_channels
        for i, width in enumerate(widths):
            layers.append(conv_bn_act(cin, width))
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            cin = width
        self.features = nn.Sequential(*layers)
        self.head = Classifier(cin, num_classes)
        init_weights(self)

    def forward(self, x):
        return self.head(self.features(x))


@register_model("plain")
def plaincnn(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """Plain CNN: conv32-pool-conv64-pool-conv128-pool-conv128, global pool, linear."""
    return PlainCNN((32, 64, 128, 128), num_classes, in_channels)
