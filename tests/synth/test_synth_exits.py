"""`bitwave synth` on a multi-exit design: one synthesis; area by block with the heads, the
order FIFO and the top's demux/merge glue; power per exit (every frame at that exit, the same
frames); the gate-level golden check with a random exit per frame against
``golden.run(net, x, exits=...)``; mutation twins proving the check can fail (a head's weight
flipped, the selector withheld, a netlist checked against another IR)."""

import json
import shutil

import numpy as np
import pytest

from bitwave.app.cli import main
from bitwave.core import contract, golden, ir
from bitwave.core.errors import BitwaveError
from bitwave.core.random_ir import random_codes, random_network
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
from bitwave.synth.flows.exits import random_selectors, selected_exits, steady_period
from bitwave.synth.flows.stimulus import stream_frames

LAYERS = [32, 16, "exit", 16, "exit", 16, 8]  # exit0 after fc0, exit1 after fc1, final fc3
FOLD = "fc0:pe=4,simd=16;fc1:pe=4,simd=8;fc2:pe=4,simd=8;fc3:pe=4,simd=8;exit0:pe=4,simd=8;exit1:pe=4,simd=8"  # noqa: E501
FRAMES = 200  # real frames in the --inputs file


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    """A 3-exit network generated with folded layers and synthesized with an --inputs file:
    (design folder, IR, the frames file)."""
    root = tmp_path_factory.mktemp("exits_synth")
    net = random_network(LAYERS, seed=5, name="exits_small")
    ir.save(net, root / "model.bwir")
    generate(root / "model.bwir", root / "design", fold_spec=FOLD)
    codes = random_codes(net.input_type, FRAMES, net.input_width, np.random.default_rng(9))
    np.save(root / "frames.npy", codes)
    assert main(["synth", str(root / "design"), "--inputs", str(root / "frames.npy")]) == 0
    return root / "design", net, root / "frames.npy"


def _json(design, name):
    return json.loads((design / "synth" / name).read_text())


def test_area_by_block_shows_the_heads_the_order_fifo_and_the_glue(synthesized):
    design, _, _ = synthesized
    area, manifest = _json(design, "area.json"), contract.load(design)
    assert area["total_area_um2"] == pytest.approx(sum(area["by_block"].values()))
    assert area["macro_count"] == 0  # the order FIFO (asynchronous read) is mapped to cells
    for head in manifest.exits.heads:  # each head is its own block, named like a layer
        assert area["layers"][head.name] == area["by_block"][head.module] > 0
        assert area["exits"]["heads"][head.name] == area["by_block"][head.module]
    assert set(area["layers"]) == {"fc0", "fc1", "fc2", "fc3", "exit0", "exit1"}
    assert area["exits"]["order_fifo_um2"] == area["by_block"][f"{manifest.top}__exit_order"] > 0
    assert area["exits"]["top_glue_um2"] == area["by_block"][manifest.top] > 0
    report = (design / "synth" / "report.md").read_text()
    assert "exit0 (head of exit 0)" in report and "exit order FIFO" in report


def test_every_exit_has_its_power_energy_and_macs(synthesized):
    design, net, frames = synthesized
    power, manifest = _json(design, "power.json"), contract.load(design)
    exits = power["exits"]
    assert [e["exit"] for e in exits] == [0, 1, 2]
    period = 1e-6 / manifest.clock.mhz
    macs = [16 * 32 + 8 * 16, 16 * 32 + 16 * 16 + 8 * 16, 16 * 32 + 2 * 16 * 16 + 8 * 16]
    for entry, point, want in zip(exits, manifest.exits.per_exit, macs, strict=True):
        frame_s = point.cycles_per_frame * period
        assert entry["cycles_per_frame"] == point.cycles_per_frame
        assert entry["energy_per_frame_j"] == pytest.approx(entry["total_w"] * frame_s)
        assert entry["dynamic_energy_per_frame_j"] == pytest.approx(entry["dynamic_w"] * frame_s)
        fps = manifest.targets.fps
        assert entry["realtime_w"] == pytest.approx(
            entry["leakage_w"]
            + entry["dynamic_energy_per_frame_j"] * fps
            + power["idle_dynamic_w"] * (1 - frame_s * fps)  # the idle clock between frames
        )
        assert entry["binary_macs_per_frame"] == want
        assert entry["energy_per_binary_mac_j"] == pytest.approx(entry["energy_per_frame_j"] / want)
        check = entry["golden_check"]  # every run is checked at the exit it drove
        assert check["checked"] and check["mismatched_frames"] == 0
        assert check["frames"] == 64 * DEFAULT_FRAMES_PER_LANE
        assert entry["steady_state"]["frames_per_lane"] >= 1
    modules = {layer.name: layer.module for layer in (*manifest.layers, *manifest.exits.heads)}
    idle = [sorted(e["idle_blocks"]) for e in exits]  # what each exit leaves without frames
    assert idle == [
        sorted(modules[n] for n in names)
        for names in (("fc1", "fc2", "fc3", "exit1"), ("fc2", "fc3", "exit0"), ("exit0", "exit1"))
    ]
    assert all(0 < e["idle_blocks_dynamic_w"] < e["dynamic_w"] for e in exits)
    final = exits[-1]  # the top-level figures stay the final exit's
    for key in ("dynamic_w", "leakage_w", "total_w", "energy_per_frame_j"):
        assert power[key] == final[key]
    # the same frames at a shallower exit: less work, less dynamic energy per frame
    for measure in (exits, [e["steady_state"] for e in exits]):
        energies = [e["dynamic_energy_per_frame_j"] for e in measure]
        assert energies[0] < energies[1] < energies[2], energies
    assert power["stimulus"]["source"] == str(frames)
    report = (design / "synth" / "report.md").read_text()
    assert "## Per exit" in report and "- Exit 0 runs" in report


