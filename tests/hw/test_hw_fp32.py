"""The float32 multiply/add logic against numpy float32 (RNE, subnormals flushed), in
Amaranth's simulator."""

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.sim import Simulator
from conftest import random_float32_bits

from bitwave.hw.fp32 import QNAN, fp_add, fp_mul, reference_add, reference_mul

SPECIALS = np.array(
    [0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x00000001, 0x807FFFFF, 0x3F800000,
     0xBF800000, 0x7F7FFFFF, 0x00800000, 0x3F800001, 0x4B800000],
    dtype=np.uint32,
)  # fmt: skip


def _operands(seed=1, n=1500):
    rng = np.random.default_rng(seed)
    a = random_float32_bits(rng, n, 30)
    b = random_float32_bits(rng, n, 30)
    # Cancellation (a + -a, a + -(a*(1+eps))), huge/tiny exponent gaps, and every special pair.
    near = (-(a[:200].view(np.float32) * np.float32(1.0000001))).astype(np.float32).view(np.uint32)
    a = np.concatenate([a, a[:200], a[:200], np.repeat(SPECIALS, len(SPECIALS))])
    b = np.concatenate(
        [b, (-(a[:200].view(np.float32))).view(np.uint32), near, np.tile(SPECIALS, len(SPECIALS))]
    )
    return a, b


def _simulate(a_bits, b_bits):
    m = Module()
    a, b = Signal(32), Signal(32)
    product, total = fp_mul(m, a, b), fp_add(m, a, b)
    got_mul, got_add = [], []

    async def bench(ctx):
        for x, y in zip(a_bits, b_bits, strict=True):
            ctx.set(a, int(x))
            ctx.set(b, int(y))
            got_mul.append(ctx.get(product))
            got_add.append(ctx.get(total))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return np.array(got_mul, dtype=np.uint32), np.array(got_add, dtype=np.uint32)


def test_fp_mul_and_add_are_bit_exact_with_numpy_float32():
    a, b = _operands()
    got_mul, got_add = _simulate(a, b)
    np.testing.assert_array_equal(got_mul, reference_mul(a, b))
    np.testing.assert_array_equal(got_add, reference_add(a, b))


def test_reference_matches_plain_numpy_on_normal_results_and_flushes_subnormals():
    a, b = _operands(seed=2, n=500)
    with np.errstate(all="ignore"):
        plain = a.view(np.float32)[:500] * b.view(np.float32)[:500]
    normal = (np.abs(plain) >= np.float32(1.1754944e-38)) & np.isfinite(plain)
    np.testing.assert_array_equal(
        reference_mul(a[:500], b[:500])[normal], plain[normal].view(np.uint32)
    )
    tiny = np.array([0x00000001], dtype=np.uint32)  # the smallest subnormal: flushed to +0
    assert reference_add(tiny, tiny)[0] == 0
    assert reference_mul(np.array([0x7F800000], np.uint32), np.array([0], np.uint32))[0] == QNAN


def test_the_check_catches_a_wrong_rounding():
    """Mutation: a multiplier that truncates instead of rounding to nearest even differs from
    the reference on many operands, so the bit-exact comparison above can fail."""
    a, b = _operands(seed=3, n=300)
    a, b = a[:300], b[:300]
    exact = reference_mul(a, b)
    with np.errstate(all="ignore"):
        wide = a.view(np.float32).astype(np.float64) * b.view(np.float32).astype(np.float64)
        rounded = wide.astype(np.float32)
        truncated = np.where(
            np.abs(rounded) > np.abs(wide), np.nextafter(rounded, np.float32(0)), rounded
        )
    finite = np.isfinite(rounded) & (np.abs(rounded) >= np.float32(1.1754944e-38))
    assert np.count_nonzero(truncated.view(np.uint32)[finite] != exact[finite]) > 50


@pytest.mark.parametrize("bits", [0x7F800000, 0x7FC00000])
def test_special_inputs_propagate(bits):
    got_mul, got_add = _simulate(np.array([bits], np.uint32), np.array([0x3F800000], np.uint32))
    assert (
        got_mul[0]
        == reference_mul(np.array([bits], np.uint32), np.array([0x3F800000], np.uint32))[0]
    )
    assert (
        got_add[0]
        == reference_add(np.array([bits], np.uint32), np.array([0x3F800000], np.uint32))[0]
    )
