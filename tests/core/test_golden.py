"""The golden model against direct formulations of the IR semantics (docs/ir.md)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitwave.core import golden, ir
from bitwave.core.errors import BitwaveError
from bitwave.core.random_ir import random_codes, random_network
from bitwave.core.xnor_popcount import mismatches, mismatches_reference


@settings(max_examples=30, deadline=None)
@given(
    frames=st.integers(1, 40),
    neurons=st.integers(1, 150),
    words=st.integers(1, 9),
    seed=st.integers(0, 2**31),
)
def test_kernel_matches_numpy_popcount(frames, neurons, words, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2**64, size=(frames, words), dtype=np.uint64)
    w = rng.integers(0, 2**64, size=(neurons, words), dtype=np.uint64)
    assert np.array_equal(mismatches(x, w), mismatches_reference(x, w))


@pytest.mark.parametrize("n", [1, 63, 64, 65, 200, 1024])
def test_binary_acc_is_xnor_popcount_and_dot_identity(n):
    net = random_network([n, 17], seed=n)
    layer = net.layers[0]
    x = random_codes(net.input_type, 50, n, np.random.default_rng(0))
    acc = golden.dense_acc(layer, x)
    w = layer.weight_bits()
    xnor_count = (x[:, None, :] == w[None, :, :]).sum(-1)
    assert np.array_equal(acc, xnor_count)
    dot = (2 * x - 1) @ (2 * w.astype(np.int64) - 1).T
    assert np.array_equal(2 * acc - n, dot)


def test_int_acc_uses_bipolar_values_and_uint_codes():
    net = random_network([30, 12, 7], wbits=[3, 1], abits=[3, 2], seed=5)
    x = random_codes(net.input_type, 20, 30, np.random.default_rng(1))
    first = net.layers[0]  # int_dense on bipolar input (wbits=3)
    assert first.op == "int_dense"
    assert np.array_equal(
        golden.dense_acc(first, x), (2 * x - 1) @ first.weights.astype(np.int64).T
    )
    hidden = golden.run_layer(first, x)
    assert hidden.max() <= 7
    second = net.layers[1]  # wbits=1 on uint3 codes: weights +/-1
    assert np.array_equal(
        golden.dense_acc(second, hidden), hidden @ second.weights.astype(np.int64).T
    )


def naive_threshold(acc, thresholds, direction):
    out = np.zeros(acc.shape, np.int64)
    for f in range(acc.shape[0]):
        for m in range(acc.shape[1]):
            for t in thresholds[m]:
                out[f, m] += acc[f, m] >= t if direction[m] > 0 else acc[f, m] <= t
    return out


@pytest.mark.parametrize("levels", [1, 3, 15])
def test_multi_threshold_matches_definition(levels):
    rng = np.random.default_rng(levels)
    acc = rng.integers(-20, 20, size=(30, 11))
    thresholds = rng.integers(-25, 25, size=(11, levels))  # unsorted on purpose
    direction = rng.choice([-1, 1], size=11).astype(np.int8)
    assert np.array_equal(
        golden.multi_threshold(acc, thresholds, direction),
        naive_threshold(acc, thresholds, direction),
    )


def test_output_codes_and_dtypes():
    net = random_network([65, 40, 10], abits=[1, 3], wbits=[1, 2], seed=2)
    x = random_codes(net.input_type, 8, 65, np.random.default_rng(0))
    out = golden.run(net, x)
    assert out.shape == (8, 10) and out.max() <= 7
    outs = golden.run_layers(net, x)
    assert len(outs) == 2 and set(np.unique(outs[0])) <= {0, 1}


def test_flipping_one_weight_bit_changes_the_output():
    """Mutation: the golden model is sensitive to every weight bit it should be."""
    net = random_network([100, 50], seed=7)
    x = random_codes(net.input_type, 500, 100, np.random.default_rng(0))
    before = golden.run(net, x)
    net.layers[0].weights[3, 1] ^= np.uint64(1 << 2)  # input bit 66 of neuron 3
    after = golden.run(net, x)
    assert np.any(before[:, 3] != after[:, 3])
    assert np.array_equal(np.delete(before, 3, axis=1), np.delete(after, 3, axis=1))


def test_shifting_a_threshold_changes_the_output():
    net = random_network([100, 50], seed=7)
    x = random_codes(net.input_type, 500, 100, np.random.default_rng(0))
    before = golden.run(net, x)
    net.layers[0].thresholds[5, 0] += 1
    assert np.any(golden.run(net, x)[:, 5] != before[:, 5])


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (np.zeros((3, 9), np.uint8), r"shape \(frames, 10\)"),
        (np.full((3, 10), 2, np.uint8), r"codes must lie in \[0, 1\]"),
        (np.zeros((3, 10), np.float32), "must be integer codes"),
    ],
)
def test_bad_input_frames_are_rejected(frames, message):
    net = random_network([10, 4], seed=0)
    with pytest.raises(BitwaveError, match=message):
        golden.run(net, frames)


def test_pack_layout_is_the_documented_one():
    """Input bit i sits at word i // 64, bit i % 64, so a single-bit input selects one weight bit."""
    net = random_network([130, 1], seed=1)
    layer = net.layers[0]
    w = ir.unpack_bits(layer.weights, 130)[0]
    for i in (0, 63, 64, 129):
        x = np.zeros((1, 130), np.uint8)
        x[0, i] = 1
        matches = int(w[i] == 1) + int(np.sum(np.delete(w, i) == 0))
        assert golden.dense_acc(layer, x)[0, 0] == matches
