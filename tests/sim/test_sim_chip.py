"""The full SE chip in simulation (issue 16): a tiny chip (random 2052-16-513 network with a
513-bin coding, generate --audio) on Verilator against golden.run_audio, sample for sample;
a twin (a twiddle one LSB off in the golden model) fails; short utterances are refused; and
the testbench's pieces (payloads, decoding, splitting, frame intervals) on their own."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from bitwave.core import ir
from bitwave.core.errors import BitwaveError
from bitwave.core.random_ir import random_network
from bitwave.sim import chip
from bitwave.sim.mutation import twiddle_twin
from bitwave.sim.runner import verilator_root
from bitwave.sim.tb_chip import input_payloads
from bitwave.sim.verify import VerifyOptions, summary, verify

pytestmark = pytest.mark.usefixtures("shared_build_cache")

LENGTHS = (1280, 800)  # utterance 0 shows 3 frame intervals; 800 is a ragged last hop


def _audio_network() -> ir.Network:
    """A random 513-bin mask network with a plausible coding (levels spread in dB)."""
    net = random_network([2052, 16, 513], seed=0, name="chip_net")
    bounds = np.geomspace(1e-3, 30.0, 15)[None, :] * np.linspace(1.0, 0.2, 513)[:, None]
    net.coding = ir.BitplaneCodingSpec(513, 4, bounds)
    return net


@pytest.fixture(scope="module")
def chip_design(tmp_path_factory) -> tuple[Path, ir.Network, list[np.ndarray], list[Path]]:
    """(design folder, its network, the two utterances, their .npy files)."""
    from bitwave.hw.generate import generate

    verilator_root()
    root = tmp_path_factory.mktemp("chip")
    net = _audio_network()
    ir.save(net, root / "model.bwir")
    generate(root / "model.bwir", root / "design", audio=True)
    speech = chip.synthetic_speech(2, seed=1)
    utterances = [pcm[:n] for pcm, n in zip(speech, LENGTHS, strict=True)]
    files = []
    for k, pcm in enumerate(utterances):
        np.save(root / f"u{k}.npy", pcm)
        files.append(root / f"u{k}.npy")
    return root / "design", ir.load(root / "design" / "model.bwir"), utterances, files


# The chip's Verilator build alone takes 60-80 s on the 2-core machine (its ROMs), shared by
# both simulations through the module's build cache.
@pytest.mark.slow
def test_chip_rtl_matches_golden_sample_for_sample(chip_design):
    design, _net, utterances, files = chip_design
    start = time.perf_counter()
    result = verify(design, VerifyOptions(sim="verilator", inputs=tuple(files), seed=3))
    lines = summary(result)
    assert result["kind"] == "chip" and result["mismatching_samples"] == 0, "\n".join(lines)
    assert [u["samples"] for u in result["utterances"]] == list(LENGTHS)
    assert result["x_samples"] == result["extra_output_samples"] == 0
    cpf = result["cycles_per_frame"]
    assert cpf["settled"] and len(cpf["intervals"]) == 3, cpf
    # every sample matched: only the timing claim can decide the verdict
    assert result["passed"] == cpf["match"] == (cpf["measured"] == cpf["manifest"])
    outputs = np.load(result["outputs"])
    for k, pcm in enumerate(utterances):  # the samples the chip gave are the golden ones
        assert np.array_equal(outputs[f"out_{k}"], outputs[f"golden_{k}"])
        assert outputs[f"out_{k}"].size == pcm.size
    assert result["simulated_cycles_per_second"] > 0
    assert lines[-1] == ("PASS" if result["passed"] else f"FAIL (log {result['log']})")
    print(f"\nchip: {result['cycles_simulated']} cycles, "
          f"{result['simulated_cycles_per_second']} cycles/s, "
          f"{result['seconds_per_utterance']} s per utterance, "
          f"verify {time.perf_counter() - start:.1f} s")  # fmt: skip


@pytest.mark.slow
def test_a_twiddle_twin_fails(chip_design):
    """The golden model with one twiddle one LSB off: exactly the samples that twin changes
    are reported (the chip itself is unchanged)."""
    design, net, utterances, files = chip_design
    twin = twiddle_twin(net, utterances)
    result = verify(design, VerifyOptions(sim="verilator", inputs=tuple(files), seed=3,
                                          twin=twin))  # fmt: skip
    assert not result["passed"] and summary(result)[-1].startswith("FAIL")
    assert result["mismatching_samples"] == twin.changed > 0
    assert result["twin"] == twin.description and result["first_mismatches"]


def test_short_utterances_are_refused(chip_design, tmp_path):
    design, _net, utterances, _files = chip_design
    with pytest.raises(BitwaveError, match=r"767 samples; the chip needs at least 768"):
        chip.run_chip(design, [utterances[0], utterances[1][:767]])
    np.save(tmp_path / "short.npy", utterances[0][:700])
    with pytest.raises(BitwaveError, match=r"700 samples at 16 kHz; the chip needs at least 768"):
        verify(design, VerifyOptions(inputs=(tmp_path / "short.npy",)))
    np.save(tmp_path / "float.npy", utterances[0].astype(np.float32))
    with pytest.raises(BitwaveError, match="int16"):
        verify(design, VerifyOptions(inputs=(tmp_path / "float.npy",)))
    with pytest.raises(BitwaveError, match="exits are for multi-exit chips"):
        chip.run_chip(design, utterances, exits=[0, 0])


def test_a_design_without_audio_is_not_a_chip(chip_design, tmp_path):
    design, _net, utterances, _files = chip_design
    plain = shutil.copytree(design, tmp_path / "plain", ignore=shutil.ignore_patterns("verify"))
    manifest = json.loads((plain / "manifest.json").read_text())
    del manifest["audio"]
    (plain / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BitwaveError, match="not a full-chip design"):
        chip.run_chip(plain, utterances)


def test_payloads_decoding_splitting_and_intervals():
    fields = {"sample": [0, 16], "last": [16, 1], "exit": [17, 2]}
    params = {"pcm_in": fields, "lengths": [3, 2], "exits": [2, 1], "seed": 0}
    pcm = np.array([-1, 5, -32768, 7, 32767], np.int16)
    words = input_payloads(params, pcm)
    stream = chip.ChipStream("d", "v", "r", (0, 16), (16, 1), (17, 2))
    samples, lasts, unknown = chip.decode(np.array(words), stream)
    assert np.array_equal(samples, pcm) and lasts.tolist() == [0, 0, 1, 0, 1]
    assert [w >> 17 for w in (words[0], words[3])] == [2, 1]  # the exit with the first sample
    assert not unknown.any() and chip.decode(np.array([-1]), stream)[2].all()
    pieces = chip.split_at_last(samples, lasts)
    assert [p.tolist() for p in pieces] == [[-1, 5, -32768], [7, 32767]]
    assert len(chip.split_at_last(samples[:4], lasts[:4])) == 2  # no last: one more piece
    # utterance 0 of 1280 samples: 4 blocks after a frame each, then the flush
    hops = [[100, 7100, 14100, 21100, 21400], [30000, 37000, 37300]]
    assert chip.frame_intervals(hops, [1280, 800], 1) == [[7000, 7000, 7000]]
    assert chip.frame_intervals(hops, [1280, 800], 2)[1] == [7000]


def test_compare_and_synthetic_speech_are_deterministic():
    a, b = chip.synthetic_speech(3, seed=2), chip.synthetic_speech(3, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert all(1600 <= x.size <= 4800 and x.dtype == np.int16 for x in a)
    assert not np.array_equal(a[0][:1600], chip.synthetic_speech(1, seed=3)[0][:1600])
    got = [a[0].copy(), a[1][:-2]]
    got[0][10] += 1
    found = chip.compare_utterances(a, got)
    assert found["mismatching_samples"] == 1 + 2 + a[2].size
    assert found["mismatched_utterances"] == [0, 1, 2]
    assert found["first_mismatches"][0] == {"utterance": 0, "sample": 10,
                                            "expected": int(a[0][10]), "got": int(a[0][10]) + 1}  # fmt: skip


def test_progress_watcher_reports_the_count(tmp_path):
    calls = []
    path = tmp_path / "progress.txt"
    with chip._Watcher(path, 100, lambda done, total: calls.append((done, total))):
        path.write_text("40")
        time.sleep(0.6)
    assert (40, 100) in calls and calls[-1] == (100, 100)
