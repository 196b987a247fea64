"""Clock gating in the ASIC flow (synth/flows/asic.py CLOCK_GATING): Yosys inserts the
liberty's integrated clock gates, and the gate-level simulator, power, timing and the Verilog
cell models treat the gated clocks; each check is paired with a mutation it must catch."""

import shutil
import subprocess

import pytest

from bitwave.synth.eda.cells import write_cell_models
from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
from bitwave.synth.eda.gatesim import GateSimulator
from bitwave.synth.eda.liberty import load_library
from bitwave.synth.eda.netlist import clock_gates, clock_gating_summary, load_netlist
from bitwave.synth.eda.power import estimate_power, realtime_power
from bitwave.synth.eda.timing import SETUP_TYPES, _flop_arcs, analyze
from bitwave.synth.flows.asic import map_to_cells

# Two 8-bit registers behind one enable (one with Amaranth-style synchronous reset, which the
# flow rewrites as enable-or-reset), one free-running counter that must stay ungated.
DESIGN = """
module gated(input clk, input rst, input en, input [7:0] d, output reg [7:0] q,
             output reg [7:0] r, output reg [3:0] count);
  always @(posedge clk) if (rst) q <= 0; else if (en) q <= d;
  always @(posedge clk) if (en) r <= d ^ 8'h5a;
  always @(posedge clk) count <= count + 1;
endmodule
"""


@pytest.fixture(scope="module")
def library():
    return load_library(COMPACT_LIBRARY)


def _mapped(tmp_path_factory, library, gating: bool):
    work = tmp_path_factory.mktemp("gated" if gating else "ungated")
    source = work / "gated.v"
    source.write_text(DESIGN)
    mapped = map_to_cells([source], "gated", COMPACT_LIBRARY, work / "yosys", library,
                          flatten=True, clock_gating=gating)  # fmt: skip
    return mapped, load_netlist(mapped.netlist_json, "gated", library)


@pytest.fixture(scope="module")
def gated(tmp_path_factory, library):
    return _mapped(tmp_path_factory, library, True)


@pytest.fixture(scope="module")
def ungated(tmp_path_factory, library):
    return _mapped(tmp_path_factory, library, False)


def _run(netlist, library, enables: list[int], data: list[int]):
    """One reset cycle, one cycle per (en, d), one last evaluation; returns the simulator and
    (q, r) after each of the (en, d) edges."""
    sim = GateSimulator(netlist, library, lanes=1)
    steps = [(1, 0, 0)] + [(0, en, d) for en, d in zip(enables, data, strict=True)]
    seen = []
    for rst, en, d in steps:
        sim.set_input_int("rst", rst)
        sim.set_input_int("en", en)
        sim.set_input_int("d", d)
        sim.evaluate()
        seen.append((int(sim.get_output_int("q")[0]), int(sim.get_output_int("r")[0])))
        sim.clock()
    sim.set_input_int("en", 0)
    sim.evaluate()
    seen.append((int(sim.get_output_int("q")[0]), int(sim.get_output_int("r")[0])))
    return sim, seen[2:]


def _expected(enables: list[int], data: list[int]) -> list[tuple[int, int]]:
    q = r = 0
    out = []
    for en, d in zip(enables, data, strict=True):
        if en:
            q, r = d, d ^ 0x5A
        out.append((q, r))
    return out


STIMULUS = ([1, 0, 0, 1, 0, 1, 1, 0, 0, 0], [3, 9, 7, 200, 1, 77, 5, 6, 250, 8])


def test_enabled_registers_get_clock_gates_and_the_counter_does_not(gated, ungated, library):
    _, netlist = gated
    summary = clock_gating_summary(netlist, library)
    assert summary["gates"] >= 1 and summary["flops"] == 20
    assert summary["gated_flops"] == 16  # q and r; the counter has no enable
    assert clock_gating_summary(ungated[1], library)["gates"] == 0
    assert {netlist.instances[g.instance].cell for g in clock_gates(netlist, library)} == {
        "CLKGATE_X1"
    }


