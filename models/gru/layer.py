"""One bitwise GRU layer: a float path whose gates harden in increments, and, once fully
binary, the integer semantics of the IR op ``binary_gru`` (docs/ir.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bitwave.core.errors import BitwaveError
from bitwave.core.ir import BinaryGRU, pack_bits
from bitwave.models.gru.folding import (
    DEFAULT_COEFFICIENT_LIMIT,
    GateScales,
    GRUFold,
    coefficient_pair,
    fold_gates,
)
from bitwave.models.gru.weights import IncrementalBinaryLinear
from bitwave.models.layers import binarize

GATES = ("z", "r", "n")


def _hard_step(y: torch.Tensor) -> torch.Tensor:
    """[y >= 0] forward, the sigmoid's gradient backward (straight-through)."""
    soft = torch.sigmoid(y)
    return soft + ((y >= 0).to(y.dtype) - soft).detach()


def _hard_sign(y: torch.Tensor) -> torch.Tensor:
    """sign(y) with sign(0) = +1 forward, tanh's gradient backward (straight-through)."""
    soft = torch.tanh(y)
    return soft + (torch.where(y >= 0, 1.0, -1.0).to(y.dtype) - soft).detach()


class BinaryGRULayer(nn.Module):
    """One GRU layer: bipolar input (N) and state (H), per-gate incremental binary weights,
    per-gate BatchNorm on the pre-activation, state initialised to ``initial_state`` bits."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        coefficient_limit: int = DEFAULT_COEFFICIENT_LIMIT,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"GRU sizes must be positive, got {input_size} -> {hidden_size}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.coefficient_limit = coefficient_limit
        generator = torch.Generator().manual_seed(seed)
        seeds = torch.randint(0, 2**62, (6,), generator=generator).tolist()
        self.wx = nn.ModuleList(
            IncrementalBinaryLinear(input_size, hidden_size, seeds[g]) for g in range(3)
        )
        self.wh = nn.ModuleList(
            IncrementalBinaryLinear(hidden_size, hidden_size, seeds[3 + g]) for g in range(3)
        )
        self.bn = nn.ModuleList(nn.BatchNorm1d(hidden_size) for _ in GATES)
        # share of gate/candidate outputs that take their hard form (1 = all: binary_gru)
        self.register_buffer("hardness", torch.tensor(0.0, dtype=torch.float64))
        # all -1: the binary state that is closest to the real GRU's usual zero state
        self.register_buffer("initial_state", torch.zeros(hidden_size, dtype=torch.uint8))

    # -- phases ------------------------------------------------------------------------------------
    def linears(self) -> Iterator[IncrementalBinaryLinear]:
        yield from self.wx
        yield from self.wh

    @property
    def weights_binary(self) -> bool:
        return all(linear.fully_binary for linear in self.linears())

    @property
    def fully_binary(self) -> bool:
        """Binary weights and hard gates: the layer is the integer op binary_gru."""
        return self.weights_binary and float(self.hardness) >= 1.0

    def initial_values(self, batch: int) -> torch.Tensor:
        return (2.0 * self.initial_state.float() - 1.0).expand(batch, -1).clone()

    # -- float path ------------------------------------------------------------------------------
    def recurrent_correction(self) -> list[float]:
        """Per gate, the factor that turns alpha_h into alpha_x * b / a once the weights are
        binary (1 before), so the float path computes what the integer thresholds test."""
        if not self.weights_binary:
            return [1.0, 1.0, 1.0]
        out = []
        for g in range(3):
            alpha_x = float(self.wx[g].alpha().detach())
            alpha_h = float(self.wh[g].alpha().detach())
            a, b = coefficient_pair(alpha_h / alpha_x, self.coefficient_limit)
            out.append(alpha_x * b / (a * alpha_h))
        return out

    def forward(
        self, x: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Float path: x (B, T, N) values, state (B, H) values -> (B, T, H) states, last state.
        Gates are sigmoid / tanh at hardness 0 and hard (with STE gradients) at hardness 1; in
        between, each output takes its hard form with probability ``hardness`` (drawn anew at
        every step in training; in eval the hard form is used from hardness 0.5)."""
        batch, steps, _ = x.shape
        h = self.initial_values(batch).to(x) if state is None else state
        width = self.hidden_size
        x_terms = F.linear(x, torch.cat([lin.effective_weight() for lin in self.wx]))
        correction = self.recurrent_correction()
        w_h = torch.cat(
            [c * lin.effective_weight() for c, lin in zip(correction, self.wh, strict=True)]
        )
        hardness = float(self.hardness)
        if not self.training:
            hardness = float(hardness >= 0.5)

        def activation(y: torch.Tensor, soft: Callable, hard: Callable) -> torch.Tensor:
            if hardness <= 0.0:
                return soft(y)
            if hardness >= 1.0:
                return hard(y)
            return torch.where(torch.rand_like(y) < hardness, hard(y), soft(y))

        def gate(y: torch.Tensor) -> torch.Tensor:
            return activation(y, torch.sigmoid, _hard_step)

        def candidate(y: torch.Tensor) -> torch.Tensor:
            return activation(y, torch.tanh, _hard_sign)

        outputs = []
        for t in range(steps):
            xz, xr, xn = x_terms[:, t].split(width, dim=1)
            hz, hr, hn = F.linear(h, w_h).split(width, dim=1)
            z = gate(self.bn[0](xz + hz))
            r = gate(self.bn[1](xr + hr))
            n = candidate(self.bn[2](xn + r * hn))
            h = z * h + (1.0 - z) * n
            outputs.append(h)
        return torch.stack(outputs, dim=1), h

    # -- integer semantics ------------------------------------------------------------------------
    def gate_scales(self, g: int) -> GateScales:
        """Gate ``g``'s weight scales and eval-mode BatchNorm in float64, for folding."""
        bn, width = self.bn[g], self.hidden_size
        inv_std = 1.0 / np.sqrt(bn.running_var.detach().double().numpy() + bn.eps)
        gamma = bn.weight.detach().double().numpy() if bn.affine else np.ones(width)
        beta = bn.bias.detach().double().numpy() if bn.affine else np.zeros(width)
        scale = gamma * inv_std
        return GateScales(
            alpha_x=float(self.wx[g].alpha().detach().double()),
            alpha_h=float(self.wh[g].alpha().detach().double()),
            scale=scale,
            offset=beta - scale * bn.running_mean.detach().double().numpy(),
        )

    def fold(self) -> GRUFold:
        """Coefficients, thresholds and directions of the binary_gru op (``fold_gates``)."""
        if not self.weights_binary:
            raise BitwaveError("the GRU weights are not fully binarized yet: nothing to fold")
        gates = [self.gate_scales(g) for g in range(len(GATES))]
        return fold_gates(gates, self.input_size, self.hidden_size, self.coefficient_limit)

    def binary_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Weights as -1/+1 float32: (3, H, N) for the input, (3, H, H) for the state."""
        wx = torch.stack([binarize(lin.weight.detach()) for lin in self.wx]).float()
        wh = torch.stack([binarize(lin.weight.detach()) for lin in self.wh]).float()
        return wx, wh

    def integer_forward(
        self, x_bits: torch.Tensor, state_bits: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The binary_gru op on codes: x (B, T, N) bits -> (B, T, H) state bits, last state.
        Popcounts are exact: ((2x - 1) . w + width) / 2, a sum of +/-1 terms, is an integer of
        magnitude <= width, which float32 holds exactly (and adds exactly) below 2^24."""
        if max(self.input_size, self.hidden_size) >= 2**24:
            raise BitwaveError("GRU widths of 2^24 or more are not supported by the torch path")
        if not self.fully_binary:
            raise BitwaveError(
                "integer semantics need a fully binary GRU (all weights binarized, hard gates)"
            )
        folded = self.fold()
        a = torch.from_numpy(folded.coefficients[:, 0])
        b = torch.from_numpy(folded.coefficients[:, 1])
        t = torch.from_numpy(folded.thresholds)
        d = torch.from_numpy(folded.direction.astype(np.int64))
        wx, wh = self.binary_weights()
        batch, steps, n_in = x_bits.shape
        width = self.hidden_size
        x_values = 2.0 * x_bits.reshape(batch * steps, n_in).float() - 1.0
        px = x_values @ wx.reshape(3 * width, n_in).T
        px = torch.round((px + n_in) / 2).to(torch.int64).reshape(batch, steps, 3, width)
        wh_rows = wh.reshape(3 * width, width).T
        h = (
            self.initial_state.to(torch.int64).expand(batch, -1)
            if state_bits is None
            else state_bits.to(torch.int64)
        )

        def fires(acc: torch.Tensor, threshold: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
            return torch.where(sign > 0, acc >= threshold, acc <= threshold).to(torch.int64)

        outputs = []
        for step in range(steps):
            ph = (2.0 * h.float() - 1.0) @ wh_rows
            ph = torch.round((ph + width) / 2).to(torch.int64).reshape(batch, 3, width)
            acc_z = a[0] * px[:, step, 0] + b[0] * ph[:, 0]
            acc_r = a[1] * px[:, step, 1] + b[1] * ph[:, 1]
            z = fires(acc_z, t[:, 0], d[:, 0])
            r = fires(acc_r, t[:, 1], d[:, 1])
            acc_n = a[2] * px[:, step, 2] + r * (b[2] * ph[:, 2])
            n = fires(acc_n, torch.where(r == 1, t[:, 3], t[:, 2]), d[:, 2])
            h = torch.where(z == 1, h, n)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h

    def to_ir(self, name: str) -> BinaryGRU:
        folded = self.fold()
        wx, wh = self.binary_weights()
        return BinaryGRU(
            name=name,
            in_width=self.input_size,
            out_width=self.hidden_size,
            weights_x=pack_bits((wx > 0).numpy()),
            weights_h=pack_bits((wh > 0).numpy()),
            coefficients=folded.coefficients,
            thresholds=folded.thresholds,
            direction=folded.direction,
            initial_state=self.initial_state.numpy().astype(np.uint8),
        )
