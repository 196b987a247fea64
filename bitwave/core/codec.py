"""Bit packing of frames, coded once: element codes <-> frame bits <-> integers <-> beats.

A frame is the flattened codes of a layer's input or output. Element ``e`` (a bipolar bit or
a ``uint<k>`` code) occupies frame bits ``[e*k, (e+1)*k)``, LSB first; beat ``b`` carries
frame bits ``[b*B, (b+1)*B)`` with frame bit ``b*B`` at data bit 0, and the last beat is
zero-padded. Beats and whole frames are Python integers because they can be thousands of bits
wide. Every stage (the generator, the three stream drivers, synthesis) packs through here;
``compare_frames`` is the one comparison of expected with received frames.
"""

from __future__ import annotations

import numpy as np

from bitwave.core.errors import BitwaveError


def beats_per_frame(frame_bits: int, beat_bits: int) -> int:
    return -(-frame_bits // beat_bits)


def frames_to_bits(
    codes: np.ndarray, element_bits: int, frame_bits: int | None = None
) -> np.ndarray:
    """(frames, elements) codes -> (frames, frame_bits) booleans in stream order, zero-padded
    to ``frame_bits`` (default: exactly elements * element_bits)."""
    codes = np.asarray(codes, dtype=np.int64)
    shifts = np.arange(element_bits, dtype=np.int64)
    bits = ((codes[:, :, None] >> shifts) & 1).reshape(codes.shape[0], -1).astype(bool)
    if frame_bits is None:
        return bits
    if bits.shape[1] > frame_bits:
        raise ValueError(f"{bits.shape[1]} frame bits do not fit in {frame_bits}")
    return np.pad(bits, ((0, 0), (0, frame_bits - bits.shape[1])))


def bits_to_codes(bits: np.ndarray, elements: int, element_bits: int) -> np.ndarray:
    """(..., >= elements * element_bits) bits -> (..., elements) codes; padding is ignored."""
    bits = np.asarray(bits)[..., : elements * element_bits]
    bits = bits.reshape(*bits.shape[:-1], elements, element_bits).astype(np.int64)
    return (bits << np.arange(element_bits, dtype=np.int64)).sum(axis=-1)


def bits_to_int(bits: np.ndarray) -> int:
    """A 1-D bit vector (bit i = 2**i) -> an integer."""
    return int.from_bytes(
        np.packbits(np.asarray(bits, np.uint8), bitorder="little").tobytes(), "little"
    )


def int_to_bits(value: int, count: int) -> np.ndarray:
    """The low ``count`` bits of ``value`` as a 1-D uint8 vector (bit i = 2**i)."""
    raw = (int(value) & ((1 << count) - 1)).to_bytes(-(-count // 8), "little")
    return np.unpackbits(np.frombuffer(raw, np.uint8), bitorder="little")[:count]


def frame_to_int(codes: np.ndarray, element_bits: int) -> int:
    """Codes of one frame -> the frame as an integer."""
    return bits_to_int(frames_to_bits(np.asarray(codes)[None], element_bits)[0])


def int_to_frame(value: int, elements: int, element_bits: int) -> np.ndarray:
    """A frame integer -> its (elements,) codes."""
    return bits_to_codes(int_to_bits(value, elements * element_bits), elements, element_bits)


def frames_to_beats(codes: np.ndarray, element_bits: int, beat_bits: int) -> list[list[int]]:
    """(frames, elements) codes -> every frame as its list of beats (``beat_bits``-bit ints);
    codes that do not fit ``element_bits`` are refused."""
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise BitwaveError(f"frames must have shape (frames, elements), got {codes.shape}")
    if codes.size and (codes.min() < 0 or codes.max() >= 1 << element_bits):
        raise BitwaveError(
            f"codes must fit {element_bits} bits, got [{codes.min()}, {codes.max()}]"
        )
    beats = beats_per_frame(codes.shape[1] * element_bits, beat_bits)
    bits = frames_to_bits(codes, element_bits, beats * beat_bits)
    return [[bits_to_int(beat) for beat in frame.reshape(beats, beat_bits)] for frame in bits]


def frame_to_beats(codes: np.ndarray, element_bits: int, beat_bits: int) -> list[int]:
    """One frame's codes -> its beats."""
    return frames_to_beats(np.asarray(codes)[None], element_bits, beat_bits)[0]


def beats_to_frame(
    beats: list[int], elements: int, element_bits: int, beat_bits: int
) -> np.ndarray:
    """One frame's beats -> its (elements,) codes; padding bits are ignored."""
    bits = np.concatenate([int_to_bits(beat, beat_bits) for beat in beats])
    return bits_to_codes(bits, elements, element_bits)


def compare_frames(expected: np.ndarray, got: np.ndarray) -> dict:
    """Element-wise comparison of expected and received frames (rows); frames that never came
    count as wholly mismatched. The one comparator of the RTL, Amaranth and gate-level runs."""
    expected, got = np.asarray(expected), np.asarray(got)
    frames = min(len(expected), len(got))
    diff = expected[:frames] != got[:frames]
    where = np.argwhere(diff)
    first = None
    if len(where):
        f, e = (int(v) for v in where[0])
        first = {"frame": f, "index": e, "expected": int(expected[f, e]), "got": int(got[f, e])}
    width = expected.shape[1] if expected.ndim == 2 else 0
    return {
        "mismatches": int(diff.sum()) + (len(expected) - frames) * width,
        "mismatched_frames": int(diff.any(axis=1).sum()) + len(expected) - frames,
        "first_mismatch": first,
    }
