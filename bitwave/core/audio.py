"""The chip's audio path in exact integers: 16-bit PCM in, the network's bit-planes, enhanced
16-bit PCM out (docs/ir.md, "Audio path"). The hardware front and back end are built from
this model and checked against it sample for sample, so every width, shift and rounding is
written here once and nowhere else.

Front end (``front_end``), per frame of 1024 samples, hop 256, frame t centred on sample
t * 256 (zero padding at both ends, ``1 + len // 256`` frames, as models/features.py):
1. window: ``v = rs(x * w, W - g)``: x the int16 sample, ``w`` the W-bit unsigned Hann ROM
   (``round(hann * 2^W)``, its 1.0 peak saturated to ``2^W - 1``), g = ``input_shift``
   guard bits chosen so the forward FFT can never overflow;
2. a 1024-point radix-2 decimation-in-time FFT on ``fft_bits``-wide signed real and imaginary
   parts (the real frame in the real part): per butterfly ``t = b * tw`` and
   ``a' = sat(rs(a * 2^(T-1) + t, T - 1 + s))``, ``b' = sat(rs(a * 2^(T-1) - t, T - 1 + s))``
   with one rounding per output (a wide adder, then one rounder), s = ``fft_shifts[stage]``
   and the twiddle ROM ``round(cos, sin * 2^(T-1))`` (T - 1 fraction bits, +-1.0 exact);
3. the squared magnitude ``P = re^2 + im^2`` of bins 0..512 as an exact integer;
4. the coding: level ``q = #{j : P >= thr[f, j]}``, ``thr = ceil((b * K)^2)`` for the IR's
   float boundary b of bin f, K = ``magnitude_scale`` the integer units of one float magnitude
   unit (models/features.py on pcm / 32768); ``P >= thr`` exactly when ``sqrt(P) / K >= b``,
   so the integer comparisons reproduce the float coding of the fixed-point magnitude.

Back end (``back_end``):
1. gain: a mask bit 1 keeps the bin, a bit 0 multiplies it by the floor gain quantized to
   ``gain_bits`` (``round(G * 2^gain_bits)``): ``rs(X * g, gain_bits)``; no floor: 0;
2. inverse FFT: the same butterflies on ``conj(Y)`` (bins 513..1023 mirrored as conjugates,
   the imaginary parts of bins 0 and 512 zeroed), per-stage shifts ``ifft_shifts``; the real
   part is the frame;
3. synthesis with the same window ROM, overlap-add of ``y * w`` over the 4 overlapping frames
   rounded by W bits, then the weighted overlap-add normalisation of features.istft as a ROM:
   ``out = sat16(rs(acc * r[p], out_shift))``, ``r[p] = round(2^(R + 2W) / sum w^2)`` over
   the frames that cover output position p (R = ``norm_bits``): one value in the interior
   for each of the 256 hop phases, others only in the first 256 and last 512 samples.

``rs(v, s) = (v + 2^(s-1)) >> s`` (round half up, arithmetic shift; ``rs(v, 0) = v``) and
``sat`` clamps to the signed width: the only rounding and overflow rules. All arithmetic is
numpy int64, vectorized over frames; ``AudioSpec`` validation keeps every intermediate below
2^62. The mutation helpers (``mutate_twiddle``, ``mutate_threshold``) build the
off-by-one-LSB twins the hardware verification must catch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from bitwave.core.errors import BitwaveError

N_FFT = 1024
HOP = 256
N_BINS = N_FFT // 2 + 1  # 513
STAGES = 10  # log2(N_FFT) radix-2 stages
PCM_BITS = 16
PCM_FULL_SCALE = 1 << (PCM_BITS - 1)  # float audio = pcm / 32768 (models.data.audio)

# Width ranges: wide enough for any sensible chip, narrow enough that every product stays in
# int64 (the widest is the butterfly sum, fft_bits + twiddle_bits + 1 <= 56 bits).
_RANGES = {
    "window_bits": (4, 24),
    "twiddle_bits": (4, 24),
    "fft_bits": (12, 31),
    "gain_bits": (1, 24),
    "norm_bits": (4, 24),
}
_MAX_STAGE_SHIFT = 2


class AudioSpecError(BitwaveError):
    """A bad AudioSpec field; ``field`` names it (the IR reader prefixes ``audio.``)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"audio.{name}: {message}" if name else f"audio: {message}")
        self.field = name
        self.detail = message


