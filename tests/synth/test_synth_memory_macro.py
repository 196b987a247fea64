"""Weight memories as modelled macros in the ASIC flow (`bitwave synth --memories macro`)."""

import dataclasses
import json

import numpy as np
import pytest
from conftest import folded_designs

from bitwave.app.cli import main
from bitwave.core import contract
from bitwave.core.errors import BitwaveError
from bitwave.synth.eda import memory_macro
from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
from bitwave.synth.eda.gatesim import GateSimulator
from bitwave.synth.eda.liberty import load_library
from bitwave.synth.eda.memory_macro import macro_model, mux_levels
from bitwave.synth.eda.netlist import load_netlist
from bitwave.synth.flows.asic import map_to_cells, stat_total_area
from bitwave.synth.flows.design import (
    check_outputs,
    expected_beats,
    load_frames,
    synthesize_design,
)
from bitwave.synth.flows.stimulus import stream_frames

MODEL_TOLERANCE = 0.35  # the macro model's area against Yosys' flip-flops + muxes
RAM_32X8 = """
module ram32x8(input clk, input we, input [4:0] waddr, input [7:0] wdata,
               input [4:0] raddr, output reg [7:0] rdata);
  reg [7:0] mem [0:31];
  always @(posedge clk) begin
    if (we) mem[waddr] <= wdata;
    rdata <= mem[raddr];
  end
endmodule
"""


@pytest.fixture(scope="module")
def library():
    return load_library(COMPACT_LIBRARY)


@pytest.fixture(scope="module")
def designs(tmp_path_factory):
    """The same folded network with a weight ROM (const) and a weight RAM (memory),
    synthesized with every memory as a macro."""
    out = {}
    for storage, design in folded_designs(tmp_path_factory.mktemp("macro")).items():
        out[storage] = (design, synthesize_design(design, frames_per_lane=3, memories="macro"))
    return out


def _weight_regions(design):
    """{layer module: (depth, word bits)} of the weight stores, from the memory-style manifest."""
    manifest = json.loads((design / "manifest.json").read_text())
    modules = {layer["name"]: layer["module"] for layer in manifest["layers"]}
    return {
        modules[r["layer"]]: (r["depth"], r["word_bits"])
        for r in manifest["weight_memory"]["regions"]
    }


@pytest.mark.parametrize("storage,kind", [("const", "rom"), ("memory", "ram")])
def test_weight_memories_become_macros_and_compute_the_network(designs, storage, kind):
    design, summary = designs[storage]
    area = json.loads((design / "synth" / "area.json").read_text())
    power = json.loads((design / "synth" / "power.json").read_text())
    assert area["memories"] == "macro" and summary["memories"] == "macro"
    weights = [m for m in area["macros"] if m["name"].endswith("weights.mem")]
    shapes = {m["block"]: (m["depth"], m["width"]) for m in weights}
    regions = _weight_regions(designs["memory"][0])
    assert set(shapes) == set(regions)
    for block, (depth, width) in shapes.items():
        # Yosys drops ROM bits that hold only padding (constant columns); a RAM keeps all
        assert depth == regions[block][0]
        assert width == regions[block][1] if kind == "ram" else 0 < width <= regions[block][1]
    assert {m["kind"] for m in weights} == {kind}
    # thresholds are constants in both styles: ROMs
    assert {m["kind"] for m in area["macros"] if "thresholds" in m["name"]} == {"rom"}
    for macro in area["macros"]:
        assert area["by_cell"][macro["shape"]]["count"] >= 1
    assert area["macro_area_um2"] == pytest.approx(sum(m["area_um2"] for m in area["macros"]))
    assert area["total_area_um2"] == pytest.approx(sum(area["by_block"].values()))
    # yosys stat prices the mapped standard cells, without the fanout-repair buffers
    buffers = area["fanout_repair"]["buffer_area_um2"]
    assert area["standard_cell_area_um2"] - buffers == pytest.approx(
        area["yosys_stat_area_um2"], rel=1e-3
    )
    # the gate-level outputs equal the golden model (a RAM starts empty: the weights came
    # through the write port)
    check = power["golden_check"]
    assert check["checked"] and check["frames"] == 64 * 3 and check["mismatched_frames"] == 0
    assert (check["weights_loaded"] > 0) == (storage == "memory")
    assert power["total_w"] > 0 and power["macro_dynamic_w"] > 0
    assert all(m["reads"] > 0 and m["read_w"] > 0 for m in power["macros"])
    macro_blocks = {m["block"] for m in area["macros"]}
    assert all(power["by_block"][b]["macro_dynamic_w"] > 0 for b in macro_blocks)
    report = (design / "synth" / "report.md").read_text()
    assert "## Memory macros" in report and "Memories: `macro`" in report
    assert f"| {kind} | {shapes[weights[0]['block']][0]} x" in report
    timing = json.loads((design / "synth" / "timing.json").read_text())
    assert timing["max_clock_mhz"] > 50


