"""`bitwave synth` on a recurrent (GRU) design: area by block with the GRU layer, activity-based
power driven by whole utterances (the sequence-start port driven with each utterance's first
frame), and the gate-level golden check against ``golden.run(net, x, starts)``, with mutation
twins proving that check can fail (start flag withheld, a recurrent weight flipped, a netlist
checked against another IR)."""

import json
import shutil

import numpy as np
import pytest

from bitwave.app.cli import main
from bitwave.core import contract, golden, ir
from bitwave.core.errors import BitwaveError
from bitwave.core.random_ir import random_network
from bitwave.hw.generate import generate
from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
from bitwave.synth.eda.gatesim import GateSimulator
from bitwave.synth.eda.liberty import load_library
from bitwave.synth.eda.netlist import load_netlist
from bitwave.synth.flows.design import (
    DEFAULT_FRAMES_PER_LANE,
    check_outputs,
    expected_beats,
    load_stimulus,
    synthesize_design,
)
from bitwave.synth.flows.stimulus import stream_frames

LAYERS = [24, "gru:8", 6]
FOLD = "gru0:pe=4,simd=8;fc1:pe=6,simd=8"
UTTERANCES = (70, 45, 90)  # frames per --inputs file


@pytest.fixture(scope="module")
def gru(tmp_path_factory):
    """A small GRU network generated with folded layers and synthesized with three utterances
    (--inputs files) as its stimulus: (design folder, IR, utterance files)."""
    root = tmp_path_factory.mktemp("gru_synth")
    net = random_network(LAYERS, seed=11, name="gru_small")
    ir.save(net, root / "model.bwir")
    generate(root / "model.bwir", root / "design", fold_spec=FOLD)
    rng = np.random.default_rng(4)
    files = []
    for index, frames in enumerate(UTTERANCES):
        files.append(root / f"utterance{index}.npy")
        np.save(files[-1], rng.integers(0, 2, (frames, LAYERS[0])).astype(np.int64))
    args = ["synth", str(root / "design")]
    for path in files:
        args += ["--inputs", str(path)]
    assert main(args) == 0
    return root / "design", net, files


def _json(design, name):
    return json.loads((design / "synth" / name).read_text())


def test_gru_design_has_its_area_block_power_and_passes_the_golden_check(gru):
    design, net, files = gru
    area, power = _json(design, "area.json"), _json(design, "power.json")
    manifest = contract.load(design)
    module = {layer.name: layer.module for layer in manifest.layers}["gru0"]
    assert area["layers"]["gru0"] > 0 and area["layers"]["gru0"] == area["by_block"][module]
    assert area["layers"]["gru0"] > area["layers"]["fc1"]  # the recurrent engine dominates
    assert power["dynamic_w"] > 0 and power["by_block"][module]["total_w"] > 0
    check = power["golden_check"]
    frames = 64 * DEFAULT_FRAMES_PER_LANE
    assert check["checked"] and check["frames"] == frames and check["mismatched_frames"] == 0
    # every lane starts a sequence, and so does every utterance's first frame inside a lane
    stream = np.arange(frames) % sum(UTTERANCES)
    firsts = np.isin(stream, np.cumsum((0,) + UTTERANCES[:-1]))
    firsts[::DEFAULT_FRAMES_PER_LANE] = True
    assert check["sequence_starts"] == int(firsts.sum()) > 64
    assert power["stimulus"]["source"] == ", ".join(map(str, files))
    # MACs of a GRU frame: three gates over the input and the state, then the dense layer
    macs = 3 * 8 * (24 + 8) + 8 * 6
    assert power["energy_per_binary_mac_j"] == pytest.approx(power["energy_per_frame_j"] / macs)
    report = (design / "synth" / "report.md").read_text()
    assert "| gru0 |" in report and "sequence starts driven" in report


def test_random_stimulus_of_a_recurrent_design_restarts_inside_lanes(gru):
    design, _, _ = gru
    stimulus = load_stimulus(contract.load(design), None, lanes=64, per_lane=8, seed=2)
    assert stimulus.starts.shape == (64, 8) and stimulus.starts[:, 0].all()
    assert stimulus.starts[:, 1:].any()  # utterances also begin inside the lanes


