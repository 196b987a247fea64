"""The bitwise GRU: trained real-valued, binarized in increments, folded to integer semantics.

Training follows the incremental-binarization recipe (Kim & Smaragdis, 2019): a GRU is first
trained with real weights and smooth gates; then 10% of each weight matrix at a time (chosen
at random, once, per matrix) is replaced by its sign times the matrix's mean magnitude, with
training continuing after every increment, until all weights are binary. Then the gates and
the candidate are hardened the same way, 25% of the outputs at a time (z, r in {0, 1}, n in
{-1, +1}, straight-through gradients), and the fully binary network is fine-tuned
(``incremental_schedule``, ``train_incremental``). Switching all gates at once cost far more
loss on our toy tasks than the gradual steps.

Every gate's pre-activation is BatchNorm(alpha_x * Wx.x + alpha_h * Uh.h) (for n the reset
gate masks the recurrent term), normalized per time step. When the network is fully binary
the ratio alpha_h / alpha_x of each gate is rounded to a small rational b / a, so the gate is
a threshold on the integer a * popcount_x + b * popcount_h: ``BinaryGRULayer.fold`` computes
those thresholds in float64 exactly as ``DenseBlock.fold`` does for dense layers, and in eval
mode the model runs the integer semantics of the IR op ``binary_gru`` (docs/ir.md). torch
eval == golden therefore holds by construction; ``float_forward`` keeps the float path.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from bitwave.core.errors import BitwaveError
from bitwave.core.ir import (
    BIPOLAR,
    MAX_GRU_COEFFICIENT,
    BinaryGRU,
    BitplaneCodingSpec,
    Network,
    pack_bits,
    validate,
)
from bitwave.core.paths import sanitize_identifier
from bitwave.models.export import state_sha256
from bitwave.models.layers import DenseBlock, QuantLinear, binarize

GATES = ("z", "r", "n")
DEFAULT_COEFFICIENT_LIMIT = 15  # a, b in [1, 15]: a 4-bit constant multiplier per popcount


# ---------------------------------------------------------------------------------------------
# Weights that binarize in increments
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# Folding helpers (float64, shared by the torch integer path and the export)
# ---------------------------------------------------------------------------------------------
def coefficient_pair(ratio: float, limit: int = DEFAULT_COEFFICIENT_LIMIT) -> tuple[int, int]:
    """Integers (a, b) in [1, limit] with b / a closest to ``ratio`` (in log scale; ties go to
    the smaller a): the gate then weighs a * popcount_x against b * popcount_h."""
    if not 1 <= limit <= MAX_GRU_COEFFICIENT:
        raise ValueError(f"coefficient limit must be 1..{MAX_GRU_COEFFICIENT}, got {limit}")
    if not math.isfinite(ratio) or ratio <= 0:
        ratio = 1.0 if not math.isfinite(ratio) or ratio == 0 else abs(ratio)
    best = (math.inf, 1, 1)
    for a in range(1, limit + 1):
        for b in {
            max(1, min(limit, math.floor(ratio * a))),
            max(1, min(limit, math.ceil(ratio * a))),
        }:
            error = abs(math.log(b / a) - math.log(ratio))
            if error < best[0] - 1e-12:
                best = (error, a, b)
    return best[1], best[2]


def fold_threshold(
    k: np.ndarray, c: np.ndarray, low: int, high: int
) -> tuple[np.ndarray, np.ndarray]:
    """Integer threshold and direction of [k * acc + c >= 0] for integer acc in [low, high].

    k > 0: acc >= ceil(-c / k) (direction +1); k < 0: acc <= floor(-c / k) (direction -1);
    k = 0: constant (threshold low, or high + 1 when it never fires). Thresholds are clipped
    just outside the accumulator range, which keeps the same outputs."""
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = -c / k
    up = k > 0
    thresholds = np.where(up, np.ceil(bound), np.floor(bound))
    thresholds = np.where(k == 0, np.where(c >= 0, low, high + 1), thresholds)
    direction = np.where(up | (k == 0), 1, -1).astype(np.int8)
    clip_low = np.where(direction > 0, low, low - 1)
    clip_high = np.where(direction > 0, high + 1, high)
    thresholds = np.clip(np.nan_to_num(thresholds, nan=0.0), clip_low, clip_high)
    return thresholds.astype(np.int64), direction


def _hard_step(y: torch.Tensor) -> torch.Tensor:
    """[y >= 0] forward, the sigmoid's gradient backward (straight-through)."""
    soft = torch.sigmoid(y)
    return soft + ((y >= 0).to(y.dtype) - soft).detach()


