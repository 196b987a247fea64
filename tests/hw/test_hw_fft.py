"""The folded FFT unit (bitwave.hw.fft) against the golden fixed-point FFT
(bitwave.core.audio.fft_points), bit for bit in Amaranth's simulator, with mutation twins."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
from amaranth.back import verilog

from bitwave.core import audio
from bitwave.core.errors import BitwaveError
from bitwave.hw.fft import FFT, pack_complex, unpack_complex
from bitwave.hw.lint import lint_verilog, waiver_text
from bitwave.hw.testbench import _simulate

D, T = 20, 12  # small widths: the arithmetic is the same at any width


def raw(port: object) -> SimpleNamespace:
    """A stream port with its struct payload as a plain value (the driver sets ints)."""
    return SimpleNamespace(valid=port.valid, ready=port.ready, payload=port.payload.as_value())


def run_fft(fft: FFT, re: np.ndarray, im: np.ndarray, rng: np.random.Generator,
            stall: float = 0.0, inverse: list[int] | None = None):  # fmt: skip
    """Frames (frames, N) through the unit -> (re, im) of its ``outputs`` bins, and the log."""
    frames = re.shape[0]
    items = [w for f in range(frames) for w in pack_complex(re[f], im[f], fft.fft_bits)]
    sides = []
    if inverse is not None:
        sides = [(fft.inverse, [inverse[f] for f in range(frames) for _ in range(fft.points)])]
    out: list[int] = []
    log = _simulate(fft, items, out.append, frames * fft.outputs, rng, stall, stall,
                    raw(fft.i), raw(fft.o), sides=sides)  # fmt: skip
    hr, hi = unpack_complex(out, fft.fft_bits)
    return hr.reshape(frames, -1), hi.reshape(frames, -1), log


def random_frames(rng: np.random.Generator, n: int, frames: int, bits: int):
    return tuple(rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), (frames, n)) for _ in "ri")


@pytest.mark.parametrize(("stages", "shifts"), [(4, (1, 0, 2, 1)), (6, (1, 1, 0, 1, 2, 1))])
def test_fft_matches_golden_with_stalls(stages: int, shifts: tuple[int, ...]) -> None:
    rng = np.random.default_rng(stages)
    n = 1 << stages
    cos, sin = audio.twiddle_rom(n, T)
    re, im = random_frames(rng, n, 3, D - 2)
    fft = FFT(stages, D, T, shifts, cos, sin)
    hr, hi, _ = run_fft(fft, re, im, rng, stall=0.3)
    gr, gi = audio.fft_points(re, im, shifts, D, T, cos, sin)
    np.testing.assert_array_equal(hr, gr)
    np.testing.assert_array_equal(hi, gi)


def test_fft_saturates_like_golden_and_reads_a_prefix() -> None:
    rng = np.random.default_rng(7)
    stages, shifts = 4, (0, 0, 0, 0)  # no shifts: full-scale inputs must saturate
    cos, sin = audio.twiddle_rom(16, T)
    re, im = random_frames(rng, 16, 2, D)
    gr, gi = audio.fft_points(re, im, shifts, D, T, cos, sin)
    top = (1 << (D - 1)) - 1
    assert (np.abs(gr) >= top).any() and (gi <= -top - 1).any()  # the case is exercised
    fft = FFT(stages, D, T, shifts, cos, sin, outputs=9)  # bins 0..N/2, as the front end
    hr, hi, _ = run_fft(fft, re, im, rng)
    np.testing.assert_array_equal(hr, gr[:, :9])
    np.testing.assert_array_equal(hi, gi[:, :9])


def test_fft_inverse_per_run() -> None:
    """One unit, the schedule chosen per frame by ``inverse`` (sampled with the first sample)."""
    rng = np.random.default_rng(3)
    forward, backward = (1, 1, 0, 1), (0, 0, 1, 0)
    cos, sin = audio.twiddle_rom(16, T)
    re, im = random_frames(rng, 16, 4, D - 4)
    fft = FFT(4, D, T, forward, cos, sin, inverse_shifts=backward)
    flags = [0, 1, 1, 0]
    hr, hi, _ = run_fft(fft, re, im, rng, stall=0.2, inverse=flags)
    for f, flag in enumerate(flags):
        gr, gi = audio.fft_points(re[f : f + 1], im[f : f + 1], (forward, backward)[flag], D, T,
                                  cos, sin)  # fmt: skip
        np.testing.assert_array_equal(hr[f], gr[0])
        np.testing.assert_array_equal(hi[f], gi[0])


@pytest.mark.parametrize("twin", ["twiddle_cos", "twiddle_sin", "stage_shift"])
def test_fft_mutation_twins_fail(twin: str) -> None:
    """A twiddle ROM word off by one LSB, or one stage's shift changed, must show."""
    rng = np.random.default_rng(11)
    stages, shifts = 6, (1, 1, 1, 1, 1, 1)
    n = 1 << stages
    cos, sin = audio.twiddle_rom(n, T)
    re, im = random_frames(rng, n, 1, D - 2)
    golden = np.concatenate(audio.fft_points(re, im, shifts, D, T, cos, sin), axis=1)
    bad_cos, bad_sin, bad_shifts = cos.copy(), sin.copy(), shifts
    if twin == "twiddle_cos":
        bad_cos[8] += 1
    elif twin == "twiddle_sin":
        bad_sin[5] -= 1
    else:
        bad_shifts = (1, 1, 1, 2, 1, 1)
    hr, hi, _ = run_fft(FFT(stages, D, T, bad_shifts, bad_cos, bad_sin), re, im, rng)
    assert not np.array_equal(np.concatenate([hr, hi], axis=1), golden)


