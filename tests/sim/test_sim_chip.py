"""The full SE chip in simulation (issue 16): ONE tiny chip (random 2052-16-513 network with
a 513-bin coding, generate --audio, a folding slow enough that the one-frame loop sets the
rate) built once; on Verilator against golden.run_audio sample for sample, with stalls and the
claimed cycles per frame; the golden model with a twiddle twin fails on the same outputs; a
chip BUILT with the twin's ROMs fails on Icarus (which also shows Icarus runs the chip); short
utterances are refused; and the testbench's pieces on their own."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from bitwave.core import contract, ir
from bitwave.core.errors import BitwaveError
from bitwave.core.random_ir import random_network
from bitwave.sim import chip
from bitwave.sim.mutation import twiddle_twin
from bitwave.sim.runner import verilator_root
from bitwave.sim.tb_chip import input_payloads
from bitwave.sim.verify import VerifyOptions, summary, verify

pytestmark = pytest.mark.usefixtures("shared_build_cache")

LENGTHS = (1280, 800)  # utterance 0 shows 3 frame intervals; 800 is a ragged last hop
# the network's latency (9,581 cycles) puts the loop (10,610) above the back end (8,470)
FOLD = "fc0:pe=2,simd=2;fc1:pe=3,simd=2"


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

    root = tmp_path_factory.mktemp("chip")
    net = _audio_network()
    ir.save(net, root / "model.bwir")
    generate(root / "model.bwir", root / "design", fold_spec=FOLD, audio=True)
    speech = chip.synthetic_speech(2, seed=1)
    utterances = [pcm[:n] for pcm, n in zip(speech, LENGTHS, strict=True)]
    files = []
    for k, pcm in enumerate(utterances):
        np.save(root / f"u{k}.npy", pcm)
        files.append(root / f"u{k}.npy")
    return root / "design", ir.load(root / "design" / "model.bwir"), utterances, files


@pytest.fixture(scope="module")
def verified(chip_design) -> dict:
    """``bitwave verify`` of the chip on Verilator (the build: 60-80 s on 2 cores), once."""
    verilator_root()
    design, _net, _utterances, files = chip_design
    start = time.perf_counter()
    result = verify(design, VerifyOptions(sim="verilator", inputs=tuple(files), seed=3))
    print(f"\nchip: {result['cycles_simulated']} cycles, "
          f"{result['simulated_cycles_per_second']} cycles/s, build "
          f"{result['build']['seconds']} s, verify {time.perf_counter() - start:.1f} s")  # fmt: skip
    return result


@pytest.mark.slow
def test_chip_rtl_matches_golden_with_its_claimed_rate(chip_design, verified):
    design, _net, utterances, _files = chip_design
    result, lines = verified, summary(verified)
    assert result["kind"] == "chip" and result["mismatching_samples"] == 0, "\n".join(lines)
    assert [u["samples"] for u in result["utterances"]] == list(LENGTHS)
    assert result["x_samples"] == result["extra_output_samples"] == 0
    cpf = result["cycles_per_frame"]
    manifest = json.loads((design / "manifest.json").read_text())
    # the loop sets the rate: the claim is neither the back end's nor the network's period
    assert cpf["manifest"] == manifest["cycles_per_frame"] == 10610
    assert cpf["settled"] and len(cpf["intervals"]) == 3 and cpf["match"], cpf
    assert result["passed"] and lines[-1] == "PASS"
    outputs = np.load(result["outputs"])
    for k, pcm in enumerate(utterances):  # the samples the chip gave are the golden ones
        assert np.array_equal(outputs[f"out_{k}"], outputs[f"golden_{k}"])
        assert outputs[f"out_{k}"].size == pcm.size
    assert np.abs(outputs["out_0"]).max() > 1000  # speech-level output: the check has teeth


@pytest.mark.slow
def test_a_twiddle_twin_golden_model_fails_on_the_same_outputs(chip_design, verified):
    """The golden model with one twiddle one LSB off against the samples the chip gave:
    exactly the samples that twin changes are reported."""
    _design, net, utterances, _files = chip_design
    twin = twiddle_twin(net, utterances)
    outputs = np.load(verified["outputs"])
    got = [outputs[f"out_{k}"] for k in range(len(utterances))]
    expected = chip.expected_outputs(net, utterances, table=twin.table)
    found = chip.compare_utterances(expected, got)
    assert found["mismatching_samples"] == twin.changed > 0 and found["first_mismatches"]


@pytest.mark.slow
def test_a_chip_built_with_a_twiddle_twin_fails_on_icarus(chip_design, tmp_path):
    """The twin's ROMs in the hardware, the true golden model: verify fails on the samples;
    on Icarus (its build is instant), so every sample also comes out without X bits."""
    from bitwave.hw.generate import generate

    design, net, utterances, files = chip_design
    short = utterances[1][:768]
    np.save(tmp_path / "short.npy", short)
    twin = twiddle_twin(net, [short])
    generate(design / "model.bwir", tmp_path / "twin", fold_spec=FOLD, audio=True,
             **twin.build_args())  # fmt: skip
    assert "twin" in json.loads((tmp_path / "twin" / "manifest.json").read_text())["audio"]
    result = verify(
        tmp_path / "twin", VerifyOptions(sim="icarus", inputs=(tmp_path / "short.npy",))
    )
    assert not result["passed"] and result["mismatching_samples"] == twin.changed > 0
    assert result["x_samples"] == 0 and not result["timed_out"]
    assert result["utterances"][0]["samples"] == 768


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
    stream = chip.ChipStream("d", "v", "r", 19, (0, 16), (16, 1), (17, 2))
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


@pytest.mark.slow
def test_enhance_rtl_gives_the_golden_engines_samples(chip_design, verified, tmp_path):
    """``bitwave enhance --engine rtl --design DIR``: the chip in Verilator (the build the
    verification made) writes the golden engine's samples; a design of another IR (another
    mask floor) is refused, since its samples would differ."""
    from scipy.io import wavfile

    from bitwave.app.cli import main
    from bitwave.core.wav import write_pcm16

    design, net, utterances, _files = chip_design
    write_pcm16(tmp_path / "noisy.wav", utterances[0])
    model = design / "model.bwir"
    for engine in ("golden", "rtl"):
        args = ["enhance", str(model), str(tmp_path / "noisy.wav"), "--out",
                str(tmp_path / engine), "--engine", engine, "--design", str(design), "--quiet"]  # fmt: skip
        assert main(args) == 0
    _, rtl = wavfile.read(tmp_path / "rtl" / "noisy_enhanced.wav")
    _, gold = wavfile.read(tmp_path / "golden" / "noisy_enhanced.wav")
    assert rtl.dtype == np.int16 and np.array_equal(rtl, gold)
    assert np.array_equal(gold, golden_run(net, utterances[0]))
    args = ["enhance", str(model), str(tmp_path / "noisy.wav"), "--out", str(tmp_path / "x"),
            "--engine", "rtl", "--design", str(design), "--mask-floor", "-12", "--quiet"]  # fmt: skip
    assert main(args) == 2
    gates = ["enhance", str(model), str(tmp_path / "noisy.wav"), "--out", str(tmp_path / "g"),
             "--engine", "gates", "--design", str(design), "--quiet"]  # fmt: skip
    assert main(gates) == 2  # not synthesized: the gates engine says so (its run: synth tests)


def golden_run(net: ir.Network, pcm: np.ndarray) -> np.ndarray:
    from bitwave.core import golden

    return golden.run_audio(net, pcm)


@pytest.mark.slow
def test_the_flows_chip_stage_scores_the_verified_rtls_audio(chip_design, verified, tmp_path):
    """bitwave.app.chip on a run folder holding this chip (generate kept, verify on real
    test clips with the build the fixture made, no synth): the clips' chip output equals the
    golden model, the quality rows and the spectrogram are written."""
    import yaml

    from bitwave.app import chip as flow_chip
    from bitwave.core import config, golden
    from bitwave.models.data import build_dataset

    design, net, _utterances, _files = chip_design
    run = tmp_path / "run"
    (run / "bitwise").mkdir(parents=True)
    shutil.copyfile(design / "model.bwir", run / "bitwise" / "model.bwir")
    shutil.copytree(design, run / "chip", ignore=shutil.ignore_patterns("verify"))
    data = {"train_utterances": 2, "valid_utterances": 1, "test_utterances": 1,
            "max_seconds": 1.0, "train_speakers": 1, "test_speakers": 1,
            "cache_dir": str(tmp_path / "cache")}  # fmt: skip
    user = {"data": data, "flow": {"synth": False, "chip": {"utterances": 1, "seconds": 0.3}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(user))
    cfg = config.load(tmp_path / "c.yaml")
    stages = []
    section = flow_chip.run_chip_stages(cfg, run, lambda name, done, work: stages.append(
        (name, done)) or (None if done else work()))  # fmt: skip
    assert stages == [("chip generate", True), ("chip verify", False)]
    assert section["verify_mismatches"] == 0 and section["clips"] == 1
    clip = flow_chip.test_clips(build_dataset(data, progress=False).test, 1, 0.3)[0]
    outputs = np.load(json.loads((run / "chip" / "verify" / "result.json").read_text())["outputs"])
    assert np.array_equal(outputs["out_0"], golden.run_audio(net, clip.noisy))
    assert set(section["quality"]) == {"noisy", "chip", "numpy float pipeline"}
    assert section["quality"]["noisy"]["si_sdri"] == pytest.approx(0.0, abs=1e-6)
    assert (run / "chip_spectrogram.png").stat().st_size > 10_000
    report = "\n".join(flow_chip.report_lines(section))
    assert "chip output (verified RTL)" in report and "0 output samples differ" in report
    built = contract.load(run / "chip")  # the network the chip was built with, as its manifest says
    assert (
        f"Its network: `{built.folding.spec}`" in report and section["clock_mhz"] == built.clock.mhz
    )