def _hard_sign(y: torch.Tensor) -> torch.Tensor:
    """sign(y) with sign(0) = +1 forward, tanh's gradient backward (straight-through)."""
    soft = torch.tanh(y)
    return soft + (torch.where(y >= 0, 1.0, -1.0).to(y.dtype) - soft).detach()


# ---------------------------------------------------------------------------------------------
# The GRU layer
# ---------------------------------------------------------------------------------------------
@dataclass
class GRUFold:
    """A GRU layer's integer parameters (the IR fields of binary_gru)."""

    coefficients: np.ndarray  # (3, 2) int64: (a, b) per gate z, r, n
    thresholds: np.ndarray  # (H, 4) int64: T_z, T_r, T_n|r=0, T_n|r=1
    direction: np.ndarray  # (H, 3) int8


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
    def fold(self) -> GRUFold:
        """Coefficients, thresholds and directions of the binary_gru op (float64 math).

        With g = gamma / sqrt(var + eps), a gate's BatchNorm output is
        y = g * (S - mu) + beta, S = alpha_x * (dot_x + (b / a) * dot_h), dot = 2 * popcount - width.
        So S = (alpha_x / a) * (2 * acc - (a * N + b * H)) with acc = a * px + b * ph, and
        y = k * acc + c: k = 2 g alpha_x / a, c = beta - g mu - g alpha_x (a N + b H) / a.
        For n with r = 0 the recurrent term is masked: acc = a * px and c = beta - g mu - g alpha_x N.
        """
        if not self.weights_binary:
            raise BitwaveError("the GRU weights are not fully binarized yet: nothing to fold")
        n_in, width = self.input_size, self.hidden_size
        coefficients = np.zeros((3, 2), np.int64)
        thresholds = np.zeros((width, 4), np.int64)
        direction = np.zeros((width, 3), np.int8)
        for g in range(3):
            bn = self.bn[g]
            alpha_x = float(self.wx[g].alpha().detach().double())
            alpha_h = float(self.wh[g].alpha().detach().double())
            a, b = coefficient_pair(alpha_h / alpha_x, self.coefficient_limit)
            coefficients[g] = a, b
            inv_std = 1.0 / np.sqrt(bn.running_var.detach().double().numpy() + bn.eps)
            gamma = bn.weight.detach().double().numpy() if bn.affine else np.ones(width)
            beta = bn.bias.detach().double().numpy() if bn.affine else np.zeros(width)
            scale = gamma * inv_std
            offset = beta - scale * bn.running_mean.detach().double().numpy()
            k = 2.0 * scale * alpha_x / a
            c_full = offset - scale * alpha_x * (a * n_in + b * width) / a
            full_high = a * n_in + b * width
            if g < 2:
                thresholds[:, g], direction[:, g] = fold_threshold(k, c_full, 0, full_high)
            else:
                c_masked = offset - scale * alpha_x * n_in
                thresholds[:, 2], direction[:, 2] = fold_threshold(k, c_masked, 0, a * n_in)
                thresholds[:, 3], _ = fold_threshold(k, c_full, 0, full_high)
        return GRUFold(coefficients, thresholds, direction)

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


