"""One fully parallel XNOR-popcount neuron with constant weights and a registered output.

The input bits x meet the constant weights w as wires (w = +1) or free inversions (w = -1,
pushed into the compressor tree, see ``bitwave.hw.popcount``). The registered output is the
exact count popcount(XNOR(x, w)) or, given a threshold, the neuron bit count >= T (or <= T for
direction -1). This is the unit of the popcount area benchmark (``bitwave bench popcount-area``).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from bitwave.hw.popcount import count_width, popcount_tree


class XnorNeuron(wiring.Component):
    def __init__(
        self, weight_bits: np.ndarray, threshold: int | None = None, direction: int = 1
    ) -> None:
        self.weight_bits = np.asarray(weight_bits, np.uint8).reshape(-1)
        self.n = len(self.weight_bits)
        self.threshold, self.direction = threshold, direction
        output = {"count": Out(count_width(self.n))} if threshold is None else {"y": Out(1)}
        super().__init__({"x": In(self.n), **output})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        x = Signal(self.n, name="x_bits")
        m.d.comb += x.eq(self.x)
        negate = (self.weight_bits == 0).tolist()
        count, self.stats = popcount_tree(m, [x[i] for i in range(self.n)], negate)
        # a datapath register: no reset (it is overwritten every cycle), so no reset gating
        if self.threshold is None:
            register = Signal(len(count), reset_less=True)
            m.d.sync += register.eq(count)
            m.d.comb += self.count.eq(register)
        else:
            register = Signal(reset_less=True)
            m.d.sync += register.eq(
                count >= self.threshold if self.direction > 0 else count <= self.threshold
            )
            m.d.comb += self.y.eq(register)
        return m
