"""Export a trained torch network to the bitwave IR."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import torch

from bitwave.core.ir import BitplaneCodingSpec, Network, validate
from bitwave.core.paths import sanitize_identifier
from bitwave.models.layers import QuantMLP


def state_sha256(model: torch.nn.Module) -> str:
    """Hash of the model's state dict: the provenance link from an IR back to its checkpoint."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def export_mlp(
    model: QuantMLP,
    name: str = "mlp",
    coding: BitplaneCodingSpec | None = None,
    provenance: dict[str, Any] | None = None,
) -> Network:
    """Fold every block (eval-mode BatchNorm statistics) into an IR network."""
    was_training = model.training
    model.eval()
    model._wire_scales()
    layers = [block.to_ir(f"fc{i}") for i, block in enumerate(model.blocks)]
    model.train(was_training)
    first = model.blocks[0].linear
    net = Network(
        name=sanitize_identifier(name),
        input_width=first.in_features,
        input_type=model.input_type,
        layers=layers,
        coding=coding,
        provenance={"source": "torch", "model_sha256": state_sha256(model), **(provenance or {})},
    )
    validate(net)
    return net