def test_a_flipped_macro_init_bit_fails_the_golden_check(designs, library):
    design, _ = designs["const"]
    manifest = contract.load(design)
    frames = load_frames(manifest, None, lanes=64, per_lane=2, seed=1)
    expected = expected_beats(manifest, frames)

    def simulate(netlist):
        sim = GateSimulator(netlist, library, 64)
        run = stream_frames(sim, frames, manifest.input_stream, manifest.output_stream,
                            manifest.reset.port, manifest.cycles_per_frame,
                            manifest.latency_cycles, [])  # fmt: skip
        return check_outputs(expected, run, manifest.output_stream.beats_per_frame)

    netlist = load_netlist(design / "synth" / "mapped.json", manifest.top, library)
    assert simulate(netlist)["mismatched_frames"] == 0
    thresholds = next(m for m in netlist.macros if m.name == "fc0.thresholds.mem")
    thresholds.init[0, thresholds.width - 1] ^= True  # one bit of one threshold word
    mutated = simulate(netlist)
    assert mutated["checked"] and mutated["mismatched_frames"] > 0


def test_unmodelled_memories_are_refused_by_name(designs, library, tmp_path):
    design, _ = designs["memory"]
    data = json.loads((design / "synth" / "mapped.json").read_text())
    module = data["modules"]["bitwave_gate__fc0__weights"]
    cell = next(c for c in module["cells"].values() if c["type"] == "$mem_v2")
    cell["parameters"]["RD_CLK_ENABLE"] = "0"
    (tmp_path / "async.json").write_text(json.dumps(data))
    with pytest.raises(BitwaveError, match=r"fc0\.weights\.mem: RD_CLK_ENABLE=0 .*asynchronous"):
        load_netlist(tmp_path / "async.json", "bitwave_gate", library)
    cell["parameters"]["RD_CLK_ENABLE"] = "1"
    cell["parameters"]["RD_TRANSPARENCY_MASK"] = "1"
    (tmp_path / "transparent.json").write_text(json.dumps(data))
    with pytest.raises(BitwaveError, match="RD_TRANSPARENCY_MASK=1 .*transparent"):
        load_netlist(tmp_path / "transparent.json", "bitwave_gate", library)


def test_model_area_is_close_to_the_ram_yosys_builds_from_cells(library, tmp_path, monkeypatch):
    (tmp_path / "ram.v").write_text(RAM_32X8)
    cells = map_to_cells([tmp_path / "ram.v"], "ram32x8", COMPACT_LIBRARY, tmp_path / "cells",
                         library=library, memories="cells")  # fmt: skip
    cells_area = stat_total_area(cells.stat_report.read_text())
    macro = map_to_cells([tmp_path / "ram.v"], "ram32x8", COMPACT_LIBRARY, tmp_path / "macro",
                         library=library)  # fmt: skip
    netlist = load_netlist(macro.netlist_json, "ram32x8", library)
    assert [(m.kind, m.depth, m.width) for m in netlist.macros] == [("ram", 32, 8)]

    def close(model_area: float) -> bool:
        return abs(model_area - cells_area) <= MODEL_TOLERANCE * cells_area

    model = macro_model(library, "ram", 32, 8)
    assert close(model.area_um2), (model.area_um2, cells_area)
    # Mutation: a model whose storage bit (flip-flop + mux) is twice as large fails the check.
    figures = memory_macro.bit_figures(library)
    doubled = dataclasses.replace(
        figures, flop_area_um2=2 * figures.flop_area_um2, mux_area_um2=2 * figures.mux_area_um2
    )
    monkeypatch.setattr(memory_macro, "bit_figures", lambda _: doubled)
    assert not close(macro_model(library, "ram", 32, 8).area_um2)


