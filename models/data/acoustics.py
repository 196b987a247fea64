"""Acoustic realism for the built-in data: room reverberation, channel colouring, level drift.

All three are off by default and drawn per utterance from their own random streams, so an
utterance's speech, noise and SNR are the same with them on or off (only the acoustics
change), and the data set stays a function of its config.

- Reverberation (``data.reverb``): a shoebox room simulated with pyroomacoustics' image
  source method (Allen & Berkley; absorption set by Sabine's formula for an RT60 drawn from
  ``rt60_s``), random room size, talker and microphone positions. The reverberant speech is
  what the microphone hears; the *target* is its direct path plus early reflections (the
  first ``EARLY_MS`` after the direct path), the usual choice (DNS Challenge, Habets): early
  reflections sound like the dry voice and no mask can undo them, while the late reverberation
  is interference the enhancer should remove. So a reverberant ``Mixture`` has
  ``clean = early speech`` and ``noise = late reverberation + noise``, ``noisy = clean + noise``
  as always, and ``snr_db`` is the SNR of the whole reverberant speech over the noise.
- Channel colouring (``data.channel``): a per-utterance microphone/line response: a high-pass
  at 50..250 Hz, with probability 1/2 a low-pass at 3.4..7.8 kHz (a narrower channel), and
  two gentle peaking bands (+-``eq_db``). It colours speech and noise alike (it is part of the
  recording), so the target is coloured too: a mask cannot restore a missing band.
- Level drift (``data.level_drift_db``): a slow gain curve on the speech (a talker moving or
  turning), up to +-``level_drift_db`` around the utterance level ``level_db``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.signal import butter, fftconvolve, sosfilt, tf2sos

from bitwave.core.errors import BitwaveError
from bitwave.models.data.audio import SAMPLE_RATE
from bitwave.models.data.noise import smooth_random

EARLY_MS = 50.0  # the target keeps the direct path and reflections up to this delay after it
RT60_LIMITS_S = (0.1, 1.0)  # image-source cost grows with RT60^3: ~0.02 s at 0.2, ~1.5 s at 0.8
ROOM_M = ((3.0, 10.0), (3.0, 8.0), (2.4, 4.0))  # room length, width, height ranges
DISTANCE_M = (0.5, 3.0)  # talker to microphone
WALL_GAP_M = 0.5  # talker and microphone stay this far from every wall


def _range(key: str, pair: Any, lo: float, hi: float) -> tuple[float, float]:
    if isinstance(pair, list):
        pair = tuple(pair)
    if (
        not isinstance(pair, tuple)
        or len(pair) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pair)
        or not lo <= pair[0] <= pair[1] <= hi
    ):
        raise BitwaveError(f"data.{key}: expected [low, high] with {lo} <= low <= high <= {hi}, got {pair!r}")  # fmt: skip
    return float(pair[0]), float(pair[1])


def _number(key: str, value: Any, lo: float, hi: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not lo <= value <= hi:
        raise BitwaveError(f"data.{key}: allowed {lo} .. {hi}, got {value!r}")
    return float(value)


Check = Callable[[str, Any], Any]  # (key for the message, value) -> validated value


def _parse(kind: type, key: str, values: Any, checks: dict[str, Check]) -> Any:
    """``kind`` from a ``data.<key>`` mapping: unknown keys refused, each value checked, absent
    keys at their defaults."""
    if isinstance(values, kind):
        return values
    if not isinstance(values, dict):
        raise BitwaveError(f"data.{key}: expected a mapping with keys {', '.join(checks)}, got {values!r}")  # fmt: skip
    unknown = sorted(set(values) - set(checks))
    if unknown:
        raise BitwaveError(f"data.{key}: unknown key {', '.join(map(repr, unknown))}; allowed keys: {', '.join(checks)}")  # fmt: skip
    return kind(**{name: check(f"{key}.{name}", values.get(name, getattr(kind, name)))
                   for name, check in checks.items()})  # fmt: skip


@dataclass(frozen=True)
class Reverb:
    """``data.reverb``: the share of utterances in a simulated room, and their RT60 range."""

    probability: float = 0.0
    rt60_s: tuple[float, float] = (0.2, 0.6)

    @classmethod
    def parse(cls, values: Any) -> Reverb:
        return _parse(cls, "reverb", values, {
            "probability": lambda key, v: _number(key, v, 0, 1),
            "rt60_s": lambda key, v: _range(key, v, *RT60_LIMITS_S),
        })  # fmt: skip


@dataclass(frozen=True)
class Channel:
    """``data.channel``: the share of utterances through a coloured channel, its EQ depth."""

    probability: float = 0.0
    eq_db: float = 6.0

    @classmethod
    def parse(cls, values: Any) -> Channel:
        return _parse(cls, "channel", values, {
            "probability": lambda key, v: _number(key, v, 0, 1),
            "eq_db": lambda key, v: _number(key, v, 0, 12),
        })  # fmt: skip


def simulator_version() -> str:
    """The pyroomacoustics version (part of the cache key of reverberant data)."""
    try:
        import pyroomacoustics
    except ImportError as error:  # pragma: no cover - a declared dependency
        raise BitwaveError(f"data.reverb needs the pyroomacoustics package ({error})") from None
    return str(pyroomacoustics.__version__)


def room_impulse_response(rng: np.random.Generator, rt60_s: float) -> tuple[np.ndarray, int]:
    """(impulse response at 16 kHz, index of its direct-path peak) of a random shoebox room
    with Sabine RT60 ``rt60_s``. A room too small or large for that RT60 is drawn again."""
    import pyroomacoustics as pra

    for _ in range(100):
        room_dim = [float(rng.uniform(*r)) for r in ROOM_M]
        try:
            absorption, order = pra.inverse_sabine(rt60_s, room_dim)
        except ValueError:  # absorption outside (0, 1) for this room
            continue
        talker = _position(rng, room_dim, None)
        mic = _position(rng, room_dim, talker)
        if mic is None:
            continue
        room = pra.ShoeBox(
            room_dim, fs=SAMPLE_RATE, materials=pra.Material(absorption), max_order=order,
            air_absorption=False,
        )  # fmt: skip
        room.add_source(talker)
        room.add_microphone(mic)
        room.compute_rir()
        rir = np.asarray(room.rir[0][0], np.float64)
        return rir, int(np.argmax(np.abs(rir)))
    # Unreachable in practice: every RT60 in RT60_LIMITS_S fits most rooms of ROOM_M.
    raise BitwaveError(f"no room of the allowed sizes has an RT60 of {rt60_s:.2f} s")


def _position(
    rng: np.random.Generator, room_dim: list[float], talker: np.ndarray | None
) -> np.ndarray | None:
    """A point inside the room, clear of the walls (and, for the microphone, at a distance
    from the talker in DISTANCE_M; None if none was found)."""
    for _ in range(50):
        point = np.array([rng.uniform(WALL_GAP_M, d - WALL_GAP_M) for d in room_dim])
        point[2] = rng.uniform(1.0, min(1.9, room_dim[2] - WALL_GAP_M))  # a head's height
        if talker is None or DISTANCE_M[0] <= np.linalg.norm(point - talker) <= DISTANCE_M[1]:
            return point
    return None


def reverberate(speech: np.ndarray, rir: np.ndarray, direct: int) -> tuple[np.ndarray, np.ndarray]:
    """(early, late) speech: the dry speech through the early and the late part of ``rir``,
    advanced by the direct-path delay and cut to the dry length (early + late = reverberant)."""
    split = min(rir.size, direct + int(EARLY_MS * SAMPLE_RATE / 1000))
    early, late = rir.copy(), rir.copy()
    early[split:], late[:split] = 0, 0  # both keep the RIR's time origin
    parts = []
    for part in (early, late):
        wet = fftconvolve(speech, part)
        wet = np.pad(wet, (0, max(0, direct + speech.size - wet.size)))
        parts.append(wet[direct : direct + speech.size])
    return parts[0], parts[1]


def _peaking(freq: float, gain_db: float, q: float) -> np.ndarray:
    """One peaking-EQ biquad (RBJ audio EQ cookbook) as second-order sections."""
    a = 10 ** (gain_db / 40)
    w = 2 * math.pi * freq / SAMPLE_RATE
    alpha = math.sin(w) / (2 * q)
    b = [1 + alpha * a, -2 * math.cos(w), 1 - alpha * a]
    den = [1 + alpha / a, -2 * math.cos(w), 1 - alpha / a]
    return tf2sos(b, den)


def channel_filter(rng: np.random.Generator, eq_db: float) -> np.ndarray:
    """A random gentle channel response (second-order sections; see the module docstring)."""
    sections = [butter(2, rng.uniform(50, 250), "highpass", fs=SAMPLE_RATE, output="sos")]
    low_pass = rng.uniform(3400, 7800)
    if rng.uniform() < 0.5:
        sections.append(butter(4, low_pass, "lowpass", fs=SAMPLE_RATE, output="sos"))
    for _ in range(2):
        freq = math.exp(rng.uniform(math.log(200), math.log(6000)))
        sections.append(_peaking(freq, rng.uniform(-eq_db, eq_db), rng.uniform(0.7, 2.0)))
    return np.concatenate(sections)


def level_curve(rng: np.random.Generator, n: int, drift_db: float) -> np.ndarray:
    """A slow gain curve (about one change per two seconds) within +-``drift_db``."""
    return 10 ** (drift_db * np.clip(smooth_random(rng, n, 0.5), -1, 1) / 20)


@dataclass(frozen=True)
class Applied:
    """What one utterance went through: the room's RT60 (NaN: dry) and the channel."""

    rt60_s: float = math.nan
    channel: bool = False


def colour(sos: np.ndarray, *signals: np.ndarray) -> list[np.ndarray]:
    """The same channel filter on each signal (linear, so their sum is filtered alike)."""
    return [sosfilt(sos, s) for s in signals]
