"""Cost models from an IR file and from a torch module agree with the YAML descriptions."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from bitwave.app.cli import main
from bitwave.core import ir
from bitwave.core.errors import BitwaveError
from bitwave.core.random_ir import random_network
from bitwave.cost.adapters import from_ir, from_torch, ir_gru_cost
from bitwave.cost.architectures import build


def test_ir_binary_network(tmp_path, capsys):
    net = random_network([2052, 256, 513], seed=1, name="bnn")
    path = tmp_path / "bnn.bwir"
    ir.save(net, path)
    assert main(["cost", str(path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    weights = 2052 * 256 + 256 * 513
    totals = payload["totals"]
    assert totals["params"] == weights
    assert totals["macs_per_frame"] == weights
    assert totals["binary_ops_per_second"] == weights * 62.5
    assert totals["constants"] == 256 + 513  # one threshold per neuron
    assert (
        totals["weight_memory_bits"] == weights + 256 * 12 + 513 * 9
    )  # popcount widths 12 and 9 bits


def test_ir_int_layers_and_frame_rate(tmp_path):
    net = random_network([64, 32, 16], wbits=[4, 2], abits=[3, 1], in_bits=2, seed=2)
    arch = from_ir(net, frames_per_second=100.0)
    assert [layer.kind for layer in arch.layers] == ["int8", "int8"]
    assert [layer.precision.wbits for layer in arch.layers] == [4, 2]
    assert arch.layers[0].constants == 32 * 7  # uint3 output: 7 thresholds per neuron
    assert arch.totals().macs_per_second == (64 * 32 + 32 * 16) * 100.0


def test_ir_matches_yaml_mlp_up_to_biases():
    net = random_network([512, 128, 64], seed=3)
    from_file = from_ir(net).totals()
    from_yaml = build(
        {"kind": "mlp", "inputs": 512, "hidden": [128], "outputs": 64, "precision": "binary"}
    ).totals()
    # the IR folds bias into thresholds: the YAML MLP counts one bias MAC per neuron more
    assert from_yaml.macs_per_frame - from_file.macs_per_frame == 128 + 64
    assert from_yaml.activation_bits == from_file.activation_bits


def test_ir_binary_gru_cost():
    cell = SimpleNamespace(name="gru0", op="binary_gru", in_width=2052, out_width=256)
    cost = ir_gru_cost(cell)
    assert cost.weights == 3 * 256 * (2052 + 256) and cost.kind == "binary"
    assert cost.rows == 3 * 256 and cost.state_bits == 256


def test_ir_unknown_op_and_cli_errors(tmp_path, capsys):
    bad = SimpleNamespace(name="x", layers=[SimpleNamespace(name="conv", op="conv2d")])
    with pytest.raises(BitwaveError, match="conv2d.*allowed: binary_dense"):
        from_ir(bad)
    assert main(["cost", str(tmp_path / "missing.bwir")]) == 2
    junk = tmp_path / "junk.bwir"
    junk.write_bytes(b"not a zip")
    assert main(["cost", str(junk)]) == 2
    assert "error" in capsys.readouterr().err


class _GRUMask(nn.Module):
    def __init__(self, cell: type, hidden: int, layers: int) -> None:
        super().__init__()
        self.rnn = cell(513, hidden, layers, batch_first=True)
        self.mask = nn.Linear(hidden, 513)


@pytest.mark.parametrize(("cell", "kind"), [(nn.GRU, "gru"), (nn.LSTM, "lstm")])
def test_torch_rnn_matches_yaml(cell, kind):
    module = _GRUMask(cell, 64, 2)
    from_module = from_torch(module, "m").totals()
    from_yaml = build({"kind": kind, "hidden": 64, "layers": 2}).totals()
    assert from_module.params == from_yaml.params == sum(p.numel() for p in module.parameters())
    assert from_module.macs_per_frame == from_yaml.macs_per_frame
    assert from_module.activation_bits == from_yaml.activation_bits


def test_torch_conv_norm_prelu():
    module = nn.Sequential(
        nn.Conv1d(128, 512, 1),
        nn.PReLU(),
        nn.GroupNorm(1, 512),
        nn.Conv1d(512, 512, 3, groups=512, dilation=4, padding=4),
    )
    arch = from_torch(module, "tcn")
    assert arch.totals().params == sum(p.numel() for p in module.parameters())
    dw = arch.layers[-1]
    assert dw.macs == 512 * 3 + 512 and dw.state_bits == 2 * 4 * 512 * 32


def test_torch_bitwave_dense_block():
    from bitwave.models.layers import DenseBlock

    module = nn.Sequential(
        DenseBlock(2052, 256, ir.BIPOLAR, wbits=1, out_bits=1), DenseBlock(256, 513, ir.BIPOLAR)
    )
    arch = from_torch(module, "bnn")
    assert [layer.kind for layer in arch.layers] == ["binary", "binary"]
    assert arch.totals().binary_ops_per_frame == (2052 * 256 + 256) + (256 * 513 + 513)


def test_torch_unknown_parameterised_module_is_an_error():
    module = nn.Sequential(nn.Linear(4, 4), nn.Embedding(10, 4))
    with pytest.raises(BitwaveError, match="Embedding.*no cost model"):
        from_torch(module)
    with pytest.raises(BitwaveError, match="no costed layers"):
        from_torch(nn.Sequential(nn.ReLU()))


def test_torch_forward_untouched():
    # costing never runs the module, so it works on any input shape and leaves it intact
    module = _GRUMask(nn.GRU, 8, 1)
    before = [p.clone() for p in module.parameters()]
    from_torch(module)
    assert all(torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))
