"""Pre-layout fanout repair (synth/fanout.py): buffer trees on a hand-built netlist and through
`bitwave synth` on a small generated design, with mutations the checks must catch."""

import json
import math
import shutil
from collections import Counter

import numpy as np
import pytest
from conftest import folded_designs, generated_design

from bitwave.app.cli import main
from bitwave.core.errors import BitwaveError
from bitwave.synth.eda import fanout
from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
from bitwave.synth.eda.fanout import buffer_cells, choose_buffer, repair_fanout
from bitwave.synth.eda.gatesim import GateSimulator
from bitwave.synth.eda.liberty import load_library
from bitwave.synth.eda.netlist import (
    CONST0,
    CONST1,
    MACRO_PINS,
    FlatNetlist,
    Instance,
    MacroInstance,
    Port,
    clock_tree_nets,
    load_netlist,
)
from bitwave.synth.eda.timing import analyze

N_XOR, N_B, N_MACROS = 300, 4, 3  # h drives 300 XORs + 3 ROM address pins + 1 output port bit


@pytest.fixture(scope="module")
def library():
    return load_library(COMPACT_LIBRARY)


def high_fanout_netlist() -> FlatNetlist:
    """clk, a, b[4] in; h = !a drives N_XOR XOR2(h, b[i % 4]) -> DFF -> y[i], the read
    address of N_MACROS two-word ROMs (their data -> y) and one bit of y directly."""
    net = iter(range(CONST1 + 1, 10_000))
    clk, a = next(net), next(net)
    b = [next(net) for _ in range(N_B)]
    h = next(net)
    instances = [Instance("inv", "INV_X1", "top", {"A": a, "ZN": h})]
    outputs = []
    for i in range(N_XOR):
        x, q = next(net), next(net)
        instances.append(Instance(f"x{i}", "XOR2_X1", f"blk{i % 3}", {"A": h, "B": b[i % N_B], "Z": x}))  # fmt: skip
        instances.append(Instance(f"q{i}", "DFF_X1", f"blk{i % 3}", {"D": x, "CK": clk, "Q": q}))
        outputs.append(q)
    macros = []
    for m in range(N_MACROS):
        data = next(net)
        pins = {pin: [] for pin in MACRO_PINS}
        pins.update(RD_ADDR=[h], RD_EN=[CONST1], RD_CLK=[clk], RD_SRST=[CONST0],
                    RD_ARST=[CONST0], RD_DATA=[data])  # fmt: skip
        init = np.array([[m % 2 == 0], [m % 2 == 1]])  # address-dependent
        macros.append(MacroInstance(f"rom{m}", "mem", "rom", "rom", 2, 1, 1, 0, init, pins))
        outputs.append(data)
    outputs.append(h)
    n_nets = next(net)
    ports = {
        "clk": Port("clk", "input", [clk]),
        "a": Port("a", "input", [a]),
        "b": Port("b", "input", b),
        "y": Port("y", "output", outputs),
    }
    names = {clk: "clk", a: "a", h: "h", **{n: f"b[{i}]" for i, n in enumerate(b)}}
    return FlatNetlist("top", n_nets, instances, ports, names, ["top", "blk0", "blk1", "blk2", "mem"],
                       macros)  # fmt: skip


def loads_per_net(netlist: FlatNetlist, library) -> Counter:
    """Independent count: cell input pins, macro address/enable/write pins, output port bits."""
    counts = Counter()
    for inst in netlist.instances:
        pins = library.cell(inst.cell).pins
        counts.update(net for pin, net in inst.pins.items() if pins[pin].direction == "input")
    for macro in netlist.macros:
        for pin in ("RD_ADDR", "RD_EN", "WR_ADDR", "WR_DATA", "WR_EN"):
            counts.update(macro.pins[pin])
    for port in netlist.ports.values():
        if port.direction == "output":
            counts.update(port.nets)
    return counts


def tree_buffers(loads: int, max_fanout: int, fixed: int = 0) -> int:
    """Buffers of a balanced tree: groups of max_fanout per level until the root (which also
    keeps ``fixed`` port bits) sees at most max_fanout."""
    total, level = 0, loads
    while level + fixed > max_fanout:
        level = math.ceil(level / max_fanout)
        total += level
    return total


