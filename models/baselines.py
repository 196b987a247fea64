"""Float baselines of the same shape as the bitwise models: the quality reference."""

from __future__ import annotations

import torch
from torch import nn


class FloatMLP(nn.Module):
    """Float32 MLP mask estimator: log-magnitude input, ReLU hidden layers, sigmoid mask."""

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(len(widths) - 1):
            layers.append(nn.Linear(widths[i], widths[i + 1]))
            if i < len(widths) - 2:
                layers += [nn.BatchNorm1d(widths[i + 1]), nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The soft mask in [0, 1]."""
        return torch.sigmoid(self.net(x))
