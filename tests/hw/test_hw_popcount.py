"""The compressor-tree popcount: exact counts (Amaranth simulator), its cell budget, and that
it never falls back to a chain of '+'."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from bitwave.hw.popcount import Popcount, count_width


def simulate_counts(dut: Popcount, vectors: np.ndarray) -> np.ndarray:
    got = []

    async def bench(ctx):
        for vector in vectors:
            ctx.set(dut.x, int("".join(map(str, vector[::-1].tolist())), 2))
            got.append(ctx.get(dut.count))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return np.array(got)


@pytest.mark.parametrize("n", range(1, 9))
def test_exhaustive_small_widths_with_every_polarity_mix(n):
    rng = np.random.default_rng(n)
    vectors = np.array(list(itertools.product([0, 1], repeat=n)))
    for negate in (np.zeros(n, bool), np.ones(n, bool), rng.integers(0, 2, n).astype(bool)):
        dut = Popcount(n, negate)
        expected = (vectors ^ negate).sum(axis=1)
        assert np.array_equal(simulate_counts(dut, vectors), expected)


@pytest.mark.parametrize("n", [13, 64, 100, 1024])
def test_random_vectors_with_constant_weights(n):
    rng = np.random.default_rng(n)
    negate = rng.integers(0, 2, n).astype(bool)
    dut = Popcount(n, negate)
    vectors = rng.integers(0, 2, (80 if n == 1024 else 300, n))
    vectors[0] = 0
    vectors[1] = 1
    vectors[2] = negate  # all-zero count
    vectors[3] = ~negate & 1  # full count
    assert np.array_equal(simulate_counts(dut, vectors), (vectors ^ negate).sum(axis=1))


def test_checker_catches_a_wrong_polarity():
    """Mutation: a tree built for weights A, checked against weights B (one bit flipped)."""
    rng = np.random.default_rng(5)
    negate = rng.integers(0, 2, 64).astype(bool)
    flipped = negate.copy()
    flipped[17] ^= True
    vectors = rng.integers(0, 2, (50, 64))
    got = simulate_counts(Popcount(64, negate), vectors)
    assert not np.array_equal(got, (vectors ^ flipped).sum(axis=1))


@pytest.mark.parametrize("negated", [False, True])
def test_cell_budget_meets_the_full_adder_bound(negated):
    """N - width full adders exactly, for any constant weights: inversions cost no adders,
    only O(log N) inverters; half adders stay O(log N)."""
    n = 1024
    negate = np.random.default_rng(0).integers(0, 2, n).astype(bool) if negated else None
    dut = Popcount(n, negate)
    Fragment.get(dut, None)  # elaborates and records the stats
    stats = dut.stats
    width = count_width(n)
    assert stats.full_adders == n - width
    assert stats.half_adders + stats.constant_adders <= 2 * width
    assert stats.inverters <= 2 * width
    assert stats.depth <= 3 * width


def test_verilog_has_no_adders_only_full_and_half_adder_gates():
    text = verilog.convert(Popcount(100), name="pc", emit_src=False)
    assert " + " not in text
    assert text.count("fa_s") >= 97 - 1


@pytest.mark.parametrize("threshold,direction", [(None, 1), (30, 1), (30, -1)])
def test_xnor_neuron_registers_count_or_bit(threshold, direction):
    from bitwave.hw.xnor_neuron import XnorNeuron

    rng = np.random.default_rng(7)
    weights = rng.integers(0, 2, 60).astype(np.uint8)
    dut = XnorNeuron(weights, threshold, direction)
    vectors = rng.integers(0, 2, (60, 60))
    counts = (vectors == weights).sum(axis=1)
    expected = (
        counts
        if threshold is None
        else (counts >= threshold if direction > 0 else counts <= threshold)
    )
    got = []

    async def bench(ctx):
        for vector in vectors:
            ctx.set(dut.x, int("".join(map(str, vector[::-1].tolist())), 2))
            await ctx.tick()
            got.append(ctx.get(dut.count if threshold is None else dut.y))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert np.array_equal(np.array(got), expected.astype(int))


def test_popcount_area_bench_on_a_small_neuron(nangate45):
    """The benchmark's flow end to end on 64 inputs: every tree full adder becomes an FA_X1."""
    from bitwave.app.bench.popcount_area import run

    result = run(n=64, liberty=str(nangate45))
    assert result["cells"]["FA_X1"] == result["tree"]["full_adders"] == 64 - 7
    assert result["cells"]["DFF_X1"] == 7
    assert 1.0 <= result["ratio"] < 1.1
