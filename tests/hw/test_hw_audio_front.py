"""The audio front end (bitwave.hw.audio_front) against audio.front_end, bit for bit in
Amaranth's simulator on speech-like PCM: the network's input frames, the cycles per frame, and
a coding threshold off by one that must show."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.back import verilog

from bitwave.core import audio, codec
from bitwave.core.errors import BitwaveError
from bitwave.hw.audio_front import AudioFront
from bitwave.hw.lint import lint_verilog, waiver_text
from bitwave.hw.testbench import _simulate

SPEC = audio.AudioSpec()
BITS = 4


def speechlike(samples: int, seed: int = 0) -> np.ndarray:
    """int16 harmonics (140 Hz) with a syllable envelope plus noise, peaks near -6 dBFS."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 16000
    voiced = sum(np.sin(2 * np.pi * 140 * k * t + rng.uniform(0, 6)) / k for k in range(1, 20))
    signal = voiced * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2) * 6000
    return np.clip(np.round(signal + rng.normal(0, 300, samples)), -32768, 32767).astype(np.int16)


def run_front(front: AudioFront, pcm: np.ndarray, stall_in: float = 0.0,
              stall_out: float = 0.0, frames: int | None = None):  # fmt: skip
    """PCM (plus the 512 trailing zeros the golden model pads) -> frames of bits, and the log;
    ``frames``: only the first ones (fewer samples are sent: frame t needs 512 + 256 t)."""
    frames = frames or audio.frame_count(pcm.size)
    samples = np.concatenate([pcm, np.zeros(audio.N_FFT // 2, np.int16)])
    samples = samples[: audio.N_FFT // 2 + (frames - 1) * audio.HOP]
    out: list[int] = []
    log = _simulate(front, [int(v) & 0xFFFF for v in samples], out.append, frames,
                    np.random.default_rng(1), stall_in, stall_out, front.i, front.o)  # fmt: skip
    return np.array([codec.int_to_bits(v, front.frame_bits) for v in out]), log


@pytest.fixture(scope="module")
def case() -> dict:
    """Per-bin thresholds (levels spread in dB) with one placed exactly on a power that frame
    0 reaches, so the comparison is at equality and its off-by-one twin must change a code."""
    pcm = speechlike(300)  # 2 frames
    bounds = np.geomspace(1e-3, 30.0, 15)[None, :] * np.linspace(1.0, 0.2, audio.N_BINS)[:, None]
    thresholds = audio.coding_thresholds(bounds, SPEC)
    power = audio.front_end(pcm, SPEC, thresholds, BITS).power
    bin_index = int(np.argmax(power[0]))
    level = int((power[0, bin_index] >= thresholds[bin_index]).sum()) - 1
    thresholds[bin_index, level] = power[0, bin_index]
    golden = audio.front_end(pcm, SPEC, thresholds, BITS).codes
    return {"pcm": pcm, "thresholds": thresholds, "golden": golden, "bin": bin_index,
            "level": level}  # fmt: skip


def test_front_end_matches_golden_and_cycles(case: dict) -> None:
    front = AudioFront(SPEC, case["thresholds"], BITS)
    got, log = run_front(front, case["pcm"], stall_in=0.5)
    assert got.shape == case["golden"].shape == (2, audio.N_BINS * BITS)
    assert 0.2 < case["golden"].mean() < 0.8  # the levels are spread: the check has teeth
    np.testing.assert_array_equal(got, case["golden"])
    # samples (even with stalls) arrive faster than the FFT loop: frames leave at its rate
    assert np.diff(log.outputs).tolist() == [front.cycles_per_frame]
    assert front.cycles_per_frame == 1024 + 10 * (512 + 2) + 513 + 1 + 3


def test_front_end_threshold_twin_fails(case: dict) -> None:
    """The threshold one above the power it sits on: exactly that bin's code changes."""
    twin = audio.mutate_threshold(case["thresholds"], case["bin"], case["level"], +1)
    got, _ = run_front(AudioFront(SPEC, twin, BITS), case["pcm"], stall_out=0.5, frames=1)
    golden = case["golden"][:1]
    differs = np.flatnonzero(got[0] != golden[0])
    assert differs.size and set(differs // BITS) == {case["bin"]}


@pytest.mark.slow  # one more frame through the simulator: ~4 s
def test_front_end_shared_thresholds() -> None:
    """One row of thresholds for every bin becomes constants (no ROM), 3 bit-planes."""
    pcm = speechlike(100, seed=3)
    thresholds = audio.coding_thresholds(np.geomspace(1e-3, 10.0, 7)[None, :], SPEC)
    got, _ = run_front(AudioFront(SPEC, thresholds, 3), pcm)
    np.testing.assert_array_equal(got, audio.front_end(pcm, SPEC, thresholds, 3).codes)


def test_front_end_lints_clean(tmp_path) -> None:  # noqa: ANN001
    thresholds = audio.coding_thresholds(np.geomspace(1e-3, 10.0, 7)[None, :], SPEC)
    path, waivers = tmp_path / "front.v", tmp_path / "front.vlt"
    path.write_text(verilog.convert(AudioFront(SPEC, thresholds, 3), name="front",
                                    emit_src=False))  # fmt: skip
    waivers.write_text(waiver_text())
    lint = lint_verilog(path, "front", waivers)
    assert lint.ok, lint.output


def test_front_end_refuses_bad_thresholds() -> None:
    good = audio.coding_thresholds(np.geomspace(1e-3, 10.0, 15)[None, :], SPEC)
    with pytest.raises(BitwaveError, match="coding thresholds"):
        AudioFront(SPEC, good[:, :15], 3)  # 15 thresholds need 4 bits
    with pytest.raises(BitwaveError, match="coding thresholds"):
        AudioFront(SPEC, np.tile(good, (2, 1)), BITS)
    with pytest.raises(BitwaveError, match="bit-planes"):
        AudioFront(SPEC, good, 0)
