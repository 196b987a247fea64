"""Export a trained torch network to the bitwave IR."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import torch

from bitwave.core.ir import BitplaneCodingSpec, Network, validate
from bitwave.core.paths import sanitize_identifier


def state_sha256(model: torch.nn.Module) -> str:
    """Hash of the model's state dict: the provenance link from an IR back to its checkpoint."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def export_network(
    model: torch.nn.Module,
    name: str | None = None,
    coding: BitplaneCodingSpec | None = None,
    provenance: dict[str, Any] | None = None,
) -> Network:
    """Fold a trained model into a validated IR network whose provenance links back to the
    model's state. The model owns its folding: ``ir_layers()`` (run in eval mode, i.e. on
    the BatchNorm running statistics; the model's mode is restored), ``ir_exits()`` if it has
    early exits (a multi-exit model), ``input_width``, ``input_type`` and ``ir_name``, the
    network's default name."""
    modes = [module.training for module in model.modules()]  # blockwise training mixes modes
    model.eval()
    try:
        layers = model.ir_layers()
        exits = model.ir_exits() if hasattr(model, "ir_exits") else []
    finally:
        for module, mode in zip(model.modules(), modes, strict=True):
            module.training = mode
    net = Network(
        name=sanitize_identifier(model.ir_name if name is None else name),
        input_width=model.input_width,
        input_type=model.input_type,
        layers=layers,
        coding=coding,
        provenance={"source": "torch", "model_sha256": state_sha256(model), **(provenance or {})},
        exits=exits,
    )
    validate(net)
    return net


# The names callers know: QuantMLP, MultiExitMLP and BitwiseGRU all fold through
# ``export_network``.
export_mlp = export_gru = export_network
