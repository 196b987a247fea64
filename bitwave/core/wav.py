"""WAV files and sample rates: everything inside bitwave is mono float32 at 16 kHz, and the
chip's samples are 16-bit PCM (``pcm16``: float * 32768, rounded and clipped).

``read_wav`` accepts any mono PCM or float WAV (8/16/24/32-bit, 4 to 384 kHz), rejects what
is not usable audio with an ``AudioFileError`` that names the file and the reason, and
resamples with a polyphase filter. ``write_wav`` writes 16-bit PCM atomically. Every stage
that reads audio (models' data folders, enhance, verify and synth of the full chip) reads it
here.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

from bitwave.core.errors import BitwaveError
from bitwave.core.paths import atomic_write

SAMPLE_RATE = 16_000
# Rates a WAV file may declare: below 4 kHz is not speech audio, above 384 kHz no recorder
# writes; an absurd rate (0, 1 Hz, 4 GHz) would otherwise divide by zero or make the
# resampler allocate without bound.
MIN_FILE_RATE, MAX_FILE_RATE = 4_000, 384_000


class AudioFileError(BitwaveError):
    """A file that is not usable mono audio."""


def resample(audio: np.ndarray, from_rate: int, to_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling by the exact rational factor to_rate / from_rate."""
    audio = np.asarray(audio, dtype=np.float32)
    if from_rate == to_rate:
        return audio
    g = math.gcd(int(from_rate), int(to_rate))
    return resample_poly(audio, int(to_rate) // g, int(from_rate) // g).astype(np.float32)


def _to_float(samples: np.ndarray) -> np.ndarray:
    """Integer PCM to [-1, 1) floats; float files are taken as they are."""
    if samples.dtype == np.uint8:
        return (samples.astype(np.float32) - 128.0) / 128.0
    if samples.dtype.kind == "i":
        return samples.astype(np.float32) / float(np.iinfo(samples.dtype).max + 1)
    if samples.dtype.kind == "f":
        return samples.astype(np.float32)
    raise ValueError(f"unsupported sample type {samples.dtype}")


def read_wav(
    path: str | os.PathLike, rate: int = SAMPLE_RATE, mix_channels: bool = False
) -> np.ndarray:
    """A mono WAV file (any channel count, mixed down to their mean, if ``mix_channels``) as
    float32 at ``rate``. Raises AudioFileError for anything else."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # scipy warns about unknown chunks (e.g. LIST metadata); they are harmless.
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            file_rate, samples = wavfile.read(path)
    except (ValueError, EOFError, OSError) as error:
        raise AudioFileError(f"{path}: not a readable WAV file ({error})") from None
    except ZeroDivisionError:  # scipy divides by channels x bytes per sample from the header
        raise AudioFileError(
            f"{path}: its header declares 0 channels or under 8 bits per sample; allowed: mono "
            "PCM (8/16/24/32-bit) or float WAV"
        ) from None
    if not MIN_FILE_RATE <= file_rate <= MAX_FILE_RATE:
        raise AudioFileError(
            f"{path}: sample rate {file_rate} Hz; allowed: {MIN_FILE_RATE} .. {MAX_FILE_RATE} Hz"
        )
    if samples.ndim == 2 and samples.shape[1] != 1 and not mix_channels:
        raise AudioFileError(f"{path}: has {samples.shape[1]} channels; only mono is allowed")
    if samples.size == 0:
        raise AudioFileError(f"{path}: contains no samples")
    try:
        audio = _to_float(samples)
    except ValueError as error:
        raise AudioFileError(f"{path}: {error}") from None
    if audio.ndim == 2:
        audio = audio.mean(axis=1, dtype=np.float64).astype(np.float32)
    if not np.all(np.isfinite(audio)):
        raise AudioFileError(f"{path}: contains NaN or infinite samples")
    return resample(audio, file_rate, rate)


def write_wav(path: str | os.PathLike, audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """16-bit PCM WAV, clipped to [-1, 1], written atomically."""
    pcm = np.round(np.clip(np.asarray(audio, np.float64), -1.0, 1.0) * 32767.0).astype(np.int16)
    with atomic_write(path, "wb") as handle:
        wavfile.write(handle, int(rate), pcm)


def pcm16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1) as the chip's int16 samples: round(x * 32768), clipped (a
    16-bit file read by ``read_wav`` comes back exactly)."""
    scaled = np.round(np.asarray(audio, np.float64) * 32768.0)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def read_pcm16(path: str | os.PathLike) -> np.ndarray:
    """Any usable WAV file (channels mixed down, resampled to 16 kHz) as int16 samples."""
    return pcm16(read_wav(path, mix_channels=True))


def write_pcm16(path: str | os.PathLike, pcm: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """int16 samples (the chip's output) as a 16-bit PCM WAV, unchanged, written atomically."""
    pcm = np.asarray(pcm)
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise BitwaveError(f"PCM samples must be 1-D int16, got {pcm.dtype} {pcm.shape}")
    with atomic_write(path, "wb") as handle:
        wavfile.write(handle, int(rate), pcm)
