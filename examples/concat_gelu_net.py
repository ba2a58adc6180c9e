"""A model defined outside lisq: concatenation branches and GELU, for `file.py:factory` use.

    lisq eval --model examples/concat_gelu_net.py:factory --weights concat_gelu.safetensors --split test --json
"""

import torch
import torch.nn as nn


class Branchy(nn.Module):
    """Two parallel conv branches concatenated (Inception-style), GELU activations."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        half = cout // 2
        self.b3 = nn.Sequential(nn.Conv2d(cin, half, 3, stride, 1, bias=False), nn.BatchNorm2d(half), nn.GELU())
        self.b1 = nn.Sequential(nn.Conv2d(cin, half, 1, stride, 0, bias=False), nn.BatchNorm2d(half), nn.GELU())

    def forward(self, x):
        return torch.cat([self.b3(x), self.b1(x)], dim=1)


class ConcatGeluNet(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.GELU())
        self.blocks = nn.Sequential(Branchy(32, 64, 2), Branchy(64, 128, 2), Branchy(128, 128, 1))
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean(dim=(2, 3)))


def factory() -> nn.Module:
    return ConcatGeluNet()
