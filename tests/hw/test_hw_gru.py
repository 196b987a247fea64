"""The folded bitwise GRU engine (bitwave.hw.gru) in the Amaranth simulator, bit-exact against the
golden model: several utterances back to back with sequence restarts, random valid/ready stalls,
foldings that pad, both weight storages, stacked GRUs feeding a dense layer through a network
top; and its mutation twins (a recurrent weight bit flipped, a threshold moved, a state that is
not reset) fail the same check."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from bitwave.core import contract, golden, ir, ops
from bitwave.core.errors import BitwaveError
from bitwave.core.ir import Network
from bitwave.core.random_ir import random_codes, random_network
from bitwave.hw.folding import LayerFold, solve
from bitwave.hw.generate import generate
from bitwave.hw.gru import FoldedGRU
from bitwave.hw.lint import lint_verilog
from bitwave.hw.network import START_PORT, NetworkTop, weight_image
from bitwave.hw.testbench import check_against_golden, run_layer, run_network


def gru_case(n: int, h: int, frames: int, seed: int) -> tuple[Network, np.ndarray, np.ndarray]:
    """A random GRU network, input frames and start flags: three utterances of unequal length."""
    net = random_network([n, f"gru:{h}", 5], seed=seed)
    rng = np.random.default_rng(seed)
    x = random_codes(net.input_type, frames, n, rng)
    starts = np.zeros(frames, bool)
    starts[[0, frames // 3, min(frames - 1, frames // 3 + 5)]] = True
    return net, x, starts


def layer_outputs(layer, pe, simd, storage, x, starts, seed=0, **kwargs) -> np.ndarray:
    dut = FoldedGRU(layer, pe, simd, storage, **kwargs)
    got, _ = run_layer(dut, x, np.random.default_rng(seed), 0.3, 0.3, starts=starts)
    return got


CASES = [
    # (in, state, pe, simd, storage)
    (13, 7, 3, 4, "const"),  # padded units, padded input and state lanes
    (20, 8, 8, 20, "memory"),  # one unit fold, SIMD wider than the state
    (9, 5, 1, 1, "const"),  # fully folded
    (16, 16, 4, 8, "const"),  # nothing padded
]


@pytest.mark.parametrize("n,h,pe,simd,storage", CASES)
def test_gru_layer_matches_golden_over_restarted_sequences(n, h, pe, simd, storage):
    net, x, starts = gru_case(n, h, 24, seed=n + h)
    layer = net.layers[0]
    want = golden.run_layer(layer, x, starts)
    assert np.abs(np.diff(want, axis=0)).sum() > 0, "a state that never moves tests nothing"
    got = layer_outputs(layer, pe, simd, storage, x, starts)
    check_against_golden(got, want, f"GRU {n}x{h} pe={pe} simd={simd} {storage}")


def test_gru_mutation_twins_fail():
    net, x, starts = gru_case(13, 7, 24, seed=3)
    layer = net.layers[0]
    want = golden.run_layer(layer, x, starts)
    twins = {"state not reset": (layer, {"reset_on_start": False})}
    for unit in range(layer.out_width):  # a recurrent weight bit that changes the output
        flipped = copy.deepcopy(layer)
        flipped.weights_h[0, unit, 0] ^= np.uint64(1)
        if (golden.run_layer(flipped, x, starts) != want).any():
            twins["U bit flipped"] = (flipped, {})
            break
    moved = copy.deepcopy(layer)
    for unit in range(layer.out_width):  # a threshold off by one that changes the output
        moved.thresholds[unit, 3] = layer.thresholds[unit, 3] + 1
        if (golden.run_layer(moved, x, starts) != want).any():
            twins["threshold +1"] = (moved, {})
            break
        moved.thresholds[unit, 3] = layer.thresholds[unit, 3]
    assert len(twins) == 3
    for what, (twin, kwargs) in twins.items():
        got = layer_outputs(twin, 3, 4, "const", x, starts, **kwargs)
        with pytest.raises(AssertionError, match="mismatches"):
            check_against_golden(got, want, what)


def test_gru_timing_is_the_schedule():
    """No stalls: outputs every initiation interval, the first one latency cycles after the
    frame was taken (the recurrence adds no cycles)."""
    net, x, starts = gru_case(13, 7, 6, seed=5)
    dut = FoldedGRU(net.layers[0], 3, 4)
    plan = ops.op_of(net.layers[0]).schedule(net.layers[0], 3, 4)
    assert dut.cycles_per_frame == plan.nf * plan.sf == 3 * 3 * (4 + 2)
    _, log = run_layer(dut, x, starts=starts)
    assert log.outputs[0] - log.inputs[0] == dut.latency_cycles
    assert set(np.diff(log.outputs)) == {dut.initiation_interval}


@pytest.mark.parametrize("storage", ["const", "memory"])
def test_stacked_grus_and_dense_top_with_stalls(storage):
    net = random_network([20, "gru:12", "gru:8", 10], seed=11)
    rng = np.random.default_rng(1)
    x = random_codes(net.input_type, 30, 20, rng)
    starts = np.zeros(30, bool)
    starts[[9, 20, 21]] = True
    folds = dict(zip([layer.name for layer in net.layers],
                     [LayerFold(4, 8, True), LayerFold(8, 12), LayerFold(5, 8)], strict=True))  # fmt: skip
    top = NetworkTop(net, folds, storage, in_beat_bits=8, out_beat_bits=4)
    words = weight_image(net, folds) if storage == "memory" else None
    got, _ = run_network(top, x, rng, 0.3, 0.3, load_words=words, starts=starts)
    check_against_golden(got, golden.run(net, x, starts), f"GRU top {storage}")


def test_weight_words_hold_every_gate_weight_once():
    """The store's bits are exactly W and U (each gate's input then state weights)."""
    net, _, _ = gru_case(13, 7, 3, seed=2)
    layer = net.layers[0]
    op = ops.op_of(layer)
    plan = op.schedule(layer, 3, 4)
    words = op.store_words(layer, plan)
    wx, wh = layer.weight_bits()
    assert sum(bin(w).count("1") for w in words) == int(wx.sum() + wh.sum())
    assert len(words) == plan.weights.depth


def test_solver_folds_a_gru_to_the_frame_rate():
    net = random_network([64, "gru:32", 16], seed=4)
    layer = net.layers[0]
    fold = solve(net, clock_mhz=1.0, fps=62.5, weight_storage="const")[layer.name]
    plan = ops.op_of(layer).schedule(layer, fold.pe, fold.simd)
    assert plan.initiation_interval <= 1e6 / 62.5
    assert fold.pe < layer.out_width  # the budget leaves room to fold


def test_gru_after_a_dense_layer_is_refused():
    net = random_network([16, "gru:8", 6], seed=1)
    dense = random_network([16, 16], seed=2).layers[0]
    gru = net.layers[0]
    dense_first = Network(name="x", input_width=16, input_type=net.input_type, layers=[dense, gru])
    folds = {dense.name: LayerFold(1, 1), gru.name: LayerFold(1, 1)}
    with pytest.raises(BitwaveError, match="recurrent layers"):
        NetworkTop(dense_first, folds)


def test_gru_folding_out_of_range_is_a_clear_error():
    net, _, _ = gru_case(13, 7, 3, seed=2)
    with pytest.raises(BitwaveError, match="pe=8, simd=1 out of range"):
        FoldedGRU(net.layers[0], 8, 1)


def test_generate_writes_a_lint_clean_gru_design_with_its_sequence_port(tmp_path):
    net = random_network([40, "gru:16", 12], seed=7)
    ir.save(net, tmp_path / "gru.bwir")
    fold = f"{net.layers[0].name}:pe=4,simd=8;{net.layers[1].name}:pe=4,simd=16"
    result = generate(tmp_path / "gru.bwir", tmp_path / "design", fold_spec=fold)
    design = contract.load(tmp_path / "design")
    assert design.sequence_start.port == START_PORT
    assert design.port_map[START_PORT] == ("input", 1)
    assert design.layers[0].op == "binary_gru"
    assert design.layers[0].cycles_per_frame == 4 * 3 * (5 + 2)
    lint = lint_verilog(result.verilog, result.top, result.waivers)
    assert lint.ok, lint.output
