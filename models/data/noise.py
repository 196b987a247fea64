"""Built-in noise: procedural generators with distinct spectral and temporal character.

Each generator takes a ``numpy`` generator and a length in samples (16 kHz) and returns
float32 noise with unit RMS; the seed fixes the instance. Types:

- ``white``, ``pink``, ``brown``: stationary noise with 0, -3 and -6 dB/octave slopes.
- ``babble``: 4-7 overlapping synthetic talkers (eSpeak speakers kept apart from the
  speech speakers), passed in as a pool of clips.
- ``hum``: mains hum, 50 or 60 Hz with a random harmonic series and slight buzz.
- ``typing``: impulsive keyboard-like clicks: short resonant bursts at random intervals.
- ``ocean``: low-passed noise under slow wave-like swells with hiss at the crests.
- ``engine``: a motor's harmonic series at a slowly wandering firing rate, plus rumble.
- ``birds``: frequency-modulated chirps and trills between 2 and 7 kHz.
- ``cicadas``: a narrow high band pulsed at 20-60 Hz, swelling and fading.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.signal import butter, sosfilt

from bitwave.core.errors import BitwaveError
from bitwave.models.data.audio import SAMPLE_RATE

NoiseFn = Callable[[np.random.Generator, int, Sequence[np.ndarray]], np.ndarray]


def _unit_rms(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return (x / rms if rms > 0 else x).astype(np.float32)


def _shaped(rng: np.random.Generator, n: int, exponent: float, low_hz: float = 20.0) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f^exponent above low_hz."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spectrum *= np.maximum(freqs, low_hz) ** (-exponent / 2)
    return np.fft.irfft(spectrum, n)


def smooth_random(rng: np.random.Generator, n: int, rate_hz: float) -> np.ndarray:
    """A smooth random curve (about rate_hz changes per second) in roughly [-1, 1]."""
    points = max(4, int(n / SAMPLE_RATE * rate_hz) + 4)
    knots = rng.uniform(-1, 1, points)
    return np.interp(np.linspace(0, points - 3, n), np.arange(points), knots)


def _band(x: np.ndarray, low: float | None, high: float | None, order: int = 4) -> np.ndarray:
    if low and high:
        sos = butter(order, [low, high], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    elif high:
        sos = butter(order, high, btype="lowpass", fs=SAMPLE_RATE, output="sos")
    else:
        sos = butter(order, low, btype="highpass", fs=SAMPLE_RATE, output="sos")
    return sosfilt(sos, x)


def white(rng: np.random.Generator, n: int, _pool: Sequence[np.ndarray] = ()) -> np.ndarray:
    return _unit_rms(rng.standard_normal(n))


def pink(rng: np.random.Generator, n: int, _pool: Sequence[np.ndarray] = ()) -> np.ndarray:
    return _unit_rms(_shaped(rng, n, 1.0))


def brown(rng: np.random.Generator, n: int, _pool: Sequence[np.ndarray] = ()) -> np.ndarray:
    return _unit_rms(_shaped(rng, n, 2.0))


def babble(rng: np.random.Generator, n: int, pool: Sequence[np.ndarray] = ()) -> np.ndarray:
    if not pool:
        raise BitwaveError("babble noise needs a pool of talker clips")
    out = np.zeros(n)
    for _ in range(int(rng.integers(4, 8))):
        # Each talker speaks clip after clip with short pauses, from a random start.
        stream: list[np.ndarray] = []
        length = 0
        while length < n + SAMPLE_RATE:
            clip = pool[rng.integers(len(pool))]
            gap = np.zeros(int(rng.uniform(0.05, 0.4) * SAMPLE_RATE))
            stream += [clip / (np.std(clip) + 1e-9), gap]
            length += clip.size + gap.size
        talker = np.concatenate(stream)
        start = int(rng.integers(0, talker.size - n + 1))
        out += talker[start : start + n] * rng.uniform(0.5, 1.0)
    return _unit_rms(out)


def hum(rng: np.random.Generator, n: int, _pool: Sequence[np.ndarray] = ()) -> np.ndarray:
    f0 = rng.choice([50.0, 60.0]) + rng.uniform(-0.3, 0.3)
    t = np.arange(n) / SAMPLE_RATE
    out = np.zeros(n)
    odd_boost = rng.uniform(1.0, 3.0)  # transformer buzz favours odd harmonics
    for k in range(1, int(4000 // f0)):
        amplitude = (
            rng.uniform(0.3, 1.0) / k ** rng.uniform(0.7, 1.5) * (odd_boost if k % 2 else 1.0)
        )
        out += amplitude * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
    out *= 1 + 0.05 * smooth_random(rng, n, 2.0)
    out += 0.02 * np.std(out) * rng.standard_normal(n)
    return _unit_rms(out)


def typing(rng: np.random.Generator, n: int, _pool: Sequence[np.ndarray] = ()) -> np.ndarray:
    out = 0.01 * rng.standard_normal(n)
    rate = rng.uniform(5.0, 12.0)  # keystrokes per second
    times = np.cumsum(rng.exponential(1 / rate, int(n / SAMPLE_RATE * rate * 2) + 4))
    for time in times[times * SAMPLE_RATE < n]:
        start = int(time * SAMPLE_RATE)
        length = int(rng.uniform(0.004, 0.02) * SAMPLE_RATE)
        t = np.arange(length) / SAMPLE_RATE
        # A click = decaying noise burst through a random key/desk resonance.
        burst = rng.standard_normal(length) * np.exp(-t / rng.uniform(0.001, 0.006))
        resonance = rng.uniform(1500, 6000)
        burst = _band(burst, resonance * 0.7, min(resonance * 1.4, 7900), order=2)
        end = min(n, start + length)
        out[start:end] += (
            rng.uniform(0.3, 1.0) * burst[: end - start] / (np.abs(burst).max() + 1e-9)
        )
    return _unit_rms(out)


def ocean(rng: np.random.Generator, n: int, _pool: Sequence[np.ndarray] = ()) -> np.ndarray:
    t = np.arange(n) / SAMPLE_RATE
    period = rng.uniform(4.0, 10.0)
    phase = rng.uniform(0, 2 * np.pi)
    swell = np.clip(
        0.55 + 0.45 * np.sin(2 * np.pi * t / period + phase) + 0.2 * smooth_random(rng, n, 0.5),
        0.05,
        None,
    )
    body = _band(_shaped(rng, n, 1.5), None, rng.uniform(800, 2000)) * swell**2
    crest = np.clip(np.gradient(swell) * SAMPLE_RATE * period, 0, None)  # rising swell -> hiss
    hiss = _band(rng.standard_normal(n), 2000, None) * (crest + 0.05 * crest.max())  # never silent
    return _unit_rms(_unit_rms(body) + 0.4 * _unit_rms(hiss))


def engine(rng: np.random.Generator, n: int, _pool: Sequence[np.ndarray] = ()) -> np.ndarray:
    firing = rng.uniform(25.0, 70.0) * (1 + 0.15 * smooth_random(rng, n, 0.3))  # Hz, wandering
    phase = 2 * np.pi * np.cumsum(firing) / SAMPLE_RATE
    out = np.zeros(n)
    for k in range(1, int(3000 // firing.max())):
        out += rng.uniform(0.5, 1.0) / k * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    rumble = _band(rng.standard_normal(n), None, 400) * (1 + 0.6 * np.sin(phase))
    # mechanical rattle: broadband noise pulsing with the firing, well below the harmonics
    rattle = _shaped(rng, n, 1.0) * (1 + np.sin(phase))
    return _unit_rms(
        _unit_rms(out) + rng.uniform(0.3, 0.8) * _unit_rms(rumble) + 0.05 * _unit_rms(rattle)
    )


def birds(rng: np.random.Generator, n: int, _pool: Sequence[np.ndarray] = ()) -> np.ndarray:
    out = 0.003 * _band(rng.standard_normal(n), 1000, None)
    time = rng.uniform(0, 0.3)
    while time * SAMPLE_RATE < n:
        # A song: a few similar chirps in quick succession, then a pause.
        base = rng.uniform(2000, 6000)
        for _ in range(int(rng.integers(1, 6))):
            length = int(rng.uniform(0.04, 0.2) * SAMPLE_RATE)
            t = np.arange(length) / SAMPLE_RATE
            sweep = base * (1 + rng.uniform(-0.4, 0.4) * t / t[-1])
            trill = 1 + rng.uniform(0, 0.08) * np.sin(2 * np.pi * rng.uniform(20, 80) * t)
            freq = np.clip(sweep * trill, 1000, 7800)
            chirp = np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE) * np.hanning(length)
            start = int(time * SAMPLE_RATE)
            if start >= n:
                break
            end = min(n, start + length)
            out[start:end] += rng.uniform(0.3, 1.0) * chirp[: end - start]
            time += length / SAMPLE_RATE + rng.uniform(0.02, 0.1)
        time += rng.uniform(0.1, 1.0)
    return _unit_rms(out)


def cicadas(rng: np.random.Generator, n: int, _pool: Sequence[np.ndarray] = ()) -> np.ndarray:
    t = np.arange(n) / SAMPLE_RATE
    centre = rng.uniform(3500, 6500)
    carrier = _band(rng.standard_normal(n), centre * 0.85, centre * 1.15)
    pulse = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * rng.uniform(20, 60) * t))
    swell = np.clip(0.6 + 0.5 * smooth_random(rng, n, 0.4), 0.05, 1.0)
    return _unit_rms(carrier * (0.2 + pulse) * swell)


NOISE_TYPES: dict[str, NoiseFn] = {
    "white": white,
    "pink": pink,
    "brown": brown,
    "babble": babble,
    "hum": hum,
    "typing": typing,
    "ocean": ocean,
    "engine": engine,
    "birds": birds,
    "cicadas": cicadas,
}


def make_noise(
    kind: str, rng: np.random.Generator, n: int, pool: Sequence[np.ndarray] = ()
) -> np.ndarray:
    """``n`` samples of noise type ``kind`` with unit RMS."""
    if kind not in NOISE_TYPES:
        raise BitwaveError(f"unknown noise type {kind!r}; allowed: {', '.join(NOISE_TYPES)}")
    if n <= 0:
        raise BitwaveError(f"noise length must be positive, got {n} samples")
    return NOISE_TYPES[kind](rng, n, pool)
