"""DenseNet-BC (Huang et al. 2017), small: every layer's output is concatenated to its input."""

from __future__ import annotations

import torch
import torch.nn as nn

from lisq.models.layers import Classifier, init_weights
from lisq.models.registry import register_model


class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1 (bottleneck) -> BN-ReLU-conv3x3, output concatenated to the input."""

    def __init__(self, cin: int, growth: int, bottleneck: int = 4):
        super().__init__()
        mid = growth * bottleneck
        self.bottleneck = nn.Sequential(
            nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, mid, 1, bias=False)
        )
        self.conv = nn.Sequential(
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, growth, 3, padding=1, bias=False)
        )

    def forward(self, x):
        return torch.cat([x, self.conv(self.bottleneck(x))], dim=1)


class Transition(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, cout, 1, bias=False), nn.AvgPool2d(2, ceil_mode=True))


class DenseNet(nn.Module):
    def __init__(self, layers_per_block=(4, 4, 4), growth: int = 12, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        cin = 2 * growth
        blocks: list[nn.Module] = [nn.Conv2d(in_channels, cin, 3, stride=2, padding=1, bias=False)]
        for i, n in enumerate(layers_per_block):
            for _ in range(n):
                blocks.append(DenseLayer(cin, growth))
                cin += growth
            if i < len(layers_per_block) - 1:
                blocks.append(Transition(cin, cin // 2))
                cin //= 2
        blocks += [nn.BatchNorm2d(cin), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*blocks)
        self.head = Classifier(cin, num_classes)
        init_weights(self)

    def forward(self, x):
        return self.head(self.features(x))


@register_model("densenet")
def densenet_s(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """Small DenseNet-BC: 3 dense blocks of 4 layers, growth 12, compression 0.5."""
    return DenseNet((4, 4, 4), 12, num_classes, in_channels)
