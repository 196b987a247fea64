"""The bitwise GRU mask estimator: GRU layer(s) and a binary dense output layer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import nn

from bitwave.core.errors import BitwaveError
from bitwave.core.ir import BIPOLAR, Layer
from bitwave.models.gru.folding import DEFAULT_COEFFICIENT_LIMIT
from bitwave.models.gru.layer import BinaryGRULayer
from bitwave.models.gru.weights import IncrementalBinaryLinear
from bitwave.models.layers import DenseBlock


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

    # -- export ------------------------------------------------------------------------------
    ir_name = "gru"  # the IR network's default name (``export.export_network``)
    input_type = BIPOLAR

    @property
    def input_width(self) -> int:
        return self.input_size

    def ir_layers(self) -> list[Layer]:
        """One binary_gru layer per GRU layer, then the binary_dense output layer (in eval
        mode: BatchNorm running statistics). Only a fully binary network folds."""
        if not self.fully_binary:
            raise BitwaveError(
                f"the GRU is not fully binary yet (binarized fraction {self.binarized_fraction:.2f}, "
                f"gate hardness {self.hardness:.2f}): finish train_incremental first"
            )
        self.out.in_scale = 1.0
        layers: list[Layer] = [gru.to_ir(f"gru{i}") for i, gru in enumerate(self.grus)]
        return [*layers, self.out.to_ir("fc_out")]

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
