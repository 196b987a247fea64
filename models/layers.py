"""Binary and quantized layers for training, and the block that folds into one IR layer.

Training uses latent float weights and straight-through estimators (STE). In eval mode a
``DenseBlock`` runs the integer semantics of the IR: an exact integer accumulator and the
multi-threshold activation that BatchNorm + activation fold into. That is what makes the torch
model and the golden model agree bit for bit; ``float_forward`` keeps the unfolded float path
(BatchNorm in eval mode) for comparison.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bitwave.core.ir import BIPOLAR, BinaryDense, Dense, IntDense, ValueType, pack_bits, uint


# ---------------------------------------------------------------------------------------------
# Straight-through estimators
# ---------------------------------------------------------------------------------------------
class _SignSTE(torch.autograd.Function):
    """sign(x) with sign(0) = +1; gradient passed where |x| <= 1 (the usual clip)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        ctx.save_for_backward(x)
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        return grad


def binarize(x: torch.Tensor) -> torch.Tensor:
    return _SignSTE.apply(x)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    return _RoundSTE.apply(x)


# ---------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------
class QuantLinear(nn.Module):
    """Linear layer with ``wbits``-bit weights: binary (+/-1, ``wbits`` = 1) or symmetric
    signed integers with one scale per output channel. No bias: BatchNorm supplies it."""

    def __init__(self, in_features: int, out_features: int, wbits: int = 1) -> None:
        super().__init__()
        if not 1 <= wbits <= 8:
            raise ValueError(f"wbits must be 1..8, got {wbits}")
        self.in_features, self.out_features, self.wbits = in_features, out_features, wbits
        self.relaxed = False  # first training round: real-valued weights in [-1, 1]
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.uniform_(self.weight, -1.0, 1.0) if wbits == 1 else nn.init.kaiming_uniform_(
            self.weight, a=math.sqrt(5)
        )

    @property
    def qmax(self) -> int:
        return 1 if self.wbits == 1 else 2 ** (self.wbits - 1) - 1

    def scale(self) -> torch.Tensor:
        """Per-output-channel scale (out_features,): binary weights are +/-1 (scale 1)."""
        if self.wbits == 1:
            return torch.ones(self.out_features, dtype=self.weight.dtype)
        return (self.weight.detach().abs().amax(dim=1) / self.qmax).clamp_min(1e-8)

    def integer_weight(self) -> torch.Tensor:
        """The weights the hardware stores: -1/+1, or integers in [-qmax, qmax]."""
        if self.wbits == 1:
            return binarize(self.weight)
        return torch.clamp(round_ste(self.weight / self.scale()[:, None]), -self.qmax, self.qmax)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.relaxed and self.wbits == 1:
            return F.linear(x, self.weight.clamp(-1.0, 1.0))
        return F.linear(x, self.integer_weight() * self.scale()[:, None])


# ---------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------
class QuantAct(nn.Module):
    """Output activation: sign (``bits`` = 1, bipolar) or unsigned ``bits``-bit uniform
    quantization with a learned step (LSQ-style: the step gets an STE gradient)."""

    def __init__(self, bits: int = 1, step: float | None = None) -> None:
        super().__init__()
        if not 1 <= bits <= 8:
            raise ValueError(f"activation bits must be 1..8, got {bits}")
        self.bits = bits
        self.relaxed = False  # first training round: hardtanh instead of sign
        self.top = 2**bits - 1
        init = step if step is not None else 3.0 / max(self.top, 1)
        self.step = nn.Parameter(torch.tensor(float(init)), requires_grad=bits > 1)

    @property
    def value_type(self) -> ValueType:
        return BIPOLAR if self.bits == 1 else uint(self.bits)

    @property
    def value_scale(self) -> float:
        """Real value of one code step on the wire (1 for bipolar)."""
        return 1.0 if self.bits == 1 else float(self.step.detach().abs().clamp_min(1e-8))

    def level_thresholds(self) -> np.ndarray:
        """Thresholds on the pre-activation y: code >= j exactly when y >= t[j-1]."""
        if self.bits == 1:
            return np.zeros(1)
        return (np.arange(1, self.top + 1) - 0.5) * self.value_scale

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if self.bits == 1:
            return F.hardtanh(y) if self.relaxed else binarize(y)
        step = self.step.abs().clamp_min(1e-8)
        return torch.clamp(round_ste(y / step), 0, self.top) * step


