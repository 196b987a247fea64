"""`bitwave synth DIR` on small streaming networks from `bitwave generate`."""

import json

import numpy as np
import pytest
from conftest import NANGATE45 as FULL
from conftest import generated_design

from bitwave.app.cli import main
from bitwave.core import contract, golden, ir
from bitwave.core.errors import BitwaveError
from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
from bitwave.synth.flows.design import load_frames
from bitwave.synth.flows.flow import run_asic
from bitwave.synth.flows.stimulus import stream_frames

SIZES = (32, 8, 4)


@pytest.fixture
def design(tmp_path):
    return generated_design(tmp_path / "demo", SIZES)


def test_synth_cli_writes_all_reports(design, capsys):
    frames = np.random.default_rng(3).integers(0, 2, (20, SIZES[0])).astype(np.uint8)  # IR codes
    np.save(design / "frames.npy", frames)
    assert (
        main(["synth", str(design), "--clock-mhz", "250", "--inputs", str(design / "frames.npy")])
        == 0
    )
    out = design / "synth"
    for name in (
        "mapped.v",
        "mapped.json",
        "area.json",
        "timing.json",
        "power.json",
        "report.md",
        "synth.log",
        "cells.v",  # cell models for bitwave verify --gate-level
    ):
        assert (out / name).is_file(), name
    area = json.loads((out / "area.json").read_text())
    power = json.loads((out / "power.json").read_text())
    timing = json.loads((out / "timing.json").read_text())
    # yosys stat prices the standard cells, not the memory macros nor the fanout buffers
    buffers = area["fanout_repair"]["buffer_area_um2"]
    assert area["standard_cell_area_um2"] - buffers == pytest.approx(area["yosys_stat_area_um2"])
    assert area["total_area_um2"] == pytest.approx(sum(area["by_block"].values()))
    assert set(area["layers"]) == {"fc0", "fc1"}
    assert power["dynamic_w"] > 0 and power["leakage_w"] > 0
    assert power["total_w"] == pytest.approx(power["dynamic_w"] + power["leakage_w"])
    assert power["energy_per_frame_j"] > 0 and power["energy_per_binary_mac_j"] > 0
    assert power["clock_mhz"] == 250
    assert power["stimulus"]["frames_out"] > 0
    # idle: only what clock gating leaves clocked, less than the busy design's dynamic power
    assert 0 < power["idle_dynamic_w"] < power["dynamic_w"]
    manifest = json.loads((design / "manifest.json").read_text())
    frame_s = power["energy_per_frame_j"] / power["total_w"]
    fps = power["realtime_fps"]
    assert power["realtime_w"] == pytest.approx(
        power["leakage_w"]
        + power["dynamic_w"] * frame_s * fps
        + power["idle_dynamic_w"] * (1 - frame_s * fps)
    )
    assert manifest["targets"]["fps"] == fps
    modules = {
        layer["module"] for layer in json.loads((design / "manifest.json").read_text())["layers"]
    }
    assert set(power["by_block"]) >= modules
    assert 0 < timing["critical_path_ns"] < 10 and timing["max_clock_mhz"] > 50
    assert not list(out.glob(".yosys_*")), "the Yosys working folder is removed after success"


def test_gate_level_stream_outputs_match_the_reference(design):
    """The mapped netlist, driven through the stream ports, computes the network."""
    manifest = contract.load(design)
    frames = load_frames(manifest, None, lanes=64, per_lane=3, seed=5)
    runs = {}

    def drive(sim):
        runs["r"] = stream_frames(
            sim,
            frames,
            manifest.input_stream,
            manifest.output_stream,
            "rst",
            manifest.cycles_per_frame,
            manifest.latency_cycles,
            [],
        )

    run_asic(
        [manifest.verilog], manifest.top, COMPACT_LIBRARY, 100e6, drive, lanes=64, cross_check=False
    )
    net = ir.load(design / "model.bwir")
    codes = frames.reshape(-1, frames.shape[-1])[:, : SIZES[0]].astype(np.uint8)
    weights = 1 << np.arange(SIZES[-1])

    def beats(outputs: np.ndarray) -> np.ndarray:
        return (outputs.reshape(64, 3, -1) * weights).sum(axis=2)

    expected = beats(golden.run(net, codes))
    for lane in range(64):
        assert runs["r"].outputs[lane] == [int(v) for v in expected[lane]]
    # Mutation: a flipped weight bit gives a reference that the netlist no longer matches.
    net.layers[0].weights[0, 0] ^= np.uint64(1)
    wrong = beats(golden.run(net, codes))
    assert not np.array_equal(wrong, expected)
    assert any(runs["r"].outputs[lane] != [int(v) for v in wrong[lane]] for lane in range(64))


