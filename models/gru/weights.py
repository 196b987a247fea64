"""Weights that binarize in increments: the linear maps of the bitwise GRU."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from bitwave.models.layers import QuantLinear, binarize


class IncrementalBinaryLinear(QuantLinear):
    """A linear map (no bias) whose weights are binarized a fraction at a time.

    The binarized entries are ``alpha * sign(w)`` with ``alpha`` = the mean magnitude of the
    whole matrix's latent weights; the others stay real. Which entries binarize first is a
    random order fixed by ``order_seed``, so the set at 20% contains the set at 10%. At
    fraction 1 the matrix is ``alpha * sign(w)``: ``integer_weight`` (+/-1) times ``scale``
    (alpha), which is what ``DenseBlock.fold`` folds into thresholds.
    """

    def __init__(self, in_features: int, out_features: int, order_seed: int = 0) -> None:
        super().__init__(in_features, out_features, wbits=1)
        bound = 1.0 / math.sqrt(in_features)  # the usual GRU initialisation range
        nn.init.uniform_(self.weight, -bound, bound)
        self.register_buffer("order_seed", torch.tensor(int(order_seed), dtype=torch.int64))
        self.register_buffer("fraction", torch.tensor(0.0, dtype=torch.float64))
        self._mask_key: tuple[int, int] | None = None
        self._mask: torch.Tensor | None = None

    @property
    def binarized_count(self) -> int:
        return int(round(float(self.fraction) * self.weight.numel()))

    @property
    def fully_binary(self) -> bool:
        return self.binarized_count == self.weight.numel()

    def set_fraction(self, fraction: float) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"binarized fraction must be in [0, 1], got {fraction}")
        self.fraction.fill_(float(fraction))

    def binarized_mask(self) -> torch.Tensor:
        """Boolean (out, in): True where the weight is binarized at the current fraction."""
        key = (int(self.order_seed), self.binarized_count)
        if self._mask_key != key:
            generator = torch.Generator().manual_seed(key[0])
            order = torch.randperm(self.weight.numel(), generator=generator)
            mask = torch.zeros(self.weight.numel(), dtype=torch.bool)
            mask[order[: key[1]]] = True
            self._mask, self._mask_key = mask.view_as(self.weight), key
        return self._mask.to(self.weight.device)

    def alpha(self) -> torch.Tensor:
        """Mean magnitude of the latent weights (a scalar; gradients flow through it)."""
        return self.weight.abs().mean()

    def effective_weight(self) -> torch.Tensor:
        count = self.binarized_count
        if count == 0:
            return self.weight
        binary = self.alpha() * binarize(self.weight)
        if count == self.weight.numel():
            return binary
        return torch.where(self.binarized_mask(), binary, self.weight)

    def scale(self) -> torch.Tensor:
        """Per-output scale of the binary weights (alpha for every row), for folding."""
        return self.alpha().detach().expand(self.out_features).clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight())
