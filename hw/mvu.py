"""The k-bit integer matrix-vector unit (MVU) for ``int_dense`` layers.

Same folding engine as the MVTU (``bitwave.hw.mvtu.FoldedLayer``: PE, SIMD, accumulators,
multi-threshold activation), with integer lanes: each lane multiplies a signed weight by the
input's value (a ``uint<k>`` code as is; a bipolar bit as -1/+1) and the PE sums its SIMD
products with a balanced adder tree. Weights are stored as ``wbits``-bit two's complement
(``wbits`` = 1: 1 = +1, 0 = -1); fully parallel constant weights become constant multipliers.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, Value, signed

from bitwave.core.errors import BitwaveError
from bitwave.core.ir import IntDense
from bitwave.hw.mvtu import FoldedLayer


class MVU(FoldedLayer):
    def __init__(
        self, layer: IntDense, pe: int, simd: int, weight_storage: str = "const", tag_bits: int = 0,
        beat_input: bool = False,
    ) -> None:  # fmt: skip
        if not isinstance(layer, IntDense):
            self._MustUse__silence = True  # a rejected component is not an unused one
            raise BitwaveError(f"layer {layer.name}: the MVU implements int_dense, not {layer.op}")
        self._values = layer.weight_values()
        super().__init__(layer, pe, simd, weight_storage, tag_bits, beat_input)

    def _lane_value(self, x: Value, s: int) -> Value:
        code = x[s * self.k_in : (s + 1) * self.k_in]
        if self.layer.in_type.kind == "bipolar":
            return Mux(code, Const(1, signed(2)), Const(-1, signed(2)))
        return code

    def partial_sum(
        self, m: Module, p: int, x: Value, w: Value | None, mask: Value | None
    ) -> Value:
        terms = []
        for s in range(self.simd):
            value = self._lane_value(x, s)
            if w is None:
                weight = int(self._values[p, s])
                term = value * weight
            else:
                lane = w[
                    (p * self.simd + s) * self.weight_bits : (p * self.simd + s + 1)
                    * self.weight_bits
                ]
                weight = (
                    Mux(lane[0], Const(1, signed(2)), Const(-1, signed(2)))
                    if self.weight_bits == 1
                    else lane.as_signed()
                )
                term = value * weight
            if mask is not None:
                term = Mux(mask[s], term, 0)
            product = Signal(signed(len(term) + 1), name=f"pe{p}_prod{s}")
            m.d.comb += product.eq(term)
            terms.append(product)
        # balanced adder tree; every level is a named signal (see the Amaranth slicing gotcha)
        level = 0
        while len(terms) > 1:
            paired = []
            for i in range(0, len(terms) - 1, 2):
                total = Signal(
                    signed(max(len(terms[i]), len(terms[i + 1])) + 1),
                    name=f"pe{p}_sum{level}_{i // 2}",
                )
                m.d.comb += total.eq(terms[i] + terms[i + 1])
                paired.append(total)
            terms = paired + ([terms[-1]] if len(terms) % 2 else [])
            level += 1
        return terms[0]
