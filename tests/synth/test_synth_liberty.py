"""The liberty reader, boolean functions, and the compact library against the full NanGate45."""

import numpy as np
import pytest
from conftest import NANGATE45 as FULL

from bitwave.core.errors import BitwaveError
from bitwave.synth.eda.boolexpr import parse_function
from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY, derive_compact
from bitwave.synth.eda.liberty import load_library

needs_full = pytest.mark.skipif(
    not FULL.is_file(), reason=f"full NanGate45 liberty not found at {FULL}"
)


@pytest.mark.parametrize(
    ("text", "inputs", "table"),
    [
        ("!(A1 & A2)", ["A1", "A2"], 0b0111),
        ("(A ^ B)", ["A", "B"], 0b0110),
        ("A B + C'", ["A", "B", "C"], 0b10001111),  # juxtaposition = AND, postfix ' = NOT
        ("((A & B) | (CI & (A | B)))", ["A", "B", "CI"], 0b11101000),
        ("!(!A)", ["A"], 0b10),
        ("1", ["A"], 0b11),
    ],
)
def test_parse_function_truth_tables(text, inputs, table):
    assert parse_function(text).truth_table(inputs) == table


def test_parse_function_rejects_garbage():
    with pytest.raises(BitwaveError, match="liberty function"):
        parse_function("(A & B")
    with pytest.raises(BitwaveError):
        parse_function("A & & B")


def test_compact_library_is_small_attributed_and_sta_ready():
    text = COMPACT_LIBRARY.read_text()
    assert COMPACT_LIBRARY.stat().st_size < 1_000_000
    assert (
        "NanGate 45nm Open Cell Library" in text
        and "Apache" in text
        and "PDKv1.3_v2010_12.Apache.CCL" in text
    )
    # OpenSTA reports zero dynamic power unless operating_conditions precede the default.
    assert 0 < text.index("operating_conditions (") < text.index("default_operating_conditions")
    library = load_library(COMPACT_LIBRARY)
    assert library.cells["FA_X1"].area_um2 == pytest.approx(4.256)
    assert library.cells["INV_X1"].area_um2 == pytest.approx(0.532)
    assert library.cells["DFF_X1"].sequential.kind == "ff"
    assert library.voltage_v == pytest.approx(1.1)


def test_missing_liberty_is_a_clear_error(tmp_path):
    with pytest.raises(BitwaveError, match="does not exist"):
        load_library(tmp_path / "nope.lib")
    bad = tmp_path / "bad.lib"
    bad.write_text("this is not liberty;\n")
    with pytest.raises(BitwaveError):
        load_library(bad)


@needs_full
def test_compact_library_matches_full_cell_for_cell(tmp_path):
    full = load_library(FULL)
    compact = load_library(COMPACT_LIBRARY)
    assert set(full.cells) == set(compact.cells)
    for name, cell in full.cells.items():
        other = compact.cells[name]
        assert other.area_um2 == cell.area_um2, name
        assert other.leakage_w == pytest.approx(cell.leakage_w, rel=1e-5), name
        for pin, info in cell.pins.items():
            assert other.pins[pin].direction == info.direction
            assert other.pins[pin].capacitance_f == pytest.approx(info.capacitance_f, rel=1e-5)
            assert other.pins[pin].function_text == info.function_text


@needs_full
def test_committed_compact_library_is_what_the_script_derives(tmp_path):
    out = tmp_path / "compact.lib"
    derive_compact(FULL, out)
    assert out.read_text() == COMPACT_LIBRARY.read_text()


@pytest.mark.slow
@needs_full
def test_compact_vs_full_same_netlist_same_area_power_within_10_percent(tmp_path):
    """Map once, then evaluate area, timing and power with both libraries on the same netlist
    and the same simulated activity."""
    from bitwave.hw.nodes import node_verilog
    from bitwave.synth.eda.gatesim import GateSimulator
    from bitwave.synth.eda.netlist import area_by, load_netlist
    from bitwave.synth.eda.power import estimate_power
    from bitwave.synth.eda.timing import analyze
    from bitwave.synth.flows.asic import map_to_cells

    rtl = tmp_path / "node.v"
    rtl.write_text(node_verilog("int8", 4, "parallel", "node"))
    compact = load_library(COMPACT_LIBRARY)
    full = load_library(FULL)
    mapped = map_to_cells(
        [rtl], "node", COMPACT_LIBRARY, workdir=tmp_path / "yosys", library=compact
    )
    rng = np.random.default_rng(0)
    figures = {}
    for name, library in (("compact", compact), ("full", full)):
        netlist = load_netlist(mapped.netlist_json, "node", library)
        sim = GateSimulator(netlist, library, lanes=64)
        for _ in range(20):
            sim.set_input_int("x", rng.integers(0, 1 << 32, 64).astype(object))
            sim.set_input_int("w", rng.integers(0, 1 << 32, 64).astype(object))
            sim.evaluate()
            sim.clock()
        timing = analyze(netlist, library)
        power = estimate_power(
            netlist, library, sim.activity(), 100e6, timing.net_load_f, timing.net_slew_s
        )
        figures[name] = (area_by(netlist, library)[0], power.total_w, timing.critical_path_s)
        rng = np.random.default_rng(0)  # same stimulus for both
    (area_c, power_c, delay_c), (area_f, power_f, delay_f) = figures["compact"], figures["full"]
    assert area_c == area_f
    assert abs(power_c - power_f) / power_f < 0.10
    assert abs(delay_c - delay_f) / delay_f < 0.15
    # Mutation: a library whose internal energies are doubled must fall outside the 10 % band.
    for cell in compact.cells.values():
        for entry in cell.internal_power:
            for table in (entry.rise, entry.fall):
                if table is not None:
                    table.values = table.values * 2
    netlist = load_netlist(mapped.netlist_json, "node", compact)
    timing = analyze(netlist, compact)
    activity = np.full(netlist.n_nets, 0.5)
    doubled = estimate_power(
        netlist, compact, activity, 100e6, timing.net_load_f, timing.net_slew_s
    ).total_w
    netlist_f = load_netlist(mapped.netlist_json, "node", full)
    timing_f = analyze(netlist_f, full)
    base = estimate_power(
        netlist_f, full, activity, 100e6, timing_f.net_load_f, timing_f.net_slew_s
    ).total_w
    assert abs(doubled - base) / base > 0.10
