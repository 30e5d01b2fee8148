"""LeNet and a ResNet block from Dive into Deep Learning (chapters 7 and 8), written once.

They follow the book's PyTorch listings, names included, so a ``state_dict`` of the
book's PyTorch model loads into them with ``strict=True``. The book's code is under a
modified MIT licence.

Example:
    >>> import polymod as pm
    >>> from polymod.examples import vision
    >>> vision.LeNet()(pm.rand(2, 1, 28, 28, backend="numpy")).shape
    (2, 10)
    >>> vision.Residual(3)(pm.rand(2, 3, 6, 6, backend="numpy")).shape
    (2, 3, 6, 6)
"""

from __future__ import annotations

from typing import Any

import polymod as pm
from polymod import nn, ops


class LeNet(pm.Module):
    """LeNet-5 (section 7.6): two sigmoid conv/avg-pool stages and three dense layers.

    Input (N, 1, 28, 28); the parameters are ``net.0.weight``, ``net.3.weight``, ...
    as in the book's ``LeNet(d2l.Classifier)``.
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.net = nn.Sequential(
            nn.LazyConv2d(6, kernel_size=5, padding=2), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.LazyConv2d(16, kernel_size=5), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Flatten(),
            nn.LazyLinear(120), nn.Sigmoid(),
            nn.LazyLinear(84), nn.Sigmoid(),
            nn.LazyLinear(num_classes))

    def forward(self, X: Any) -> Any:
        return self.net(X)


def lenet_eager() -> nn.Sequential:
    """LeNet with every shape given (section 7.6's first listing), no lazy layers."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))


class Residual(pm.Module):
    """The residual block of ResNet (section 8.6): two 3x3 convolutions with batch
    normalisation, and a 1x1 convolution on the shortcut when the shape changes."""

    def __init__(self, num_channels: int, use_1x1conv: bool = False, strides: int = 1):
        super().__init__()
        self.conv1 = nn.LazyConv2d(num_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.LazyConv2d(num_channels, kernel_size=3, padding=1)
        if use_1x1conv:
            self.conv3 = nn.LazyConv2d(num_channels, kernel_size=1, stride=strides)
        else:
            self.conv3 = None
        self.bn1 = nn.LazyBatchNorm2d()
        self.bn2 = nn.LazyBatchNorm2d()

    def forward(self, X: Any) -> Any:
        Y = ops.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3 is not None:
            X = self.conv3(X)
        Y += X
        return ops.relu(Y)


def small_resnet(num_classes: int = 10) -> nn.Sequential:
    """A small ResNet: the book's stem (7x7 conv, batch norm, ReLU, 3x3 max pool), two
    residual stages, global average pooling and a linear classifier."""
    return nn.Sequential(
        nn.LazyConv2d(16, kernel_size=7, stride=2, padding=3), nn.LazyBatchNorm2d(),
        nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        Residual(16), Residual(32, use_1x1conv=True, strides=2),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.LazyLinear(num_classes))