def test_fft_cycles_per_frame_measured() -> None:
    rng = np.random.default_rng(5)
    cos, sin = audio.twiddle_rom(64, T)
    fft = FFT(6, D, T, (1,) * 6, cos, sin, outputs=33)
    re, im = random_frames(rng, 64, 3, D - 2)
    *_, log = run_fft(fft, re, im, rng)
    firsts = log.outputs[:: fft.outputs]
    assert np.diff(firsts).tolist() == [fft.cycles_per_frame] * 2
    assert fft.cycles_per_frame == 64 + 6 * (32 + 2) + 33 + 1


@pytest.mark.slow  # ~3 s; test_hw_audio_front runs the same FFT on every frame
def test_fft_1024_default_widths() -> None:
    """One frame of the chip's own FFT (N = 1024, the default spec, bins 0..512), alone."""
    spec, rng = audio.AudioSpec(), np.random.default_rng(2)
    table = audio.tables(spec)
    re = rng.integers(-(1 << 15), 1 << 15, (1, audio.N_FFT)) << spec.input_shift
    im = np.zeros_like(re)
    fft = FFT(audio.STAGES, spec.fft_bits, spec.twiddle_bits, spec.fft_shifts, table.cos,
              table.sin, outputs=audio.N_BINS)  # fmt: skip
    start = time.perf_counter()
    hr, hi, _ = run_fft(fft, re, im, rng)
    assert time.perf_counter() - start < 30
    gr, gi = audio.fft(re, im, spec.fft_shifts, spec, table)
    np.testing.assert_array_equal(hr, gr[:, : audio.N_BINS])
    np.testing.assert_array_equal(hi, gi[:, : audio.N_BINS])


def test_fft_refuses_bad_parameters() -> None:
    cos, sin = audio.twiddle_rom(16, T)
    with pytest.raises(BitwaveError, match="4 shifts"):
        FFT(4, D, T, (1, 1, 1), cos, sin)
    with pytest.raises(BitwaveError, match="twiddle ROM"):
        FFT(4, D, T, (1,) * 4, cos[:4], sin[:4])
    with pytest.raises(BitwaveError, match="bins"):
        FFT(4, D, T, (1,) * 4, cos, sin, outputs=17)
    with pytest.raises(BitwaveError, match="one shift per radix-2 stage"):
        audio.fft_points(np.zeros((1, 16), np.int64), np.zeros((1, 16), np.int64), (1,) * 3,
                         D, T, cos, sin)  # fmt: skip


def test_fft_verilog_lints_clean(tmp_path) -> None:  # noqa: ANN001
    cos, sin = audio.twiddle_rom(16, T)
    fft = FFT(4, D, T, (1,) * 4, cos, sin, inverse_shifts=(0,) * 4, outputs=9)
    path = tmp_path / "fft.v"
    path.write_text(verilog.convert(fft, name="fft", emit_src=False))
    waivers = tmp_path / "fft.vlt"
    waivers.write_text(waiver_text())
    lint = lint_verilog(path, "fft", waivers)
    assert lint.ok, lint.output