@dataclass(frozen=True)
class AudioSpec:
    """Every width of the fixed-point audio path (the module docstring gives the arithmetic).
    The defaults are chosen by the measured quality loss against the float pipeline
    (docs/models.md, "Fixed-point audio path")."""

    window_bits: int = 20  # W: the unsigned Hann ROM (analysis and synthesis)
    twiddle_bits: int = 20  # T: twiddles round(cos, sin * 2^(T-1)), 1.0 exact
    fft_bits: int = 30  # signed width of real and imaginary parts inside both FFTs
    fft_shifts: tuple[int, ...] = field(default=(1,) * STAGES)  # forward, per stage
    ifft_shifts: tuple[int, ...] = field(default=(0,) * STAGES)  # inverse, per stage
    gain_bits: int = 12  # G: the floor gain, round(gain * 2^G)
    norm_bits: int = 16  # R: the overlap-add normalisation ROM

    def __post_init__(self) -> None:
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise AudioSpecError(name, f"expected an integer in [{low}, {high}], got {value!r}")
        for name in ("fft_shifts", "ifft_shifts"):
            value = getattr(self, name)
            if not isinstance(value, tuple | list) or len(value) != STAGES:
                raise AudioSpecError(name, f"expected {STAGES} per-stage shifts, got {value!r}")
            if any(isinstance(s, bool) or not isinstance(s, int) for s in value) or not all(
                0 <= s <= _MAX_STAGE_SHIFT for s in value
            ):
                raise AudioSpecError(
                    name, f"expected integers in [0, {_MAX_STAGE_SHIFT}], got {list(value)}"
                )
            object.__setattr__(self, name, tuple(value))
        if not 0 <= self.input_shift <= self.window_bits:
            raise AudioSpecError(
                "fft_bits",
                f"{self.fft_bits} bits leave {self.input_shift} guard bits for 16-bit samples "
                f"with the forward schedule's growth of {self.forward_growth} bits; allowed: "
                f"0 to window_bits ({self.window_bits}) guard bits (widen fft_bits or shift "
                "more in fft_shifts)",
            )
        if self.output_shift < 0:
            raise AudioSpecError(
                "ifft_shifts",
                f"the shifts total {sum(self.fft_shifts) + sum(self.ifft_shifts)}, more than "
                f"the {STAGES + self.input_shift + self.norm_bits} the output scale allows",
            )

    @property
    def forward_growth(self) -> int:
        """Worst-case bits a frame can grow in the forward FFT: a radix-2 stage at most
        doubles a magnitude, each shift halves it."""
        growth, worst = 0, 0
        for shift in self.fft_shifts:
            growth += 1 - shift
            worst = max(worst, growth)
        return worst

    @property
    def input_shift(self) -> int:
        """g: guard bits below the int16 sample in the windowed FFT input, as many as the
        forward FFT can hold without ever overflowing."""
        return self.fft_bits - PCM_BITS - self.forward_growth

    @property
    def magnitude_scale(self) -> Fraction:
        """K: forward FFT integer units per unit of float magnitude (features.stft on
        pcm / 32768): 2^(15 + g - sum(fft_shifts)), exact."""
        return Fraction(2) ** (PCM_BITS - 1 + self.input_shift - sum(self.fft_shifts))

    @property
    def output_shift(self) -> int:
        """The final right shift of the overlap-add times the normalisation ROM."""
        shifts = sum(self.fft_shifts) + sum(self.ifft_shifts)
        return self.input_shift + STAGES - shifts + self.norm_bits

    def to_json(self) -> dict[str, Any]:
        """The IR's ``audio`` section (plain ints and lists)."""
        values = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}

    @classmethod
    def from_json(cls, entry: object) -> AudioSpec:
        """An AudioSpec from the IR's or a config's mapping: absent fields take the defaults,
        unknown ones are refused (AudioSpecError names the field)."""
        if not isinstance(entry, dict):
            raise AudioSpecError("", f"expected an object of widths, got {entry!r}")
        known = set(cls.__dataclass_fields__)
        for name in entry:
            if name not in known:
                raise AudioSpecError(str(name), f"unknown field; allowed: {sorted(known)}")
        return cls(**entry)


# ---------------------------------------------------------------------------------------------
# ROMs
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AudioTables:
    """The ROM contents of a spec: the window (N_FFT,) and the twiddles cos, sin (N_FFT / 2,),
    all int64. The mutation helpers return altered copies (the verification's twins)."""

    window: np.ndarray
    cos: np.ndarray
    sin: np.ndarray


