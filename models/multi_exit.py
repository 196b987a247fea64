"""Multi-exit (BLOOM-Net-style) mask estimators: one chain of binary / k-bit layers cut into
blocks, with a mask exit after each block, so that running the first k blocks gives a mask and
each further block refines it.

``MultiExitMLP`` is a ``QuantMLP`` trunk (its layers fc0, fc1, ... and its last layer, the
final exit, are exactly those of the single-exit MLP of the same widths) plus one dense head
per early exit (``DenseBlock`` 's, exported as exit0, exit1, ...), each reading the output bits
of the trunk layer it follows. Block k is the trunk layers after exit k-1 up to exit k, with
exit k's head; the last block ends in the final layer. Blockwise training (``train_stage``)
trains one block at a time on top of the frozen earlier blocks, as BLOOM-Net does.
"""

from __future__ import annotations

import torch
from torch import nn

from bitwave.core.ir import BIPOLAR, Dense, Exit, ValueType
from bitwave.models.layers import DenseBlock, QuantMLP


def _pre_activation(block: DenseBlock, x: torch.Tensor) -> torch.Tensor:
    """A mask layer's BatchNorm output: its bit is [logit >= 0] (BCE-with-logits target)."""
    return block.bn(block.linear(x))


class MultiExitMLP(nn.Module):
    """A ``QuantMLP`` chain with early mask exits after the hidden layers ``exits`` (indices
    into the hidden layers, increasing; the last hidden layer feeds the final exit).

    ``widths`` = [input, hidden..., output]; ``wbits`` / ``abits`` as for ``QuantMLP`` (one per
    trunk layer, or one for all). Each head has the output width, the final layer's weight
    bits and output bits, and the input type of the hidden layer it reads.
    """

    ir_name = "mlp"  # the IR network's default name, as the single-exit MLP's

    def __init__(
        self,
        widths: list[int],
        exits: list[int],
        wbits: int | list[int] = 1,
        abits: int | list[int] = 1,
        input_type: ValueType = BIPOLAR,
    ) -> None:
        super().__init__()
        hidden = len(widths) - 2
        exits = list(exits)
        if not exits or exits != sorted(set(exits)) or exits[0] < 0 or exits[-1] > hidden - 2:
            raise ValueError(
                f"exits must be increasing hidden-layer indices in 0..{hidden - 2}, got {exits}"
            )
        self.trunk = QuantMLP(widths, wbits=wbits, abits=abits, input_type=input_type)
        self.exit_after = exits
        last = self.trunk.blocks[-1]
        self.heads = nn.ModuleList(
            DenseBlock(widths[i + 1], widths[-1], self.trunk.blocks[i].out_type,
                       last.linear.wbits, last.act.bits)
            for i in exits
        )  # fmt: skip

    # -- shape --------------------------------------------------------------------------------
    @property
    def n_exits(self) -> int:
        """Early exits plus the final one."""
        return len(self.heads) + 1

    @property
    def input_width(self) -> int:
        return self.trunk.input_width

    @property
    def input_type(self) -> ValueType:
        return self.trunk.input_type

    def stage_blocks(self, stage: int) -> list[DenseBlock]:
        """The layers of block ``stage``: the trunk layers after the previous exit up to this
        one, then this exit's head (the final layer for the last block)."""
        if not 0 <= stage < self.n_exits:
            raise IndexError(f"block {stage} of a network with {self.n_exits} blocks")
        bounds = [-1, *self.exit_after, len(self.trunk.blocks) - 2]
        trunk = list(self.trunk.blocks[bounds[stage] + 1 : bounds[stage + 1] + 1])
        head = self.heads[stage] if stage < len(self.heads) else self.trunk.blocks[-1]
        return [*trunk, head]

    def all_blocks(self) -> list[DenseBlock]:
        return [*self.trunk.blocks, *self.heads]

    # -- training -----------------------------------------------------------------------------
    def exit_logits(self, x: torch.Tensor, last: int | None = None) -> list[torch.Tensor]:
        """The mask pre-activations of exits 0..``last`` (all by default), one trunk pass."""
        last = self.n_exits - 1 if last is None else last
        self._wire_scales()
        heads = dict(zip(self.exit_after, self.heads, strict=True))
        outputs: list[torch.Tensor] = []
        for i, block in enumerate(self.trunk.blocks[:-1]):
            x = block.float_forward(x)
            if i in heads:
                outputs.append(_pre_activation(heads[i], x))
                if len(outputs) > last:
                    return outputs
        return [*outputs, _pre_activation(self.trunk.blocks[-1], x)]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The final exit's pre-activation (as ``QuantMLP.logits``)."""
        return self.exit_logits(x)[-1]

    def set_relaxed(self, relaxed: bool) -> None:
        for block in self.all_blocks():
            block.set_relaxed(relaxed)

    def clip_latent_weights(self) -> None:
        for block in self.all_blocks():
            block.clip_latent_weights()

    def train_stage(self, stage: int, relaxed: bool) -> None:
        """Blockwise training of block ``stage``: the blocks before it frozen (eval mode, so
        BatchNorm keeps its running statistics, and no gradients), its own layers trained
        (relaxed or binary); the blocks after it wait, trainable, for their stage."""
        for index in range(self.n_exits):
            for block in self.stage_blocks(index):
                block.train(index >= stage)
                block.requires_grad_(index >= stage)
                block.set_relaxed(relaxed and index == stage)

    # -- inference ----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The final exit's values (as ``QuantMLP.forward``)."""
        return self.trunk(x)

    def infer_exit_codes(self, codes: torch.Tensor) -> list[torch.Tensor]:
        """Every exit's output codes (index = exit number), integer semantics as the IR's."""
        self._wire_scales()
        heads = dict(zip(self.exit_after, self.heads, strict=True))
        outputs = []
        for i, block in enumerate(self.trunk.blocks):
            codes = block.integer_forward(codes)
            if i in heads:
                outputs.append(heads[i].integer_forward(codes))
        return [*outputs, codes]

    def infer_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """The final exit's output codes."""
        return self.trunk.infer_codes(codes)

    # -- export -------------------------------------------------------------------------------
    def ir_layers(self) -> list[Dense]:
        """The trunk: the same layers (and names) as the single-exit MLP of these widths."""
        return self.trunk.ir_layers()

    def ir_exits(self) -> list[Exit]:
        """The early exits: head k is ``exit<k>``, reading the trunk layer it follows."""
        self._wire_scales()
        names = self.trunk.layer_names()
        return [
            Exit(after=names[i], head=head.to_ir(f"exit{k}"))
            for k, (i, head) in enumerate(zip(self.exit_after, self.heads, strict=True))
        ]

    def _wire_scales(self) -> None:
        """Each head reads its hidden layer's values: their step is its input scale."""
        self.trunk._wire_scales()
        for i, head in zip(self.exit_after, self.heads, strict=True):
            head.in_scale = self.trunk.blocks[i].act.value_scale
