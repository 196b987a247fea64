"""Deployed peers scored beside bitwave's networks on the same test utterances.

RNNoise (Valin 2018; the network of the 2024 RNNoise 0.2 release) through the ``pyrnnoise``
wheel, which ships the RNNoise C library with its built-in weights (BSD-3-Clause). RNNoise
works on 10 ms frames of 48 kHz audio, so a 16 kHz utterance is resampled 16k -> 48k -> 16k
with a zero-phase polyphase filter (``scipy.signal.resample_poly``: it adds no delay) and
RNNoise's own algorithmic delay is removed, so that the output is sample-aligned with the
clean reference and SI-SDR is fair.

The peer's compute is counted from the library itself: ``rnnoise_arrays`` (the weight table
the C library exports) lists every layer's float weights; each weight is one multiply-
accumulate per 10 ms frame (RNNoise's convolutions and GRUs each consume one new frame per
step). Feature extraction (FFT, pitch search, band energies) is not counted, as bitwave's
count leaves out its STFT.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.signal import resample_poly

from bitwave.core.errors import BitwaveError
from bitwave.models.data.audio import SAMPLE_RATE

RNNOISE_RATE = 48_000
RNNOISE_FRAME = 480  # samples per frame at 48 kHz (10 ms); checked against the library
RNNOISE_FPS = RNNOISE_RATE / RNNOISE_FRAME  # 100 frames per second
# RNNoise 0.2's output lags its input by two frames (overlap-add + one frame of lookahead);
# measured on speech: tests/test_peers.py::test_rnnoise_output_is_aligned (the lag that maximizes
# the cross-correlation with the input is 0 after removing it).
RNNOISE_DELAY = 2 * RNNOISE_FRAME
_INT16_SCALE = 32768.0  # RNNoise takes float samples on the int16 scale
_WEIGHT_TYPE_FLOAT = 0  # WeightArray.type of float arrays (nnet.h: WEIGHT_TYPE_float)


class _WeightArray(ctypes.Structure):
    """One entry of the library's ``rnnoise_arrays`` table (nnet.h ``WeightArray``)."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("type", ctypes.c_int),
        ("size", ctypes.c_int),  # bytes
        ("data", ctypes.c_void_p),
    ]


class PeerUnavailable(BitwaveError):
    """A peer whose package cannot be loaded here (the message says why)."""


@functools.cache
def _library() -> ctypes.CDLL:
    """The RNNoise C library of the pyrnnoise wheel, with its prototypes declared."""
    try:
        from pyrnnoise import rnnoise
    except (ImportError, OSError) as error:
        raise PeerUnavailable(f"RNNoise needs the pyrnnoise package ({error})") from None
    lib = rnnoise.lib
    if lib.rnnoise_get_frame_size() != RNNOISE_FRAME:
        raise PeerUnavailable(
            f"pyrnnoise's RNNoise uses {lib.rnnoise_get_frame_size()}-sample frames; "
            f"bitwave expects {RNNOISE_FRAME}"
        )
    return lib


def rnnoise_layers() -> dict[str, int]:
    """Float weights per layer of the RNNoise network in the library (name -> count)."""
    try:
        table = (_WeightArray * 1024).in_dll(_library(), "rnnoise_arrays")
    except ValueError:  # RNNoise before 0.2 has no exported weight table
        raise PeerUnavailable("pyrnnoise's RNNoise library exports no weight table") from None
    layers = {}
    for entry in table:
        if entry.name is None:  # the table ends with a NULL name
            break
        name = entry.name.decode()
        if entry.type == _WEIGHT_TYPE_FLOAT and name.endswith("_weights_float"):
            layers[name.removesuffix("_weights_float")] = entry.size // 4
    if not layers:
        raise PeerUnavailable("the RNNoise library exports no float weight arrays")
    return layers


@dataclass(frozen=True)
class Peer:
    """A deployed enhancer: a name, noisy audio in -> enhanced audio out (16 kHz, same
    length), and its network's compute."""

    name: str
    enhance: Callable[[np.ndarray], np.ndarray]
    macs_per_frame: int
    frames_per_second: float

    @property
    def macs_per_second(self) -> float:
        return self.macs_per_frame * self.frames_per_second


def rnnoise_enhance(noisy: np.ndarray) -> np.ndarray:
    """RNNoise's output for a 16 kHz utterance: float32, same length, aligned with the input."""
    lib = _library()
    audio = np.asarray(noisy, np.float64).reshape(-1)
    up = resample_poly(audio, RNNOISE_RATE // SAMPLE_RATE, 1) * _INT16_SCALE
    # Pad with the delay (to flush it out) and up to whole frames.
    frames = -(-(up.size + RNNOISE_DELAY) // RNNOISE_FRAME)
    padded = np.zeros(frames * RNNOISE_FRAME, np.float32)
    padded[: up.size] = up
    out = np.empty_like(padded)
    state = lib.rnnoise_create(None)
    try:
        pointer = ctypes.POINTER(ctypes.c_float)
        for start in range(0, padded.size, RNNOISE_FRAME):
            frame_in = padded[start : start + RNNOISE_FRAME]
            frame_out = out[start : start + RNNOISE_FRAME]
            lib.rnnoise_process_frame(
                state, frame_out.ctypes.data_as(pointer), frame_in.ctypes.data_as(pointer)
            )
    finally:
        lib.rnnoise_destroy(state)
    aligned = out[RNNOISE_DELAY : RNNOISE_DELAY + up.size] / _INT16_SCALE
    down = resample_poly(aligned.astype(np.float64), 1, RNNOISE_RATE // SAMPLE_RATE)
    return down[: audio.size].astype(np.float32)


def rnnoise() -> Peer:
    """The RNNoise peer; ``PeerUnavailable`` when pyrnnoise cannot be loaded."""
    return Peer("rnnoise", rnnoise_enhance, sum(rnnoise_layers().values()), RNNOISE_FPS)


def available_peers() -> tuple[list[Peer], list[str]]:
    """(the peers that load here, one note per peer that does not)."""
    try:
        return [rnnoise()], []
    except PeerUnavailable as error:
        return [], [f"RNNoise row omitted: {error}"]


def _si(value: float) -> str:
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g} {prefix}"
    return f"{value:.3g} "


def peers_table(result: dict[str, Any]) -> str:
    """The markdown table of one evaluation: noisy input, the run's model, each peer and the
    oracle IBM on the same test utterances, with the network MAC/s where known."""
    lines = ["| system | SI-SDRi (dB) | STOI | PESQ | MAC/s |", "|---|---|---|---|---|"]
    noisy = result["noisy"]
    lines.append(f"| noisy input | 0.00 | {noisy['stoi']:.3f} | {noisy['pesq']:.2f} | - |")
    rows = [(f"{result.get('kind', 'model')} ({result.get('run', 'this run')})", result["model"],
             result.get("macs_per_second"))]  # fmt: skip
    rows += [(name, row, row["macs_per_second"]) for name, row in result.get("peers", {}).items()]
    rows.append(("oracle IBM", result["oracle_ibm"], None))
    for label, row, macs in rows:
        compute = f"{_si(macs)}MAC/s" if macs else "-"
        lines.append(f"| {label} | {row['si_sdri']:.2f} | {row['stoi']:.3f} | {row['pesq']:.2f} "
                     f"| {compute} |")  # fmt: skip
    lines += [f"\n{note}" for note in result.get("peer_notes", [])]
    return "\n".join(lines) + "\n"
