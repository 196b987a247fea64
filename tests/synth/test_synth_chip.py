"""`bitwave synth` on a full chip (PCM in, enhanced PCM out): the compiled gate-level kernels
against the numpy reference path, the utterance stimulus and its refusals, the split of area
and power into the chip's parts, and (slow) a tiny chip synthesized once whose every output
sample must equal golden.run_audio, with a twin that must fail that check."""

from __future__ import annotations

import copy
import json
import os
import shutil

import numpy as np
import pytest
from conftest import folded_designs

from bitwave.core.errors import BitwaveError
from bitwave.synth.eda.derive_liberty import COMPACT_LIBRARY
from bitwave.synth.eda.gatesim import GateSimulator, pack_lanes
from bitwave.synth.eda.liberty import load_library
from bitwave.synth.eda.netlist import load_netlist
from bitwave.synth.flows import chip
from bitwave.synth.flows.asic import map_to_cells


@pytest.fixture(scope="module", params=["memory", "const"])
def memory_netlist(request, tmp_path_factory):
    """The mapped netlist of a small folded design with its weights in RAM macros (or in ROM
    macros: ``--memories macro``) and clock gates: every path of the simulator (logic,
    flip-flops, gates, macro reads and writes)."""
    from bitwave.core import contract

    root = tmp_path_factory.mktemp("gatekernel")
    design = contract.load(folded_designs(root)[request.param])
    library = load_library(COMPACT_LIBRARY)
    mapped = map_to_cells([design.verilog], design.top, COMPACT_LIBRARY, root / "work", library,
                          memories="macro")  # fmt: skip
    return load_netlist(mapped.netlist_json, design.top, library), library, design


def _run(netlist, library, design, compiled: bool, cycles: int = 60, mutate=None):
    sim = GateSimulator(netlist, library, 70, compiled=compiled)  # two words of lanes
    if mutate:
        mutate(sim)
    rng = np.random.default_rng(5)
    inputs = [n for n, p in netlist.ports.items() if p.direction == "input" and n != "clk"]
    for cycle in range(cycles):
        for name in inputs:
            width = len(netlist.ports[name].nets)
            bits = rng.random((70, width)) < (
                0.9 if name == design.reset.port and cycle < 3 else 0.4
            )
            sim.set_input(name, pack_lanes(bits))
        sim.evaluate()
        sim.clock()
    return sim


