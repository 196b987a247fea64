"""The ``binary_dense`` op: XNOR-popcount dense layer with multi-threshold activation.

Bipolar input and weights; accumulator = popcount(XNOR(x, w)) in [0, N] (docs/ir.md). This
module owns the op's fields (reading, validation, writing), its golden execution, its
schedule for a folding and its cost counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bitwave.core.ops import dense
from bitwave.core.ops.base import (
    BIPOLAR,
    WORD_BITS,
    FieldReader,
    Schedule,
    ValueType,
    lane_codes,
    pack_bits,
    popcount_width,
    unpack_bits,
)
from bitwave.core.xnor_popcount import mismatches

NAME = "binary_dense"
SUPPORTED_STAGES = ("train", "golden", "generate", "verify", "gate-level", "synth", "cost")
STATEFUL = False
MIN_VERSION = 1


@dataclass
class BinaryDense(dense.Dense):
    """XNOR-popcount layer. ``weights`` is packed: (out_width, ceil(in_width/64)) uint64,
    input bit i of neuron m at word i // 64, bit i % 64; padding bits are zero."""

    weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.uint64))
    op = NAME
    wbits = 1

    def weight_bits(self) -> np.ndarray:
        """Unpacked weight bits (out_width, in_width) uint8, 1 = +1."""
        return unpack_bits(self.weights, self.in_width)

    def weight_values(self) -> np.ndarray:
        """Weights as signed integers (out_width, in_width): -1/+1."""
        return 2 * self.weight_bits().astype(np.int64) - 1


# ---- fields ---------------------------------------------------------------------------------
def read(
    r: FieldReader, spec: dict, where: str, name: str, width: int, value_type: ValueType
) -> BinaryDense:
    common = dense.read_common(r, spec, where, name, width, value_type)
    if common["in_type"] != BIPOLAR:
        raise r.fail(
            f"{where}.in_type", f"binary_dense needs bipolar input, got {common['in_type']}"
        )
    in_width = common["in_width"]
    words = (common["out_width"], -(-in_width // WORD_BITS))
    weights = r.packed(spec, "weights", where, words, in_width)
    return BinaryDense(**common, weights=weights)


def write(layer: BinaryDense, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
    return dense.write(layer, prefix)


# ---- golden execution -----------------------------------------------------------------------
def accumulate(layer: BinaryDense, x_bits: np.ndarray) -> np.ndarray:
    """Popcount of XNOR(x, w) for every frame and neuron: (F, N) bits -> (F, M) in [0, N]."""
    return layer.in_width - mismatches(pack_bits(x_bits), layer.weights)


def run(layer: BinaryDense, x_codes: np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
    """Input bits -> output codes; frames are independent (``starts`` is ignored)."""
    return dense.multi_threshold(accumulate(layer, x_codes), layer.thresholds, layer.direction)


# ---- schedule -------------------------------------------------------------------------------
def accumulator_range(layer: BinaryDense) -> tuple[int, int]:
    """The smallest and largest accumulator the layer can produce."""
    return 0, layer.in_width


def accumulator(layer: BinaryDense) -> tuple[int, bool]:
    """(bits, signed) of a neuron's accumulator: an unsigned popcount of N bits."""
    return popcount_width(layer.in_width), False


def weight_codes(layer: BinaryDense) -> np.ndarray:
    """(M, N) lane codes of the stored weights: 1 = +1."""
    return lane_codes(layer.weight_values(), 1, layer.name)


def store_words(layer: BinaryDense, plan: Schedule) -> list[int]:
    """The weight store's words at this schedule (``plan.weights`` lays them out)."""
    return plan.weights.words(weight_codes(layer))


def schedule(layer: BinaryDense, pe: int, simd: int) -> Schedule:
    return dense.schedule(layer, pe, simd, 1, accumulator(layer))


# ---- cost -----------------------------------------------------------------------------------
cost_counts = dense.cost_counts
