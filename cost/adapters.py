"""Cost models of networks that already exist: a bitwave IR file, or a torch module.

Neither carries the audio framing, so both take ``frames_per_second`` (default 16 kHz / hop
256 = 62.5 frames/s, the STFT settings of the seed systems); every module is costed per frame
(one time step of its input sequence).
"""

from __future__ import annotations

import os
from typing import Any

from bitwave.core import ops
from bitwave.core.errors import BitwaveError
from bitwave.core.ops.base import REAL_TIME_FPS as DEFAULT_FPS
from bitwave.cost import primitives as prim
from bitwave.cost.counts import FLOAT32, ArchCost, LayerCost, Precision


def ir_layer_cost(layer: Any) -> LayerCost:
    """One IR layer, from its op's counts (``bitwave.core.ops.<op>.cost_counts``)."""
    counts = ops.op_of(layer).cost_counts(layer)
    fields = {k: v for k, v in counts.__dict__.items() if k not in ("wbits", "abits")}
    return LayerCost(
        name=layer.name,
        op=layer.op,
        group="ir",
        precision=Precision(counts.wbits, counts.abits),
        source=layer,
        **fields,
    )


ir_gru_cost = ir_layer_cost  # a binary_gru layer is costed like any IR layer, by its op


def from_ir(network: Any, frames_per_second: float = DEFAULT_FPS) -> ArchCost:
    """Cost of a loaded ``bitwave.core.ir.Network``."""
    if not getattr(network, "layers", None):
        raise BitwaveError("IR network has no layers to cost")
    layers = []
    allowed = ops.supported_ops("cost")
    for index, layer in enumerate(network.layers):
        if layer.op not in allowed:
            raise BitwaveError(
                f"IR layer {index} ({layer.name}): op {layer.op!r} has no cost model; "
                f"allowed: {', '.join(allowed)}"
            )
        layers.append(ir_layer_cost(layer))
    notes = [
        f"from IR: {len(layers)} layers; thresholds counted as stored constants, not parameters",
        f"{frames_per_second:g} frames/s (the IR holds no audio framing; set it with --frames-per-second)",
        *_exit_notes(network),
    ]
    return ArchCost(
        network.name, "ir", layers, frames_per_second, config={"source": "ir"}, notes=notes
    )


exit_macs = ops.exit_macs  # MACs of one frame at each exit


def _exit_notes(network: Any) -> list[str]:
    """A multi-exit network: the figures above are its final exit's (the chain); what the
    early exits' heads add, and the MACs a frame costs at each exit."""
    exits = getattr(network, "exits", None)
    if not exits:
        return []
    heads = [ir_layer_cost(early.head) for early in exits]
    macs = exit_macs(network)
    per_exit = ", ".join(
        f"exit {k} {count:,} ({count / macs[-1]:.0%})" for k, count in enumerate(macs)
    )
    return [
        f"{len(exits)} early exits: the layers and totals above are the final exit's; the "
        f"heads ({', '.join(h.name for h in heads)}) add {sum(h.params for h in heads):,} "
        "parameters (`bitwave cost DESIGN_DIR` prices them in hardware)",
        f"MACs per frame by exit: {per_exit}",
    ]


def load_ir(path: str | os.PathLike, frames_per_second: float = DEFAULT_FPS) -> ArchCost:
    from bitwave.core import ir

    return from_ir(ir.load(path), frames_per_second)


# ---------------------------------------------------------------------------------------------
# torch
# ---------------------------------------------------------------------------------------------
def _conv1d(name: str, module: Any, p: Precision) -> LayerCost:
    k = module.kernel_size[0]
    per_out = module.in_channels // module.groups * k
    weights = module.out_channels * per_out
    biases = module.out_channels if module.bias is not None else 0
    history = (k - 1) * module.dilation[0]
    return LayerCost(
        name=name,
        op="conv1d",
        group="torch",
        precision=p,
        weights=weights,
        biases=biases,
        macs=weights + biases,
        state_bits=history * module.in_channels * p.abits,
        io_bits=(module.in_channels + module.out_channels) * p.abits,
        rows=module.out_channels,
        cols=per_out,
    )


