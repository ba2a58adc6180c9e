"""A model defined outside lisq, for the quantization benchmarks: concatenation, GELU, BN, no registry.

Used as `--model benchmarks/external/gelu_concat_net.py:factory` (1x28x28 Fashion-MNIST input).
"""

import torch
import torch.nn as nn


class MixBlock(nn.Module):
    """Two branches (1x1 and depthwise-separable 3x3) joined by concatenation, then GELU."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        half = cout // 2
        self.pointwise = nn.Sequential(nn.Conv2d(cin, half, 1, stride, bias=False), nn.BatchNorm2d(half))
        self.spatial = nn.Sequential(
            nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.GELU(),
            nn.Conv2d(cin, half, 1, bias=False), nn.BatchNorm2d(half),
        )
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(torch.cat([self.pointwise(x), self.spatial(x)], dim=1))


class GeluConcatNet(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.GELU())
        self.blocks = nn.Sequential(MixBlock(32, 64, 2), MixBlock(64, 64, 1), MixBlock(64, 128, 2), MixBlock(128, 128, 1))
        self.classifier = nn.Linear(128, num_classes)

    def forward(self, x):
        return self.classifier(self.blocks(self.stem(x)).mean(dim=(2, 3)))


def factory() -> nn.Module:
    return GeluConcatNet()
