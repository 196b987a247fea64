"""Deterministic speech-like test signals: the chip's default stimulus where no recording is
given (``bitwave verify`` and ``bitwave synth`` of a full chip), one generator for both."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RATE = 16_000
PEAK = 16_000  # about -6 dBFS in int16


def speech_like(lengths: Sequence[int], seed: int = 0) -> list[np.ndarray]:
    """One int16 utterance at 16 kHz per entry of ``lengths`` (samples): harmonics up to 4 kHz
    of a pitch gliding between 90 and 260 Hz, weighted by three formant-like resonances, a
    syllable envelope and noise; peaks near -6 dBFS. Same seed, same samples."""
    rng = np.random.default_rng([seed, 16])
    return [_utterance(int(n), rng) for n in lengths]


def _utterance(n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / RATE
    f0 = rng.uniform(90, 260) * (1 + 0.25 * np.sin(2 * np.pi * rng.uniform(1, 4) * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    formants = rng.uniform([300, 900, 2200], [900, 2200, 3500])
    voiced = np.zeros(n)
    for h in range(1, 40):
        freq = h * f0
        gain = sum(1 / (1 + ((freq - f) / 120) ** 2) for f in formants) / h**0.5
        voiced += np.where(freq < 4000, gain, 0) * np.sin(h * phase + rng.uniform(0, 6))
    envelope = np.sin(np.pi * t * rng.uniform(3, 6)) ** 2 + 0.05
    signal = voiced * envelope + 0.03 * np.abs(voiced).max() * rng.standard_normal(n)
    return np.round(signal / max(np.abs(signal).max(), 1e-9) * PEAK).astype(np.int16)