def _torch_layers(name: str, module: Any) -> list[LayerCost] | None:
    """Costs of one recognised module, or None to look inside it."""
    from torch import nn

    try:  # the project's quantized layers, when that module is importable
        from bitwave.models.layers import DenseBlock, QuantLinear
    except ImportError:  # pragma: no cover - the models stage is optional for costing
        DenseBlock = QuantLinear = ()  # noqa: N806

    if DenseBlock and isinstance(module, DenseBlock):
        lin = module.linear
        p = Precision(lin.wbits, module.in_type.bits)
        # BatchNorm and the activation fold into one threshold set per neuron
        return [prim.dense(name, "torch", lin.in_features, lin.out_features, p)]
    quantized = bool(QuantLinear) and isinstance(module, QuantLinear)  # k-bit weights, no bias
    if quantized or isinstance(module, nn.Linear):
        precision = Precision(module.wbits, 32) if quantized else FLOAT32
        bias = not quantized and module.bias is not None
        width = (module.in_features, module.out_features)
        return [prim.dense(name, "torch", *width, precision, bias=bias)]
    if isinstance(module, nn.GRU | nn.LSTM):
        cell = prim.gru if isinstance(module, nn.GRU) else prim.lstm
        if not module.bias:
            raise BitwaveError(
                f"torch module {name}: recurrent layers without bias are not modelled; allowed: bias=True"
            )
        directions = 2 if module.bidirectional else 1
        layers, width = [], module.input_size
        for index in range(module.num_layers):
            for direction in range(directions):
                layers.append(
                    cell(
                        f"{name}.l{index}.d{direction}", "torch", width, module.hidden_size, FLOAT32
                    )
                )
            width = module.hidden_size * directions
        return layers
    if isinstance(module, nn.Conv1d):
        return [_conv1d(name, module, FLOAT32)]
    if isinstance(module, nn.BatchNorm1d | nn.LayerNorm | nn.GroupNorm):
        channels = sum(p.numel() for p in module.parameters()) // 2
        return [prim.norm(name, "torch", channels, FLOAT32)] if channels else []
    if isinstance(module, nn.PReLU):
        return [
            LayerCost(
                name=name,
                op="prelu",
                group="torch",
                precision=FLOAT32,
                other_params=module.num_parameters,
            )
        ]
    return None


def from_torch(
    module: Any, name: str = "torch", frames_per_second: float = DEFAULT_FPS
) -> ArchCost:
    """Walk a torch module: Linear, GRU, LSTM, Conv1d, norms, PReLU and bitwave's
    DenseBlock/QuantLinear are costed; any other module with parameters is an error, so that
    nothing is silently left out."""
    layers: list[LayerCost] = []

    def walk(prefix: str, mod: Any) -> None:
        found = _torch_layers(prefix or type(mod).__name__, mod)
        if found is not None:
            layers.extend(found)
            return
        children = list(mod.named_children())
        if not children:
            if any(True for _ in mod.parameters(recurse=False)):
                raise BitwaveError(
                    f"torch module {prefix or type(mod).__name__} ({type(mod).__name__}) has parameters but no cost model; allowed: Linear, GRU, LSTM, Conv1d, BatchNorm1d, LayerNorm, GroupNorm, PReLU, DenseBlock, QuantLinear"
                )
            return
        for child_name, child in children:
            walk(f"{prefix}.{child_name}" if prefix else child_name, child)

    walk("", module)
    if not layers:
        raise BitwaveError(f"torch module {name}: no costed layers found")
    counted = sum(layer.params for layer in layers)
    actual = sum(p.numel() for p in module.parameters())
    notes = [
        f"from torch: {len(layers)} layers; {frames_per_second:g} frames/s; per frame = one time step of the input sequence"
    ]
    if counted != actual:
        notes.append(
            f"parameter count {counted} differs from the module's {actual} (quantizer steps and BatchNorm folded into thresholds)"
        )
    return ArchCost(
        name, "torch", layers, frames_per_second, config={"source": "torch"}, notes=notes
    )
