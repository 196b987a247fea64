"""The op registry: `bitwave ops` prints the op x stage matrix, and a stage that does not
support an op refuses the network up front, naming the stage, the op and the layer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bitwave.app.cli import main
from bitwave.core import ir, ops
from bitwave.core.errors import BitwaveError
from bitwave.core.random_ir import random_network


def gru_network() -> ir.Network:
    rng = np.random.default_rng(0)
    n, h = 12, 5
    gru = ir.BinaryGRU(
        name="gru0",
        in_width=n,
        out_width=h,
        weights_x=ir.pack_bits(rng.integers(0, 2, size=(3, h, n))),
        weights_h=ir.pack_bits(rng.integers(0, 2, size=(3, h, h))),
        coefficients=np.ones((3, 2), np.int64),
        thresholds=np.full((h, 4), 8, np.int64),
        direction=np.ones((h, 3), np.int8),
        initial_state=np.zeros(h, np.uint8),
    )
    dense = random_network([h, 3], seed=1).layers[0]
    return ir.Network("g", n, ir.BIPOLAR, [gru, dense])


def test_matrix_states_the_supported_stages():
    matrix = ops.support_matrix()
    assert list(matrix) == ["binary_dense", "int_dense", "binary_gru"]
    for name in ("binary_dense", "int_dense", "binary_gru"):
        assert all(matrix[name][stage] for stage in ops.STAGES)


def test_op_of_finds_the_owning_module():
    net = gru_network()
    assert [ops.op_of(layer).NAME for layer in net.layers] == ["binary_gru", "binary_dense"]


def test_unsupported_op_is_refused_up_front(monkeypatch):
    # every op is supported everywhere today: take the GRU's hardware stages away to check
    # that a stage refuses an op it does not handle, with one message
    monkeypatch.setattr(ops.OPS["binary_gru"], "SUPPORTED_STAGES", ("train", "golden", "cost"))
    net = gru_network()
    for stage in ("generate", "verify", "gate-level", "synth"):
        with pytest.raises(BitwaveError) as error:
            ops.require_supported(net, stage)
        assert str(error.value) == (
            f"bitwave {stage} does not support op 'binary_gru' (layer 'gru0'); it supports "
            "binary_dense, int_dense (see `bitwave ops`)"
        )
    for stage in ("train", "golden", "cost"):
        ops.require_supported(net, stage)
    ops.require_supported(random_network([8, 4, 2], wbits=[1, 3], abits=[2, 1]), "synth")
    with pytest.raises(BitwaveError, match="unknown stage 'fly'"):
        ops.require_supported(net, "fly")


def test_ops_command_prints_the_matrix(capsys):
    assert main(["ops"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["op", *ops.STAGES]
    assert lines[1].split() == ["binary_dense"] + ["yes"] * len(ops.STAGES)
    assert lines[3].split() == ["binary_gru"] + ["yes"] * len(ops.STAGES)
    columns = [line.index(" ", len("binary_dense")) for line in lines[1:4]]
    assert len(set(columns)) == 1  # the columns are aligned
    assert lines[-1] == f"networks with early exits (IR version 3): {', '.join(ops.EXIT_STAGES)}"


def test_ops_command_json(capsys):
    assert main(["ops", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == ops.support_matrix()
