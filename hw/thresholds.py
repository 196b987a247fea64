"""Multi-threshold activation: count = #{j : acc >= T[j]} (direction +1) or #{j : acc <= T[j]}
(direction -1), exactly as ``bitwave.core.golden.multi_threshold``.

Thresholds outside the accumulator's reachable range are legal in the IR (they make constant
outputs); they are clamped to one step beyond the range, which keeps every comparison's result
and bounds the comparator width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Mux, Value

from bitwave.core import ops
from bitwave.core.ir import Dense
from bitwave.core.ops.base import signed_width


@dataclass
class ThresholdTable:
    """Clamped integer thresholds (M, L), directions (M,) and the signed width that holds them."""

    values: np.ndarray
    direction: np.ndarray
    width: int

    @property
    def levels(self) -> int:
        return self.values.shape[1]

    def word(self, neurons: range, pad_to: int) -> int:
        """Pack the thresholds and direction bits of ``neurons`` into one ROM word: neuron p
        of the group holds L thresholds of ``width`` bits then its direction bit (1 = +1)."""
        word, shift = 0, 0
        mask = (1 << self.width) - 1
        for index in range(pad_to):
            m = neurons[index] if index < len(neurons) else None
            for j in range(self.levels):
                value = int(self.values[m, j]) if m is not None else 0
                word |= (value & mask) << shift
                shift += self.width
            word |= (1 if m is None or self.direction[m] > 0 else 0) << shift
            shift += 1
        return word

    @property
    def bits_per_neuron(self) -> int:
        return self.levels * self.width + 1


def threshold_table(layer: Dense) -> ThresholdTable:
    low, high = ops.op_of(layer).accumulator_range(layer)
    values = np.clip(np.asarray(layer.thresholds, np.int64), low - 1, high + 1)
    return ThresholdTable(
        values, np.asarray(layer.direction, np.int8), signed_width(low - 1, high + 1)
    )


def constant_activation(acc: Value, thresholds: np.ndarray, direction: int, out_bits: int) -> Value:
    """Activation of one neuron with thresholds known at generation time."""
    hits = [(acc >= int(t)) if direction > 0 else (acc <= int(t)) for t in thresholds]
    return _count(hits, out_bits)


def word_activation(acc: Value, word: Value, levels: int, width: int, out_bits: int) -> Value:
    """Activation of one neuron whose thresholds and direction come from a ROM/RAM word laid
    out as in ``ThresholdTable.word``."""
    up = word[levels * width]
    hits = []
    for j in range(levels):
        t = word[j * width : (j + 1) * width].as_signed()
        hits.append(Mux(up, acc >= t, acc <= t))
    return _count(hits, out_bits)


def _count(hits: list[Value], out_bits: int) -> Value:
    """Number of true comparator bits (the IR does not require sorted thresholds, so the
    hits are counted, not priority-encoded), as a balanced adder tree of at most 2^k - 1
    one-bit terms; the count fits in ``out_bits``."""
    if len(hits) == 1:
        return hits[0]
    terms = list(hits)
    while len(terms) > 1:
        paired = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)]
        terms = paired + ([terms[-1]] if len(terms) % 2 else [])
    return terms[0][:out_bits]