def test_a_feed_forward_design_gets_no_starts(tmp_path):
    ir.save(random_network([16, 8, 4], seed=1, name="mlp"), tmp_path / "m.bwir")
    generate(tmp_path / "m.bwir", tmp_path / "d")
    stimulus = load_stimulus(contract.load(tmp_path / "d"), None, lanes=64, per_lane=2)
    assert stimulus.starts is None and stimulus.sequences is None


def _simulate(design, stimulus, expected, drive_starts=True):
    """The synthesized netlist (with its fanout repair undone: the mapped netlist) streamed
    with ``stimulus``, checked against ``expected``."""
    library = load_library(COMPACT_LIBRARY)
    manifest = contract.load(design)
    netlist = load_netlist(design / "synth" / "mapped.json", manifest.top, library)
    sim = GateSimulator(netlist, library, 64)
    starts = dict(starts=stimulus.starts, start_port=manifest.sequence_start.port)
    run = stream_frames(sim, stimulus.frames, manifest.input_stream, manifest.output_stream,
                        manifest.reset.port, manifest.cycles_per_frame, manifest.latency_cycles,
                        [], **(starts if drive_starts else {}))  # fmt: skip
    return check_outputs(expected, run, manifest.output_stream.beats_per_frame)


def test_withholding_the_start_flag_fails_the_golden_check(gru):
    """Mutation: the same netlist and frames without the start flag keep the state across
    utterances, which the golden model with the starts does not."""
    design, _, _ = gru
    manifest = contract.load(design)
    stimulus = load_stimulus(manifest, None, lanes=64, per_lane=6, seed=3)
    expected = expected_beats(manifest, stimulus.frames, stimulus.starts)
    assert _simulate(design, stimulus, expected)["mismatched_frames"] == 0
    withheld = _simulate(design, stimulus, expected, drive_starts=False)
    assert withheld["checked"] and withheld["mismatched_frames"] > 0


def test_a_flipped_recurrent_weight_fails_the_golden_check(gru):
    """Mutation: the golden model of the IR with one bit of U_n flipped disagrees with the
    netlist of the original."""
    design, net, _ = gru
    manifest = contract.load(design)
    stimulus = load_stimulus(manifest, None, lanes=64, per_lane=6, seed=5)
    codes = stimulus.frames[..., : net.input_width].reshape(-1, net.input_width)
    original = golden.run(net, codes, stimulus.starts.reshape(-1))
    mutated = ir.load(design / "model.bwir")
    mutated.layers[0].weights_h[2, 0, 0] ^= np.uint64(1)
    assert not np.array_equal(golden.run(mutated, codes, stimulus.starts.reshape(-1)), original)
    ir.save(mutated, design.parent / "mutated.bwir")
    shutil.copytree(design, design.parent / "twin", ignore=shutil.ignore_patterns("synth"))
    shutil.copy(design.parent / "mutated.bwir", design.parent / "twin" / "model.bwir")
    twin = contract.load(design.parent / "twin")
    expected = expected_beats(twin, stimulus.frames, stimulus.starts)
    found = _simulate(design, stimulus, expected)
    assert found["checked"] and found["mismatched_frames"] > 0


def test_synthesis_refuses_a_netlist_that_differs_from_its_ir(gru, tmp_path):
    """The whole flow: a design whose model.bwir is another GRU's fails after synthesis."""
    design, _, _ = gru
    twin = tmp_path / "twin"
    shutil.copytree(design, twin, ignore=shutil.ignore_patterns("synth"))
    other = ir.load(design / "model.bwir")
    other.layers[0].thresholds[:, 3] += 1  # T_n1 of every unit one step up
    ir.save(other, twin / "model.bwir")
    with pytest.raises(BitwaveError, match="differ from the golden model"):
        synthesize_design(twin, frames_per_lane=4)


def test_a_recurrent_ir_in_a_feed_forward_design_is_refused(tmp_path):
    ir.save(random_network([24, 8, 6], seed=1, name="mlp"), tmp_path / "m.bwir")
    generate(tmp_path / "m.bwir", tmp_path / "d")
    ir.save(random_network(LAYERS, seed=1, name="gru"), tmp_path / "d" / "model.bwir")
    with pytest.raises(BitwaveError, match="recurrent but the manifest lacks a sequence_start"):
        synthesize_design(tmp_path / "d")
