"""The full SE chip around the other networks (issue 16): a GRU chip (random 2052-gru:8-513)
and a multi-exit chip (random 2052-16-exit-16-513), each with a 513-bin 4-bit coding, built
once (generate --audio) and verified once on Icarus (its build is instant; a Verilator build
of either chip takes ~40 s, longer than Icarus's whole run) with two utterances back to back:
every output sample against golden.run_audio per utterance, and a twin that must fail (the
GRU's state carried across utterances; the exits swapped). The multi-exit chip's utterance 0
takes the early exit, so its timing is checked against that exit's claim, not the slowest.
Narrow audio widths (as tests/synth/test_synth_chip.py) halve the simulation's time."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bitwave.core import contract, golden, ir
from bitwave.core.audio import AudioSpec
from bitwave.core.errors import BitwaveError
from bitwave.core.random_ir import random_network
from bitwave.core.synthetic import speech_like
from bitwave.sim import chip
from bitwave.sim.chip_verify import chip_exits
from bitwave.sim.verify import VerifyOptions, summary, verify

pytestmark = pytest.mark.usefixtures("shared_build_cache")

# the shortest utterances allowed (no steady state shows in 768 samples: the timing is the
# multi-exit chip's check); seed 2: utterance 0 leaves the GRU in a state other than reset's,
# so the carried-state twin differs (with some seeds the state converges and it would not)
GRU_LENGTHS, GRU_SEED = (768, 768), 2
# the back end (8,470 cycles a frame) sets the GRU chip's rate (its one-frame loop: 4,295)
GRU_FOLD = "gru0:pe=4,simd=4;fc1:pe=3,simd=8"
EXIT_LENGTHS = (1024, 768)  # utterance 0 (unstalled) shows two frame intervals
# exit 0's loop (6,506) is below the back end: 8,470; the final exit's loop sets it: 9,308
EXIT_FOLD = "fc0:pe=2,simd=4;fc1:pe=2,simd=2;fc2:pe=1,simd=2;exit0:pe=3,simd=2"
EXIT_CLAIMS = [8470, 9308]
# narrow FFT and ROM widths (valid and bit-exact like any; the cycles are the same): Icarus
# simulates the chip about twice as fast and generate takes half the time
NARROW = AudioSpec(window_bits=8, twiddle_bits=8, fft_bits=18, gain_bits=6, norm_bits=8)


def _audio_network(layers: list, name: str) -> ir.Network:
    """A random 513-bin mask network with a plausible coding (levels spread in dB)."""
    net = random_network(layers, seed=0, name=name)
    bounds = np.geomspace(1e-3, 30.0, 15)[None, :] * np.linspace(1.0, 0.2, 513)[:, None]
    net.coding = ir.BitplaneCodingSpec(513, 4, bounds)
    net.audio = NARROW
    return net


def _verified_chip(
    root: Path, layers: list, fold: str, lengths: tuple[int, ...], seed: int,
    exits: tuple[int, ...] | None = None,
) -> tuple:  # fmt: skip
    """(design, its network, the utterances, verify's result) of a chip built and verified."""
    from bitwave.hw.generate import generate

    net = _audio_network(layers, root.name)
    ir.save(net, root / "model.bwir")
    generate(root / "model.bwir", root / "design", fold_spec=fold, audio=True)
    utterances = speech_like(lengths, seed=seed)
    files = []
    for k, pcm in enumerate(utterances):
        files.append(root / f"u{k}.npy")
        np.save(files[-1], pcm)
    picks = {} if exits is None else {"exits": exits}  # selector values, one per utterance
    result = verify(root / "design", VerifyOptions(sim="icarus", inputs=tuple(files), seed=3,
                                                   **picks))  # fmt: skip
    net = ir.load(root / "design" / "model.bwir")
    return root / "design", net, utterances, result


def _outputs(result: dict, count: int) -> list[np.ndarray]:
    outputs = np.load(result["outputs"])
    return [outputs[f"out_{k}"] for k in range(count)]


@pytest.fixture(scope="module")
def gru_chip(tmp_path_factory) -> tuple:
    root = tmp_path_factory.mktemp("gru_chip")
    return _verified_chip(root, [2052, "gru:8", 513], GRU_FOLD, GRU_LENGTHS, GRU_SEED)


@pytest.fixture(scope="module")
def exit_chip(tmp_path_factory) -> tuple:
    root = tmp_path_factory.mktemp("exit_chip")
    return _verified_chip(root, [2052, 16, "exit", 16, 513], EXIT_FOLD, EXIT_LENGTHS, 1, (0, 1))


def test_gru_chip_restarts_its_state_per_utterance(gru_chip):
    design, net, utterances, result = gru_chip
    lines = summary(result)
    assert net.is_recurrent and result["passed"] and lines[-1] == "PASS", "\n".join(lines)
    assert result["mismatching_samples"] == result["x_samples"] == 0
    manifest = json.loads((design / "manifest.json").read_text())
    assert "recurrent" in manifest["audio"] and "cycles_per_frame_per_exit" not in manifest["audio"]
    cpf = result["cycles_per_frame"]
    assert cpf["exit"] is None and cpf["manifest"] == 8470 and not cpf["measurable"]
    got = _outputs(result, len(utterances))
    for pcm, out in zip(utterances, got, strict=True):  # the oracle itself, per utterance
        assert np.array_equal(out, golden.run_audio(net, pcm)) and out.size == pcm.size
    # the twin: a chip whose state runs on across utterances gives other samples from
    # utterance 1 on (utterance 0 starts the sequence either way)
    carried = chip.expected_outputs(net, utterances, restart=False)
    found = chip.compare_utterances(carried, got)
    assert found["mismatched_utterances"] == [1] and found["mismatching_samples"] > 100


def test_gru_chip_takes_no_exits(gru_chip):
    design, net, utterances, _result = gru_chip
    with pytest.raises(BitwaveError, match="--exits is for multi-exit designs"):
        chip_exits(contract.load(design), VerifyOptions(exits=(0,)), 2)
    assert chip.exit_claims(contract.load(design)) == [8470]
    plain = _audio_network([2052, 16, 513], "plain")
    with pytest.raises(BitwaveError, match="restart=False is a twin for recurrent networks"):
        chip.expected_outputs(plain, utterances, restart=False)


def test_exit_chip_runs_each_utterance_at_its_exit_and_rate(exit_chip):
    design, net, utterances, result = exit_chip
    lines = summary(result)
    assert result["passed"] and lines[-1] == "PASS", "\n".join(lines)
    assert [u["exit"] for u in result["utterances"]] == [0, 1]
    manifest = json.loads((design / "manifest.json").read_text())["audio"]
    assert manifest["cycles_per_frame_per_exit"] == EXIT_CLAIMS
    assert manifest["cycles_per_frame"] == max(EXIT_CLAIMS)  # the slowest exit's
    cpf = result["cycles_per_frame"]
    # utterance 0 (unstalled) at exit 0 runs at exit 0's claim: the slowest would mismatch
    assert cpf["exit"] == 0 and cpf["measured"] == cpf["manifest"] == EXIT_CLAIMS[0], cpf
    assert cpf["settled"] and cpf["match"] and cpf["measured"] != manifest["cycles_per_frame"]
    got = _outputs(result, len(utterances))
    for k, (pcm, out) in enumerate(zip(utterances, got, strict=True)):
        assert np.array_equal(out, golden.run_audio(net, pcm, exit=k)) and out.size == pcm.size
    # the twin: the golden model at the other exit differs in both utterances
    swapped = chip.expected_outputs(net, utterances, exits=[1, 0])
    found = chip.compare_utterances(swapped, got)
    assert found["mismatched_utterances"] == [0, 1] and found["mismatching_samples"] > 100


def test_exit_choices_and_claims_of_a_chip(exit_chip, tmp_path):
    design, _net, _utterances, _result = exit_chip
    loaded = contract.load(design)
    assert sorted(chip_exits(loaded, VerifyOptions(seed=5), 2)) == [0, 1]  # every exit
    assert chip_exits(loaded, VerifyOptions(exits=(1, 0, 1)), 4) == [1, 0, 1, 1]
    with pytest.raises(BitwaveError, match=r"--exits values must lie in 0\.\.1"):
        chip_exits(loaded, VerifyOptions(exits=(2,)), 1)
    assert chip.exit_claims(loaded) == EXIT_CLAIMS
    copy = shutil.copytree(design, tmp_path / "copy", ignore=shutil.ignore_patterns("verify"))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["audio"]["cycles_per_frame_per_exit"] = [8470]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BitwaveError, match="one positive integer per exit"):
        chip.exit_claims(contract.load(copy))
    del manifest["audio"]["cycles_per_frame_per_exit"]  # an older chip: its one claim
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert chip.exit_claims(contract.load(copy)) == [9308, 9308]


def test_a_chip_built_with_a_coding_threshold_off_by_one_fails_verify(tmp_path):
    """The issue's second twin in hardware: one integer coding threshold of the front end one
    higher (placed where a frame's power equals it, so the level changes), the chip built with
    it, verified against the true golden model on Icarus: exactly the samples that twin
    changes differ. (The twiddle twin: tests/sim/test_sim_chip.py.)"""
    from bitwave.hw.generate import generate
    from bitwave.sim.mutation import threshold_twin

    pcm = speech_like([768], seed=4)
    net, twin = threshold_twin(_audio_network([2052, 16, 513], "thr"), pcm)
    ir.save(net, tmp_path / "model.bwir")
    generate(tmp_path / "model.bwir", tmp_path / "twin", audio=True,
             fold_spec="fc0:pe=4,simd=36;fc1:pe=27,simd=4", **twin.build_args())  # fmt: skip
    np.save(tmp_path / "u.npy", pcm[0])
    result = verify(tmp_path / "twin", VerifyOptions(sim="icarus", inputs=(tmp_path / "u.npy",)))
    assert not result["passed"] and result["mismatching_samples"] == twin.changed > 0
    assert result["x_samples"] == 0 and not result["timed_out"]
