"""The audio back end (bitwave.hw.audio_back) against audio.back_end, bit for bit in Amaranth's
simulator: two utterances back to back (the restart), the floor gain, and a gain twin."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from amaranth.back import verilog

from bitwave.core import audio
from bitwave.core.errors import BitwaveError
from bitwave.hw.audio_back import AudioBack
from bitwave.hw.lint import lint_verilog, waiver_text
from bitwave.hw.testbench import _simulate

SPEC = audio.AudioSpec()
FLOOR = 0.05


def speechlike(samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 16000
    voiced = sum(np.sin(2 * np.pi * 150 * k * t + rng.uniform(0, 6)) / k for k in range(1, 16))
    signal = voiced * 5000 + rng.normal(0, 400, samples)
    return np.clip(np.round(signal), -32768, 32767).astype(np.int16)


def utterance(length: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    re, im = audio.spectrum(speechlike(length, seed), SPEC)
    mask = (np.random.default_rng(seed).random(re.shape) < 0.6).astype(np.uint8)
    return re, im, mask


def run_back(back: AudioBack, utterances: list[tuple], lengths: list[int], stall: float,
             samples: int | None = None):  # fmt: skip
    """Utterances (re, im, mask per frame) back to back -> PCM samples (the first ``samples``
    only, if given), and the log. Input stalls cost time and nothing else: only the output
    stalls (the FFT's run dominates a frame, its input is always waited for)."""
    d, top = SPEC.fft_bits, (1 << SPEC.fft_bits) - 1
    items, ends, extras = [], [], []
    for (re, im, mask), length in zip(utterances, lengths, strict=True):
        for f in range(re.shape[0]):
            for k in range(audio.N_BINS):
                word = (int(re[f, k]) & top) | ((int(im[f, k]) & top) << d)
                items.append(word | (int(mask[f, k]) << (2 * d)))
                ends.append(int(f == re.shape[0] - 1))
                extras.append(length % audio.HOP)
    port = SimpleNamespace(valid=back.i.valid, ready=back.i.ready,
                           payload=back.i.payload.as_value())  # fmt: skip
    out: list[int] = []
    count = samples or sum(lengths)
    log = _simulate(back, items, out.append, count, np.random.default_rng(4), 0.0, stall,
                    port, back.o, sides=[(back.end, ends), (back.extra, extras)])  # fmt: skip
    return np.array(out, np.int64), log


@pytest.mark.slow  # ~8,500 cycles per frame in the Python simulator: ~20 s for 4 frames
def test_back_end_matches_golden_and_its_floor_gain() -> None:
    """One utterance of 4 frames with the longest tail (length mod 256 = 255) and the cycles
    per frame: frame t + 1's first bin is taken as soon as frame t is in the FFT, so first
    bins are one frame period apart (frames 0 and 1 here). The floor gain one LSB off (the twin) would change the
    samples. Two utterances back to back (the restart) and other tails run end to end in
    the chip's RTL test (tests/sim/test_sim_chip.py)."""
    length = 1023
    part = utterance(length, 1)
    golden = audio.back_end(*part, length, FLOOR, SPEC)
    back = AudioBack(SPEC, FLOOR)
    got, log = run_back(back, [part], [length], stall=0.0)
    assert np.abs(golden).max() > 3000  # speech-level output: the check has teeth
    np.testing.assert_array_equal(got, golden)
    firsts = np.diff(log.inputs[:: audio.N_BINS])  # [k] = the period of frame k - 1
    # frames 0 and 1 make no PCM sample; frame 2's 256 add 256 cycles (8470 in all, measured
    # through the whole chip: docs/hw.md, "The full chip")
    assert firsts[1] == firsts[2] == back.frame_cycles(0) == back.frame_cycles() - audio.HOP
    twin_gain = (audio.gain_code(FLOOR, SPEC) + 1) / (1 << SPEC.gain_bits)
    assert audio.gain_code(twin_gain, SPEC) == audio.gain_code(FLOOR, SPEC) + 1
    assert (audio.back_end(*part, length, twin_gain, SPEC) != got).sum() > 10


def test_back_end_lints_and_refuses_a_bad_floor(tmp_path) -> None:  # noqa: ANN001
    path, waivers = tmp_path / "back.v", tmp_path / "back.vlt"
    path.write_text(verilog.convert(AudioBack(SPEC, FLOOR), name="back", emit_src=False))
    waivers.write_text(waiver_text())
    lint = lint_verilog(path, "back", waivers)
    assert lint.ok, lint.output
    with pytest.raises(BitwaveError, match="mask floor gain"):
        AudioBack(SPEC, 1.5)