def tables(spec: AudioSpec) -> AudioTables:
    """The window and twiddle ROMs of ``spec``: round half up of the float64 values. The Hann
    peak 1.0 saturates to ``2^W - 1`` (one sample per frame); the twiddles keep +-1.0 exact
    (``2^(T-1)``: T - 1 fraction bits in a (T+1)-bit word, or T bits plus the trivial-twiddle
    bypass of k = 0, as hardware FFTs do)."""
    n = np.arange(N_FFT)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / N_FFT)
    top = (1 << spec.window_bits) - 1
    window = np.minimum(np.floor(hann * (1 << spec.window_bits) + 0.5), top).astype(np.int64)
    return AudioTables(window, *twiddle_rom(N_FFT, spec.twiddle_bits))


def twiddle_rom(points: int, twiddle_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """The twiddle ROM of a ``points``-point FFT: ``round(cos, sin(2 pi k / points) *
    2^(T-1))`` for k < points / 2, int64 (``tables`` at 1024 points; other sizes let the
    hardware tests run small FFTs against ``fft_points``)."""
    k = np.arange(points // 2)
    one = 1 << (twiddle_bits - 1)

    def rom(values: np.ndarray) -> np.ndarray:  # +-1.0 exact: k = 0 and k = N/4 stay exact
        return np.floor(values * one + 0.5).astype(np.int64)

    angle = 2 * np.pi * k / points
    return rom(np.cos(angle)), rom(np.sin(angle))


def mutate_twiddle(
    table: AudioTables, index: int, delta: int = 1, part: str = "cos"
) -> AudioTables:
    """A copy of ``table`` with twiddle ``index`` (cos or sin) off by ``delta`` LSB. At the
    default widths one LSB moves the spectrum (and so, sometimes, a coding level) but often
    no output sample: a check that must catch it compares the spectrum or the codes too. An
    index used by many stages (a multiple of a power of two, e.g. 0 or 128) moves the most."""
    if part not in ("cos", "sin"):
        raise BitwaveError(f"twiddle part {part!r}; allowed: 'cos' or 'sin'")
    values = getattr(table, part).copy()
    values[index] += delta
    return replace(table, **{part: values})


def mutate_threshold(
    thresholds: np.ndarray, bin_index: int, level: int, delta: int = 1
) -> np.ndarray:
    """A copy of the integer coding thresholds with one (bin, level) entry off by ``delta``."""
    out = np.array(thresholds, dtype=np.int64, copy=True)
    out[bin_index, level] += delta
    return out


def round_shift(values: np.ndarray, shift: int) -> np.ndarray:
    """``rs``: round half up, then arithmetic right shift (int64); shift 0 is the identity."""
    if shift == 0:
        return values
    return (values + (1 << (shift - 1))) >> shift


def saturate(values: np.ndarray, bits: int) -> np.ndarray:
    """Clamp to the signed ``bits``-wide range."""
    top = (1 << (bits - 1)) - 1
    return np.clip(values, -top - 1, top)


# ---------------------------------------------------------------------------------------------
# The FFT (the same butterflies forward and inverse)
# ---------------------------------------------------------------------------------------------
def bit_reversed(points: int) -> np.ndarray:
    """The bit-reversal permutation of ``points`` (a power of two) indices."""
    stages = points.bit_length() - 1
    return np.array([int(f"{i:0{stages}b}"[::-1], 2) if stages else 0 for i in range(points)])


def fft(
    re: np.ndarray, im: np.ndarray, shifts: tuple[int, ...], spec: AudioSpec, table: AudioTables
) -> tuple[np.ndarray, np.ndarray]:
    """The fixed-point radix-2 DIT FFT of (frames, 1024) int64 parts, natural order out."""
    return fft_points(re, im, shifts, spec.fft_bits, spec.twiddle_bits, table.cos, table.sin)


def fft_points(
    re: np.ndarray,
    im: np.ndarray,
    shifts: tuple[int, ...],
    fft_bits: int,
    twiddle_bits: int,
    cos: np.ndarray,
    sin: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``fft`` for any power-of-two size N = re.shape[1] (one shift per stage, the twiddle
    ROM of ``twiddle_rom(N, twiddle_bits)`` or a mutated copy): the same butterflies, so the
    hardware FFT can be checked at small N as well as at 1024."""
    frames, points = re.shape
    if points < 2 or points & (points - 1) or 1 << len(shifts) != points:
        raise BitwaveError(
            f"an FFT of {points} points with {len(shifts)} stage shifts; allowed: a power of "
            "two >= 2 and one shift per radix-2 stage"
        )
    order = bit_reversed(points)
    re, im = re[:, order], im[:, order]
    frac = twiddle_bits - 1
    for stage, shift in enumerate(shifts):
        half = 1 << stage
        index = np.arange(half) * (points // (2 * half))
        wr, wi = cos[index], -sin[index]  # exp(-2 pi i k / N)
        re = re.reshape(frames, points // (2 * half), 2, half)
        im = im.reshape(frames, points // (2 * half), 2, half)
        ar, ai = re[:, :, 0] << frac, im[:, :, 0] << frac
        br, bi = re[:, :, 1], im[:, :, 1]
        tr, ti = br * wr - bi * wi, br * wi + bi * wr
        total = frac + shift
        parts = [
            saturate(round_shift(value, total), fft_bits)
            for value in (ar + tr, ar - tr, ai + ti, ai - ti)
        ]
        re = np.stack(parts[:2], axis=2).reshape(frames, points)
        im = np.stack(parts[2:], axis=2).reshape(frames, points)
    return re, im


# ---------------------------------------------------------------------------------------------
# Front end
# ---------------------------------------------------------------------------------------------
def check_pcm(pcm: np.ndarray) -> np.ndarray:
    """A mono 16-bit PCM signal as int64 (refused: other shapes, dtypes, empty)."""
    pcm = np.asarray(pcm)
    if pcm.ndim != 1 or pcm.size == 0 or pcm.dtype != np.int16:
        raise BitwaveError(
            f"audio samples must be a non-empty 1-D int16 array, got {pcm.dtype} of shape "
            f"{pcm.shape}"
        )
    return pcm.astype(np.int64)


def frame_count(samples: int) -> int:
    return samples // HOP + 1


def frames_of(pcm: np.ndarray) -> np.ndarray:
    """(frames, 1024) int64 frames, frame t centred on sample t * 256 (as features.stft)."""
    pcm = check_pcm(pcm)
    count = frame_count(pcm.size)
    padded = np.zeros((count - 1) * HOP + N_FFT, np.int64)
    padded[N_FFT // 2 : N_FFT // 2 + pcm.size] = pcm
    return np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:count].copy()


def spectrum(
    pcm: np.ndarray, spec: AudioSpec, table: AudioTables | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(re, im) of bins 0..512, (frames, 513) int64 each: windowing and the forward FFT."""
    table = table or tables(spec)
    frames = frames_of(pcm) * table.window
    windowed = round_shift(frames, spec.window_bits - spec.input_shift)
    re, im = fft(windowed, np.zeros_like(windowed), spec.fft_shifts, spec, table)
    return re[:, :N_BINS], im[:, :N_BINS]


def coding_thresholds(boundaries: np.ndarray, spec: AudioSpec) -> np.ndarray:
    """The IR's float coding boundaries (features or 1, levels - 1) as integer thresholds on
    the squared magnitude: ``ceil((b * K)^2)`` (0 for b <= 0), computed exactly with
    fractions, capped one above the largest possible power (a level never reached)."""
    boundaries = np.asarray(boundaries, np.float64)
    scale = spec.magnitude_scale
    cap = 2 * (1 << (spec.fft_bits - 1)) ** 2 + 1
    flat = [
        0 if b <= 0 else min(math.ceil((Fraction(float(b)) * scale) ** 2), cap)
        for b in boundaries.reshape(-1)
    ]
    return np.array(flat, np.int64).reshape(boundaries.shape)


def encode_power(power: np.ndarray, thresholds: np.ndarray, bits: int) -> np.ndarray:
    """(frames, 513) squared magnitudes -> (frames, 513 * bits) uint8 bit-planes, MSB first
    (the IR's ``bitplanes`` order): level = number of thresholds the power reaches."""
    thresholds = np.broadcast_to(thresholds, (power.shape[1], thresholds.shape[-1]))
    level = (power[:, :, None] >= thresholds[None, :, :]).sum(axis=-1)
    shifts = np.arange(bits - 1, -1, -1)
    planes = (level[:, :, None] >> shifts[None, None, :]) & 1
    return planes.reshape(power.shape[0], -1).astype(np.uint8)


@dataclass
class FrontEnd:
    """What the front end hands on: the network's codes and the spectrum the back end masks."""

    codes: np.ndarray  # (frames, 513 * bits) uint8
    re: np.ndarray  # (frames, 513) int64
    im: np.ndarray  # (frames, 513) int64
    power: np.ndarray  # (frames, 513) int64, re^2 + im^2


def front_end(
    pcm: np.ndarray,
    spec: AudioSpec,
    thresholds: np.ndarray,
    bits: int,
    table: AudioTables | None = None,
) -> FrontEnd:
    """16-bit PCM -> the network's bit-planes (and the spectrum), bit for bit the hardware's.
    ``thresholds``: ``coding_thresholds`` of the IR's boundaries (or a mutated copy)."""
    re, im = spectrum(pcm, spec, table)
    power = re * re + im * im
    return FrontEnd(encode_power(power, thresholds, bits), re, im, power)


# ---------------------------------------------------------------------------------------------
# Back end
# ---------------------------------------------------------------------------------------------
def gain_code(floor_gain: float, spec: AudioSpec) -> int:
    """The floor gain as the integer the back end multiplies by: round(G * 2^gain_bits)."""
    if not 0.0 <= floor_gain < 1.0:
        raise BitwaveError(f"mask floor gain {floor_gain!r}; allowed: 0 <= gain < 1")
    return math.floor(floor_gain * (1 << spec.gain_bits) + 0.5)


def apply_gains(
    re: np.ndarray, im: np.ndarray, mask: np.ndarray, floor_gain: float, spec: AudioSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Mask bit 1: the bin unchanged; bit 0: times the quantized floor gain (0 without one)."""
    mask = np.asarray(mask)
    if mask.shape != re.shape or mask.dtype.kind not in "uib" or np.any((mask != 0) & (mask != 1)):
        raise BitwaveError(f"mask must be {re.shape} bits (0/1), got {mask.dtype} {mask.shape}")
    gain = gain_code(floor_gain, spec)
    keep = mask.astype(bool)
    low_re = round_shift(re * gain, spec.gain_bits)
    low_im = round_shift(im * gain, spec.gain_bits)
    return np.where(keep, re, low_re), np.where(keep, im, low_im)


def inverse_frames(
    re: np.ndarray, im: np.ndarray, spec: AudioSpec, table: AudioTables
) -> np.ndarray:
    """(frames, 513) bins -> (frames, 1024) int64 time frames: the forward butterflies on the
    conjugate of the Hermitian spectrum, real part out."""
    full_re = np.concatenate([re, re[:, N_BINS - 2 : 0 : -1]], axis=1)
    half_im = im.copy()
    half_im[:, 0] = 0
    half_im[:, N_BINS - 1] = 0
    # conj(Y): bins 1..511 hold -im, their mirrors conj(Y[k]) conjugated back to +im.
    full_im = np.concatenate([-half_im, half_im[:, N_BINS - 2 : 0 : -1]], axis=1)
    out_re, _ = fft(full_re, full_im, spec.ifft_shifts, spec, table)
    return out_re


def normalisation_rom(count: int, length: int, spec: AudioSpec, table: AudioTables) -> np.ndarray:
    """r[p] = round(2^(R + 2W) / sum of w^2 over the frames covering output sample p), for
    the ``length`` output samples of ``count`` frames (features.istft's weighted
    overlap-add norm). Integer arithmetic on the window ROM, so hardware and golden agree."""
    squared = table.window * table.window
    norm = np.zeros((count - 1) * HOP + N_FFT, np.int64)
    for k in range(N_FFT // HOP):
        norm[k * HOP : k * HOP + count * HOP] += np.tile(squared[k * HOP : (k + 1) * HOP], count)
    norm = norm[N_FFT // 2 : N_FFT // 2 + length]
    numerator = 1 << (spec.norm_bits + 2 * spec.window_bits)
    values, inverse = np.unique(norm, return_inverse=True)
    rom = [(numerator + int(v) // 2) // int(v) for v in values]  # Python ints: no overflow
    return np.array(rom, np.int64)[inverse.reshape(-1)]


def back_end(
    re: np.ndarray,
    im: np.ndarray,
    mask: np.ndarray,
    length: int,
    floor_gain: float,
    spec: AudioSpec,
    table: AudioTables | None = None,
) -> np.ndarray:
    """Masked spectrum -> ``length`` int16 samples: gains, inverse FFT, synthesis window,
    overlap-add, normalisation, saturation (the module docstring gives each rounding)."""
    table = table or tables(spec)
    count = re.shape[0]
    if length < 1 or length // HOP + 1 != count:
        raise BitwaveError(f"{count} frames do not make {length} samples; allowed: the length "
                           f"whose frame count ({length} // {HOP} + 1) is {count}")  # fmt: skip
    gained = apply_gains(re, im, mask, floor_gain, spec)
    frames = inverse_frames(*gained, spec, table) * table.window
    acc = np.zeros((count - 1) * HOP + N_FFT, np.int64)
    for k in range(N_FFT // HOP):  # hop divides the frame: 4 strided additions
        acc[k * HOP : k * HOP + count * HOP] += frames[:, k * HOP : (k + 1) * HOP].reshape(-1)
    acc = round_shift(acc[N_FFT // 2 : N_FFT // 2 + length], spec.window_bits)
    scaled = acc * normalisation_rom(count, length, spec, table)
    return saturate(round_shift(scaled, spec.output_shift), PCM_BITS).astype(np.int16)
