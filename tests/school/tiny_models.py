"""Tiny BN classifiers for fast tests (also importable as file.py:factory references)."""

import torch
import torch.nn as nn


class TinyNet(nn.Module):
    def __init__(self, width: int = 4, num_classes: int = 10, in_channels: int = 1, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)
        with torch.no_grad():  # non-trivial running statistics
            for i, m in enumerate(m for m in self.modules() if isinstance(m, nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5 + i)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


class NoBNNet(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


def tiny_a():
    return TinyNet(4, seed=1).eval()


def tiny_b():
    return TinyNet(6, seed=2).eval()


def tiny_c():
    return TinyNet(5, seed=3).eval()


def tiny_d():
    return TinyNet(3, seed=4).eval()


def tiny_5class():
    return TinyNet(4, num_classes=5, seed=4).eval()


def no_bn():
    return NoBNNet().eval()
