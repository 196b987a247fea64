"""What every op module shares: the field vocabulary of the IR (value types, packed bit words,
a reader that names the path of a bad field), the timing constants of the folded engine, and
the records an op hands to the stages (``Schedule``, ``WeightLayout``, ``CostCounts``).

Nothing here knows a particular op; ``bitwave.core.ir`` re-exports the vocabulary, so
``ir.ValueType``, ``ir.pack_bits`` etc. keep working.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bitwave.core.errors import BitwaveError, IRError

REAL_TIME_FPS = 16000 / 256  # 16 kHz audio, STFT hop 256: 62.5 frames per second
MAX_BITS = 16
WORD_BITS = 64  # packed weight/bit words in the IR
STORE_WORD_BITS = 64  # a weight-store word packs fold steps up to this width
# The folded layer engine (bitwave.hw.mvtu) spends, beyond its NF * SF compute cycles, this many
# cycles until it accepts the next frame when the next layer takes its output at once (measured
# in tests/hw/test_hw_network.py) ...
INITIATION_EXTRA = 2
# ... and this many until its output is valid (one pipeline stage, one output register).
LATENCY_EXTRA = 2


# ---------------------------------------------------------------------------------------------
# Value types and packed bits
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ValueType:
    """The type of the values on a wire: ``bipolar`` (1 bit, +/-1) or ``uint`` with ``bits``."""

    kind: str
    bits: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("bipolar", "uint"):
            raise IRError(f"value type kind {self.kind!r}: expected 'bipolar' or 'uint'")
        if self.kind == "bipolar" and self.bits != 1:
            raise IRError(f"bipolar values have 1 bit, not {self.bits}")
        if not 1 <= self.bits <= MAX_BITS:
            raise IRError(f"uint values need 1..{MAX_BITS} bits, not {self.bits}")

    @property
    def levels(self) -> int:
        """Number of distinct values (thresholds per neuron = levels - 1)."""
        return 2**self.bits

    def values(self, counts: np.ndarray) -> np.ndarray:
        """Map stored codes (bits or counts) to the arithmetic values a next layer multiplies."""
        counts = np.asarray(counts, dtype=np.int64)
        return 2 * counts - 1 if self.kind == "bipolar" else counts

    def to_json(self) -> dict:
        return {"kind": self.kind, "bits": self.bits}

    def __str__(self) -> str:
        return "bipolar" if self.kind == "bipolar" else f"uint{self.bits}"


BIPOLAR = ValueType("bipolar", 1)


def uint(bits: int) -> ValueType:
    return ValueType("uint", bits)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """(..., n) array of 0/1 -> (..., ceil(n/64)) uint64, bit i at word i//64, bit i%64."""
    bits = np.asarray(bits, dtype=np.uint8)
    n = bits.shape[-1]
    words = -(-n // WORD_BITS)
    padded = np.zeros(bits.shape[:-1] + (words * WORD_BITS,), np.uint8)
    padded[..., :n] = bits
    packed = np.packbits(padded, axis=-1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False)


def unpack_bits(words: np.ndarray, n: int) -> np.ndarray:
    """Inverse of pack_bits: (..., w) uint64 -> (..., n) uint8."""
    as_bytes = np.ascontiguousarray(words.astype("<u8", copy=False)).view(np.uint8)
    return np.unpackbits(as_bytes, axis=-1, bitorder="little")[..., :n]


def sequence_starts(frames: int, starts: np.ndarray | None) -> np.ndarray:
    """One bool per frame, True where a new sequence begins (a recurrent op resets its state
    there); the first frame always starts one."""
    if starts is None:
        flags = np.zeros(frames, bool)
    else:
        flags = np.asarray(starts)
        if flags.shape != (frames,) or flags.dtype.kind not in "biu":
            raise BitwaveError(
                f"starts must be a boolean vector of one flag per frame ({frames}), "
                f"got {flags.dtype} {tuple(flags.shape)}"
            )
        flags = flags.astype(bool)
    if frames:
        flags = flags.copy()
        flags[0] = True
    return flags


# ---------------------------------------------------------------------------------------------
# Reading manifest fields
# ---------------------------------------------------------------------------------------------
class FieldReader:
    """Typed access to manifest fields that raises IRError naming the field path."""

    def __init__(self, source: str, arrays: dict[str, np.ndarray]) -> None:
        self.source = source
        self.arrays = arrays

    def fail(self, where: str, message: str) -> IRError:
        return IRError(f"{self.source}: {where}: {message}")

    def get(self, obj: dict, key: str, kind: type | tuple, where: str) -> Any:
        if not isinstance(obj, dict):
            raise self.fail(where, f"expected an object, got {type(obj).__name__}")
        if key not in obj:
            raise self.fail(f"{where}.{key}" if where else key, "missing field")
        value = obj[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            path = f"{where}.{key}" if where else key
            raise self.fail(path, f"expected {names}, got {type(value).__name__} {value!r}")
        return value

    def positive(self, obj: dict, key: str, where: str) -> int:
        value = self.get(obj, key, int, where)
        if value < 1:
            raise self.fail(f"{where}.{key}", f"expected a positive integer, got {value}")
        return value

    def array(self, obj: dict, key: str, where: str, kinds: str, shape: tuple) -> np.ndarray:
        """An array referenced by name, checked for dtype kind ('u', 'i', 'f') and shape."""
        name = self.get(obj, key, str, where)
        path = f"{where}.{key}"
        if name not in self.arrays:
            raise self.fail(path, f"array {name!r} is not in the file")
        array = self.arrays[name]
        if array.dtype.kind not in kinds:
            raise self.fail(path, f"expected dtype kind {kinds!r}, got {array.dtype}")
        if tuple(array.shape) != tuple(shape):
            raise self.fail(path, f"expected shape {tuple(shape)}, got {tuple(array.shape)}")
        return array

    def packed(self, obj: dict, key: str, where: str, shape: tuple, bits: int) -> np.ndarray:
        """Packed uint64 weight words whose last axis holds ``bits`` bits, padding zero."""
        weights = self.array(obj, key, where, "u", shape)
        if weights.dtype != np.uint64:
            raise self.fail(f"{where}.{key}", f"expected uint64 packed words, got {weights.dtype}")
        pad = bits % WORD_BITS
        if pad and np.any(weights[..., -1] >> np.uint64(pad)):
            raise self.fail(f"{where}.{key}", f"padding bits above bit {bits} must be zero")
        return weights

    def directions(self, obj: dict, where: str, shape: tuple) -> np.ndarray:
        """A ``direction`` array of +1/-1 as int8."""
        direction = self.array(obj, "direction", where, "i", shape)
        if not np.all(np.abs(direction) == 1):
            raise self.fail(f"{where}.direction", "expected only +1 (acc >= T) or -1 (acc <= T)")
        return direction.astype(np.int8)

    def value_type(self, obj: dict, key: str, where: str) -> ValueType:
        spec = self.get(obj, key, dict, where)
        path = f"{where}.{key}"
        kind = self.get(spec, "kind", str, path)
        bits = self.get(spec, "bits", int, path)
        try:
            return ValueType(kind, bits)
        except IRError as error:
            raise self.fail(path, str(error)) from None


def layer_entry(layer: Any, **fields: Any) -> dict:
    """The manifest fields every layer has, followed by the op's own ``fields``."""
    return {
        "name": layer.name,
        "op": layer.op,
        "in_width": layer.in_width,
        "out_width": layer.out_width,
        "in_type": layer.in_type.to_json(),
        "out_type": layer.out_type.to_json(),
        **fields,
    }


# ---------------------------------------------------------------------------------------------
# Widths
# ---------------------------------------------------------------------------------------------
def popcount_width(n: int) -> int:
    """Bits of an unsigned count in [0, n]."""
    return max(1, int(n).bit_length())


def signed_width(low: int, high: int) -> int:
    """Bits of a two's-complement value holding every integer in [low, high]."""
    width = 1
    while not (-(1 << (width - 1)) <= low and high <= (1 << (width - 1)) - 1):
        width += 1
    return width


def cost_accumulator_bits(n_in: int, wbits: int, abits: int) -> int:
    """The accumulator width the cost model stores thresholds at: a bound from the widths and
    precisions alone (a popcount for binary layers, else a signed sum), not the exact width of
    the hardware (``Schedule.acc_bits``, which depends on the weight values)."""
    if wbits == 1 and abits == 1:
        return math.ceil(math.log2(n_in + 1))
    return wbits + abits + math.ceil(math.log2(max(n_in, 2)))


# ---------------------------------------------------------------------------------------------
# Folding: schedule and weight-store layout
# ---------------------------------------------------------------------------------------------
def fold_counts(rows: int, cols: int, pe: int, simd: int) -> tuple[int, int]:
    """(NF, SF): neuron folds of ``rows`` outputs on PE, synapse folds of ``cols`` inputs on SIMD."""
    return math.ceil(rows / pe), math.ceil(cols / simd)


def lane_codes(values: np.ndarray, bits: int, name: str) -> np.ndarray:
    """Signed weight values -> unsigned ``bits``-bit lane codes: 1-bit lanes 1 = +1, 0 = -1;
    wider lanes two's complement."""
    values = np.asarray(values, np.int64)
    if bits == 1:
        if np.any(np.abs(values) != 1):
            raise BitwaveError(f"layer {name}: 1-bit weight lanes need weights in {{-1, +1}}")
        return (values > 0).astype(np.int64)
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    if values.size and (values.min() < low or values.max() > high):
        raise BitwaveError(f"layer {name}: weights do not fit {bits}-bit lanes")
    return values & ((1 << bits) - 1)


def pack_words(lanes: np.ndarray, bits: int) -> list[int]:
    """(depth, lanes) array of unsigned lane codes (< 2^bits) -> one integer word per row,
    lane i at bits [i * bits, (i + 1) * bits)."""
    words = []
    shifts = [index * bits for index in range(lanes.shape[1])]
    for row in lanes:
        word = 0
        for shift, code in zip(shifts, row.tolist(), strict=True):
            word |= int(code) << shift
        words.append(word)
    return words


@dataclass(frozen=True)
class WeightLayout:
    """Where each weight lives in a folded layer's weight store.

    Fold step t = nf * SF + sf uses ``step_bits`` >= PE * SIMD * b bits: lane (p, s) = the
    weight of neuron nf * PE + p, input sf * SIMD + s, at bits [(p * SIMD + s) * b, + b) with
    b = ``weight_bits`` (``lane_codes``). A store word of ``word_bits`` packs
    ``steps_per_word`` consecutive steps: step t lives in word t // G at bits
    [(t % G) * step_bits, + step_bits). Lanes past the layer's width hold zero."""

    pe: int
    simd: int
    nf: int
    sf: int
    weight_bits: int
    steps_per_word: int
    step_bits: int
    word_bits: int

    @property
    def lanes(self) -> int:
        return self.pe * self.simd

    @property
    def steps(self) -> int:
        return self.nf * self.sf

    @property
    def depth(self) -> int:
        """Words in the store."""
        return math.ceil(self.steps / self.steps_per_word)

    def words(self, codes: np.ndarray) -> list[int]:
        """The store's words for (rows, cols) lane ``codes``, in address order."""
        padded = np.zeros((self.nf * self.pe, self.sf * self.simd), np.int64)
        padded[: codes.shape[0], : codes.shape[1]] = codes
        blocks = padded.reshape(self.nf, self.pe, self.sf, self.simd).transpose(0, 2, 1, 3)
        steps = pack_words(blocks.reshape(self.steps, self.lanes), self.weight_bits)
        words = [0] * self.depth
        for t, step in enumerate(steps):
            words[t // self.steps_per_word] |= step << (t % self.steps_per_word) * self.step_bits
        return words

    def masks(self, rows: int, cols: int) -> list[int]:
        """Per word, the bits that hold real (not padding) lanes of a rows x cols layer."""
        return self.words(np.full((rows, cols), (1 << self.weight_bits) - 1, np.int64))


def weight_layout(rows: int, cols: int, pe: int, simd: int, weight_bits: int) -> WeightLayout:
    """The generator's layout: G = the largest power of two with G * step_bits <=
    STORE_WORD_BITS (and G <= steps), so that a narrow, deep store (e.g. 2 bits x 1M) becomes
    64 bits x 32k, a better memory shape and a far smaller Verilog file."""
    nf, sf = fold_counts(rows, cols, pe, simd)
    step_bits = pe * simd * weight_bits
    per_word = 1
    while per_word * 2 * step_bits <= STORE_WORD_BITS and per_word < nf * sf:
        per_word *= 2
    return WeightLayout(pe, simd, nf, sf, weight_bits, per_word, step_bits, per_word * step_bits)


@dataclass(frozen=True)
class Schedule:
    """A layer folded onto PE neurons x SIMD lanes: what hw builds, sim loads and cost counts.

    No stalls: the layer accepts a frame in cycle t, runs ``cycles_per_frame`` = NF * SF
    compute cycles, accepts its next frame ``initiation_interval`` cycles after t and shows
    its output ``latency_cycles`` after t."""

    layer: str
    pe: int
    simd: int
    nf: int
    sf: int
    acc_bits: int
    acc_signed: bool
    weights: WeightLayout

    @property
    def cycles_per_frame(self) -> int:
        return self.nf * self.sf

    @property
    def initiation_interval(self) -> int:
        return self.cycles_per_frame + INITIATION_EXTRA

    @property
    def latency_cycles(self) -> int:
        return self.cycles_per_frame + LATENCY_EXTRA

    @property
    def fully_parallel(self) -> bool:
        """One fold step: constant weights become wiring, no store is needed."""
        return self.nf == 1 and self.sf == 1


def check_folding(name: str, rows: int, cols: int, pe: int, simd: int) -> None:
    if not (1 <= pe <= rows and 1 <= simd <= cols):
        raise BitwaveError(
            f"layer {name}: pe={pe}, simd={simd} out of range: need 1 <= pe <= "
            f"{rows} (out_width) and 1 <= simd <= {cols} (in_width)"
        )


# ---------------------------------------------------------------------------------------------
# Cost counts
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CostCounts:
    """Per-frame counts of one IR layer (``bitwave.cost`` turns them into a LayerCost):
    ``rows`` x ``cols`` is the matrix the hardware folds."""

    wbits: int
    abits: int
    weights: int
    constants: int
    constant_bits: int
    macs: int
    elementwise: int
    io_bits: int
    rows: int
    cols: int
    state_bits: int = 0