def test_gated_netlist_holds_its_registers_exactly_when_disabled(gated, ungated, library):
    for _, netlist in (gated, ungated):
        _, seen = _run(netlist, library, *STIMULUS)
        assert seen == _expected(*STIMULUS)
    # the twin: a simulator that ignores the gates' enables loads every cycle and fails
    sim = GateSimulator(gated[1], library, lanes=1)
    sim.gates = []  # the simulator forgets its clock gates: every flop loads at every edge
    for rst in (1, 0):
        sim.set_input_int("rst", rst)
        sim.set_input_int("en", 0)
        sim.set_input_int("d", 42)
        sim.evaluate()
        sim.clock()
    sim.evaluate()
    assert int(sim.get_output_int("r")[0]) == 42 ^ 0x5A  # loaded although en was 0


def test_gated_clock_activity_and_power_follow_the_enable(gated, ungated, library):
    enables, data = STIMULUS
    reports = {}
    for name, (_, netlist) in {"gated": gated, "ungated": ungated}.items():
        sim, _ = _run(netlist, library, enables, data)
        timing = analyze(netlist, library)
        reports[name] = estimate_power(netlist, library, sim.activity(), 100e6,
                                       timing.net_load_f, timing.net_slew_s)  # fmt: skip
        if name == "gated":
            # two transitions in each counted cycle whose enable is high: the reset cycle is
            # the first evaluation (not a cycle pair), the last evaluation has en low
            assert sim.cycles == len(enables) + 1
            for gate in clock_gates(netlist, library):
                assert sim.activity()[gate.gated] == 2 * sum(enables) / sim.cycles
    assert reports["gated"].clock_w < reports["ungated"].clock_w


def test_clock_gate_enable_is_a_timing_endpoint(gated, library):
    """The enable is set up to the clock like a flip-flop's data: its setup arc is checked."""
    _, netlist = gated
    gates = {netlist.instances[g.instance].name for g in clock_gates(netlist, library)}
    checked = {inst.name for _, inst, _ in _flop_arcs(netlist, library, SETUP_TYPES)}
    assert gates and gates <= checked
    assert analyze(netlist, library).min_period_s > 0


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog not installed")
def test_cell_model_of_the_clock_gate_gates_in_icarus(gated, library, tmp_path):
    """The netlist with the Verilog cell models: q holds while en is low (Icarus)."""
    mapped, _ = gated
    cells = write_cell_models(COMPACT_LIBRARY, tmp_path / "cells.v", library)
    bench = tmp_path / "bench.v"
    bench.write_text("""
module bench;
  reg clk = 0, rst = 1, en = 0; reg [7:0] d = 0; wire [7:0] q, r; wire [3:0] count;
  gated dut(.clk(clk), .rst(rst), .en(en), .d(d), .q(q), .r(r), .count(count));
  always #5 clk = ~clk;
  initial begin
    @(negedge clk) rst = 0; en = 1; d = 8'd17;
    @(negedge clk) en = 0; d = 8'd99;
    @(negedge clk) @(negedge clk) $display("q=%0d r=%0d", q, r);
    en = 1; @(negedge clk) $display("q=%0d r=%0d", q, r);
    $finish;
  end
endmodule
""")
    binary = tmp_path / "sim.vvp"
    subprocess.run(["iverilog", "-o", str(binary), str(cells), str(mapped.netlist_verilog),
                    str(bench)], check=True, capture_output=True)  # fmt: skip
    out = subprocess.run(["vvp", str(binary)], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["q=17", f"r={17 ^ 0x5A}", "q=99", f"r={99 ^ 0x5A}"]


def test_realtime_power_adds_the_idle_clock_between_frames():
    # 1 uW leakage, 2 nJ per frame, 3 uW idle, frames of 1 ms at 100 frames/s: busy 10%
    assert realtime_power(1e-6, 2e-9, 3e-6, 1e-3, 100.0) == pytest.approx(1e-6 + 2e-7 + 3e-6 * 0.9)
    assert realtime_power(1e-6, 2e-9, None, 1e-3, 100.0) == pytest.approx(1e-6 + 2e-7)
    assert realtime_power(1e-6, 2e-9, 3e-6, 1.0, 100.0) == pytest.approx(1e-6 + 2e-7)  # never idle