# ---------------------------------------------------------------------------------------------
# The foldable block
# ---------------------------------------------------------------------------------------------
class DenseBlock(nn.Module):
    """QuantLinear -> BatchNorm1d -> QuantAct: one IR dense layer after folding."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        in_type: ValueType,
        wbits: int = 1,
        out_bits: int = 1,
    ) -> None:
        super().__init__()
        self.in_type = in_type
        self.linear = QuantLinear(in_features, out_features, wbits)
        self.bn = nn.BatchNorm1d(out_features)
        self.act = QuantAct(out_bits)
        self.in_scale = 1.0  # set by the network: the previous activation's step

    @property
    def out_type(self) -> ValueType:
        return self.act.value_type

    def set_relaxed(self, relaxed: bool) -> None:
        """The relaxed training round (see ``QuantMLP.set_relaxed``) for this block alone."""
        self.linear.relaxed = relaxed
        self.act.relaxed = relaxed

    def clip_latent_weights(self) -> None:
        """Keep binary latent weights in [-1, 1], where the sign STE passes gradients."""
        if self.linear.wbits == 1:
            with torch.no_grad():
                self.linear.weight.clamp_(-1.0, 1.0)

    @property
    def is_binary(self) -> bool:
        return self.linear.wbits == 1 and self.in_type == BIPOLAR

    def float_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.linear(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.float_forward(x)
        codes = self.codes_in(x)
        counts = self.integer_forward(codes)
        return self.values_out(counts)

    # -- integer semantics ------------------------------------------------------------------------
    def codes_in(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_type == BIPOLAR:
            return (x > 0).to(torch.int64)
        return torch.round(x / self.in_scale).to(torch.int64)

    def values_out(self, counts: torch.Tensor) -> torch.Tensor:
        if self.out_type == BIPOLAR:
            return (2 * counts - 1).to(torch.float32)
        return counts.to(torch.float32) * self.act.value_scale

    def accumulate(self, codes: torch.Tensor) -> torch.Tensor:
        """Exact integer accumulator (popcount for binary layers, signed dot otherwise)."""
        values = 2 * codes - 1 if self.in_type == BIPOLAR else codes
        weights = self.linear.integer_weight().detach().to(torch.float64)
        dot = torch.round(values.to(torch.float64) @ weights.T).to(torch.int64)
        if self.is_binary:
            return (dot + self.linear.in_features) // 2  # popcount of XNOR
        return dot

    def integer_forward(self, codes: torch.Tensor) -> torch.Tensor:
        acc = self.accumulate(codes)
        thresholds, direction = (torch.from_numpy(a) for a in self.fold())
        up = acc[:, :, None] >= thresholds[None]
        down = acc[:, :, None] <= thresholds[None]
        return torch.where(direction[None, :, None] > 0, up, down).sum(dim=-1)

    def acc_range(self) -> tuple[int, int]:
        n = self.linear.in_features
        if self.is_binary:
            return 0, n
        x_max = 1 if self.in_type == BIPOLAR else self.in_type.levels - 1
        bound = n * self.linear.qmax * x_max
        return -bound, bound

    def fold(self) -> tuple[np.ndarray, np.ndarray]:
        """BatchNorm + activation as integer thresholds on the accumulator (float64 math).

        y = a * dot + c with a = gamma * s_w * s_x / sqrt(var + eps), c = beta - gamma * mu /
        sqrt(var + eps); the activation is y >= t_j. For a > 0 that is dot >= (t_j - c) / a;
        for a < 0 the inequality flips (direction -1). Binary layers count in the popcount
        domain: dot = 2 * popcount - N.
        """
        bn = self.bn
        inv_std = 1.0 / np.sqrt(bn.running_var.detach().double().numpy() + bn.eps)
        gamma = bn.weight.detach().double().numpy() if bn.affine else np.ones_like(inv_std)
        beta = bn.bias.detach().double().numpy() if bn.affine else np.zeros_like(inv_std)
        mean = bn.running_mean.detach().double().numpy()
        s_w = self.linear.scale().double().numpy()
        a = gamma * s_w * self.in_scale * inv_std
        c = beta - gamma * mean * inv_std
        t = self.act.level_thresholds()[None, :]
        low, high = self.acc_range()
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = (t - c[:, None]) / a[:, None]
        n = self.linear.in_features
        if self.is_binary:  # dot = 2p - N: dot >= b <=> p >= (b + N) / 2
            bound = (bound + n) / 2
        up = a > 0
        thresholds = np.where(up[:, None], np.ceil(bound), np.floor(bound))
        # a == 0: y = c is constant, so every frame gives the same count.
        always = c[:, None] >= t
        thresholds = np.where((a == 0)[:, None], np.where(always, low, high + 1), thresholds)
        direction = np.where(up | (a == 0), 1, -1).astype(np.int8)
        clip_low = np.where(direction > 0, low, low - 1)[:, None]
        clip_high = np.where(direction > 0, high + 1, high)[:, None]
        thresholds = np.clip(np.nan_to_num(thresholds, nan=0.0), clip_low, clip_high)
        return thresholds.astype(np.int64), direction

    def to_ir(self, name: str) -> Dense:
        thresholds, direction = self.fold()
        common = dict(name=name, in_width=self.linear.in_features, out_width=self.linear.out_features,
                      thresholds=thresholds, direction=direction, in_type=self.in_type,
                      out_type=self.out_type)  # fmt: skip
        weights = self.linear.integer_weight().detach().to(torch.int64).numpy()
        if self.is_binary:
            return BinaryDense(**common, weights=pack_bits(weights > 0))
        dtype = np.int8 if self.linear.wbits <= 8 else np.int16
        return IntDense(**common, weights=weights.astype(dtype), wbits=self.linear.wbits)


class QuantMLP(nn.Module):
    """A chain of DenseBlocks: binary (``wbits`` = 1 on bipolar input), k-bit, or mixed.

    ``widths`` = [input, hidden..., output]; ``wbits`` and ``abits`` give one value per layer
    (or one for all); the last entry of ``abits`` is the output's bits (1 = a binary mask).
    """

    def __init__(
        self,
        widths: list[int],
        wbits: int | list[int] = 1,
        abits: int | list[int] = 1,
        input_type: ValueType = BIPOLAR,
    ) -> None:
        super().__init__()
        layers = len(widths) - 1
        if layers < 1:
            raise ValueError("an MLP needs at least an input and an output width")
        wbits = [wbits] * layers if isinstance(wbits, int) else list(wbits)
        abits = [abits] * layers if isinstance(abits, int) else list(abits)
        if len(wbits) != layers or len(abits) != layers:
            raise ValueError(f"need {layers} wbits and abits entries")
        self.input_type = input_type
        blocks, value_type = [], input_type
        for i in range(layers):
            block = DenseBlock(widths[i], widths[i + 1], value_type, wbits[i], abits[i])
            blocks.append(block)
            value_type = block.out_type
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Values in, values out: bipolar as +/-1, uint codes times their step."""
        self._wire_scales()
        for block in self.blocks:
            x = block(x)
        return x

    def float_forward(self, x: torch.Tensor) -> torch.Tensor:
        self._wire_scales()
        for block in self.blocks:
            x = block.float_forward(x)
        return x

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The last block's pre-activation (BatchNorm output): a binary output bit is
        [logit >= 0], so training can use a BCE-with-logits loss on the mask."""
        self._wire_scales()
        for block in self.blocks[:-1]:
            x = block.float_forward(x)
        last = self.blocks[-1]
        return last.bn(last.linear(x))

    def set_relaxed(self, relaxed: bool) -> None:
        """Two-round training (as in the bitwise-network work): a first round with real-valued
        weights in [-1, 1] and hardtanh activations gives the binary round its starting point."""
        for block in self.blocks:
            block.set_relaxed(relaxed)

    def clip_latent_weights(self) -> None:
        for block in self.blocks:
            block.clip_latent_weights()

    def infer_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Integer semantics on codes (bits 0/1 or uint counts), as the IR and hardware see them."""
        self._wire_scales()
        for block in self.blocks:
            codes = block.integer_forward(codes)
        return codes

    ir_name = "mlp"  # the IR network's default name (``export.export_network``)

    @property
    def input_width(self) -> int:
        return self.blocks[0].linear.in_features

    def layer_names(self) -> list[str]:
        """The IR names of the blocks: fc0, fc1, ..."""
        return [f"fc{i}" for i in range(len(self.blocks))]

    def ir_layers(self) -> list[Dense]:
        """Every block folded into its IR layer (in eval mode: BatchNorm running statistics)."""
        self._wire_scales()
        return [
            block.to_ir(name) for name, block in zip(self.layer_names(), self.blocks, strict=True)
        ]

    def _wire_scales(self) -> None:
        scale = 1.0
        for block in self.blocks:
            block.in_scale = scale
            scale = block.act.value_scale
