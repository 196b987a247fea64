"""MVTU (binary_dense) and MVU (int_dense) layers in the Amaranth simulator, bit-exact against
bitwave.core.golden: random weights, inputs and thresholds, widths that are not multiples of SIMD
or PE, both weight storages, random valid/ready stalls on both sides."""

from __future__ import annotations

import numpy as np
import pytest

from bitwave.core import golden, ops
from bitwave.core.errors import BitwaveError
from bitwave.core.random_ir import random_codes, random_network
from bitwave.hw.mvtu import MVTU
from bitwave.hw.mvu import MVU
from bitwave.hw.testbench import check_against_golden, run_layer
from bitwave.hw.thresholds import threshold_table


def layer_and_frames(widths, frames, seed, **kwargs):
    net = random_network(widths, seed=seed, **kwargs)
    rng = np.random.default_rng(seed)
    x = random_codes(net.input_type, frames, widths[0], rng)
    return net.layers[0], x, rng


BINARY_CASES = [
    # (in, out, pe, simd, storage, abits)
    (37, 11, 3, 5, "const", 1),  # neither width a multiple: padded lanes and neurons
    (37, 11, 11, 37, "const", 1),  # fully parallel constant weights: wires and inverters
    (37, 11, 11, 37, "memory", 1),
    (50, 7, 7, 8, "memory", 3),  # multi-threshold uint3 outputs
    (64, 9, 2, 64, "const", 2),
    (24, 6, 1, 1, "const", 1),  # fully folded
]


@pytest.mark.parametrize("n,m,pe,simd,storage,abits", BINARY_CASES)
def test_mvtu_matches_golden_with_stalls(n, m, pe, simd, storage, abits):
    layer, x, rng = layer_and_frames([n, m], 16, seed=n + m + pe, abits=abits)
    dut = MVTU(layer, pe, simd, storage)
    got, _ = run_layer(dut, x, rng, stall_in=0.3, stall_out=0.3)
    check_against_golden(
        got, golden.run_layer(layer, x), f"MVTU {n}x{m} pe={pe} simd={simd} {storage}"
    )


INT_CASES = [
    # (in, out, pe, simd, storage, wbits, abits, in_bits)
    (13, 5, 2, 4, "const", 2, 2, 3),
    (13, 5, 5, 13, "const", 3, 1, 2),  # fully parallel constant multipliers
    (13, 5, 5, 13, "memory", 1, 2, 2),  # +/-1 weights on uint inputs
    (20, 6, 3, 7, "memory", 4, 3, 1),  # bipolar inputs as -1/+1
    (20, 6, 4, 6, "const", 8, 2, 4),
]


@pytest.mark.parametrize("n,m,pe,simd,storage,wbits,abits,in_bits", INT_CASES)
def test_mvu_matches_golden_with_stalls(n, m, pe, simd, storage, wbits, abits, in_bits):
    layer, x, rng = layer_and_frames(
        [n, m], 16, seed=n * m + wbits, wbits=wbits, abits=abits, in_bits=in_bits
    )
    dut = MVU(layer, pe, simd, storage)
    got, _ = run_layer(dut, x, rng, stall_in=0.3, stall_out=0.3)
    check_against_golden(
        got, golden.run_layer(layer, x), f"MVU {n}x{m} pe={pe} simd={simd} {storage}"
    )


def test_mvtu_1024_inputs_folded_and_fully_parallel():
    layer, x, rng = layer_and_frames([1024, 4], 12, seed=11)
    expected = golden.run_layer(layer, x)
    for pe, simd in ((2, 256), (1, 1000)):  # 1000 does not divide 1024
        got, _ = run_layer(MVTU(layer, pe, simd, "const"), x, rng, stall_in=0.2, stall_out=0.2)
        check_against_golden(got, expected, f"MVTU 1024x4 pe={pe} simd={simd}")


def test_single_neuron_1024_inputs_constant_weights():
    layer, x, rng = layer_and_frames([1024, 1], 40, seed=12)
    got, _ = run_layer(MVTU(layer, 1, 1024, "const"), x, rng)
    check_against_golden(got, golden.run_layer(layer, x), "1024-input constant neuron")


def test_thresholds_outside_the_accumulator_range_give_constant_outputs():
    layer, x, rng = layer_and_frames([20, 4], 10, seed=3)
    layer.thresholds = np.array([[-50], [500], [-1], [21]], np.int64)
    layer.direction = np.array([1, 1, -1, -1], np.int8)
    table = threshold_table(layer)
    low, high = ops.op_of(layer).accumulator_range(layer)
    assert table.values.min() >= low - 1 and table.values.max() <= high + 1
    for pe, simd in ((4, 20), (2, 6)):
        got, _ = run_layer(MVTU(layer, pe, simd, "const"), x, rng)
        check_against_golden(got, golden.run_layer(layer, x), "out-of-range thresholds")


def test_design_from_one_ir_fails_against_the_golden_of_another():
    """Mutation: flip one weight bit; on frames where the two goldens differ, the hardware of
    IR A must disagree with the golden of IR B (so the comparison can fail)."""
    layer, x, rng = layer_and_frames([40, 6], 300, seed=21)
    other = layer_and_frames([40, 6], 1, seed=21)[0]
    bits = other.weight_bits()
    bits[2, 7] ^= 1
    from bitwave.core.ir import pack_bits

    other.weights = pack_bits(bits)
    differ = np.any(golden.run_layer(layer, x) != golden.run_layer(other, x), axis=1)
    assert differ.any(), "the flipped bit must matter for some frame"
    frames = x[differ][:8]
    got, _ = run_layer(MVTU(layer, 3, 8, "const"), frames, rng)
    check_against_golden(got, golden.run_layer(layer, frames), "IR A vs golden A")
    with pytest.raises(AssertionError, match="mismatches"):
        check_against_golden(got, golden.run_layer(other, frames), "IR A vs golden B")


def test_bad_folding_is_a_clear_error():
    layer, _, _ = layer_and_frames([20, 4], 1, seed=1)
    with pytest.raises(BitwaveError, match="pe=5, simd=3 out of range"):
        MVTU(layer, 5, 3)
    with pytest.raises(BitwaveError, match="weight storage 'rom'"):
        MVTU(layer, 1, 1, "rom")
    int_layer, _, _ = layer_and_frames([20, 4], 1, seed=1, wbits=2)
    with pytest.raises(BitwaveError, match="the MVTU implements binary_dense"):
        MVTU(int_layer, 1, 1)
    with pytest.raises(BitwaveError, match="the MVU implements int_dense"):
        MVU(layer, 1, 1)