def test_compiled_kernels_equal_the_numpy_path(memory_netlist):
    netlist, library, design = memory_netlist
    kinds = {m.kind for m in netlist.macros}
    assert "rom" in kinds and ("ram" in kinds) == bool(design.weight_memory)
    fast, slow = (_run(netlist, library, design, c) for c in (True, False))
    assert fast.compiled and not slow.compiled and fast.gates
    np.testing.assert_array_equal(fast.values, slow.values)
    np.testing.assert_array_equal(fast.state, slow.state)
    np.testing.assert_array_equal(fast.toggles, slow.toggles)
    assert fast.toggles.sum() > 0
    for a, b in zip(fast.macros, slow.macros, strict=True):
        assert (a.stats.reads, a.stats.bits_written) == (b.stats.reads, b.stats.bits_written)
        if a.writable:
            np.testing.assert_array_equal(a.contents, b.contents)

    assert sum(m.stats.reads for m in fast.macros) > 0  # the macros' paths ran
    assert (sum(m.stats.bits_written for m in fast.macros) > 0) == bool(design.weight_memory)

    def invert_one_table(sim):  # a twin: one cell output's truth table inverted
        outputs, tables, *rest = sim._logic
        tables = tables.copy()
        tables[len(tables) // 2] ^= np.uint64((1 << (1 << int(rest[1][len(tables) // 2]))) - 1)
        sim._logic = (outputs, tables, *rest)

    twin = _run(netlist, library, design, True, mutate=invert_one_table)
    assert not np.array_equal(twin.values, fast.values)


# ------------------------------------------------------------------------------ stimulus
def test_synthetic_utterances_are_deterministic_speechlike_and_sized():
    a, b = (
        chip.synthetic_utterances(lengths=[768, 900], seed=3),
        chip.synthetic_utterances(lengths=[768, 900], seed=3),
    )
    assert [u.size for u in a] == [768, 900] and all(u.dtype == np.int16 for u in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], chip.synthetic_utterances(lengths=[768], seed=4)[0])
    spectrum = np.abs(np.fft.rfft(a[1].astype(float)))
    low = spectrum[: len(spectrum) // 2].sum()  # below 4 kHz: the harmonics
    assert low > 3 * spectrum[len(spectrum) // 2 :].sum() and 8000 < np.abs(a[1]).max() <= 16000


def test_utterances_are_read_and_refused(tmp_path):
    from bitwave.core.wav import write_wav

    write_wav(tmp_path / "a.wav", np.linspace(-0.5, 0.5, 1000, dtype=np.float32), rate=8000)
    np.save(tmp_path / "b.npy", np.arange(800, dtype=np.int16))
    wav, npy = chip.load_utterances([tmp_path / "a.wav", tmp_path / "b.npy"])
    assert wav.dtype == np.int16 and wav.size == 2000  # resampled to 16 kHz
    np.testing.assert_array_equal(npy, np.arange(800))
    np.save(tmp_path / "c.npy", np.zeros((2, 800)))
    with pytest.raises(BitwaveError, match="1-d .npy of int16"):
        chip.load_utterances([tmp_path / "c.npy"])
    np.save(tmp_path / "d.npy", np.array([0, 40000]))
    with pytest.raises(BitwaveError, match="outside"):
        chip.load_utterances([tmp_path / "d.npy"])
    chip.check_lengths([npy], 768, ["b"])
    with pytest.raises(BitwaveError, match="767 samples; allowed: at least 768"):
        chip.check_lengths([npy[:767]], 768, ["b"])


# ------------------------------------------------------------------------------ parts
PARTS = {name: f"top__{name}" for name in chip.PARTS}


def test_blocks_fall_into_their_parts_and_the_split_sums():
    assert chip.part_of("top__network", PARTS) == "network"
    assert chip.part_of("top__network__fc0", PARTS) == "network"
    assert chip.part_of("top__networks", PARTS) == chip.GLUE  # a prefix is a whole name
    assert chip.part_of("top", PARTS) == chip.GLUE
    by_block = {"top": 5.0, "top__front": 100.0, "top__network": 20.0, "top__back": 120.0,
                "top__buffer": 30.0}  # fmt: skip
    macros = [{"block": "top__buffer", "area_um2": 25.0}, {"block": "top__front", "area_um2": 60.0}]
    split = chip.split_area(by_block, macros, PARTS)
    assert sum(p["area_um2"] for p in split.values()) == sum(by_block.values())
    assert split["buffer"]["macro_area_um2"] == 25.0 and split[chip.GLUE]["area_um2"] == 5.0


# ------------------------------------------------------------------------------ a tiny chip
FOLD = "fc0:pe=4,simd=36;fc1:pe=27,simd=4"  # the network well inside the back end's frame
LENGTHS = (768, 868)  # the shortest utterance, and one with a ragged last hop
# narrow FFT and ROM widths (valid, bit-exact like any): smaller multipliers, faster Yosys
SMALL_SPEC_WIDTHS = {"window_bits": 8, "twiddle_bits": 8, "fft_bits": 18, "gain_bits": 6,
                     "norm_bits": 8}  # fmt: skip
# Yosys maps the two FFTs for minutes and the chip runs ~10,000 cycles a frame at a few hundred
# gate-level cycles/s: too long for the suite's budget, run on demand.
needs_chip_synth = pytest.mark.skipif(
    not os.environ.get("BITWAVE_CHIP_SYNTH"), reason="~5 min; BITWAVE_CHIP_SYNTH=1"
)


@pytest.fixture(scope="module")
def chip_design(tmp_path_factory):
    """(design folder, its network, two utterances, their .npy files): a random
    2052-16-513 mask network with a plausible coding, generated as a full chip."""
    from bitwave.core import ir
    from bitwave.core.audio import AudioSpec
    from bitwave.core.random_ir import random_network
    from bitwave.hw.generate import generate

    root = tmp_path_factory.mktemp("chip_synth")
    net = random_network([2052, 16, 513], seed=0, name="chip_net")
    bounds = np.geomspace(1e-3, 30.0, 15)[None, :] * np.linspace(1.0, 0.2, 513)[:, None]
    net.coding = ir.BitplaneCodingSpec(513, 4, bounds)
    net.audio = AudioSpec(**SMALL_SPEC_WIDTHS)
    ir.save(net, root / "model.bwir")
    generate(root / "model.bwir", root / "design", audio=True, fold_spec=FOLD)
    utterances = chip.synthetic_utterances(lengths=LENGTHS, seed=1)
    files = []
    for k, pcm in enumerate(utterances):
        files.append(root / f"u{k}.npy")
        np.save(files[-1], pcm)
    return root / "design", ir.load(root / "design" / "model.bwir"), utterances, files


def test_short_or_bad_utterances_are_refused_before_synthesis(chip_design, tmp_path):
    from bitwave.core import contract
    from bitwave.synth.flows.design import synthesize_design

    design, _net, utterances, _files = chip_design
    np.save(tmp_path / "short.npy", utterances[0][:767])
    with pytest.raises(BitwaveError, match="767 samples; allowed: at least 768"):
        synthesize_design(design, inputs=[tmp_path / "short.npy"])
    assert not (design / "synth").exists()  # refused before Yosys ran
    facts = chip.chip_facts(contract.load(design))  # the contract's typed audio section
    assert facts.min_utterance_samples == 768 and facts.pcm_in.sample == (0, 16)
    assert facts.pcm_in.exit is None and facts.exits == 1
    assert set(facts.parts) == set(chip.PARTS) and facts.frames_per_second == 62.5
    plain = shutil.copytree(design, tmp_path / "plain", ignore=shutil.ignore_patterns("synth"))
    manifest = json.loads((plain / "manifest.json").read_text())
    del manifest["audio"]
    (plain / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BitwaveError, match="not a full-chip design"):
        chip.chip_facts(contract.load(plain))


@pytest.fixture(scope="module")
def chip_synth(chip_design):
    """The chip synthesized once with its two utterances."""
    from bitwave.app.cli import main

    design, net, utterances, files = chip_design
    args = ["synth", str(design)]
    for path in files:
        args += ["--inputs", str(path)]
    assert main(args) == 0
    return chip_design


def _json(design, name):
    import json

    return json.loads((design / "synth" / name).read_text())


@needs_chip_synth
def test_chip_netlist_matches_golden_and_parts_sum_to_the_total(chip_synth):
    from bitwave.core import golden

    design, net, utterances, _files = chip_synth
    power, area = _json(design, "power.json"), _json(design, "area.json")
    check = power["golden_check"]
    assert check["utterances"] == 2 and check["samples"] == sum(LENGTHS)
    assert check["mismatched_samples"] == check["missing_samples"] == 0
    assert check["extra_samples"] == check["misplaced_last_flags"] == 0
    outputs = np.load(design / "synth" / chip.PCM_OUTPUTS)
    for k, pcm in enumerate(utterances):
        np.testing.assert_array_equal(outputs[f"lane{k}"], golden.run_audio(net, pcm))
    parts = power["parts"]
    assert set(parts) == {*chip.PARTS, chip.GLUE, "total"}
    for figure in ("area_um2", "macro_area_um2", "leakage_w", "energy_per_frame_j", "realtime_w"):
        summed = sum(parts[name][figure] for name in (*chip.PARTS, chip.GLUE))
        assert summed == pytest.approx(parts["total"][figure], rel=1e-9), figure
    assert parts["total"]["area_um2"] == pytest.approx(area["total_area_um2"])
    assert all(parts[name]["area_um2"] > 0 for name in chip.PARTS)
    assert all(parts[name]["energy_per_frame_j"] > 0 for name in chip.PARTS)
    assert parts["front"]["macro_area_um2"] > 0 and parts["back"]["macro_area_um2"] > 0
    # the real-time power: leakage plus a little switching at 62.5 frames/s
    total = parts["total"]
    assert total["leakage_w"] < total["realtime_w"] < power["total_w"]
    assert power["stimulus"]["gate_level_cycles_per_s"] > 0
    report = (design / "synth" / "report.md").read_text()
    assert "## By part" in report and "2 utterances" in report
    assert _json(design, "timing.json")["max_clock_mhz"] > 0


@needs_chip_synth
def test_a_golden_run_with_thresholds_off_fails_the_check(chip_synth):
    """The netlist's samples against a golden model whose coding is off in a few bins: the
    check must report mismatches, and synth's gate must refuse them."""
    from bitwave.core import contract

    design, net, utterances, _files = chip_synth
    outputs = np.load(design / "synth" / chip.PCM_OUTPUTS)
    got = [outputs[f"lane{k}"] for k in range(len(utterances))]
    run = chip.PcmRun(got, [np.arange(g.size) == g.size - 1 for g in got], 0, [0, 0], 0)
    assert chip.check_pcm(chip.expected_pcm(net, utterances), run)["mismatched_samples"] == 0
    twin = copy.copy(net)  # the fixture's network stays as it is
    bounds = net.coding.boundaries.copy()
    bounds[40:60] *= 1.5  # twenty bins' thresholds raised: their codes fall a level
    twin.coding = type(net.coding)(net.coding.features, net.coding.bits, bounds)
    found = chip.check_pcm(chip.expected_pcm(twin, utterances), run)
    assert found["mismatched_samples"] > 0 and found["first_mismatch"] is not None
    with pytest.raises(BitwaveError, match="differs from the golden model"):
        chip.require_pcm_match(found, contract.load(design), design / "synth")


@needs_chip_synth
def test_enhance_gates_engine_gives_the_golden_samples(chip_synth, tmp_path):
    """``bitwave enhance --engine gates``: the synthesized netlist in the gate-level simulator
    writes the golden engine's samples."""
    from scipy.io import wavfile

    from bitwave.app.cli import main
    from bitwave.core import golden
    from bitwave.core.wav import write_pcm16

    design, net, utterances, _files = chip_synth
    write_pcm16(tmp_path / "noisy.wav", utterances[0])
    args = ["enhance", str(design / "model.bwir"), str(tmp_path / "noisy.wav"), "--out",
            str(tmp_path / "g"), "--engine", "gates", "--design", str(design), "--quiet"]  # fmt: skip
    assert main(args) == 0
    _, out = wavfile.read(tmp_path / "g" / "noisy_enhanced.wav")
    assert np.array_equal(out, golden.run_audio(net, utterances[0]))
