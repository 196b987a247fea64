"""The audio front end (bitwave.hw.audio_front) against audio.front_end, bit for bit in
Amaranth's simulator on speech-like PCM: the network's input frames of two utterances (the
unit's own padding and restart), their sideband, the cycles per frame, and a coding threshold
off by one that must show."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Cat

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


def run_front(front: AudioFront, utterances: list[np.ndarray], stall_in: float = 0.0,
              stall_out: float = 0.0, frames: int | None = None):  # fmt: skip
    """Utterances back to back (``last`` on each one's last sample: the unit pads them) ->
    frames of bits, each frame's sideband (first, end, extra) and the log; ``frames``: only
    the first ones. The spectrum output is always taken."""
    items = np.concatenate(utterances)
    lasts = np.zeros(items.size, int)
    lasts[np.cumsum([u.size for u in utterances]) - 1] = 1
    frames = frames or sum(audio.frame_count(u.size) for u in utterances)
    out: list[tuple[int, int]] = []
    side = front.side.as_value()
    port_out = SimpleNamespace(valid=front.o.valid, ready=front.o.ready,
                               payload=Cat(front.o.payload, side))  # fmt: skip
    log = _simulate(front, [int(v) & 0xFFFF for v in items], out.append, frames,
                    np.random.default_rng(1), stall_in, stall_out, front.i, port_out,
                    sides=[(front.last, lasts.tolist()),
                           (front.spectrum.ready, [1] * items.size)])  # fmt: skip
    bits = np.array([codec.int_to_bits(v & ((1 << front.frame_bits) - 1), front.frame_bits)
                     for v in out])  # fmt: skip
    sides = [v >> front.frame_bits for v in out]
    sideband = [(v & 1, (v >> 1) & 1, v >> 2) for v in sides]  # first, end, extra
    return bits, sideband, log


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
    """Two utterances back to back, each padded by the unit after its ``last`` sample: a short
    one (40 samples, one frame) and the case's (two frames), whose first frame must see zeros
    before it as after reset; the sideband marks first and last frames and the length mod 256."""
    short = speechlike(40, seed=5)
    front = AudioFront(SPEC, case["thresholds"], BITS)
    got, sideband, log = run_front(front, [short, case["pcm"]], stall_in=0.5)
    golden = np.concatenate([audio.front_end(short, SPEC, case["thresholds"], BITS).codes,
                             case["golden"]])  # fmt: skip
    assert got.shape == golden.shape == (3, audio.N_BINS * BITS)
    assert 0.2 < case["golden"].mean() < 0.8  # the levels are spread: the check has teeth
    np.testing.assert_array_equal(got, golden)
    assert sideband == [(1, 1, 40), (1, 0, 300 % 256), (0, 1, 300 % 256)]
    # samples (even with stalls) arrive faster than the FFT loop: frames leave at its rate
    assert log.outputs[2] - log.outputs[1] == front.cycles_per_frame
    assert front.cycles_per_frame == 1024 + 10 * (512 + 2) + 513 + 1 + 3


def test_front_end_threshold_twin_fails(case: dict) -> None:
    """The threshold one above the power it sits on: exactly that bin's code changes."""
    twin = audio.mutate_threshold(case["thresholds"], case["bin"], case["level"], +1)
    got, _, _ = run_front(AudioFront(SPEC, twin, BITS), [case["pcm"]], stall_out=0.5, frames=1)
    golden = case["golden"][:1]
    differs = np.flatnonzero(got[0] != golden[0])
    assert differs.size and set(differs // BITS) == {case["bin"]}


@pytest.mark.slow  # one more frame through the simulator: ~4 s
def test_front_end_shared_thresholds() -> None:
    """One row of thresholds for every bin becomes constants (no ROM), 3 bit-planes."""
    pcm = speechlike(100, seed=3)
    thresholds = audio.coding_thresholds(np.geomspace(1e-3, 10.0, 7)[None, :], SPEC)
    got, _, _ = run_front(AudioFront(SPEC, thresholds, 3), [pcm])
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