def test_macro_model_structure(library):
    rom, ram = macro_model(library, "rom", 512, 64), macro_model(library, "ram", 512, 64)
    assert rom.levels == ram.levels == mux_levels(512) == 9
    assert rom.cells == {"MUX2_X1": 511 * 64, "DFF_X1": 64}  # mux tree + read register
    assert ram.cells == {"MUX2_X1": 511 * 64, "DFF_X1": 512 * 64 + 64, "CLKGATE_X1": 512}
    assert ram.area_um2 > rom.area_um2 > 0 and ram.leakage_w > rom.leakage_w > 0
    assert rom.write_bit_energy_j == 0 and ram.write_bit_energy_j > 0
    assert ram.read_energy_j == pytest.approx(rom.read_energy_j) and rom.read_energy_j > 0
    assert macro_model(library, "rom", 1024, 64).access_s > rom.access_s > rom.setup_s
    with pytest.raises(BitwaveError, match="kind must be one of"):
        macro_model(library, "sram", 4, 4)


def test_memory_mode_is_checked(designs, capsys):
    design, _ = designs["const"]
    with pytest.raises(BitwaveError, match="memories must be one of auto, macro, cells"):
        synthesize_design(design, memories="flops")
    with pytest.raises(SystemExit):
        main(["synth", str(design), "--memories", "flops"])
    assert "invalid choice: 'flops'" in capsys.readouterr().err
    assert main(["synth", str(design), "--target", "ice40", "--memories", "cells"]) == 2
    assert "--memories applies to the ASIC flow only" in capsys.readouterr().err


def test_cells_mode_maps_memories_to_flip_flops(designs):
    design, _ = designs["memory"]
    summary = synthesize_design(design, memories="cells", frames_per_lane=2)
    area = json.loads((design / "synth" / "area.json").read_text())
    assert summary["memories"] == "cells" and area["macros"] == [] and summary["macros"] == 0
    assert summary["golden_mismatched_frames"] == 0
    buffers = area["fanout_repair"]["buffer_area_um2"]  # not in yosys stat
    assert area["total_area_um2"] - buffers == pytest.approx(area["yosys_stat_area_um2"])
    np.testing.assert_array_less(0, area["by_cell"]["DFF_X1"]["count"])


def test_memory_init_blocks_become_readmemh():
    from bitwave.synth.flows.asic import hoist_memory_inits

    verilog = "\n".join([
        "  reg [11:0] mem [2:0];",
        "  initial begin",
        "    mem[0] = 12'h0ab;",
        "    mem[1] = 12'hfff;",
        "    mem[2] = 12'h1;",
        "  end",
        "  initial begin",  # not in word order: left as written
        "    other[1] = 4'h1;",
        "  end",
    ])  # fmt: skip
    text, files = hoist_memory_inits(verilog, "d_mem")
    assert files == {"d_mem_0.hex": "0ab\nfff\n001\n"}
    assert '  initial $readmemh("d_mem_0.hex", mem);' in text.splitlines()
    assert "    other[1] = 4'h1;" in text.splitlines()


def test_auto_mode_keeps_rams_as_macros_and_maps_roms_to_logic(designs):
    """The default: weight RAMs stay macros; weight and threshold ROMs become logic."""
    for storage in ("const", "memory"):
        design, _ = designs[storage]
        summary = synthesize_design(design, frames_per_lane=2)
        area = json.loads((design / "synth" / "area.json").read_text())
        assert summary["memories"] == "auto" and summary["golden_mismatched_frames"] == 0
        kinds = [m["kind"] for m in area["macros"]]
        if storage == "const":
            assert kinds == []
        else:
            assert kinds and set(kinds) == {"ram"}
            assert all(m["name"].endswith("weights.mem") for m in area["macros"])
        assert "Memories: `auto`" in (design / "synth" / "report.md").read_text()


def test_clock_gate_comes_from_the_parsed_library(library):
    """The smallest positive-edge integrated clock gate, read from the Library's cells (not
    by re-reading the liberty file: a library whose file is gone still has it)."""
    assert memory_macro.clock_gate(library).name == "CLKGATE_X1"
    gates = {c.name for c in library.cells.values() if c.clock_gating.startswith("latch_posedge")}
    assert {"CLKGATE_X1", "CLKGATETST_X1"} <= gates
    moved = dataclasses.replace(library, path="/nonexistent/moved.lib")
    assert memory_macro.clock_gate(moved).name == "CLKGATE_X1"
    without = dataclasses.replace(
        library,
        cells={n: dataclasses.replace(c, clock_gating="") for n, c in library.cells.items()},
    )
    assert memory_macro.clock_gate(without) is None
