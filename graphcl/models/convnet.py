r"""Small convolutional networks for image classification on a CPU (MNIST): the networks that
metanetwork pruning, magnitude pruning and lottery tickets are measured on. Every layer is one
the network-to-graph mapping (:mod:`graphcl.nn.netgraph`) represents."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class ConvNet(nn.Module):
    r"""A VGG-style network: for each width ``c`` of ``channels``, a 3×3 convolution, batch
    norm and ReLU, a 2×2 max pooling after every ``pool_every``-th block (and after the last),
    then global average pooling and a linear classifier.

    Args:
        channels (Sequence[int], optional): widths of the convolution blocks.
            (default: ``(16, 32, 64)``)
        num_classes (int, optional): (default: ``10``)
        in_channels (int, optional): (default: ``1``)
        pool_every (int, optional): blocks between max poolings. (default: ``1``)
    """

    def __init__(self, channels: Sequence[int] = (16, 32, 64), num_classes: int = 10,
                 in_channels: int = 1, pool_every: int = 1) -> None:
        super().__init__()
        if not channels or any(int(c) < 1 for c in channels):
            raise ValueError(f"ConvNet: channels must be positive widths, got {list(channels)}")
        if int(pool_every) < 1:
            raise ValueError(f"ConvNet: pool_every must be >= 1, got {pool_every}")
        layers: list[nn.Module] = []
        c_in = in_channels
        for i, c in enumerate(channels):
            layers += [nn.Conv2d(c_in, int(c), 3, padding=1, bias=False), nn.BatchNorm2d(int(c)),
                       nn.ReLU()]
            if (i + 1) % int(pool_every) == 0 or i == len(channels) - 1:
                layers.append(nn.MaxPool2d(2))
            c_in = int(c)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))
