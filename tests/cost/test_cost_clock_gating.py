"""Clock gating in the structural cost model (``bitwave.cost.engines.Enable``): a set of
flip-flops sharing an enable is clock-gated the way ``bitwave synth`` gates it (one integrated
clock gate from the liberty for at least ``CLOCK_GATE_MIN_FLOPS`` flip-flops, no hold mux, a
clock that ticks only when they load); smaller sets, or a library without a clock gate, keep a
hold mux and a clock on every cycle. Agreement with synthesis: tests/cost/test_cost_gru.py and
tests/cost/test_cost_exits.py."""

from dataclasses import replace

import pytest

from bitwave.cost.engines import Enable, Prices, _Parts, load_rom_fit
from bitwave.cost.tables import load_table
from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
from bitwave.synth.flows.asic import CLOCK_GATE_MIN_FLOPS


@pytest.fixture(scope="module")
def prices() -> Prices:
    return Prices.from_library(COMPACT_LIBRARY, load_table(), load_rom_fit())


def _register(prices: Prices, flops: int, **enable: float):
    return _Parts(prices).add("register", flops=flops, enables=(Enable(flops, **enable),))


def test_the_prices_hold_the_librarys_clock_gate(prices):
    assert prices.clock_gate_cell == "CLKGATE_X1"
    assert prices.clock_gate.area_um2 == pytest.approx(3.458)
    assert prices.gate_clock_j > 0 and prices.gate_net_j > 0 and prices.gate_out_j > 0


def test_a_big_enough_group_is_gated_and_loses_its_hold_muxes(prices):
    small = _register(prices, CLOCK_GATE_MIN_FLOPS - 1, per_frame=1.0)
    big = _register(prices, CLOCK_GATE_MIN_FLOPS, per_frame=1.0)
    assert (small.gated, small.clock_gates) == (0, 0) and small.clocked_flops == small.flops
    assert (big.gated, big.clock_gates) == (CLOCK_GATE_MIN_FLOPS, 1) and big.clocked_flops == 0
    per_flop = lambda part: (part.area_um2 - part.clock_gates * 3.458) / part.flops  # noqa: E731
    assert per_flop(small) - per_flop(big) == pytest.approx(prices.mux.area_um2)
    # the gate's own clock pin ticks every cycle, its flip-flops' clocks once per load
    assert big.cycle_j == pytest.approx(prices.gate_clock_j) and small.cycle_j == 0.0
    tick = CLOCK_GATE_MIN_FLOPS * (prices.flop_clock_j + prices.clock_net_j) + prices.gate_out_j
    assert big.frame_j - small.frame_j * CLOCK_GATE_MIN_FLOPS / small.flops == pytest.approx(
        tick, rel=0.05
    )


def test_a_gated_clock_follows_its_loads(prices):
    """Loaded every compute cycle: the clock is in the per-cycle energy, not the frame's."""
    running = _register(prices, 16, per_cycle=1.0, mux=False)
    once = _register(prices, 16, per_frame=1.0, mux=False)
    assert running.active_j > 0 and running.frame_j == 0.0
    assert once.active_j == 0.0 and once.frame_j == pytest.approx(running.active_j)


def test_a_library_without_a_clock_gate_gates_nothing(prices):
    ungated = replace(prices, clock_gate=None)
    part = _register(ungated, 64, per_cycle=1.0)
    assert (part.gated, part.clock_gates, part.active_j, part.cycle_j) == (0, 0, 0.0, 0.0)
    # a flip-flop, its synchronous-reset gate and its hold mux each
    each = prices.flop.area_um2 + prices.gate.area_um2 + prices.mux.area_um2
    assert part.area_um2 == pytest.approx(64 * each)
