"""Each op owns its schedule: folds, cycles, accumulator width and the weight-store layout.
The layout is checked against a lane-by-lane formulation written from docs/hw.md."""

from __future__ import annotations

import numpy as np
import pytest

from bitwave.core import ops
from bitwave.core.errors import BitwaveError
from bitwave.core.ops.base import (
    INITIATION_EXTRA,
    LATENCY_EXTRA,
    REAL_TIME_FPS,
    WeightLayout,
    popcount_width,
    signed_width,
    weight_layout,
)
from bitwave.core.random_ir import random_network


def layer_of(widths, **kwargs):
    return random_network(widths, seed=3, **kwargs).layers[0]


def lane_by_lane(codes: np.ndarray, layout: WeightLayout) -> tuple[list[int], list[int]]:
    """Fold step t = nf*SF + sf in word t // G at bits (t % G) * step_bits; lane (p, s) =
    weight (nf*PE + p, sf*SIMD + s) at bits (p*SIMD + s) * b; padding lanes zero."""
    rows, cols = codes.shape
    b, lane_mask = layout.weight_bits, (1 << layout.weight_bits) - 1
    words, masks = [0] * layout.depth, [0] * layout.depth
    for t in range(layout.nf * layout.sf):
        n, s = divmod(t, layout.sf)
        base = (t % layout.steps_per_word) * layout.step_bits
        for p in range(layout.pe):
            for q in range(layout.simd):
                row, col = n * layout.pe + p, s * layout.simd + q
                if row < rows and col < cols:
                    shift = base + (p * layout.simd + q) * b
                    words[t // layout.steps_per_word] |= int(codes[row, col]) << shift
                    masks[t // layout.steps_per_word] |= lane_mask << shift
    return words, masks


def test_real_time_rate():
    assert REAL_TIME_FPS == 62.5


@pytest.mark.parametrize("pe,simd", [(1, 1), (4, 16), (3, 7), (33, 70), (11, 5)])
def test_binary_dense_schedule(pe, simd):
    layer = layer_of([70, 33])
    plan = ops.op_of(layer).schedule(layer, pe, simd)
    nf, sf = -(-33 // pe), -(-70 // simd)
    assert (plan.nf, plan.sf, plan.cycles_per_frame) == (nf, sf, nf * sf)
    assert plan.initiation_interval == nf * sf + INITIATION_EXTRA
    assert plan.latency_cycles == nf * sf + LATENCY_EXTRA
    assert (plan.acc_bits, plan.acc_signed) == (popcount_width(70), False) == (7, False)
    layout = plan.weights
    assert layout.step_bits == pe * simd and layout.word_bits <= max(64, pe * simd)
    assert layout.depth * layout.steps_per_word >= nf * sf
    codes = ops.op_of(layer).weight_codes(layer)
    assert np.array_equal(codes, layer.weight_bits())
    words, masks = lane_by_lane(codes, layout)
    assert layout.words(codes) == words and layout.masks(33, 70) == masks


def test_int_dense_schedule_and_lane_codes():
    layer = layer_of([40, 24], wbits=3, abits=2, in_bits=2)
    op = ops.op_of(layer)
    plan = op.schedule(layer, 5, 7)
    top = 40 * int(np.abs(layer.weights).max()) * 3  # N * max|w| * max input code
    assert (plan.acc_bits, plan.acc_signed) == (signed_width(-top, top), True)
    assert plan.weights.weight_bits == 3 and plan.weights.step_bits == 105
    codes = op.weight_codes(layer)
    assert np.array_equal(np.where(codes > 3, codes - 8, codes), layer.weights)
    assert plan.weights.words(codes) == lane_by_lane(codes, plan.weights)[0]
    low, high = op.accumulator_range(layer)
    assert low <= op.accumulate(layer, np.full((1, 40), 3)).min() <= high


def test_store_words_pack_narrow_steps():
    layout = weight_layout(30, 16, 1, 2, 1)  # 2-bit steps, 240 of them: 32 per 64-bit word
    assert (layout.steps_per_word, layout.word_bits, layout.depth) == (32, 64, 8)
    assert weight_layout(3, 4, 3, 4, 1).steps_per_word == 1  # one step: no grouping


def test_out_of_range_folding_is_refused():
    layer = layer_of([20, 8])
    with pytest.raises(BitwaveError, match="pe=9, simd=1 out of range"):
        ops.op_of(layer).schedule(layer, 9, 1)
    gru = random_network([20, "gru:8", 4], seed=0).layers[0]
    with pytest.raises(BitwaveError, match="pe=9, simd=1 out of range"):
        ops.op_of(gru).schedule(gru, 9, 1)
    with pytest.raises(BitwaveError, match="simd=21 out of range"):
        ops.op_of(gru).schedule(gru, 1, 21)


def test_gru_schedule_counts_three_gates_over_input_and_state():
    gru = random_network([20, "gru:8", 4], seed=0).layers[0]
    plan = ops.op_of(gru).schedule(gru, 3, 6)
    assert (plan.nf, plan.sf) == (3, 3 * (4 + 2))  # SFx = ceil(20/6), SFh = ceil(8/6)
    assert plan.cycles_per_frame == 54 and plan.latency_cycles == 54 + 2
    low, high = ops.op_of(gru).accumulator_range(gru)
    assert low == 0 and high == max(a * 20 + b * 8 for a, b in gru.coefficients.tolist())
    assert plan.acc_bits == high.bit_length()


def test_cost_counts_of_a_dense_op():
    layer = layer_of([100, 30], wbits=3, abits=2)
    counts = ops.op_of(layer).cost_counts(layer)
    assert (counts.weights, counts.macs, counts.rows, counts.cols) == (3000, 3000, 30, 100)
    assert counts.constants == 30 * 3 and counts.constant_bits == 3 + 1 + 7