def test_bad_inputs_are_clear_errors(design, tmp_path, capsys):
    assert main(["synth", str(tmp_path / "missing")]) == 2
    assert "manifest.json is missing" in capsys.readouterr().err
    np.save(tmp_path / "wrong.npy", np.zeros((4, 7)))
    assert main(["synth", str(design), "--inputs", str(tmp_path / "wrong.npy")]) == 2
    assert "shape (frames, 32)" in capsys.readouterr().err
    manifest = json.loads((design / "manifest.json").read_text())
    manifest["top"] = "../evil"
    (design / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BitwaveError, match="plain identifier"):
        contract.load(design)


def test_yosys_failure_shows_log_tail_and_path(tmp_path):
    from bitwave.synth.flows.asic import map_to_cells

    broken = tmp_path / "broken.v"
    broken.write_text("module top(input a, output y); assign y = a &; endmodule\n")
    with pytest.raises(BitwaveError) as error:
        map_to_cells([broken], "top", COMPACT_LIBRARY, workdir=tmp_path / "work")
    message = str(error.value)
    assert "full log:" in message and "synth.log" in message and "syntax error" in message.lower()


def test_synth_on_a_design_from_the_hw_generator(tmp_path):
    """The real contract: bitwave random-ir -> bitwave generate -> bitwave synth."""
    model = tmp_path / "model.bwir"
    design = tmp_path / "design"
    assert main(["random-ir", "--layers", "32,8,4", "--seed", "1", "--out", str(model)]) == 0
    assert main(["generate", str(model), "--out", str(design), "--beat-bits", "16"]) == 0
    assert main(["synth", str(design)]) == 0
    power = json.loads((design / "synth" / "power.json").read_text())
    area = json.loads((design / "synth" / "area.json").read_text())
    assert power["stimulus"]["frames_out"] == power["stimulus"]["frames_in"] > 0
    assert power["dynamic_w"] > 0 and power["energy_per_frame_j"] > 0
    assert power["energy_per_binary_mac_j"] == pytest.approx(
        power["energy_per_frame_j"] / (32 * 8 + 8 * 4)
    )
    manifest = json.loads((design / "manifest.json").read_text())
    layer_modules = {layer["module"] for layer in manifest["layers"]}
    assert layer_modules <= set(area["by_block"])
    assert all(area["by_block"][m] > 0 for m in layer_modules)


@pytest.mark.slow
@pytest.mark.skipif(not FULL.is_file(), reason=f"full NanGate45 liberty not found at {FULL}")
def test_synth_with_the_full_liberty_agrees_with_the_compact_one(design, tmp_path):
    assert main(["synth", str(design)]) == 0
    compact = json.loads((design / "synth" / "power.json").read_text())
    compact_area = json.loads((design / "synth" / "area.json").read_text())["total_area_um2"]
    assert main(["synth", str(design), "--liberty", str(FULL)]) == 0
    full = json.loads((design / "synth" / "power.json").read_text())
    full_area = json.loads((design / "synth" / "area.json").read_text())["total_area_um2"]
    # abc maps with each library's own delays, so the netlists may differ slightly.
    assert full_area == pytest.approx(compact_area, rel=0.05)
    assert full["total_w"] == pytest.approx(compact["total_w"], rel=0.15)