def simulate(netlist: FlatNetlist, library, cycles: int = 6) -> np.ndarray:
    rng = np.random.default_rng(1)
    sim = GateSimulator(netlist, library, 128)
    seen = []
    for _ in range(cycles):
        for port in ("a", "b"):
            sim.set_input_int(port, rng.integers(0, 1 << len(netlist.ports[port].nets), 128))
        sim.evaluate()
        seen.append(sim.get_output("y").copy())
        sim.clock()
    return np.array(seen)


def test_tree_arithmetic_and_no_net_above_max_fanout(library):
    original = high_fanout_netlist()
    before = loads_per_net(original, library)
    clk = original.ports["clk"].nets[0]
    h = next(n for n, name in original.net_names.items() if name == "h")
    assert before[h] == N_XOR + N_MACROS + 1 and before[clk] == N_XOR  # the flops' CK pins
    repaired, report = repair_fanout(original, library, 16)
    after = loads_per_net(repaired, library)
    assert max(after[n] for n in range(CONST1 + 1, repaired.n_nets) if n != clk) <= 16
    assert after[clk] == before[clk]  # excluded: left ideal, unbuffered
    # h: 303 movable loads + 1 port bit -> 19 leaf buffers -> 2 buffers under the driver;
    # each b[i]: 75 loads -> 5 buffers.
    assert tree_buffers(N_XOR + N_MACROS, 16, fixed=1) == 19 + 2
    assert tree_buffers(N_XOR // N_B, 16) == 5
    expected = tree_buffers(N_XOR + N_MACROS, 16, fixed=1) + N_B * tree_buffers(N_XOR // N_B, 16)
    assert report.buffers == expected == len(repaired.instances) - len(original.instances)
    assert report.buffer_area_um2 == pytest.approx(
        expected * library.cell(report.buffer_cell).area_um2
    )
    assert (
        report.largest_fanout_before == N_XOR + N_MACROS + 1 and report.largest_fanout_after <= 16
    )
    assert report.excluded_nets == ["clk"]
    # The clock net stays ideal: every flip-flop and macro clock pin still on the port net.
    assert all(i.pins["CK"] == clk for i in repaired.instances if i.cell == "DFF_X1")
    assert all(m.pins["RD_CLK"] == [clk] for m in repaired.macros)
    # Net ids and ports are kept; the port bit of h is still h, driven by the same inverter.
    assert repaired.ports["y"].nets == original.ports["y"].nets
    assert repaired.instances[0].pins == original.instances[0].pins
    assert all(repaired.net_names[n] == name for n, name in original.net_names.items())
    assert repaired.n_nets == original.n_nets + expected
    # Macro address pins moved onto buffers; the input netlist is left as it was.
    assert all(m.pins["RD_ADDR"] != [h] for m in repaired.macros)
    assert loads_per_net(original, library) == before
    # Every buffer is the chosen non-inverting cell, in a block of its loads.
    added = repaired.instances[len(original.instances) :]
    assert {i.cell for i in added} == {report.buffer_cell}
    assert {i.block for i in added} <= set(original.blocks)


def test_repaired_netlist_simulates_like_the_original_and_mutations_do_not(library):
    original = high_fanout_netlist()
    repaired, report = repair_fanout(original, library, 16)
    reference = simulate(original, library)
    assert np.array_equal(simulate(repaired, library), reference)
    first = len(original.instances)

    def mutated(edit):
        netlist, _ = repair_fanout(original, library, 16)
        edit(netlist)
        return simulate(netlist, library)

    def inverter(netlist):  # one buffer replaced by an inverter
        inst = netlist.instances[first]
        inst.cell, inst.pins = "INV_X1", {"A": inst.pins["A"], "ZN": inst.pins["Z"]}

    def swap(netlist):  # two loads of different trees (b[0], b[1]) exchange their buffers
        x0, x1 = (next(i for i in netlist.instances if i.name == n) for n in ("x0", "x1"))
        x0.pins["B"], x1.pins["B"] = x1.pins["B"], x0.pins["B"]

    def drop(netlist):  # one macro address pin left on a constant
        netlist.macros[0].pins["RD_ADDR"] = [CONST0]

    for edit in (inverter, swap, drop):
        assert not np.array_equal(mutated(edit), reference), edit.__name__


def test_max_clock_improves_after_repair(library):
    original = high_fanout_netlist()
    repaired, report = repair_fanout(original, library, 16)
    slow, fast = analyze(original, library), analyze(repaired, library)
    assert fast.max_clock_mhz > 2 * slow.max_clock_mhz
    assert any(step["cell"] == report.buffer_cell for step in fast.path)


def test_buffer_choice_reads_the_liberty(library):
    buffers = buffer_cells(library)
    assert buffers and all(not name.startswith("INV") for name in buffers)
    assert all(library.cell(name).pins[library.cell(name).outputs()[0]].function_text in ("A", "(A)")
               for name in buffers)  # fmt: skip
    assert choose_buffer(library, 16) in buffers
    # Mutation: an inverter offered as the buffer is refused.
    with pytest.raises(BitwaveError, match="not a buffer"):
        repair_fanout(high_fanout_netlist(), library, 16, buffer_cell="INV_X4")


@pytest.mark.parametrize("value", [-1, 1])
def test_bad_max_fanout_is_a_clear_error(tmp_path, capsys, library, value):
    design = generated_design(tmp_path / "d", (16, 4, 2))
    assert main(["synth", str(design), "--max-fanout", str(value)]) == 2
    err = capsys.readouterr().err
    assert "--max-fanout must be 0 (no fanout repair) or an integer >= 2" in err
    assert f"got {value}" in err
    with pytest.raises(BitwaveError, match="--max-fanout"):
        repair_fanout(high_fanout_netlist(), library, value)


def test_synth_cli_repairs_fanout_and_checks_the_repaired_netlist(tmp_path, library, capsys):
    design = generated_design(tmp_path / "d", (32, 8, 4))
    assert main(["synth", str(design), "--max-fanout", "0"]) == 0
    unrepaired = json.loads(capsys.readouterr().out)
    assert unrepaired["fanout_buffers"] == 0 and unrepaired["max_fanout"] == 0
    assert main(["synth", str(design), "--max-fanout", "4"]) == 0
    summary = json.loads(capsys.readouterr().out)
    out = design / "synth"
    area = json.loads((out / "area.json").read_text())
    power = json.loads((out / "power.json").read_text())
    timing = json.loads((out / "timing.json").read_text())
    repair = area["fanout_repair"]
    assert repair == timing["fanout_repair"] and repair["max_fanout"] == summary["max_fanout"] == 4
    assert repair["buffers"] == summary["fanout_buffers"] > 0
    assert repair["largest_fanout_before"] > 4 >= repair["largest_fanout_after"]
    assert area["standard_cell_area_um2"] == pytest.approx(
        area["yosys_stat_area_um2"] + repair["buffer_area_um2"]
    )
    assert summary["total_area_um2"] == pytest.approx(
        unrepaired["total_area_um2"] + repair["buffer_area_um2"]
    )
    check = power["golden_check"]
    assert check["checked"] and check["frames"] > 0 and check["mismatched_frames"] == 0
    report = (out / "report.md").read_text()
    assert f"max fanout 4: {repair['buffers']} {repair['buffer_cell']}" in report
    # Independently: the kept Yosys netlist, repaired again, has no signal net above 4 loads.
    netlist = load_netlist(out / "mapped.json", json.loads((design / "manifest.json").read_text())["top"], library)  # fmt: skip
    repaired, again = repair_fanout(netlist, library, 4)
    assert again.buffers == repair["buffers"]
    loads = loads_per_net(repaired, library)
    clock = clock_tree_nets(repaired, library)  # the clock and its gated clocks stay ideal
    assert max(n for net, n in loads.items() if net > CONST1 and net not in clock) <= 4
    if shutil.which("sta"):  # OpenSTA read the repaired netlist (repaired_flat.v)
        assert (out / "repaired_flat.v").is_file()
        assert power["opensta"]["opensta_arrival_ns"] == pytest.approx(
            power["opensta"]["bitwave_arrival_ns"], rel=0.3
        )


def test_memory_macro_pins_are_buffered_and_the_ram_still_loads_and_computes(tmp_path, library):
    """A design with RAM/ROM macros: their address/data/enable pins move onto buffer trees;
    the weights still load through the (buffered) write port and the golden check passes."""
    from bitwave.synth.flows.design import synthesize_design

    design = folded_designs(tmp_path)["memory"]
    summary = synthesize_design(design, memories="macro", frames_per_lane=2, max_fanout=4)
    assert summary["macros"] > 0 and summary["fanout_buffers"] > 0
    assert summary["golden_mismatched_frames"] == 0
    top = json.loads((design / "manifest.json").read_text())["top"]
    netlist = load_netlist(design / "synth" / "mapped.json", top, library)
    repaired, _ = repair_fanout(netlist, library, 4)
    moved = {
        pin
        for before, after in zip(netlist.macros, repaired.macros, strict=True)
        for pin in before.pins
        if before.pins[pin] != after.pins[pin]
    }
    assert moved and moved <= set(fanout.MACRO_LOAD_PINS)


def _buffer_pins(netlist: FlatNetlist, library, original: int) -> tuple[str, str]:
    cell = library.cell(netlist.instances[original].cell)
    return cell.inputs()[0], cell.outputs()[0]


def _invert_top_buffers(netlist: FlatNetlist, library, original: int) -> None:
    """Every buffer fed by an original net becomes an inverter: all moved loads see !net."""
    a, z = _buffer_pins(netlist, library, original)
    original_nets = netlist.n_nets - (len(netlist.instances) - original)  # one net per buffer
    for inst in netlist.instances[original:]:
        if inst.pins[a] < original_nets:
            inst.cell, inst.pins = "INV_X1", {"A": inst.pins[a], "ZN": inst.pins[z]}


def _swap_two_trees(netlist: FlatNetlist, library, original: int) -> None:
    """One load of each of two different repaired nets exchange their leaf buffers."""
    a, z = _buffer_pins(netlist, library, original)
    feeds = {inst.pins[z]: inst.pins[a] for inst in netlist.instances[original:]}

    def root(net):
        while net in feeds:
            net = feeds[net]
        return net

    first = {}  # repaired net -> (instance, pin) of its first load on a buffer
    for inst in netlist.instances[:original]:
        pins = library.cell(inst.cell).pins
        for pin, net in inst.pins.items():
            if pins[pin].direction == "input" and net in feeds:
                first.setdefault(root(net), (inst, pin))
    (x, xp), (y, yp) = list(first.values())[:2]
    x.pins[xp], y.pins[yp] = y.pins[yp], x.pins[xp]


@pytest.mark.parametrize("breakage", [_invert_top_buffers, _swap_two_trees])
def test_a_broken_repair_fails_the_golden_check(tmp_path, monkeypatch, capsys, breakage):
    """Mutation: `bitwave synth` runs the gate-level golden check on the repaired netlist."""
    design = generated_design(tmp_path / "d", (32, 8, 4))
    real = fanout.repair_fanout

    def broken(netlist, library, *args, **kwargs):
        repaired, report = real(netlist, library, *args, **kwargs)
        assert report.buffers > 0
        breakage(repaired, library, len(netlist.instances))
        # A consistent (if wrong) repair: it prices what it inserted, so the area check against
        # Yosys stat passes and only the gate-level golden check can catch it.
        added = repaired.instances[len(netlist.instances) :]
        report.buffer_area_um2 = sum(library.cell(i.cell).area_um2 for i in added)
        return repaired, report

    monkeypatch.setattr(fanout, "repair_fanout", broken)
    assert main(["synth", str(design), "--max-fanout", "4"]) == 2
    # caught as wrong outputs, or as none at all when the breakage hits a stream handshake or a
    # clock gate's enable
    err = capsys.readouterr().err
    assert "differ from the golden model" in err or "produced no output frame" in err