def test_the_golden_check_switches_exits_per_frame(synthesized):
    design, _, _ = synthesized
    power, manifest = _json(design, "power.json"), contract.load(design)
    check = power["golden_check"]
    frames = 64 * DEFAULT_FRAMES_PER_LANE
    assert check["checked"] and check["frames"] == frames and check["mismatched_frames"] == 0
    assert sum(check["frames_per_exit"]) == frames and min(check["frames_per_exit"]) > 0
    assert power["exit_switching"]["golden_check"] == check
    selectors = load_stimulus(manifest, None, 64, DEFAULT_FRAMES_PER_LANE).exits
    assert (selectors >= manifest.exits.count).any()  # values past the final exit are driven
    assert steady_period(manifest.exits, selectors) is None  # no steady state when switching


def test_selectors_span_the_port_and_map_to_exits(synthesized):
    design, _, _ = synthesized
    exits = contract.load(design).exits
    values = random_selectors(exits, 64, 8, seed=1)
    assert set(np.unique(values)) == {0, 1, 2, 3}
    assert np.array_equal(selected_exits(exits, values), np.minimum(values, 2))
    assert steady_period(exits, np.full((4, 2), 3)) == exits.per_exit[2].cycles_per_frame


def _simulate(design, stimulus, expected, exits=None):
    """The synthesized (mapped) netlist streamed with ``stimulus`` (its selectors, or
    ``exits`` instead), checked against ``expected``."""
    library = load_library(COMPACT_LIBRARY)
    manifest = contract.load(design)
    netlist = load_netlist(design / "synth" / "mapped.json", manifest.top, library)
    sim = GateSimulator(netlist, library, 64)
    selectors = stimulus.exits if exits is None else exits
    run = stream_frames(sim, stimulus.frames, manifest.input_stream, manifest.output_stream,
                        manifest.reset.port, manifest.switching_cycles_bound,
                        max(p.latency_cycles for p in manifest.exits.per_exit), [],
                        exits=selectors, exit_port=manifest.exits.port)  # fmt: skip
    return check_outputs(expected, run, manifest.output_stream.beats_per_frame)


def _twin(design, mutate, name):
    """A copy of the design folder (without synth/) whose model.bwir is ``net`` mutated."""
    mutated = ir.load(design / "model.bwir")
    mutate(mutated)
    twin = design.parent / name
    shutil.copytree(design, twin, ignore=shutil.ignore_patterns("synth"))
    ir.save(mutated, twin / "model.bwir")
    return twin, mutated


@pytest.mark.parametrize("k", [0, 1])
def test_a_flipped_head_weight_fails_the_golden_check(synthesized, k):
    """Mutation: the golden model of the IR with one weight bit of head k flipped disagrees
    with the netlist of the original, on the frames the selector sends to exit k."""
    design, net, _ = synthesized
    manifest = contract.load(design)
    stimulus = load_stimulus(manifest, None, lanes=64, per_lane=6, seed=4)
    expected = expected_beats(manifest, stimulus.frames, None, stimulus.exits)
    assert _simulate(design, stimulus, expected)["mismatched_frames"] == 0

    def flip(mutated):
        mutated.exits[k].head.weights[:, 0] ^= np.uint64(1)  # input bit 0 of every neuron

    twin, mutated = _twin(design, flip, f"head{k}_flipped")
    codes = stimulus.frames[..., : net.input_width].reshape(-1, net.input_width)
    assert not np.array_equal(golden.run(mutated, codes, exits=k), golden.run(net, codes, exits=k))
    found = _simulate(design, stimulus, expected_beats(contract.load(twin), stimulus.frames,
                                                       None, stimulus.exits))  # fmt: skip
    assert found["checked"] and found["mismatched_frames"] > 0


def test_withholding_the_selector_fails_the_golden_check(synthesized):
    """Mutation: the same netlist and frames with every frame at the final exit, checked
    against the golden model at the random exits."""
    design, _, _ = synthesized
    manifest = contract.load(design)
    stimulus = load_stimulus(manifest, None, lanes=64, per_lane=6, seed=6)
    expected = expected_beats(manifest, stimulus.frames, None, stimulus.exits)
    final = np.full_like(stimulus.exits, manifest.exits.count - 1)
    withheld = _simulate(design, stimulus, expected, exits=final)
    assert withheld["checked"] and withheld["mismatched_frames"] > 0


def test_synthesis_refuses_a_netlist_whose_head_differs_from_its_ir(synthesized):
    """The whole flow: a design whose model.bwir has head 1 flipped fails after synthesis."""
    design, net, _ = synthesized

    def flip(mutated):
        mutated.exits[1].head.weights[:, 0] ^= np.uint64(1)

    twin, _ = _twin(design, flip, "flow_twin")
    with pytest.raises(BitwaveError, match="differ from the golden model"):
        synthesize_design(twin, frames_per_lane=4)


def test_an_ir_with_other_exits_than_the_manifest_is_refused(synthesized, tmp_path):
    design, _, _ = synthesized
    twin = tmp_path / "twin"
    shutil.copytree(design, twin, ignore=shutil.ignore_patterns("synth"))
    ir.save(random_network([32, 16, 16, 16, 8], seed=5, name="plain"), twin / "model.bwir")
    with pytest.raises(BitwaveError, match="has 1 exit\\(s\\) but the manifest describes 3"):
        synthesize_design(twin)
