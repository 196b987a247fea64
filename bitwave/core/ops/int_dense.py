"""The ``int_dense`` op: k-bit integer dense layer with multi-threshold activation.

Integer weights (``wbits`` = 1 means weights in {-1, +1}; otherwise symmetric signed
``wbits``-bit values in [-(2^(wbits-1) - 1), 2^(wbits-1) - 1]) times the input values (bipolar
bits as -1/+1); accumulator = the signed dot product (docs/ir.md). This module owns the op's
fields (reading, validation, writing), its golden execution, its schedule for a folding and
its cost counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bitwave.core.ops import dense
from bitwave.core.ops.base import (
    MAX_BITS,
    FieldReader,
    Schedule,
    ValueType,
    lane_codes,
    signed_width,
)

NAME = "int_dense"
SUPPORTED_STAGES = ("train", "golden", "generate", "verify", "gate-level", "synth", "cost")
STATEFUL = False
MIN_VERSION = 1
# float64 holds every integer below 2^53 exactly; larger accumulators use int64 arithmetic.
_FLOAT_EXACT = 2**53


@dataclass
class IntDense(dense.Dense):
    """Integer matrix-vector layer. ``weights`` is (out_width, in_width) int8/int16."""

    weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int8))
    wbits: int = 8
    op = NAME

    def weight_values(self) -> np.ndarray:
        """Weights as signed integers (out_width, in_width)."""
        return self.weights.astype(np.int64)


def weight_range(wbits: int) -> tuple[int, int]:
    """Allowed integer weight values: {-1, +1} for 1 bit, else symmetric."""
    if wbits == 1:
        return -1, 1
    top = 2 ** (wbits - 1) - 1
    return -top, top


# ---- fields ---------------------------------------------------------------------------------
def read(
    r: FieldReader, spec: dict, where: str, name: str, width: int, value_type: ValueType
) -> IntDense:
    common = dense.read_common(r, spec, where, name, width, value_type)
    wbits = r.get(spec, "wbits", int, where)
    if not 1 <= wbits <= MAX_BITS:
        raise r.fail(f"{where}.wbits", f"expected 1..{MAX_BITS}, got {wbits}")
    weights = r.array(spec, "weights", where, "i", (common["out_width"], common["in_width"]))
    low, high = weight_range(wbits)
    values = weights.astype(np.int64)
    bad = (values < low) | (values > high) | ((values == 0) & (wbits == 1))
    if np.any(bad):
        allowed = "{-1, +1}" if wbits == 1 else f"[{low}, {high}]"
        raise r.fail(
            f"{where}.weights", f"{int(bad.sum())} weights outside {allowed} for wbits={wbits}"
        )
    return IntDense(**common, weights=weights, wbits=wbits)


def write(layer: IntDense, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
    return dense.write(layer, prefix, wbits=layer.wbits)


# ---- golden execution -----------------------------------------------------------------------
def accumulate(layer: dense.Dense, x_codes: np.ndarray) -> np.ndarray:
    """Signed dot product of the input values and the integer weights: (F, N) -> (F, M)."""
    x = layer.in_type.values(x_codes)
    w = layer.weight_values()
    bound = (
        layer.in_width
        * max(1, int(np.abs(w).max(initial=0)))
        * max(1, int(np.abs(x).max(initial=0)))
    )
    if bound < _FLOAT_EXACT:
        return np.rint(x.astype(np.float64) @ w.T.astype(np.float64)).astype(np.int64)
    return x @ w.T


def run(layer: IntDense, x_codes: np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
    """Input codes -> output codes; frames are independent (``starts`` is ignored)."""
    return dense.multi_threshold(accumulate(layer, x_codes), layer.thresholds, layer.direction)


# ---- schedule -------------------------------------------------------------------------------
def _input_range(layer: IntDense) -> tuple[int, int]:
    return (-1, 1) if layer.in_type.kind == "bipolar" else (0, layer.in_type.levels - 1)


def accumulator_range(layer: IntDense) -> tuple[int, int]:
    """The smallest and largest accumulator the layer can produce (exact bounds)."""
    w = layer.weight_values()
    low_x, high_x = _input_range(layer)
    low = np.minimum(w * low_x, w * high_x).sum(axis=1)
    high = np.maximum(w * low_x, w * high_x).sum(axis=1)
    return int(low.min(initial=0)), int(high.max(initial=0))


def _largest_weight(layer: IntDense) -> int:
    """max |w| (0 for no weights), on the stored dtype: the folding solver asks per candidate."""
    if not layer.weights.size:
        return 0
    return max(-int(layer.weights.min()), int(layer.weights.max()))


def accumulator(layer: IntDense) -> tuple[int, bool]:
    """(bits, signed) of a neuron's accumulator: signed, symmetric around zero, holding
    N * max|w| * max|x| (the sum of the adder tree's products may take either sign)."""
    magnitude = max(abs(bound) for bound in _input_range(layer))
    top = layer.in_width * max(1, _largest_weight(layer)) * magnitude
    return signed_width(-top, top), True


def weight_codes(layer: IntDense) -> np.ndarray:
    """(M, N) lane codes of the stored weights: ``wbits``-bit two's complement (1 bit: 1 = +1)."""
    return lane_codes(layer.weight_values(), layer.wbits, layer.name)


def store_words(layer: IntDense, plan: Schedule) -> list[int]:
    """The weight store's words at this schedule (``plan.weights`` lays them out)."""
    return plan.weights.words(weight_codes(layer))


def schedule(layer: IntDense, pe: int, simd: int) -> Schedule:
    return dense.schedule(layer, pe, simd, layer.wbits, accumulator(layer))


# ---- cost -----------------------------------------------------------------------------------
cost_counts = dense.cost_counts
