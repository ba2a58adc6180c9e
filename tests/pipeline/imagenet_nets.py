"""Tiny ImageNet-shaped user models (3 channels, 1000 classes) for the end-to-end pipeline test."""

import torch
import torch.nn as nn


class TinyNet(nn.Module):
    def __init__(self, width: int, residual: bool):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.residual = residual
        self.fc = nn.Linear(width, 1000)

    def forward(self, x):
        y = self.stem(x)
        y = y + self.body(y) if self.residual else self.body(y)
        return self.fc(y.mean(dim=(2, 3)))


def teacher_a():
    torch.manual_seed(1)
    return TinyNet(8, residual=True)


def teacher_b():
    torch.manual_seed(2)
    return TinyNet(12, residual=False)


def teacher_c():
    torch.manual_seed(3)
    return TinyNet(6, residual=True)


def student():
    torch.manual_seed(4)
    return TinyNet(10, residual=True)


def no_bn():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 1000))