# ---------------------------------------------------------------------------------------------
# The mask estimator: GRU layer(s) + a binary dense output layer
# ---------------------------------------------------------------------------------------------
def _batched(x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if x.dim() == 2:
        return x[None], True
    if x.dim() != 3:
        raise BitwaveError(f"sequences must be (T, N) or (B, T, N), got shape {tuple(x.shape)}")
    return x, False


class BitwiseGRU(nn.Module):
    """GRU layer(s) of ``hidden_sizes`` units on bipolar input frames, then a binary dense
    layer with one output bit per mask bin (default 2052 -> GRU 1000 -> 513).

    ``forward(x, state)`` returns (scores, state): scores >= 0 mean mask bit 1. In training,
    or before the network is fully binary, the scores are the float logits (BCE-with-logits
    trains on them); in eval mode once fully binary they are the integer semantics' outputs
    as +/-1 values. ``state`` is a list with one (B, H) tensor per GRU layer (values).
    """

    def __init__(
        self,
        input_size: int = 2052,
        hidden_sizes: int | Sequence[int] = 1000,
        output_size: int = 513,
        coefficient_limit: int = DEFAULT_COEFFICIENT_LIMIT,
        seed: int = 0,
    ) -> None:
        super().__init__()
        sizes = [hidden_sizes] if isinstance(hidden_sizes, int) else list(hidden_sizes)
        if not sizes:
            raise ValueError("a bitwise GRU needs at least one GRU layer")
        widths = [input_size, *sizes]
        self.grus = nn.ModuleList(
            BinaryGRULayer(widths[i], widths[i + 1], coefficient_limit, seed=seed * 1009 + i)
            for i in range(len(sizes))
        )
        self.out = DenseBlock(sizes[-1], output_size, BIPOLAR, wbits=1, out_bits=1)
        self.out.linear = IncrementalBinaryLinear(
            sizes[-1], output_size, order_seed=seed * 1009 + 997
        )
        self.input_size, self.output_size = input_size, output_size

    # -- phases ------------------------------------------------------------------------------------
    def linears(self) -> Iterator[IncrementalBinaryLinear]:
        for gru in self.grus:
            yield from gru.linears()
        yield self.out.linear

    def set_binarized_fraction(self, fraction: float) -> None:
        """Binarize this fraction of every weight matrix (the same random order throughout)."""
        for linear in self.linears():
            linear.set_fraction(fraction)

    @property
    def binarized_fraction(self) -> float:
        return float(self.out.linear.fraction)

    def set_hardness(self, hardness: float) -> None:
        """Share of gate / candidate outputs in their hard binary forms (STE gradients); 1
        makes the GRU the integer op once the weights are binary."""
        if not 0.0 <= hardness <= 1.0:
            raise ValueError(f"hardness must be in [0, 1], got {hardness}")
        for gru in self.grus:
            gru.hardness.fill_(float(hardness))

    @property
    def hardness(self) -> float:
        return float(self.grus[0].hardness)

    @property
    def fully_binary(self) -> bool:
        return all(gru.fully_binary for gru in self.grus) and self.out.linear.fully_binary

    # -- paths ---------------------------------------------------------------------------------------
    def logits(
        self, x: torch.Tensor, state: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Float path up to the output BatchNorm: (B, T, N) values -> (B, T, M) logits."""
        x, single = _batched(x)
        new_state = []
        for i, gru in enumerate(self.grus):
            x, last = gru(x, None if state is None else state[i])
            new_state.append(last)
        batch, steps, width = x.shape
        flat = self.out.bn(self.out.linear(x.reshape(batch * steps, width)))
        logits = flat.reshape(batch, steps, -1)
        return (logits[0] if single else logits), new_state

    def float_forward(
        self, x: torch.Tensor, state: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The float reference path with hard output bits: +/-1 = sign(logits)."""
        logits, new_state = self.logits(x, state)
        return torch.where(logits >= 0, 1.0, -1.0), new_state

    def forward(
        self, x: torch.Tensor, state: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if self.training or not self.fully_binary:
            return self.logits(x, state)
        bits = None if state is None else [(s > 0).to(torch.int64) for s in state]
        codes, new_bits = self.infer_codes((x > 0).to(torch.int64), bits, return_state=True)
        return 2.0 * codes.float() - 1.0, [2.0 * s.float() - 1.0 for s in new_bits]

    def infer_layers(
        self, bits: torch.Tensor, state_bits: list[torch.Tensor] | None = None
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Integer semantics on codes, layer by layer (as golden.run_layers): bits (T, N) or
        (B, T, N), every sequence starting from the initial state unless ``state_bits``."""
        x, single = _batched(torch.as_tensor(bits).to(torch.int64))
        outputs, new_state = [], []
        for i, gru in enumerate(self.grus):
            x, last = gru.integer_forward(x, None if state_bits is None else state_bits[i])
            outputs.append(x)
            new_state.append(last)
        batch, steps, width = x.shape
        self.out.in_scale = 1.0
        mask = self.out.integer_forward(x.reshape(batch * steps, width)).reshape(batch, steps, -1)
        outputs.append(mask)
        if single:
            outputs = [o[0] for o in outputs]
        return outputs, new_state

    def infer_codes(
        self,
        bits: torch.Tensor,
        state_bits: list[torch.Tensor] | None = None,
        return_state: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Mask bits (.., T, M) from input bits (.., T, N) under the integer semantics."""
        outputs, new_state = self.infer_layers(bits, state_bits)
        return (outputs[-1], new_state) if return_state else outputs[-1]


def export_gru(
    model: BitwiseGRU,
    name: str = "gru",
    coding: BitplaneCodingSpec | None = None,
    provenance: dict[str, Any] | None = None,
) -> Network:
    """Fold a fully binary BitwiseGRU (eval-mode BatchNorm statistics) into an IR v2 network:
    one binary_gru layer per GRU layer, then the binary_dense output layer."""
    if not model.fully_binary:
        raise BitwaveError(
            f"the GRU is not fully binary yet (binarized fraction {model.binarized_fraction:.2f}, "
            f"gate hardness {model.hardness:.2f}): finish train_incremental first"
        )
    was_training = model.training
    model.eval()
    model.out.in_scale = 1.0
    layers: list = [gru.to_ir(f"gru{i}") for i, gru in enumerate(model.grus)]
    layers.append(model.out.to_ir("fc_out"))
    model.train(was_training)
    net = Network(
        name=sanitize_identifier(name),
        input_width=model.input_size,
        input_type=BIPOLAR,
        layers=layers,
        coding=coding,
        provenance={"source": "torch", "model_sha256": state_sha256(model), **(provenance or {})},
    )
    validate(net)
    return net


# ---------------------------------------------------------------------------------------------
# Training: real-valued phase, 10% weight increments, 25% gate increments, binary fine-tune
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    name: str
    fraction: float  # binarized fraction of every weight matrix
    hardness: float  # share of gate / candidate outputs in hard form
    steps: int
    final: bool = False  # the fine-tune of the fully binary network (learning rate decays)


def incremental_schedule(
    steps_per_stage: int,
    real_steps: int | None = None,
    binary_steps: int | None = None,
    increment: float = 0.1,
    hardness_increment: float = 0.25,
) -> list[Stage]:
    """real -> weights binarized by ``increment`` (10%, 20%, ..., 100%) -> activations
    hardened by ``hardness_increment`` (25%, 50%, 75%) -> the fully binary fine-tune."""
    steps = {"real": real_steps, "final": binary_steps}
    for name, value in (("steps_per_stage", steps_per_stage), *steps.items()):
        if value is not None and (not isinstance(value, int) or value < 0):
            raise BitwaveError(f"{name} must be a non-negative integer, got {value!r}")
    stages = [Stage("real", 0.0, 0.0, steps_per_stage if real_steps is None else real_steps)]
    for what, step in (("increment", increment), ("hardness_increment", hardness_increment)):
        count = round(1.0 / step) if step > 0 else 0
        if count < 1 or abs(count * step - 1.0) > 1e-9:
            raise BitwaveError(f"{what} must divide 1 (e.g. 0.1, 0.25), got {step}")
    count = round(1.0 / increment)
    for i in range(1, count + 1):
        stages.append(Stage(f"weights {100 * i // count}%", i / count, 0.0, steps_per_stage))
    count = round(1.0 / hardness_increment)
    for i in range(1, count):
        stages.append(Stage(f"gates {100 * i // count}%", 1.0, i / count, steps_per_stage))
    final = steps_per_stage if binary_steps is None else binary_steps
    stages.append(Stage("binary", 1.0, 1.0, final, final=True))
    return stages


@dataclass
class TrainLog:
    """Per-step losses and a per-stage summary of one incremental training run."""

    losses: list[float] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def sequence_loss(
    model: BitwiseGRU,
    x: torch.Tensor,
    target: torch.Tensor,
    tbptt: int,
    optimizer: torch.optim.Optimizer | None = None,
    grad_clip: float = 1.0,
    weight: torch.Tensor | None = None,
) -> float:
    """Mean BCE-with-logits of the mask over a batch of sequences, in truncated-BPTT chunks of
    ``tbptt`` frames (the state carries over, gradients stop at chunk boundaries), each bin
    weighted by ``weight`` (same shape as ``target``) if given. With an optimizer, one update
    per chunk."""
    state = None
    total, frames = 0.0, 0
    for start in range(0, x.shape[1], tbptt):
        chunk_x, chunk_y = x[:, start : start + tbptt], target[:, start : start + tbptt]
        logits, state = model.logits(chunk_x, state)
        state = [s.detach() for s in state]
        chunk_w = None if weight is None else weight[:, start : start + tbptt]
        loss = F.binary_cross_entropy_with_logits(logits, chunk_y, weight=chunk_w)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            with torch.no_grad():  # the sign STE passes gradients only inside [-1, 1]
                for linear in model.linears():
                    linear.weight.clamp_(-1.0, 1.0)
        total += float(loss.detach()) * chunk_x.shape[1]
        frames += chunk_x.shape[1]
    return total / max(frames, 1)


def train_incremental(
    model: BitwiseGRU,
    batches_fn: Callable[[int], tuple[torch.Tensor, ...]],
    steps_per_stage: int,
    lr: float = 1e-3,
    progress: bool = True,
    *,
    real_steps: int | None = None,
    binary_steps: int | None = None,
    increment: float = 0.1,
    hardness_increment: float = 0.25,
    tbptt: int = 50,
    grad_clip: float = 1.0,
    optimizer: torch.optim.Optimizer | None = None,
    start_step: int = 0,
    on_step: Callable[[int, Stage, float], None] | None = None,
) -> TrainLog:
    """Train ``model`` through the whole incremental-binarization schedule.

    ``batches_fn(step)`` returns one batch of sequences for global step ``step``: bipolar
    input frames (B, T, N) as -1/+1 floats (B >= 2: BatchNorm needs a batch per time step) and
    mask targets (B, T, M) in {0, 1}, optionally a third tensor of per-bin loss weights
    (B, T, M). Stages (``incremental_schedule``): ``real_steps``
    real-valued steps (default ``steps_per_stage``), ``steps_per_stage`` at each binarized
    weight fraction (increment, ..., 100%), ``steps_per_stage`` at each partial gate hardness
    (25%, 50%, 75%), then ``binary_steps`` fully binary; the learning rate is ``lr``
    throughout and decays (cosine, to lr / 10) over the final stage. ``start_step`` resumes a run whose
    model (and ``optimizer``) were restored from a checkpoint taken after that many steps;
    ``on_step(step, stage, loss)`` runs after every step (checkpoints, logging). After the
    last stage the model is fully binary and ``export_gru`` can fold it.
    """
    stages = incremental_schedule(
        steps_per_stage, real_steps, binary_steps, increment, hardness_increment
    )
    total = sum(stage.steps for stage in stages)
    if not 0 <= start_step <= total:
        raise BitwaveError(f"start_step must be in [0, {total}], got {start_step}")
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    log = TrainLog()
    began = time.perf_counter()
    model.train()
    bar = tqdm(total=total, initial=start_step, disable=not progress, desc="GRU", unit="step")
    step = 0
    for stage in stages:
        model.set_binarized_fraction(stage.fraction)
        model.set_hardness(stage.hardness)
        stage_losses = []
        for index in range(stage.steps):
            if step < start_step:
                step += 1
                continue
            rate = lr
            if stage.final and stage.steps > 1:
                rate = lr * (0.1 + 0.45 * (1 + math.cos(math.pi * index / (stage.steps - 1))))
            for group in optimizer.param_groups:
                group["lr"] = rate
            x, target, *weight = batches_fn(step)
            loss = sequence_loss(
                model, x, target, tbptt, optimizer, grad_clip, weight[0] if weight else None
            )
            stage_losses.append(loss)
            log.losses.append(loss)
            bar.set_description(f"GRU {stage.name}")
            bar.set_postfix(loss=f"{loss:.4f}")
            bar.update(1)
            if on_step is not None:
                on_step(step, stage, loss)
            step += 1
        if stage_losses:
            log.stages.append({
                "name": stage.name, "fraction": stage.fraction, "hardness": stage.hardness,
                "steps": len(stage_losses), "first_loss": stage_losses[0],
                "mean_loss": float(np.mean(stage_losses)), "last_loss": stage_losses[-1],
            })  # fmt: skip
    bar.close()
    log.seconds = time.perf_counter() - began
    return log
