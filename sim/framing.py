"""Stream framing of the generated-design contract: frames of element codes <-> bus beats.

A frame is the flattened codes of a layer input or output. Element ``e`` (a bipolar bit or a
``uint<k>`` code) occupies frame bits ``[e*k, (e+1)*k)``, LSB first; beat ``b`` carries frame
bits ``[b*B, (b+1)*B)`` with frame bit ``b*B`` at data bit 0; the last beat is zero-padded.
Beats are Python integers because a beat can be thousands of bits wide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitwave.core.errors import BitwaveError

STREAM_KEYS = (
    "data",
    "valid",
    "ready",
    "bits_per_beat",
    "beats_per_frame",
    "element_bits",
    "elements",
)


@dataclass(frozen=True)
class StreamFormat:
    data: str
    valid: str
    ready: str
    bits_per_beat: int
    beats_per_frame: int
    element_bits: int
    elements: int

    @property
    def frame_bits(self) -> int:
        return self.elements * self.element_bits

    @classmethod
    def from_manifest(cls, spec: object, where: str) -> StreamFormat:
        """Read and check one ``input_stream``/``output_stream`` entry of a manifest."""
        if not isinstance(spec, dict):
            raise BitwaveError(
                f"manifest {where} must be an object with keys {', '.join(STREAM_KEYS)}"
            )
        missing = [key for key in STREAM_KEYS if key not in spec]
        if missing:
            raise BitwaveError(f"manifest {where} lacks {', '.join(missing)}")
        for key in STREAM_KEYS[:3]:
            if not isinstance(spec[key], str) or not spec[key]:
                raise BitwaveError(f"manifest {where}.{key} must be a port name, got {spec[key]!r}")
        for key in STREAM_KEYS[3:]:
            value = spec[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise BitwaveError(
                    f"manifest {where}.{key} must be a positive integer, got {value!r}"
                )
        fmt = cls(**{key: spec[key] for key in STREAM_KEYS})
        expected_beats = -(-fmt.frame_bits // fmt.bits_per_beat)
        if fmt.beats_per_frame != expected_beats:
            raise BitwaveError(
                f"manifest {where}: {fmt.elements} elements of {fmt.element_bits} bits in "
                f"{fmt.bits_per_beat}-bit beats need {expected_beats} beats per frame, "
                f"the manifest says {fmt.beats_per_frame}"
            )
        return fmt


def frame_bits(codes: np.ndarray, element_bits: int) -> np.ndarray:
    """(frames, elements) codes -> (frames, elements * element_bits) bits, LSB first per element."""
    codes = np.asarray(codes, dtype=np.int64)
    shifts = np.arange(element_bits, dtype=np.int64)
    return ((codes[:, :, None] >> shifts) & 1).reshape(codes.shape[0], -1).astype(np.uint8)


def _bits_to_int(bits: np.ndarray) -> int:
    return int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")


def frames_to_beats(codes: np.ndarray, fmt: StreamFormat) -> list[list[int]]:
    """Every frame as its list of beats (integers of ``bits_per_beat`` bits)."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != fmt.elements:
        raise BitwaveError(f"frames must have shape (frames, {fmt.elements}), got {codes.shape}")
    if codes.size and (codes.min() < 0 or codes.max() >= 1 << fmt.element_bits):
        raise BitwaveError(
            f"codes must fit {fmt.element_bits} bits, got [{codes.min()}, {codes.max()}]"
        )
    bits = frame_bits(codes, fmt.element_bits)
    padded = np.zeros((codes.shape[0], fmt.beats_per_frame * fmt.bits_per_beat), np.uint8)
    padded[:, : bits.shape[1]] = bits
    beats = padded.reshape(codes.shape[0], fmt.beats_per_frame, fmt.bits_per_beat)
    return [[_bits_to_int(beat) for beat in frame] for frame in beats]


def beats_to_frame(beats: list[int], fmt: StreamFormat) -> np.ndarray:
    """One frame's beats -> its (elements,) codes; padding bits are ignored."""
    if len(beats) != fmt.beats_per_frame:
        raise BitwaveError(f"a frame has {fmt.beats_per_frame} beats, got {len(beats)}")
    nbytes = -(-fmt.bits_per_beat // 8)
    bits = np.concatenate(
        [
            np.unpackbits(
                np.frombuffer(beat.to_bytes(nbytes, "little"), np.uint8), bitorder="little"
            )[: fmt.bits_per_beat]
            for beat in beats
        ]
    )[: fmt.frame_bits]
    weights = np.int64(1) << np.arange(fmt.element_bits, dtype=np.int64)
    return (bits.reshape(fmt.elements, fmt.element_bits).astype(np.int64) * weights).sum(axis=1)
