"""The op registry: every IR op is one module here that owns its fields, its golden
execution, its schedule for a folding and its cost counts (modelled on QONNX/FINN custom ops).

A stage asks ``require_supported(net, stage)`` before it starts, so an op it cannot handle is
refused up front with one message; ``bitwave ops`` prints ``support_matrix()``.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from bitwave.core.errors import BitwaveError
from bitwave.core.ops import binary_dense, binary_gru, int_dense

if TYPE_CHECKING:
    from bitwave.core import ir

STAGES = ("train", "golden", "generate", "verify", "gate-level", "synth", "cost")
# the stages that handle a network's early exits (IR version 3); the others refuse such a
# network up front instead of silently treating it as its final exit
EXIT_STAGES = ("train", "golden", "generate", "verify", "gate-level", "synth", "cost")

# op name -> the module owning it, in the order `bitwave ops` lists them
OPS: dict[str, ModuleType] = {
    module.NAME: module for module in (binary_dense, int_dense, binary_gru)
}


def op_named(name: str) -> ModuleType:
    """The op module called ``name``; BitwaveError naming the known ops otherwise."""
    if name not in OPS:
        raise BitwaveError(f"unknown op {name!r}; known ops: {', '.join(OPS)}")
    return OPS[name]


def op_of(layer: Any) -> ModuleType:
    """The op module owning an IR layer object."""
    return op_named(layer.op)


def support_matrix() -> dict[str, dict[str, bool]]:
    """op name -> stage -> whether that stage handles the op."""
    return {
        name: {stage: stage in module.SUPPORTED_STAGES for stage in STAGES}
        for name, module in OPS.items()
    }


def supported_ops(stage: str) -> list[str]:
    """The ops a stage handles, in registry order."""
    if stage not in STAGES:
        raise BitwaveError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    return [name for name, module in OPS.items() if stage in module.SUPPORTED_STAGES]


def require_supported(net: ir.Network, stage: str) -> None:
    """Refuse, before any work, a network holding an op that ``stage`` does not handle."""
    allowed = supported_ops(stage)
    if net.exits and stage not in EXIT_STAGES:
        raise BitwaveError(
            f"bitwave {stage} does not handle a network with early exits ({net.name!r} has "
            f"{net.n_exits} exits); stages that do: {', '.join(EXIT_STAGES)}"
        )
    for layer in [*net.layers, *(early.head for early in net.exits)]:
        if layer.op not in allowed:
            raise BitwaveError(
                f"bitwave {stage} does not support op {layer.op!r} (layer {layer.name!r}); "
                f"it supports {', '.join(allowed)} (see `bitwave ops`)"
            )


def exit_macs(net: ir.Network) -> list[int]:
    """Multiply-accumulates of one frame at each exit (the op counts over ``exit_layers(k)``;
    one entry for a plain network): what a frame costs at each setting of the exit knob."""
    return [
        sum(op_of(layer).cost_counts(layer).macs for layer in net.exit_layers(k))
        for k in range(net.n_exits)
    ]
